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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from selfdistill.core.distributed import all_reduce_max, all_reduce_sum
from selfdistill.core.merged_lora import merged_lora
from selfdistill.distill.losses import (
    REDUCTIONS,
    Divergence,
    Reduction,
    categorical_divergence,
    grpo_advantages,
    hybrid_advantages,
    importance_ratio,
    ppo_clip_loss,
    reduce_loss,
    sampled_token_distill_loss,
    topk_tail_distill_loss,
    with_tail,
)
from selfdistill.distill.prefix_scoring import score_rows
from selfdistill.distill.scoring import (
    DEFAULT_CHUNK_SIZE,
    TokenScores,
    pack_sequences,
    pad_completion_values,
    score_tokens_mixed,
)
from selfdistill.distill.teacher_weights import Teacher
from selfdistill.generation.base import Chat
from selfdistill.generation.chat import chat_token_ids
from selfdistill.rollouts import Group
from selfdistill.training.fsdp import lockstep

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
    scoring_temperature: temperature of both student and teacher log-probs in the loss;
        None (default) = the rollout temperature, as the reference (verl divides both
        passes' logits by the sampling temperature), resolved by the recipes
        (resolve_scoring_temperature); 1.0 keeps untempered scores. Library callers that
        leave it None score at 1.0. (YAML `loss.temperature`, its old name, is still read.)
    is_clip: SDPO's upper clip of the detached ratio p_theta / p_old (p_old: the policy
        before this rollout batch's first update; 1 on the first update); None disables it.
    rollout_is_threshold: truncation of the rollout correction p_old / mu (mu: the sampler's
        untempered log-probs, Completion.base_logprobs), per token; None disables it.
        On the first update both together are min(p_theta / mu, 2), the old single ratio.
    clip_ratio_low / clip_ratio_high / clip_ratio_c: PPO's clip of p_theta / p_old for
        grpo and hybrid (r in [1 - low, 1 + high], dual clip c for negative advantages).
    ppo_mini_batch_size: prompts per optimiser step (sequences: this x G, split across
        processes); 0 = the whole rollout batch in one step. ppo_epochs: passes over the batch.
    reduction: how a mini-batch's per-token losses become one number; seq_mean_token_mean
        (default, the reference's) = token mean per sequence, mean over all sequences of
        the mini-batch (those without a teacher context or advantage count as zero).
    micro_batch_size: sequences per forward/backward (gradient accumulation within a step).
    """

    algorithm: Algorithm = "sdpo"
    divergence: Divergence = "reverse_kl"
    alpha: float = 0.5  # jsd only: 0 = forward KL, 1 = reverse KL
    support_size: int = 20
    add_tail: bool = True
    is_clip: float | None = 2.0
    rollout_is_threshold: float | None = 2.0
    clip_ratio_low: float = 0.2
    clip_ratio_high: float = 0.28
    clip_ratio_c: float | None = 3.0
    ppo_mini_batch_size: int = 0
    ppo_epochs: int = 1
    lam: float = 0.9
    grpo_scale_by_std: bool = False
    reduction: Reduction = "seq_mean_token_mean"
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
    scoring_temperature: float | None = None  # of both student and teacher scores

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {self.algorithm!r}; use one of {ALGORITHMS}")
        if self.support_size < 0 or self.micro_batch_size < 1:
            raise ValueError("support_size must be >= 0 and micro_batch_size >= 1")
        if not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"lam must lie in [0, 1], got {self.lam}")
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"unknown reduction {self.reduction!r}; use one of {REDUCTIONS}")
        if self.ppo_mini_batch_size < 0 or self.ppo_epochs < 1:
            raise ValueError("ppo_mini_batch_size must be >= 0 and ppo_epochs >= 1")
        if not (0.0 <= self.clip_ratio_low < 1.0 and self.clip_ratio_high >= 0.0):
            raise ValueError("clip_ratio_low must lie in [0, 1) and clip_ratio_high be >= 0")
        if self.clip_ratio_c is not None and self.clip_ratio_c <= 1.0:
            raise ValueError(f"clip_ratio_c must be > 1, got {self.clip_ratio_c}")

    # Old YAML names, still read (with a warning) for one release.
    RENAMED = {"top_k": "support_size", "temperature": "scoring_temperature"}

    @property
    def score_temperature(self) -> float:
        """The temperature the scorer uses (1.0 while scoring_temperature is unresolved)."""
        return 1.0 if self.scoring_temperature is None else float(self.scoring_temperature)

    @property
    def needs_teacher(self) -> bool:
        """GRPO alone never runs the teacher."""
        return self.algorithm != "grpo"


@dataclass
class LossSample:
    """One sequence of a rollout batch as the loss sees it: ids, teacher ids, behaviour log-probs."""

    prompt_ids: list[int]
    completion_ids: list[int]
    teacher_ids: list[int] | None
    behaviour: list[float] | None
    adv_seq: float  # GRPO advantage of the sample (0 for sdpo)
    has_ctx: bool
    # log p_old of the completion tokens (the policy before the batch's first update); None
    # until known: the first update of a batch scores it itself.
    old_logp: Tensor | None = None


def _entropy_topk(logp: Tensor, tail: Tensor) -> Tensor:
    """Entropy over the K + 1 buckets (a lower bound on the full-vocabulary entropy)."""
    b = with_tail(logp, tail)
    p = b.exp()
    return -(torch.where(p > 0, p * b, torch.zeros_like(b))).sum(-1)


def prepare_samples(
    groups: Sequence[Group],
    tokenizer: Any,
    cfg: SDPOLossConfig,
    teacher_chats: Sequence[Chat | None] | None,
) -> list[LossSample]:
    """Flatten groups into samples with teacher prompt ids and GRPO advantages (whole batch)."""
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
        samples.append(LossSample(
            prompt_ids=r.prompt_ids, completion_ids=r.completion_ids,
            teacher_ids=chat_token_ids(tokenizer, tc) if tc is not None else None,
            behaviour=r.behaviour_logprobs, adv_seq=float(adv[i]), has_ctx=tc is not None,
        ))
    return samples


def resolve_scoring_temperature(cfg: SDPOLossConfig, rollout_temperature: float) -> None:
    """Set an unset scoring_temperature to the rollout temperature (1.0 for greedy rollouts)."""
    if cfg.scoring_temperature is None:
        cfg.scoring_temperature = rollout_temperature if rollout_temperature > 0 else 1.0


def contributes(s: LossSample, cfg: SDPOLossConfig) -> bool:
    """Does this sample receive any gradient? (Skipped otherwise: zero compute.)"""
    if not s.completion_ids:
        return False
    if cfg.algorithm == "sdpo":
        return s.has_ctx
    if cfg.algorithm == "grpo":
        return s.adv_seq != 0.0
    return s.has_ctx or s.adv_seq != 0.0


def _denominator(samples: Sequence[LossSample], cfg: SDPOLossConfig, device: torch.device) -> float:
    """The mini-batch's loss divisor over all processes: its loss tokens (token_mean; SDPO
    counts context tokens only) or ALL its sequences (seq_mean_*: no context = zero)."""
    if cfg.reduction == "token_mean":
        local = sum(len(s.completion_ids) for s in samples
                    if s.completion_ids and (s.has_ctx or cfg.algorithm != "sdpo"))
    else:
        local = len(samples)
    (total,) = all_reduce_sum([float(local)], device)
    return max(total, 1.0)


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
    """Forward + backward of the whole batch as ONE mini-batch (grads are added, not zeroed).

    teacher_chats: one per rollout (flattened groups), None = no teacher for that rollout.
    Returns summed statistics (local to this process, denominators global).
    """
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    samples = prepare_samples(groups, tokenizer, loss_cfg, teacher_chats)
    return accumulate_samples(model, teacher, samples, loss_cfg, pad_id, backward=backward)


def accumulate_samples(
    model: nn.Module,
    teacher: Teacher | None,
    samples: Sequence[LossSample],
    cfg: SDPOLossConfig,
    pad_id: int,
    *,
    backward: Callable[[Tensor], None] | None = None,
) -> dict[str, float]:
    """Forward + backward of one mini-batch's loss over micro-batches (grads are added).

    The divisor covers the mini-batch on every process; samples whose p_old is not yet
    known take this pass's own (detached) log-probs as p_old (the batch's first update).
    """
    if cfg.needs_teacher and teacher is None:
        raise ValueError(f"algorithm {cfg.algorithm!r} needs a Teacher")
    backward = backward or (lambda loss: loss.backward())
    device = next(model.parameters()).device
    together = lockstep(model)
    if together:  # every rank runs the same layer passes (training/fsdp.py): packed rows
        cfg = dataclasses.replace(cfg, share_prefix=False)
    denominator = _denominator(samples, cfg, device)
    work = [s for s in samples if contributes(s, cfg)]
    acc = {"loss": 0.0, "adv_sum": 0.0, "adv_abs_sum": 0.0, "kl_sum": 0.0, "kl_tokens": 0.0,
           "ent_sum": 0.0, "ratio_sum": 0.0, "clipped": 0.0, "loss_tokens": 0.0,
           "loss_samples": float(len(work)), "t_student": 0.0, "t_teacher": 0.0,
           "t_backward": 0.0, "tokens_scored": 0.0,
           "teacher_prompt_tokens": float(sum(len(s.teacher_ids or []) for s in samples)),
           "teacher_prompts": float(sum(s.teacher_ids is not None for s in samples))}
    k = cfg.support_size if cfg.support_size > 0 else None
    mbs = micro_batches(work, cfg)
    for j in range(all_reduce_max(len(mbs), device) if together else len(mbs)):
        if j >= len(mbs):  # this rank has fewer micro-batches: a zero-loss pass
            _idle_micro_batch(model, teacher, cfg, pad_id, k, device)
            continue
        mb = mbs[j]
        t0 = time.perf_counter()
        st = score_rows(model, [s.prompt_ids for s in mb], [s.completion_ids for s in mb],
                        cfg, pad_id, topk=k if cfg.needs_teacher else None)
        t1 = time.perf_counter()
        acc["t_student"] += t1 - t0
        has_ctx = torch.tensor([s.has_ctx for s in mb], device=device)
        tt: TokenScores | None = None
        if cfg.needs_teacher and bool(has_ctx.any()):
            tt = _teacher_scores(model, teacher, mb, st, pad_id, cfg, device)
        elif cfg.needs_teacher and together:  # the other ranks may score their teacher
            _idle_teacher_pass(model, teacher, cfg, pad_id, k, device)
        t2 = time.perf_counter()
        acc["t_teacher"] += t2 - t1
        w = _weights(st, mb, cfg, device, acc)
        ctx_mask = st.mask & has_ctx[:, None]
        adv_seq = torch.tensor([s.adv_seq for s in mb], device=device, dtype=torch.float32)
        per_tok, loss_mask, adv_tok = _per_token_loss(st, tt, ctx_mask, adv_seq, w, cfg, k)
        loss = reduce_loss(per_tok, loss_mask, cfg.reduction, denominator=denominator)
        _diagnostics(acc, st, tt, adv_tok, loss_mask, ctx_mask, k)
        t3 = time.perf_counter()
        backward(loss)
        acc["t_backward"] += time.perf_counter() - t3
        acc["loss"] += float(loss.detach())
        acc["tokens_scored"] += float(st.mask.sum())
    return acc


def idle_sample(pad_id: int, with_teacher: bool) -> LossSample:
    """A one-token sample for the zero-loss passes that keep ranks in lockstep."""
    return LossSample(prompt_ids=[pad_id], completion_ids=[pad_id],
                      teacher_ids=[pad_id] if with_teacher else None, behaviour=None,
                      adv_seq=0.0, has_ctx=with_teacher)


def _idle_teacher_pass(model: nn.Module, teacher: Teacher | None, cfg: SDPOLossConfig,
                       pad_id: int, k: int | None, device: torch.device) -> None:
    """The teacher's passes of one micro-batch on a one-token row (result dropped)."""
    st = TokenScores(logp_taken=torch.zeros((1, 1), device=device),
                     mask=torch.ones((1, 1), dtype=torch.bool, device=device))
    if k:
        st.support_idx = torch.zeros((1, 1, k), dtype=torch.long, device=device)
        st.support_logp = torch.zeros((1, 1, k), device=device)
        st.tail_logp = torch.zeros((1, 1), device=device)
    assert teacher is not None
    _teacher_scores(model, teacher, [idle_sample(pad_id, True)], st, pad_id, cfg, device)


