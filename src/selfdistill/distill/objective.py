"""The per-micro-batch objective of SDPO / GRPO / hybrid and its gradients.

accumulate_gradients: per micro-batch, the student scores its own answer (log p of each
token + its top-K ids and tail), the teacher (the same model re-prompted, with EMA /
trust-region / frozen / live weights) scores the *same* tokens at the *same* ids without
gradients, the per-token loss of the chosen algorithm is reduced with a step-global
denominator (all micro-batches, all processes) and back-propagated. step.py wraps it into
one optimiser step.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from selfdistill.core.distributed import all_reduce_sum
from selfdistill.core.merged_lora import merged_lora
from selfdistill.distill.losses import (
    Divergence,
    Reduction,
    categorical_divergence,
    grpo_advantages,
    hybrid_advantages,
    importance_ratio,
    policy_gradient_loss,
    reduce_loss,
    sampled_token_distill_loss,
    topk_tail_distill_loss,
    with_tail,
)
from selfdistill.distill.prefix_scoring import score_rows
from selfdistill.distill.scoring import DEFAULT_CHUNK_SIZE, TokenScores, pad_completion_values
from selfdistill.distill.teacher_weights import Teacher
from selfdistill.generation.base import Chat
from selfdistill.generation.chat import chat_token_ids
from selfdistill.rollouts import Group

Algorithm = Literal["sdpo", "grpo", "hybrid"]
ALGORITHMS: tuple[str, ...] = ("sdpo", "grpo", "hybrid")


@dataclass
class SDPOLossConfig:
    """How one step turns scores into a loss (defaults: the paper's SDPO settings).

    algorithm: "sdpo" (distil towards the re-prompted teacher), "grpo" (A = r - mean(r)),
        "hybrid" (A = lam * A_GRPO + (1 - lam) * A_SDPO, A_SDPO_t = log q(y_t) - log p(y_t)).
    support_size: K, the distillation support -- SDPO on the student's top-K ids + one
        tail bucket; 0 = sampled-token SDPO (policy gradient with A_SDPO, no logits kept).
        (YAML `loss.top_k`, its old name, is still read with a warning; sampling top-k is
        a different knob of the sampling sections.)
    scoring_temperature: temperature of both student and teacher log-probs in the loss
        (YAML `loss.temperature`, its old name, is still read with a warning).
    is_clip: upper clip of the importance ratio p_theta / mu (mu: the sampler's untempered
        log-probs, Completion.base_logprobs); None disables the ratio.
    micro_batch_size: sequences per forward/backward (gradient accumulation within a step).
    """

    algorithm: Algorithm = "sdpo"
    divergence: Divergence = "reverse_kl"
    alpha: float = 0.5  # jsd only: 0 = forward KL, 1 = reverse KL
    support_size: int = 20
    add_tail: bool = True
    is_clip: float | None = 2.0
    lam: float = 0.9
    grpo_scale_by_std: bool = False
    reduction: Reduction = "token_mean"
    max_grad_norm: float | None = 1.0
    micro_batch_size: int = 8
    # Run a prompt shared by several samples once and reuse its KV cache (student: the G
    # rollouts of a group; teacher: identical re-prompts, e.g. one sibling solution, or the
    # common prefix -- system prompt and question -- of distinct feedback re-prompts).
    share_prefix: bool = True
    min_shared_prefix: int = 16  # distinct prompts share their common prefix from this length
    chunk_size: int = DEFAULT_CHUNK_SIZE
    # Keep a micro-batch's logits for backward when they hold at most this many elements
    # (no recomputation); above it, each chunk's logits are recomputed in backward.
    keep_logits_max_elements: int = 2**25
    # The teacher needs no backward: small LM-head chunks bound its transient logits
    # (rows x vocab fp32) at little cost in speed.
    teacher_chunk_size: int = 128
    scoring_temperature: float = 1.0  # of both student and teacher scores

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {self.algorithm!r}; use one of {ALGORITHMS}")
        if self.support_size < 0 or self.micro_batch_size < 1:
            raise ValueError("support_size must be >= 0 and micro_batch_size >= 1")
        if not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"lam must lie in [0, 1], got {self.lam}")

    # Old YAML names, still read (with a warning) for one release.
    RENAMED = {"top_k": "support_size", "temperature": "scoring_temperature"}

    @property
    def needs_teacher(self) -> bool:
        """GRPO alone never runs the teacher."""
        return self.algorithm != "grpo"


@dataclass
class _Sample:
    prompt_ids: list[int]
    completion_ids: list[int]
    teacher_ids: list[int] | None
    behaviour: list[float] | None
    adv_seq: float  # GRPO advantage of the sample (0 for sdpo)
    has_ctx: bool


def _entropy_topk(logp: Tensor, tail: Tensor) -> Tensor:
    """Entropy over the K + 1 buckets (a lower bound on the full-vocabulary entropy)."""
    b = with_tail(logp, tail)
    p = b.exp()
    return -(torch.where(p > 0, p * b, torch.zeros_like(b))).sum(-1)


def _prepare(
    groups: Sequence[Group],
    tokenizer: Any,
    cfg: SDPOLossConfig,
    teacher_chats: Sequence[Chat | None] | None,
) -> list[_Sample]:
    """Flatten groups into samples with teacher prompt ids and GRPO advantages."""
    flat = [r for g in groups for r in g.rollouts]
    adv = [0.0] * len(flat)
    if cfg.algorithm != "sdpo":
        adv = []
        for g in groups:
            a = grpo_advantages(torch.tensor(g.rewards, dtype=torch.float64),
                                scale_by_std=cfg.grpo_scale_by_std)
            adv.extend(a.tolist())
    if teacher_chats is not None and len(teacher_chats) != len(flat):
        raise ValueError(f"{len(teacher_chats)} teacher chats for {len(flat)} rollouts")
    samples = []
    for i, r in enumerate(flat):
        tc = teacher_chats[i] if (teacher_chats is not None and cfg.needs_teacher) else None
        samples.append(_Sample(
            prompt_ids=r.prompt_ids, completion_ids=r.completion_ids,
            teacher_ids=chat_token_ids(tokenizer, tc) if tc is not None else None,
            behaviour=r.behaviour_logprobs, adv_seq=float(adv[i]), has_ctx=tc is not None,
        ))
    return samples


def _contributes(s: _Sample, cfg: SDPOLossConfig) -> bool:
    """Does this sample receive any gradient? (Skipped otherwise: zero compute.)"""
    if not s.completion_ids:
        return False
    if cfg.algorithm == "sdpo":
        return s.has_ctx
    if cfg.algorithm == "grpo":
        return s.adv_seq != 0.0
    return s.has_ctx or s.adv_seq != 0.0


def _in_denominator(s: _Sample, cfg: SDPOLossConfig) -> bool:
    """Is this sample counted by the loss mean? SDPO: context only; GRPO/hybrid: all."""
    if not s.completion_ids:
        return False
    return s.has_ctx if cfg.algorithm == "sdpo" else True


def accumulate_gradients(
    model: nn.Module,
    teacher: Teacher | None,
    groups: Sequence[Group],
    tokenizer: Any,
    loss_cfg: SDPOLossConfig,
    teacher_chats: Sequence[Chat | None] | None,
    *,
    backward: Callable[[Tensor], None] | None = None,
) -> dict[str, float]:
    """Forward + backward of the step's loss over micro-batches (grads are added, not zeroed).

    teacher_chats: one per rollout (flattened groups), None = no teacher for that rollout.
    Returns summed statistics (local to this process, denominators global).
    """
    cfg = loss_cfg
    if cfg.needs_teacher and teacher is None:
        raise ValueError(f"algorithm {cfg.algorithm!r} needs a Teacher")
    backward = backward or (lambda loss: loss.backward())
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    samples = _prepare(groups, tokenizer, cfg, teacher_chats)

    # Step-global denominator (all micro-batches, all processes): token or sequence count.
    den_tokens = sum(len(s.completion_ids) for s in samples if _in_denominator(s, cfg))
    den_seqs = sum(1 for s in samples if _in_denominator(s, cfg))
    den_tokens, den_seqs = all_reduce_sum([float(den_tokens), float(den_seqs)], device)
    denominator = den_tokens if cfg.reduction == "token_mean" else den_seqs

    work = [s for s in samples if _contributes(s, cfg)]
    acc = {"loss": 0.0, "adv_sum": 0.0, "adv_abs_sum": 0.0, "kl_sum": 0.0, "kl_tokens": 0.0,
           "ent_sum": 0.0, "ratio_sum": 0.0, "clipped": 0.0, "loss_tokens": 0.0,
           "loss_samples": float(len(work)), "t_student": 0.0, "t_teacher": 0.0,
           "t_backward": 0.0, "tokens_scored": 0.0,
           "teacher_prompt_tokens": float(sum(len(s.teacher_ids or []) for s in samples)),
           "teacher_prompts": float(sum(s.teacher_ids is not None for s in samples))}
    k = cfg.support_size if cfg.support_size > 0 else None
    for mb in _micro_batches(work, cfg):
        t0 = time.perf_counter()
        st = score_rows(model, [s.prompt_ids for s in mb], [s.completion_ids for s in mb],
                        cfg, pad_id, topk=k if cfg.needs_teacher else None)
        t1 = time.perf_counter()
        acc["t_student"] += t1 - t0
        has_ctx = torch.tensor([s.has_ctx for s in mb], device=device)
        tt: TokenScores | None = None
        if cfg.needs_teacher and bool(has_ctx.any()):
            tt = _teacher_scores(model, teacher, mb, st, pad_id, cfg, device)
        t2 = time.perf_counter()
        acc["t_teacher"] += t2 - t1
        ratio = _ratio(st, mb, cfg, device, acc)
        ctx_mask = st.mask & has_ctx[:, None]
        adv_seq = torch.tensor([s.adv_seq for s in mb], device=device, dtype=torch.float32)
        per_tok, loss_mask, adv_tok = _per_token_loss(st, tt, ctx_mask, adv_seq, ratio, cfg, k)
        loss = reduce_loss(per_tok, loss_mask, cfg.reduction, denominator=max(denominator, 1.0))
        _diagnostics(acc, st, tt, adv_tok, loss_mask, ctx_mask, k)
        t3 = time.perf_counter()
        backward(loss)
        acc["t_backward"] += time.perf_counter() - t3
        acc["loss"] += float(loss.detach())
        acc["tokens_scored"] += float(st.mask.sum())
    return acc


def _ratio(st: TokenScores, mb: list[_Sample], cfg: SDPOLossConfig, device: torch.device,
           acc: dict[str, float]) -> Tensor | None:
    """The clipped importance ratio p_theta / mu (None when off or a sampler log-prob is
    missing); its mean and clipped fraction are added to acc."""
    mask = st.mask
    if cfg.is_clip is not None and all(s.behaviour is not None for s in mb):
        mu = pad_completion_values([s.behaviour for s in mb], mask.shape[1]).to(device)
        ratio = importance_ratio(st.logp_taken, mu, cfg.is_clip, mask)
        lr_raw = (st.logp_taken - mu).detach().clamp(max=20.0).exp()
        acc["ratio_sum"] += float(ratio[mask].sum())
        acc["clipped"] += float(((lr_raw > cfg.is_clip) & mask).sum())
        return ratio
    if cfg.is_clip is not None:
        acc["ratio_sum"] += float(mask.sum())
    return None


def _per_token_loss(
    st: TokenScores, tt: TokenScores | None, ctx_mask: Tensor, adv_seq: Tensor,
    ratio: Tensor | None, cfg: SDPOLossConfig, k: int | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """(per-token loss, its mask, per-token advantage) of the configured algorithm."""
    if cfg.algorithm == "sdpo":
        if k is not None:
            per_tok = topk_tail_distill_loss(
                st.support_logp, tt.support_logp, student_tail_logp=st.tail_logp,
                teacher_tail_logp=tt.tail_logp, divergence=cfg.divergence, alpha=cfg.alpha,
                add_tail=cfg.add_tail, mask=ctx_mask, ratio=ratio)
        else:
            per_tok = sampled_token_distill_loss(st.logp_taken, tt.logp_taken, ctx_mask, ratio)
        return per_tok, ctx_mask, (tt.logp_taken - st.logp_taken).detach()
    if cfg.algorithm == "grpo":
        adv_tok = adv_seq[:, None].expand_as(st.logp_taken)
    else:
        a_sdpo = torch.zeros_like(st.logp_taken)
        if tt is not None:
            a_sdpo = torch.where(ctx_mask, tt.logp_taken - st.logp_taken.detach(), a_sdpo)
        adv_tok = hybrid_advantages(adv_seq, a_sdpo, cfg.lam)
    return policy_gradient_loss(st.logp_taken, adv_tok, st.mask, ratio), st.mask, adv_tok


@torch.no_grad()
def _diagnostics(acc: dict[str, float], st: TokenScores, tt: TokenScores | None,
                 adv_tok: Tensor, loss_mask: Tensor, ctx_mask: Tensor, k: int | None) -> None:
    """Add advantage, teacher-student KL and entropy sums (per token) to acc."""
    mask = st.mask
    acc["adv_sum"] += float(adv_tok[loss_mask].sum())
    acc["adv_abs_sum"] += float(adv_tok[loss_mask].abs().sum())
    acc["loss_tokens"] += float(loss_mask.sum())
    if tt is not None:
        if k is not None:
            kl = categorical_divergence(with_tail(st.support_logp, st.tail_logp),
                                        with_tail(tt.support_logp, tt.tail_logp), "reverse_kl")
        else:
            kl = st.logp_taken - tt.logp_taken  # one-sample estimate
        acc["kl_sum"] += float(kl[ctx_mask].sum())
        acc["kl_tokens"] += float(ctx_mask.sum())
    if st.support_logp is not None:
        acc["ent_sum"] += float(_entropy_topk(st.support_logp, st.tail_logp)[mask].sum())
    else:
        acc["ent_sum"] += float(-st.logp_taken[mask].sum())


def _micro_batches(work: list[_Sample], cfg: SDPOLossConfig) -> list[list[_Sample]]:
    """Micro-batches of <= micro_batch_size samples: one prompt each when prefixes are shared,
    else sorted by length (less padding)."""
    if cfg.share_prefix:
        by_prompt: dict[tuple[int, ...], list[_Sample]] = {}
        for s in work:
            by_prompt.setdefault(tuple(s.prompt_ids), []).append(s)
        units = list(by_prompt.values())
    else:
        units = [sorted(work, key=lambda s: len(s.prompt_ids) + len(s.completion_ids))]
    m = cfg.micro_batch_size
    return [u[i : i + m] for u in units for i in range(0, len(u), m)]


def _teacher_scores(
    model: nn.Module, teacher: Teacher, mb: list[_Sample], st: TokenScores, pad_id: int,
    cfg: SDPOLossConfig, device: torch.device,
) -> TokenScores:
    """Teacher log-probs of the student's tokens at the student's top-K ids (no grad).

    Only rows with a teacher context are scored; other rows stay zero (masked out).
    """
    rows = [i for i, s in enumerate(mb) if s.has_ctx]
    n, t = st.mask.shape
    idx = st.support_idx[rows] if st.support_idx is not None else None
    tcfg = dataclasses.replace(cfg, chunk_size=min(cfg.chunk_size, cfg.teacher_chunk_size))
    # No gradients here: the (EMA) adapter is folded into the weights for the pass.
    with teacher.weights(), merged_lora(model):
        sub = score_rows(model, [mb[i].teacher_ids for i in rows],
                          [mb[i].completion_ids for i in rows], tcfg, pad_id, at_idx=idx)
    out = TokenScores(logp_taken=torch.zeros((n, t), device=device), mask=st.mask.clone())
    r = torch.tensor(rows, device=device)
    w = sub.mask.shape[1]
    out.logp_taken[r, :w] = sub.logp_taken
    if idx is not None:
        out.support_logp = torch.zeros_like(st.support_logp, dtype=torch.float32)
        out.tail_logp = torch.zeros((n, t), device=device)
        out.support_idx = st.support_idx
        out.support_logp[r, :w] = sub.support_logp
        out.tail_logp[r, :w] = sub.tail_logp
    return out
