"""The SDPO maths: top-K + tail divergences, gradients, ratios, advantages, reductions."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdistill.distill.losses import (
    categorical_divergence,
    grpo_advantages,
    hybrid_advantages,
    importance_ratio,
    log1mexp,
    policy_gradient_loss,
    reduce_loss,
    sampled_token_advantage,
    sampled_token_distill_loss,
    tail_logp,
    topk_tail_distill_loss,
    with_tail,
)

F64 = torch.float64


def full_kl(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """Naive KL(p || q) over the last dim."""
    return (logp.exp() * (logp - logq)).sum(-1)


def naive_jsd(logp: torch.Tensor, logq: torch.Tensor, alpha: float) -> torch.Tensor:
    """alpha * KL(q || m) + (1 - alpha) * KL(p || m), m = (1 - alpha) p + alpha q, in prob space."""
    m = ((1 - alpha) * logp.exp() + alpha * logq.exp()).log()
    return alpha * full_kl(logq, m) + (1 - alpha) * full_kl(logp, m)


def student_teacher(b=3, t=4, v=11, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(b, t, v, generator=g, dtype=F64) * scale
    q = torch.randn(b, t, v, generator=g, dtype=F64) * scale
    return s, q


def topk_parts(s_logits, q_logits, k):
    """Student top-K log-probs (with grad) and the teacher's log-probs at the same ids."""
    logp = torch.log_softmax(s_logits, -1)
    logq = torch.log_softmax(q_logits, -1)
    vals, idx = logp.topk(k, -1)
    return vals, logq.gather(-1, idx), logp, logq, idx


@pytest.mark.parametrize("kind", ["reverse_kl", "forward_kl", "jsd"])
def test_topk_at_full_vocab_equals_full_divergence(kind):
    s, q = student_teacher()
    v = s.shape[-1]
    sk, qk, logp, logq, _ = topk_parts(s, q, v)
    got = topk_tail_distill_loss(sk, qk, divergence=kind, alpha=0.3)
    ref = {
        "reverse_kl": full_kl(logp, logq),
        "forward_kl": full_kl(logq, logp),
        "jsd": naive_jsd(logp, logq, 0.3),
    }[kind]
    torch.testing.assert_close(got, ref, atol=1e-6, rtol=0)


def test_topk_at_full_vocab_with_exact_empty_tails():
    # scoring.py hands over exact tails; at K = V they are floored "empty" buckets.
    s, q = student_teacher()
    sk, qk, logp, logq, _ = topk_parts(s, q, s.shape[-1])
    empty = torch.full(sk.shape[:-1], -1e30, dtype=F64)
    got = topk_tail_distill_loss(sk, qk, student_tail_logp=empty, teacher_tail_logp=empty)
    torch.testing.assert_close(got, full_kl(logp, logq), atol=1e-6, rtol=0)


def test_topk_tail_equals_kl_of_lumped_distribution():
    # K < V: the loss is the KL between the (K + 1)-way distributions built by hand.
    s, q = student_teacher()
    sk, qk, logp, logq, idx = topk_parts(s, q, 4)
    keep = torch.zeros_like(logp, dtype=torch.bool).scatter(-1, idx, True)
    p_tail = logp.exp().masked_fill(keep, 0).sum(-1, keepdim=True).log()
    q_tail = logq.exp().masked_fill(keep, 0).sum(-1, keepdim=True).log()
    ref = full_kl(torch.cat([sk, p_tail], -1), torch.cat([qk, q_tail], -1))
    got = topk_tail_distill_loss(sk, qk)
    torch.testing.assert_close(got, ref, atol=1e-10, rtol=1e-8)
    # Exact tails give the same value.
    got2 = topk_tail_distill_loss(
        sk, qk, student_tail_logp=p_tail.squeeze(-1), teacher_tail_logp=q_tail.squeeze(-1)
    )
    torch.testing.assert_close(got2, ref, atol=1e-10, rtol=1e-8)


def test_no_tail_renormalises_on_topk():
    s, q = student_teacher()
    sk, qk, *_ = topk_parts(s, q, 5)
    got = topk_tail_distill_loss(sk, qk, add_tail=False)
    ref = full_kl(torch.log_softmax(sk, -1), torch.log_softmax(qk, -1))
    torch.testing.assert_close(got, ref)


def test_jsd_endpoints_are_forward_and_reverse_kl():
    s, q = student_teacher()
    logp, logq = torch.log_softmax(s, -1), torch.log_softmax(q, -1)
    torch.testing.assert_close(categorical_divergence(logp, logq, "jsd", 0.0), full_kl(logq, logp))
    torch.testing.assert_close(categorical_divergence(logp, logq, "jsd", 1.0), full_kl(logp, logq))
    # In between it is the generalised JSD, continuous up to the (scaled) endpoints.
    for a in (0.1, 0.5, 0.9):
        torch.testing.assert_close(
            categorical_divergence(logp, logq, "jsd", a), naive_jsd(logp, logq, a)
        )
    eps = 1e-9
    torch.testing.assert_close(
        categorical_divergence(logp, logq, "jsd", eps) / eps,
        full_kl(logq, logp),
        rtol=1e-4,
        atol=1e-6,
    )
    torch.testing.assert_close(
        categorical_divergence(logp, logq, "jsd", 1 - eps) / eps,
        full_kl(logp, logq),
        rtol=1e-4,
        atol=1e-6,
    )


