"""Mini-batch updates per rollout batch, PPO clipping and the reference's loss aggregation.

The expected gradients are computed here independently of the scoring code: one plain
forward of the whole (prompt + completion) sequence per rollout, log-softmax, autograd.
"""

from __future__ import annotations

import copy

import pytest
import tiny
import torch

from selfdistill.distill.losses import ppo_clip_loss, reduce_loss
from selfdistill.distill.objective import SDPOLossConfig, accumulate_gradients
from selfdistill.distill.step import sdpo_step
from selfdistill.distill.teacher_weights import Teacher
from selfdistill.generation.chat import chat_token_ids
from selfdistill.rollouts import Group, Rollout

pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing`:FutureWarning")

CHAT = tiny.ADD_CHAT
HINT = [{"role": "user", "content": "Write add(a, b) returning the sum. Hint: return a + b."}]
TEXTS = ["```python\ndef add(a, b):\n    return a - b\n```", "def add(a, b): return a", "no idea"]


full_model = tiny.vocab_llama


def make_rollout(tok, text, reward, behaviour_shift=None, model=None):
    ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    r = Rollout(prompt_ids=chat_token_ids(tok, CHAT), completion_ids=ids, text=text,
                reward=reward, passed=reward > 0, feedback="wrong")
    if behaviour_shift is not None:  # sampler log-probs: the model's own, shifted
        lp = manual_logp(model, r.prompt_ids, ids).detach()
        r.behaviour_logprobs = (lp + behaviour_shift * torch.linspace(-1, 1, len(ids))).tolist()
    return r


def manual_logp(model, prompt_ids, completion_ids):
    """log p of each completion token: one plain forward, no chunking, no caches."""
    ids = torch.tensor([list(prompt_ids) + list(completion_ids)])
    logits = model(input_ids=ids).logits[0].float()
    lp = torch.log_softmax(logits[len(prompt_ids) - 1 : -1], -1)
    return lp.gather(-1, torch.tensor(completion_ids)[:, None]).squeeze(-1)


class Recorder(torch.optim.SGD):
    """SGD that keeps the gradients and the weights of every step it takes."""

    def __init__(self, params, lr):
        self.params_list = list(params)
        super().__init__(self.params_list, lr=lr)
        self.grads, self.after = [], []

    def step(self, closure=None):
        self.grads.append([p.grad.detach().clone() for p in self.params_list])
        out = super().step(closure)
        self.after.append([p.detach().clone() for p in self.params_list])
        return out


def two_identical_groups(tok, model, shift=0.3):
    rs = [make_rollout(tok, t, float(i == 0), shift, model) for i, t in enumerate(TEXTS[:2])]
    return [Group(CHAT, rs, "p"), Group(CHAT, copy.deepcopy(rs), "p")]


@pytest.mark.parametrize("algorithm", ["sdpo", "grpo"])
def test_first_mini_batch_update_equals_the_on_policy_step(tok, algorithm):
    """Mini-batch size 1 over two identical groups: update 1 == one on-policy step on group 1."""
    base = full_model(tok)
    gs = two_identical_groups(tok, base)
    chats = [HINT, HINT] * 2
    cfg = dict(algorithm=algorithm, support_size=5, max_grad_norm=None)
    m_on = copy.deepcopy(base)
    opt_on = Recorder(m_on.parameters(), lr=0.5)
    sdpo_step(m_on, Teacher(m_on, "frozen"), opt_on, gs[:1], tok, SDPOLossConfig(**cfg),
              teacher_chats=chats[:2])
    m_mb = copy.deepcopy(base)
    opt_mb = Recorder(m_mb.parameters(), lr=0.5)
    teacher = Teacher(m_mb, "ema", rate=0.5)
    m = sdpo_step(m_mb, teacher, opt_mb, gs, tok,
                  SDPOLossConfig(**cfg, ppo_mini_batch_size=1), teacher_chats=chats)
    assert len(opt_mb.after) == 2 and m.extra["updates"] == 2
    assert teacher.steps == 1  # the EMA advances once per rollout batch, after all updates
    for a, b in zip(opt_on.after[0], opt_mb.after[0], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    # The second update is not a repeat of the first: the policy moved, the ratio acts.
    assert any(not torch.allclose(a, b) for a, b in
               zip(opt_mb.grads[0], opt_mb.grads[1], strict=True))


def test_later_mini_batches_apply_the_clipped_ratio(tok):
    """Update 2's gradient = sum_t w_t * A_t * grad log p_t with w_t = min(p/p_old, is_clip)
    * min(p_old/mu, 2): p_old the weights before update 1, computed here by hand."""
    base = full_model(tok, seed=3)
    gs = two_identical_groups(tok, base, shift=0.5)
    chats = [HINT, None] * 2  # one rollout per group without context: it counts as zero
    cfg = SDPOLossConfig(support_size=0, max_grad_norm=None, is_clip=1.02, ppo_mini_batch_size=1)
    model, frozen = copy.deepcopy(base), copy.deepcopy(base)
    opt = Recorder(model.parameters(), lr=2.0)
    m = sdpo_step(model, Teacher(model, "frozen"), opt, gs, tok, cfg, teacher_chats=chats)
    assert m.is_clipped_frac > 0
    # By hand, at the weights after update 1, for group 2's rollout with a context:
    r = gs[1].rollouts[0]
    with torch.no_grad():
        old = manual_logp(frozen, r.prompt_ids, r.completion_ids)
        q = manual_logp(frozen, chat_token_ids(tok, HINT), r.completion_ids)
    check = copy.deepcopy(base)
    with torch.no_grad():
        for p, w in zip(check.parameters(), opt.after[0], strict=True):
            p.copy_(w)
    lp = manual_logp(check, r.prompt_ids, r.completion_ids)
    ratio = (lp.detach() - old).exp()
    mu = torch.tensor(r.behaviour_logprobs)
    w = ratio.clamp(max=1.02) * (old - mu).exp().clamp(max=2.0)
    assert 0 < int((ratio > 1.02).sum()) < len(lp)  # the clip binds on some tokens only
    adv = q - lp.detach()
    loss = -(w * adv * lp).mean() / 2  # token mean, then mean over the mini-batch's 2 sequences
    loss.backward()
    for got, p in zip(opt.grads[1], check.parameters(), strict=True):
        torch.testing.assert_close(got, p.grad, rtol=2e-4, atol=1e-6)


def test_ppo_clip_bounds_the_ratio_as_configured():
    """Gradient flows only while r stays inside [1 - low, 1 + high] in the advantage's
    favourable direction; for A < 0 the loss is capped at -A * c (dual clip)."""
    def grad_at(ratio, adv, low=0.2, high=0.28, c=3.0):
        lp = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
        old = torch.full((1, 1), -float(torch.tensor(ratio).log()), dtype=torch.float64)
        loss = ppo_clip_loss(lp, old, torch.tensor([adv], dtype=torch.float64),
                             clip_low=low, clip_high=high, clip_c=c)
        loss.sum().backward()
        return float(lp.grad), float(loss.detach().sum())

    assert grad_at(1.0, 1.0)[0] == pytest.approx(-1.0)  # r = 1: the policy gradient
    assert grad_at(1.25, 1.0)[0] == pytest.approx(-1.25)  # inside: -A r
    assert grad_at(1.30, 1.0) == (0.0, pytest.approx(-1.28))  # above 1 + high: clipped
    assert grad_at(1.30, 1.0, high=0.4)[0] == pytest.approx(-1.30)  # a wider bound lets it pass
    assert grad_at(0.5, 1.0)[0] == pytest.approx(-0.5)  # A > 0 is never clipped below
    assert grad_at(0.75, -1.0) == (0.0, pytest.approx(0.8))  # below 1 - low with A < 0: clipped
    assert grad_at(0.85, -1.0)[0] == pytest.approx(0.85)
    assert grad_at(2.0, -1.0)[0] == pytest.approx(2.0)  # A < 0, r above: unclipped ...
    assert grad_at(4.0, -1.0) == (0.0, pytest.approx(3.0))  # ... until the dual clip c = 3


def test_seq_mean_token_mean_hand_computed_gradient():
    """3 sequences (2, 3 and 0 loss tokens): loss = theta * sum c_t; by hand
    d/dtheta = (mean(c_1) + mean(c_2) + 0) / 3; token_mean gives sum(c) / 5 instead."""
    theta = torch.tensor(1.0, requires_grad=True)
    c = torch.tensor([[1.0, 3.0, 0.0], [2.0, 4.0, 9.0], [5.0, 5.0, 5.0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1], [0, 0, 0]], dtype=torch.bool)  # seq 3: no context
    reduce_loss(theta * c, mask, "seq_mean_token_mean", denominator=3).backward()
    assert float(theta.grad) == pytest.approx((2.0 + 5.0 + 0.0) / 3)
    theta.grad = None
    reduce_loss(theta * c, mask, "token_mean").backward()
    assert float(theta.grad) == pytest.approx((1 + 3 + 2 + 4 + 9) / 5)


def test_step_aggregates_per_sequence_over_three_sequences(tok):
    """The whole objective on a 3-sequence batch (one without context) reproduces the
    hand-computed gradient: mean over 3 sequences of each one's token-mean loss."""
    model = full_model(tok, seed=5)
    rs = [make_rollout(tok, t, 0.0, 0.2, model) for t in TEXTS]
    chats = [HINT, HINT, None]
    cfg = SDPOLossConfig(support_size=0, is_clip=2.0)
    accumulate_gradients(model, Teacher(model, "frozen"), [Group(CHAT, rs)], tok, cfg, chats)
    got = [p.grad.detach().clone() for p in model.parameters()]
    model.zero_grad()
    total = 0.0
    for r in rs[:2]:
        lp = manual_logp(model, r.prompt_ids, r.completion_ids)
        with torch.no_grad():
            q = manual_logp(model, chat_token_ids(tok, HINT), r.completion_ids)
        w = (lp.detach() - torch.tensor(r.behaviour_logprobs)).exp().clamp(max=2.0)
        total = total + (-(w * (q - lp.detach()) * lp).mean())
    (total / 3).backward()
    for g, p in zip(got, model.parameters(), strict=True):
        torch.testing.assert_close(g, p.grad, rtol=2e-4, atol=1e-6)


def test_config_rejects_bad_update_settings():
    with pytest.raises(ValueError):
        SDPOLossConfig(ppo_epochs=0)
    with pytest.raises(ValueError):
        SDPOLossConfig(clip_ratio_c=1.0)
    with pytest.raises(ValueError):
        SDPOLossConfig(reduction="mean")  # type: ignore[arg-type]


def test_step_with_the_log_prob_trust_region_teacher(tok):
    """A trust-region teacher at a = 0 is the initial model: the same step as a frozen one."""
    base = full_model(tok, seed=7)
    gs = two_identical_groups(tok, base)
    out = []
    for kind in ("trust_region", "frozen"):
        model = copy.deepcopy(base)
        opt = Recorder(model.parameters(), lr=0.5)
        m = sdpo_step(model, Teacher(model, kind, rate=0.0), opt, gs, tok,
                      SDPOLossConfig(support_size=5, ppo_mini_batch_size=1),
                      teacher_chats=[HINT, HINT] * 2)
        assert m.loss > 0 and m.teacher_student_kl > 0
        out.append(opt.grads)
    for a, b in zip(out[0][1], out[1][1], strict=True):  # the second update: after a step
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