def _idle_micro_batch(model: nn.Module, teacher: Teacher | None, cfg: SDPOLossConfig,
                      pad_id: int, k: int | None, device: torch.device) -> None:
    """A micro-batch's passes (student, teacher, backward) with a zero loss: a rank with
    fewer micro-batches joins the others' per-layer gathers and reduce-scatters."""
    s = idle_sample(pad_id, cfg.needs_teacher)
    st = score_rows(model, [s.prompt_ids], [s.completion_ids], cfg, pad_id,
                    topk=k if cfg.needs_teacher else None)
    if cfg.needs_teacher:
        _idle_teacher_pass(model, teacher, cfg, pad_id, k, device)
    (st.logp_taken.sum() * 0.0).backward()


@dataclass
class _Weights:
    old: Tensor  # log p_old [B, T]
    sdpo_ratio: Tensor | None  # min(p_theta / p_old, is_clip), detached
    rollout: Tensor | None  # min(p_old / mu, rollout_is_threshold), detached


def _weights(st: TokenScores, mb: list[LossSample], cfg: SDPOLossConfig, device: torch.device,
             acc: dict[str, float]) -> _Weights:
    """p_old, SDPO's clipped ratio and the rollout correction; their means go into acc."""
    mask = st.mask
    cur = st.logp_taken.detach()
    old = cur.clone()
    for i, s in enumerate(mb):
        n = len(s.completion_ids)
        if s.old_logp is None:  # first update of the batch: this pass is p_old
            s.old_logp = cur[i, :n].clone()
        else:
            old[i, :n] = s.old_logp.to(device)
    r = (cur - old).clamp(-20.0, 20.0).exp()
    sdpo_ratio = None
    if cfg.algorithm == "sdpo":
        clipped = r > (cfg.is_clip if cfg.is_clip is not None else float("inf"))
        if cfg.is_clip is not None:
            sdpo_ratio = importance_ratio(st.logp_taken, old, cfg.is_clip, mask)
    else:
        clipped = (r < 1.0 - cfg.clip_ratio_low) | (r > 1.0 + cfg.clip_ratio_high)
    rollout = None
    if cfg.rollout_is_threshold is not None and all(s.behaviour is not None for s in mb):
        mu = pad_completion_values([s.behaviour for s in mb], mask.shape[1]).to(device)
        rollout = importance_ratio(old, mu, cfg.rollout_is_threshold, mask)
    eff = (sdpo_ratio if sdpo_ratio is not None else r) * (rollout if rollout is not None else 1.0)
    acc["ratio_sum"] += float(eff[mask].sum())
    acc["clipped"] += float((clipped & mask).sum())
    return _Weights(old, sdpo_ratio, rollout)