@pytest.mark.parametrize("k", [3, 11])
def test_reverse_kl_gradient_is_policy_gradient(k):
    """d/dz KL(p || q) = -sum_b p_b (log q_b - log p_b) d log p_b  over the K + 1 buckets."""
    s, q = student_teacher()
    z = s.clone().requires_grad_(True)
    sk, qk, *_ = topk_parts(z, q, k)
    (g_loss,) = torch.autograd.grad(topk_tail_distill_loss(sk, qk).sum(), z)

    z2 = s.clone().requires_grad_(True)
    sk2, qk2, *_ = topk_parts(z2, q, k)
    p_b, q_b = with_tail(sk2), with_tail(qk2)  # bucket log-probs, differentiable in z2
    adv = sampled_token_advantage(q_b, p_b)  # log q - log p, detached
    surrogate = -(p_b.exp().detach() * adv * p_b).sum()
    (g_pg,) = torch.autograd.grad(surrogate, z2)
    torch.testing.assert_close(g_loss, g_pg, atol=1e-10, rtol=1e-8)


def test_sampled_token_loss_is_unbiased_for_reverse_kl_gradient():
    # E_{y ~ p}[grad of the sampled-token surrogate] == grad KL(p || q), by exact enumeration.
    s, q = student_teacher(b=1, t=1, v=7)
    z = s[0, 0].clone().requires_grad_(True)
    logq = torch.log_softmax(q[0, 0], -1)
    (g_kl,) = torch.autograd.grad(full_kl(torch.log_softmax(z, -1), logq), z)
    expected = torch.zeros_like(z)
    for y in range(7):
        logp = torch.log_softmax(z, -1)
        (g,) = torch.autograd.grad(sampled_token_distill_loss(logp[y], logq[y]), z)
        expected += logp[y].exp().detach() * g
    torch.testing.assert_close(expected, g_kl, atol=1e-10, rtol=1e-8)


def test_teacher_side_gets_no_gradient():
    s, q = student_teacher()
    for kind in ("reverse_kl", "forward_kl", "jsd"):
        zs, zq = s.clone().requires_grad_(True), q.clone().requires_grad_(True)
        logp, logq = torch.log_softmax(zs, -1), torch.log_softmax(zq, -1)
        vals, idx = logp.topk(4, -1)
        loss = topk_tail_distill_loss(vals, logq.gather(-1, idx), divergence=kind).sum()
        gs, gq = torch.autograd.grad(loss, (zs, zq), allow_unused=True)
        assert gq is None and gs is not None and gs.abs().sum() > 0


@pytest.mark.parametrize("kind", ["reverse_kl", "forward_kl", "jsd"])
def test_zero_loss_and_zero_gradient_when_teacher_equals_student(kind):
    s, _ = student_teacher()
    z = s.clone().requires_grad_(True)
    sk, qk, *_ = topk_parts(z, s, 5)
    loss = topk_tail_distill_loss(sk, qk, divergence=kind)
    torch.testing.assert_close(loss, torch.zeros_like(loss), atol=1e-12, rtol=0)
    (g,) = torch.autograd.grad(loss.sum(), z)
    torch.testing.assert_close(g, torch.zeros_like(g), atol=1e-10, rtol=0)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 12),
    st.integers(0, 2**31 - 1),
    st.floats(0.1, 8.0),
    st.sampled_from(["reverse_kl", "forward_kl", "jsd"]),
    st.floats(0.0, 1.0),
    st.data(),
)
def test_property_nonnegative_zero_iff_equal(v, seed, scale, kind, alpha, data):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(v, generator=g, dtype=F64) * scale
    q = torch.randn(v, generator=g, dtype=F64) * scale
    k = data.draw(st.integers(1, v))
    sk, qk, *_ = topk_parts(s, q, k)
    d = topk_tail_distill_loss(sk, qk, divergence=kind, alpha=alpha)
    assert d >= -1e-12
    same = topk_tail_distill_loss(sk, sk.detach(), divergence=kind, alpha=alpha)
    assert abs(same) < 1e-12
    # Different K+1 bucket distributions give a strictly positive divergence.
    pb, qb = with_tail(sk).exp(), with_tail(qk).exp()
    # (JSD scales like alpha * (1 - alpha): skip its degenerate near-endpoint weights.)
    near_end = kind == "jsd" and 0.0 < min(alpha, 1.0 - alpha) < 1e-3
    if (pb - qb).abs().max() > 1e-3 and not near_end:
        assert d > 0


