"""The fused LM-head scores (distill/head_scores.py) equal score_chunk's autograd version:
the same scores, and the same gradients for h and the head weight, in fp32 and under bf16
autocast, for the student's own top-K and for given ids, with and without a temperature."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from selfdistill.distill import head_scores as hs
from selfdistill.distill.scoring import score_chunk


def _setup(seed: int, n: int = 37, hidden: int = 16, vocab: int = 300, k: int = 5):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, hidden, generator=g) * 2
    head = nn.Linear(hidden, vocab, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.randn(vocab, hidden, generator=g))
    targets = torch.randint(0, vocab, (n,), generator=g)
    idx = torch.randint(0, vocab, (n, k), generator=g)
    weights = [torch.randn(n, generator=g), torch.randn(n, k, generator=g),
               torch.randn(n, generator=g)]
    return h, head, targets, idx, weights


def _run(fn, h, head, weights, bf16: bool):
    h = h.clone().requires_grad_(True)
    head.weight.grad = None
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else torch.autocast("cpu", enabled=False)
    with ctx:
        out = fn(h, head)
    loss = (out[0] * weights[0]).sum()
    if len(out) > 1:
        loss = loss + (out[1] * weights[1]).sum() + (out[3] * weights[2]).sum()
    loss.backward()
    return [o.detach() for o in out], h.grad, head.weight.grad.clone()


@pytest.mark.parametrize("bf16", [False, True])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("support", ["own", "given", "none"])
def test_fused_head_scores_equal_autograd(bf16: bool, temperature: float, support: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    h, head, targets, idx, weights = _setup(int(temperature * 10) + bf16)
    monkeypatch.setattr(hs, "ROW_BLOCK_ELEMENTS", 3000)  # several row blocks of 300 ids
    k = 5 if support == "own" else None
    given = idx if support == "given" else None
    ref = _run(lambda x, m: score_chunk(x, targets, given, m, k, temperature, None),
               h, head, weights, bf16)
    got = _run(lambda x, m: hs.head_scores(x, targets, given, m, k, temperature),
               h, head, weights, bf16)
    tol = dict(rtol=2e-2, atol=2e-2) if bf16 else dict(rtol=1e-5, atol=1e-5)
    assert len(ref[0]) == len(got[0])
    for a, b in zip(ref[0], got[0], strict=True):
        if a.dtype == torch.long:
            assert torch.equal(a, b)
        else:
            torch.testing.assert_close(b, a, **tol)
    torch.testing.assert_close(got[1], ref[1], **tol)  # d/dh
    torch.testing.assert_close(got[2], ref[2], **tol)  # d/dW


def test_tail_at_the_floor_gets_no_gradient() -> None:
    # K = V: nothing outside the support; the tail is clamped and must not leak NaN.
    h, head, targets, _, _ = _setup(0, vocab=6, k=6)
    h.requires_grad_(True)
    _, support, _, tail = hs.head_scores(h, targets, None, head, 6, 1.0)
    (support.sum() + tail.sum()).backward()
    assert torch.isfinite(h.grad).all()
    assert torch.isfinite(head.weight.grad).all()


def test_only_plain_bias_free_linear_heads_are_fused() -> None:
    assert hs.fusable_head(nn.Linear(4, 8, bias=False), None)
    assert not hs.fusable_head(nn.Linear(4, 8, bias=True), None)
    assert not hs.fusable_head(nn.Linear(4, 8, bias=False), 30.0)