def _per_token_loss(
    st: TokenScores, tt: TokenScores | None, ctx_mask: Tensor, adv_seq: Tensor,
    w: _Weights, cfg: SDPOLossConfig, k: int | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """(per-token loss, its mask, per-token advantage) of the configured algorithm."""
    if cfg.algorithm == "sdpo":
        parts = [x for x in (w.sdpo_ratio, w.rollout) if x is not None]
        weight = parts[0] * parts[1] if len(parts) == 2 else (parts[0] if parts else None)
        if k is not None:
            per_tok = topk_tail_distill_loss(
                st.support_logp, tt.support_logp, student_tail_logp=st.tail_logp,
                teacher_tail_logp=tt.tail_logp, divergence=cfg.divergence, alpha=cfg.alpha,
                add_tail=cfg.add_tail, mask=ctx_mask, ratio=weight)
        else:
            per_tok = sampled_token_distill_loss(st.logp_taken, tt.logp_taken, ctx_mask, weight)
        return per_tok, ctx_mask, (tt.logp_taken - st.logp_taken).detach()
    if cfg.algorithm == "grpo":
        adv_tok = adv_seq[:, None].expand_as(st.logp_taken)
    else:
        a_sdpo = torch.zeros_like(st.logp_taken)
        if tt is not None:
            a_sdpo = torch.where(ctx_mask, tt.logp_taken - st.logp_taken.detach(), a_sdpo)
        adv_tok = hybrid_advantages(adv_seq, a_sdpo, cfg.lam)
    per_tok = ppo_clip_loss(st.logp_taken, w.old, adv_tok, st.mask, clip_low=cfg.clip_ratio_low,
                            clip_high=cfg.clip_ratio_high, clip_c=cfg.clip_ratio_c,
                            weight=w.rollout)
    return per_tok, st.mask, adv_tok


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


def micro_batches(work: list[LossSample], cfg: SDPOLossConfig) -> list[list[LossSample]]:
    """Micro-batches of <= micro_batch_size samples: one prompt each when prefixes are shared,
    else sorted by length (less padding)."""
    if cfg.share_prefix:
        by_prompt: dict[tuple[int, ...], list[LossSample]] = {}
        for s in work:
            by_prompt.setdefault(tuple(s.prompt_ids), []).append(s)
        units = list(by_prompt.values())
    else:
        units = [sorted(work, key=lambda s: len(s.prompt_ids) + len(s.completion_ids))]
    m = cfg.micro_batch_size
    return [u[i : i + m] for u in units for i in range(0, len(u), m)]


def _teacher_scores(
    model: nn.Module, teacher: Teacher, mb: list[LossSample], st: TokenScores, pad_id: int,
    cfg: SDPOLossConfig, device: torch.device,
) -> TokenScores:
    """Teacher log-probs of the student's tokens at the student's top-K ids (no grad).

    Only rows with a teacher context are scored; other rows stay zero (masked out).
    """
    rows = [i for i, s in enumerate(mb) if s.has_ctx]
    n, t = st.mask.shape
    idx = st.support_idx[rows] if st.support_idx is not None else None
    tcfg = dataclasses.replace(cfg, chunk_size=min(cfg.chunk_size, cfg.teacher_chunk_size))
    if teacher.logit_mix is not None:  # trust region: lerp(z_initial, z_current) of logits
        sub = _mixed_teacher_scores(model, teacher, [mb[i] for i in rows], idx, tcfg, pad_id,
                                    device)
    else:
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


def _mixed_teacher_scores(model: nn.Module, teacher: Teacher, rows: list[LossSample],
                          idx: Tensor | None, cfg: SDPOLossConfig, pad_id: int,
                          device: torch.device) -> TokenScores:
    """The trust-region teacher's scores: the initial and the current model on the teacher
    context, logits mixed (packed rows; the prefix sharing of score_rows is not used)."""
    ids, att, comp = pack_sequences([s.teacher_ids for s in rows],
                                    [s.completion_ids for s in rows], pad_id)
    t = max(len(s.completion_ids) for s in rows)

    @contextmanager
    def initial() -> Iterator[None]:
        with teacher.weights(), merged_lora(model):
            yield

    @contextmanager
    def current() -> Iterator[None]:
        was = model.training
        model.eval()
        try:
            with merged_lora(model):
                yield
        finally:
            model.train(was)

    return score_tokens_mixed(model, ids.to(device), att.to(device), comp.to(device),
                              [initial, current], float(teacher.logit_mix),
                              at_idx=None if idx is None else idx[:, :t],
                              temperature=cfg.score_temperature, chunk_size=cfg.chunk_size)