def test_float32_is_finite_with_extreme_logits():
    z = torch.tensor([[50.0, -50.0, 0.0, -1e4, 30.0]], requires_grad=True)
    logp = torch.log_softmax(z, -1)
    q = torch.log_softmax(torch.tensor([[-50.0, 50.0, 0.0, 0.0, 0.0]]), -1)
    for k in (1, 2, 5):
        vals, idx = logp.topk(k, -1)
        for kind in ("reverse_kl", "forward_kl", "jsd"):
            loss = topk_tail_distill_loss(vals, q.gather(-1, idx), divergence=kind)
            (g,) = torch.autograd.grad(loss.sum(), z, retain_graph=True)
            assert torch.isfinite(loss).all() and torch.isfinite(g).all()


def test_log1mexp_and_tail():
    x = torch.tensor([-1e-20, -1e-8, -0.1, -0.7, -5.0, -50.0, -800.0], dtype=F64)
    ref = torch.tensor([math.log(-math.expm1(v)) for v in x.tolist()], dtype=F64)
    torch.testing.assert_close(log1mexp(x), ref)
    # The tail of a tiny top-K is ~ log 1, of a full top-K is floored (finite).
    assert abs(tail_logp(torch.tensor([-30.0, -31.0], dtype=F64))) < 1e-12
    full = torch.log_softmax(torch.randn(9, dtype=F64), -1)
    assert torch.isfinite(tail_logp(full)) and tail_logp(full) < -30


def test_mask_and_ratio():
    s, q = student_teacher(b=2, t=3)
    sk, qk, *_ = topk_parts(s, q, 4)
    mask = torch.tensor([[1, 1, 0], [0, 1, 1]], dtype=torch.bool)
    ratio = torch.full((2, 3), 0.5, dtype=F64)
    base = topk_tail_distill_loss(sk, qk)
    got = topk_tail_distill_loss(sk, qk, mask=mask, ratio=ratio)
    torch.testing.assert_close(got, torch.where(mask, 0.5 * base, torch.zeros_like(base)))


def test_importance_ratio_detached_and_clipped():
    cur = torch.tensor([0.0, -1.0, -3.0, 5.0], requires_grad=True)
    old = torch.tensor([0.0, -2.0, -1.0, -100.0])
    r = importance_ratio(cur, old)
    assert not r.requires_grad
    torch.testing.assert_close(r, torch.tensor([1.0, 2.0, math.exp(-2.0), 2.0]))
    assert importance_ratio(cur, old, clip=None)[3] == pytest.approx(math.exp(20.0), rel=1e-5)
    m = torch.tensor([1, 1, 1, 0])
    assert importance_ratio(cur, old, clip=None, mask=m)[3] == 1.0


def test_grpo_and_hybrid_advantages():
    r = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    a = grpo_advantages(r)
    torch.testing.assert_close(a, torch.tensor([[0.5, -0.5, -0.5, 0.5], [0.0, 0.0, 0.0, 0.0]]))
    assert grpo_advantages(r, scale_by_std=True)[0, 0] == pytest.approx(
        0.5 / r[0].std().item(), rel=1e-4
    )
    a_seq = torch.tensor([1.0, -1.0])
    a_tok = torch.tensor([[0.2, 0.4, 0.0], [1.0, 1.0, 1.0]])
    h = hybrid_advantages(a_seq, a_tok, lam=0.9)
    torch.testing.assert_close(h, torch.tensor([[0.92, 0.94, 0.9], [-0.8, -0.8, -0.8]]))
    torch.testing.assert_close(
        hybrid_advantages(a_seq, a_tok, lam=1.0), a_seq[:, None].expand(2, 3)
    )


def test_policy_gradient_loss_gradient():
    logp = torch.tensor([[-1.0, -2.0, -0.5]], requires_grad=True)
    adv = torch.tensor([[2.0, -1.0, 3.0]])
    mask = torch.tensor([[1, 1, 0]])
    ratio = torch.tensor([[0.5, 2.0, 1.0]])
    loss = policy_gradient_loss(logp, adv, mask, ratio)
    (g,) = torch.autograd.grad(loss.sum(), logp)
    torch.testing.assert_close(g, torch.tensor([[-1.0, 2.0, 0.0]]))
    # A sequence-level advantage broadcasts over tokens.
    seq = policy_gradient_loss(logp, torch.tensor([2.0]))
    torch.testing.assert_close(seq, -2.0 * logp.detach())


def test_reduce_loss_modes():
    per = torch.tensor([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0], [9.0, 9.0, 9.0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    assert reduce_loss(per, mask, "token_mean").item() == pytest.approx(10 / 4)
    assert reduce_loss(per, mask, "token_mean", denominator=8).item() == pytest.approx(10 / 8)
    assert reduce_loss(per, mask, "seq_mean_token_mean").item() == pytest.approx((2 + 4) / 2)
    assert reduce_loss(per, mask, "seq_mean_token_sum").item() == pytest.approx((6 + 4) / 2)
    assert reduce_loss(per, mask, "sum").item() == pytest.approx(10)
    assert reduce_loss(per, torch.zeros_like(mask)).item() == 0.0
    with pytest.raises(ValueError):
        reduce_loss(per, mask, "nope")  # type: ignore[arg-type]
