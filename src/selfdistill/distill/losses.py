"""SDPO maths as pure functions: divergences, top-K + tail distillation, advantages.

Conventions (shared with scoring.py):
- "student" is the trained policy p = pi(.|x, y<t); "teacher" is q = pi(.|x, f, y<t).
- Log-prob tensors are [..., K] over a token support (last dim), per-token tensors are
  [B, T] aligned with the completion tokens, masks are [B, T] (1/True = real token).
- The teacher side is always detached here: gradients reach the student only.
- alpha follows TRL / GKD: divergence "jsd" with alpha 0 is forward KL(q || p), with
  alpha 1 it is reverse KL(p || q); in between it is the generalised Jensen-Shannon
  divergence alpha * KL(q || m) + (1 - alpha) * KL(p || m), m = (1 - alpha) p + alpha q.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

Divergence = Literal["reverse_kl", "forward_kl", "jsd"]
Reduction = Literal["token_mean", "seq_mean_token_mean", "seq_mean_token_sum", "sum"]
REDUCTIONS: tuple[str, ...] = ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum", "sum")

_MAX_LOG_RATIO = 20.0  # exp(20) ~ 5e8: keeps the ratio finite before clipping


def log_floor(dtype: torch.dtype) -> float:
    """log of the smallest normal number of dtype: the floor for empty probability buckets."""
    return math.log(torch.finfo(dtype).tiny)


def log1mexp(x: Tensor) -> Tensor:
    """log(1 - exp(x)) for x <= 0, stable on both ends (Maechler 2012)."""
    # expm1 is exact near 0 (tiny tail), log1p is exact for very negative x (huge tail).
    return torch.where(
        x > -math.log(2.0),
        torch.log(-torch.expm1(x)),
        torch.log1p(-torch.exp(x)),
    )


def tail_logp(topk_logp: Tensor) -> Tensor:
    """log(1 - sum(exp(topk_logp))) over the last dim: the mass outside the top-K support.

    Computed from the top-K log-probs alone, so it is only accurate down to the dtype's
    rounding of the captured mass (~1e-7 in fp32); scoring.py returns an exact tail from
    the full logits, prefer that when available.
    """
    captured = torch.logsumexp(topk_logp, dim=-1)
    # Rounding can push the captured mass to >= 1 (e.g. K = V): clamp it just below 1.
    captured = captured.clamp(max=-torch.finfo(topk_logp.dtype).eps)
    return log1mexp(captured).clamp(min=log_floor(topk_logp.dtype))


def with_tail(topk_logp: Tensor, tail: Tensor | None = None) -> Tensor:
    """Append the tail bucket to top-K log-probs: [..., K] -> [..., K + 1], a proper distribution."""
    if tail is None:
        tail = tail_logp(topk_logp)
    tail = tail.clamp(min=log_floor(topk_logp.dtype))
    return torch.cat([topk_logp, tail.unsqueeze(-1)], dim=-1)


def _kl(logp: Tensor, logq: Tensor) -> Tensor:
    """KL(p || q) over the last dim, treating 0 * log(0 / q) as 0."""
    p = logp.exp()
    terms = p * (logp - logq)
    return torch.where(p > 0, terms, torch.zeros_like(terms)).sum(-1)


def categorical_divergence(
    student_logp: Tensor,
    teacher_logp: Tensor,
    kind: Divergence = "reverse_kl",
    alpha: float = 0.5,
) -> Tensor:
    """Divergence between two categorical distributions given as log-probs over the last dim."""
    teacher_logp = teacher_logp.detach()
    if kind == "reverse_kl" or (kind == "jsd" and alpha == 1.0):
        return _kl(student_logp, teacher_logp)
    if kind == "forward_kl" or (kind == "jsd" and alpha == 0.0):
        return _kl(teacher_logp, student_logp)
    if kind != "jsd":
        raise ValueError(f"unknown divergence {kind!r}; use reverse_kl, forward_kl or jsd")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"jsd alpha must lie in [0, 1], got {alpha}")
    mix = torch.logaddexp(student_logp + math.log(1.0 - alpha), teacher_logp + math.log(alpha))
    return alpha * _kl(teacher_logp, mix) + (1.0 - alpha) * _kl(student_logp, mix)


def topk_tail_distill_loss(
    student_topk_logp: Tensor,
    teacher_topk_logp: Tensor,
    *,
    student_tail_logp: Tensor | None = None,
    teacher_tail_logp: Tensor | None = None,
    divergence: Divergence = "reverse_kl",
    alpha: float = 0.5,
    add_tail: bool = True,
    mask: Tensor | None = None,
    ratio: Tensor | None = None,
) -> Tensor:
    """Per-token divergence on the student's top-K ids plus one tail bucket: [..., K] -> [...].

    student_topk_logp: student log-probs at its own top-K ids (carries the gradient).
    teacher_topk_logp: teacher log-probs at the *same* ids (detached here).
    *_tail_logp: log of the mass outside those ids; None = derived from the top-K (log1mexp).
    add_tail=False renormalises both on the K ids instead (no tail bucket).
    mask zeroes padded / teacher-less tokens; ratio (detached) multiplies each token's loss.
    """
    if add_tail:
        s = with_tail(student_topk_logp, student_tail_logp)
        t = with_tail(teacher_topk_logp.detach(), teacher_tail_logp)
    else:
        s = student_topk_logp - torch.logsumexp(student_topk_logp, dim=-1, keepdim=True)
        t = teacher_topk_logp.detach()
        t = t - torch.logsumexp(t, dim=-1, keepdim=True)
    loss = categorical_divergence(s, t, divergence, alpha)
    if ratio is not None:
        loss = loss * ratio.detach()
    if mask is not None:
        loss = torch.where(mask.bool(), loss, torch.zeros_like(loss))
    return loss


def sampled_token_advantage(teacher_logp_taken: Tensor, student_logp_taken: Tensor) -> Tensor:
    """Per-token SDPO advantage A_t = log q(y_t) - log p(y_t), detached."""
    return (teacher_logp_taken - student_logp_taken).detach()


def importance_ratio(
    student_logp_taken: Tensor,
    behaviour_logp_taken: Tensor,
    clip: float | None = 2.0,
    mask: Tensor | None = None,
) -> Tensor:
    """Detached per-token ratio p_theta(y_t) / mu(y_t) against the policy that sampled y, clipped above."""
    log_ratio = (student_logp_taken - behaviour_logp_taken).detach()
    ratio = log_ratio.clamp(-_MAX_LOG_RATIO, _MAX_LOG_RATIO).exp()
    if clip is not None:
        ratio = ratio.clamp(max=clip)
    if mask is not None:
        # Padding may carry garbage log-probs: make it neutral rather than inf/nan.
        ratio = torch.where(mask.bool(), ratio, torch.ones_like(ratio))
    return ratio


def grpo_advantages(rewards: Tensor, scale_by_std: bool = False, eps: float = 1e-6) -> Tensor:
    """GRPO advantage r - mean(r) over the group (last dim); no std normalisation by default."""
    adv = rewards - rewards.mean(dim=-1, keepdim=True)
    if scale_by_std:
        adv = adv / (rewards.std(dim=-1, keepdim=True) + eps)
    return adv


def hybrid_advantages(a_grpo: Tensor, a_sdpo: Tensor, lam: float = 0.9) -> Tensor:
    """A = lam * A_GRPO + (1 - lam) * A_SDPO; a sequence-level A_GRPO [B] is broadcast over tokens."""
    if a_grpo.dim() == a_sdpo.dim() - 1:
        a_grpo = a_grpo.unsqueeze(-1)
    return lam * a_grpo.detach() + (1.0 - lam) * a_sdpo.detach()


def policy_gradient_loss(
    student_logp_taken: Tensor,
    advantages: Tensor,
    mask: Tensor | None = None,
    ratio: Tensor | None = None,
) -> Tensor:
    """Per-token surrogate -sg(ratio * A_t) * log p(y_t); its gradient is the policy gradient."""
    weight = advantages.detach()
    if weight.dim() == student_logp_taken.dim() - 1:
        weight = weight.unsqueeze(-1)  # sequence-level advantage, e.g. plain GRPO
    if ratio is not None:
        weight = weight * ratio.detach()
    loss = -weight * student_logp_taken
    if mask is not None:
        loss = torch.where(mask.bool(), loss, torch.zeros_like(loss))
    return loss


def ppo_clip_loss(
    student_logp_taken: Tensor,
    old_logp_taken: Tensor,
    advantages: Tensor,
    mask: Tensor | None = None,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.28,
    clip_c: float | None = 3.0,
    weight: Tensor | None = None,
) -> Tensor:
    """Per-token PPO surrogate with dual clip, r = p_theta / p_old (the policy before this batch's updates).

    max(-A r, -A clip(r, 1 - clip_low, 1 + clip_high)), and for A < 0 at most -A clip_c;
    weight (detached, e.g. the rollout correction p_old / mu) multiplies each token.
    At r = 1 (the first update of a batch) its gradient is the policy gradient -A grad log p.
    """
    adv = advantages.detach()
    if adv.dim() == student_logp_taken.dim() - 1:
        adv = adv.unsqueeze(-1)
    log_r = (student_logp_taken - old_logp_taken.detach()).clamp(-_MAX_LOG_RATIO, _MAX_LOG_RATIO)
    r = log_r.exp()
    loss = torch.maximum(-adv * r, -adv * r.clamp(1.0 - clip_low, 1.0 + clip_high))
    if clip_c is not None:
        loss = torch.where(adv < 0, torch.minimum(loss, -adv * clip_c), loss)
    if weight is not None:
        loss = loss * weight.detach()
    if mask is not None:
        loss = torch.where(mask.bool(), loss, torch.zeros_like(loss))
    return loss


def sampled_token_distill_loss(
    student_logp_taken: Tensor,
    teacher_logp_taken: Tensor,
    mask: Tensor | None = None,
    ratio: Tensor | None = None,
) -> Tensor:
    """Per-token sampled-token SDPO loss: policy gradient with A_t = log q(y_t) - log p(y_t).

    Its gradient is a one-sample estimate of the reverse-KL gradient (y ~ p).
    """
    adv = sampled_token_advantage(teacher_logp_taken, student_logp_taken)
    return policy_gradient_loss(student_logp_taken, adv, mask, ratio)


def reduce_loss(
    per_token: Tensor,
    mask: Tensor,
    mode: Reduction = "token_mean",
    denominator: float | Tensor | None = None,
) -> Tensor:
    """Reduce a [B, T] per-token loss to a scalar.

    token_mean: sum over all real tokens / number of real tokens;
    seq_mean_token_mean: mean per sequence, then mean over sequences (the reference's
    effective mode: with `denominator` = every sequence of the mini-batch, sequences
    without loss tokens count as zero);
    seq_mean_token_sum: sum per sequence, then mean over sequences; sum: plain sum.
    Sequences without any real token are not counted.
    denominator overrides the divisor of token_mean / seq_mean_* (e.g. the global token or
    sequence count across gradient-accumulation micro-batches and ranks).
    """
    m = mask.to(per_token.dtype)
    masked = per_token * m
    if mode == "sum":
        return masked.sum()
    if mode == "token_mean":
        den = m.sum().clamp(min=1.0) if denominator is None else denominator
        return masked.sum() / den
    if mode in ("seq_mean_token_mean", "seq_mean_token_sum"):
        per_seq = masked.sum(-1)
        if mode == "seq_mean_token_mean":
            per_seq = per_seq / m.sum(-1).clamp(min=1.0)
        # Sequences with no real token (e.g. no teacher context) do not dilute the mean.
        n_seq = (m.sum(-1) > 0).to(per_token.dtype).sum().clamp(min=1.0)
        den = n_seq if denominator is None else denominator
        return per_seq.sum() / den
    raise ValueError(f"unknown reduction {mode!r}")
