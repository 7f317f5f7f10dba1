"""One SDPO / GRPO / hybrid optimiser step: the training step every online recipe calls.

Data flow of a step (Hübotter et al. 2026, "Reinforcement Learning via Self-Distillation"):

    groups of rollouts (rollouts.py: one prompt, G sampled answers, verdicts, feedback)
      -> teacher_context.build_teacher_batch: per answer, a teacher chat = prompt +
         successful sibling and/or judge feedback, or None (no loss), with its kind
      -> updates.split_mini_batches: ppo_mini_batch_size prompts per optimiser step,
         ppo_epochs passes (p_old recorded before the first update when there are several)
      -> per mini-batch, objective.accumulate_samples: student and teacher scores, per-token
         loss, backward over micro-batches (inside training/fsdp.layerwise when the model is
         sharded: one layer's compute copy gathered at a time, fp32 gradients
         reduce-scattered after each backward);
         optimizer_step: clip, optimiser step (skipped on a non-finite gradient norm)
      -> once per batch: scheduler step, teacher.update(); sdpo_step returns StepMetrics.

Callers: recipes/sdpo (offline RL over a problem set), recipes/discover (one problem,
repeated sample -> grade -> step) and the assistant (its own teacher chats from the
user's follow-up: it calls accumulate-free pieces -- optimizer_step -- around its fixed
teacher targets; see assist/update.py).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from selfdistill.core.distributed import all_reduce_sum
from selfdistill.distill.objective import SDPOLossConfig, accumulate_samples, prepare_samples
from selfdistill.distill.teacher_context import (
    ContextKind,
    RepromptConfig,
    RepromptStats,
    TeacherBatch,
    build_teacher_batch,
)
from selfdistill.distill.teacher_weights import Teacher
from selfdistill.distill.updates import record_old_logprobs, split_mini_batches
from selfdistill.generation.base import Chat
from selfdistill.rollouts import Group, Rollout
from selfdistill.training.fsdp import clip_and_norm, compute_dtype_of, layerwise


@dataclass
class StepMetrics:
    """What one step did; as_dict() is one JSONL/TensorBoard row (all numbers)."""

    loss: float = 0.0
    reward_mean: float = 0.0
    pass_rate: float = 0.0
    advantage_mean: float = 0.0  # per-token mean over loss tokens
    advantage_abs_mean: float = 0.0
    teacher_student_kl: float = 0.0  # reverse KL(p || q) per token (top-K + tail, or sampled)
    entropy: float = 0.0  # student entropy per token over the top-K + tail buckets
    is_ratio_mean: float = 1.0
    is_clipped_frac: float = 0.0
    grad_norm: float = 0.0
    skipped_updates: int = 0  # optimiser steps skipped on a non-finite gradient norm
    lr: float = 0.0
    samples: int = 0
    groups: int = 0
    groups_with_success: int = 0
    with_solution: int = 0
    feedback_only: int = 0
    no_context: int = 0
    too_long: int = 0
    truncated_context: int = 0
    loss_samples: int = 0  # samples that received any gradient
    loss_tokens: int = 0
    response_length_mean: float = 0.0
    response_length_max: int = 0
    truncated_responses: int = 0  # finish_reason == "length"
    teacher_prompt_length_mean: float = 0.0
    seconds: float = 0.0
    seconds_student: float = 0.0
    seconds_teacher: float = 0.0
    seconds_backward: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float]:
        """A flat dict of numbers (extra merged in)."""
        d = asdict(self)
        extra = d.pop("extra")
        return {**d, **extra}


def sdpo_step(
    model: nn.Module,
    teacher: Teacher | None,
    optimizer: torch.optim.Optimizer,
    groups: Sequence[Group],
    tokenizer: Any,
    loss_cfg: SDPOLossConfig | None = None,
    *,
    reprompt_cfg: RepromptConfig | None = None,
    teacher_batch: TeacherBatch | None = None,
    teacher_chats: Sequence[Chat | None] | None = None,
    max_prompt_tokens: int | None = None,
    scheduler: Any = None,
    rng: random.Random | None = None,
    backward: Callable[[Tensor], None] | None = None,
) -> StepMetrics:
    """The optimiser steps of SDPO / GRPO / hybrid on one batch of graded rollouts.

    One step by default (loss_cfg.ppo_mini_batch_size 0); else one per mini-batch and epoch.

    teacher_batch: a build_teacher_batch result computed by the caller (e.g. to log the
    context kinds); otherwise it is built here from reprompt_cfg and max_prompt_tokens.
    teacher_chats (one per rollout, groups flattened) overrides the sibling/feedback
    re-prompt (e.g. a user's follow-up). The model is left in train mode.
    """
    cfg = loss_cfg or SDPOLossConfig()
    t0 = time.perf_counter()
    flat = [r for g in groups for r in g.rollouts]
    if teacher_batch is not None:
        if len(teacher_batch.chats) != len(flat):
            raise ValueError(f"teacher batch of {len(teacher_batch.chats)} for {len(flat)} rollouts")
        tb = teacher_batch
    elif teacher_chats is None and cfg.needs_teacher:
        tb = build_teacher_batch(groups, tokenizer, reprompt_cfg,
                                 max_prompt_tokens=max_prompt_tokens, rng=rng)
    else:
        tb = _given_teacher_batch(teacher_chats, len(flat), len(groups))

    model.train()
    device = next(model.parameters()).device
    acc, grad_norm, lr, updates, skipped = _run_updates(model, teacher, optimizer, groups,
                                                        tokenizer, cfg, tb.chats, backward)
    if scheduler is not None:
        scheduler.step()
    # Once per rollout batch, after all its updates (the reference's point); as the
    # reference, not after a batch whose every update was skipped (non-finite gradients).
    if teacher is not None and skipped < updates:
        teacher.update()
    m = _step_metrics(acc, flat, len(groups), tb.stats, cfg, grad_norm, lr, device,
                      time.perf_counter() - t0)
    m.extra["updates"] = float(updates)
    m.skipped_updates = skipped
    return m


def _run_updates(model: nn.Module, teacher: Teacher | None, optimizer: torch.optim.Optimizer,
                 groups: Sequence[Group], tokenizer: Any, cfg: SDPOLossConfig,
                 chats: Sequence[Chat | None], backward: Callable[[Tensor], None] | None,
                 ) -> tuple[dict[str, float], float, float, int, int]:
    """Every optimiser step of one rollout batch (mini-batches x epochs, distill/updates.py).

    Returns the summed statistics (counts of the first epoch, loss as the mean over
    updates), the mean pre-clip gradient norm (over finite ones), the learning rate, the
    number of updates and how many of them were skipped (non-finite gradient norm).
    """
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = next(model.parameters()).device
    samples = prepare_samples(groups, tokenizer, cfg, chats)
    g = max((len(gr.rollouts) for gr in groups), default=1)
    mbs = split_mini_batches(samples, cfg, g, device)
    if len(mbs) > 1:  # the first mini-batch scores p_old itself
        with layerwise(model):
            record_old_logprobs(model, [s for mb in mbs[1:] for s in mb], cfg, pad_id)
    total: dict[str, float] = {}
    norms: list[float] = []
    skipped = 0
    lr = float(optimizer.param_groups[0]["lr"])
    for epoch in range(cfg.ppo_epochs):
        for mb in mbs:
            optimizer.zero_grad(set_to_none=True)
            # Sharded: one layer gathered at a time, gradients reduce-scattered per backward.
            with layerwise(model), _teacher_gathered(teacher, model):
                acc = accumulate_samples(model, teacher, mb, cfg, pad_id, backward=backward)
            norm, lr = optimizer_step(optimizer, cfg.max_grad_norm)
            if math.isfinite(norm):
                norms.append(norm)
            else:
                skipped += 1
            for key, v in acc.items():
                if epoch == 0 or key in _PER_UPDATE_KEYS:
                    total[key] = total.get(key, 0.0) + v
    updates = len(norms) + skipped
    total["loss"] = total.get("loss", 0.0) / max(updates, 1)
    return total, sum(norms) / max(len(norms), 1), lr, updates, skipped


def _teacher_gathered(teacher: Teacher | None, model: nn.Module) -> Any:
    """The sharded teacher's full tensors for this update (a no-op context otherwise)."""
    import contextlib

    if teacher is None:
        return contextlib.nullcontext()
    return teacher.gathered(compute_dtype_of(model))


# Summed over every update (their means stay per-token means); other counts: first epoch.
_PER_UPDATE_KEYS = ("loss", "ratio_sum", "clipped", "tokens_scored", "ent_sum", "t_student",
                    "t_teacher", "t_backward")


def _given_teacher_batch(chats: Sequence[Chat | None] | None, n: int, groups: int
                         ) -> TeacherBatch:
    """A TeacherBatch for caller-given teacher chats (counted as feedback), or for none."""
    if chats is None:
        return TeacherBatch([None] * n, ["none"] * n, RepromptStats(
            samples=n, no_context=n, groups=groups))
    kinds: list[ContextKind] = ["none" if c is None else "feedback" for c in chats]
    n_ctx = sum(c is not None for c in chats)
    return TeacherBatch(list(chats), kinds, RepromptStats(
        samples=n, feedback_only=n_ctx, no_context=n - n_ctx, groups=groups))


def optimizer_step(optimizer: torch.optim.Optimizer, max_grad_norm: float | None, *,
                   scheduler: Any = None, teacher: Teacher | None = None) -> tuple[float, float]:
    """Clip the (already reduced) gradients, step (+ scheduler), advance the teacher.

    As the reference trainer: a non-finite pre-clip gradient norm skips the optimiser step
    and the teacher update (the gradients are dropped; the scheduler still advances).
    Returns (pre-clip gradient norm -- inf/nan when skipped, the learning rate).
    """
    params = [p for g in optimizer.param_groups for p in g["params"] if p.requires_grad]
    grad_norm = clip_and_norm(params, max_grad_norm)
    lr = float(optimizer.param_groups[0]["lr"])
    finite = math.isfinite(grad_norm)
    if finite:
        optimizer.step()
    else:
        optimizer.zero_grad(set_to_none=True)
    if scheduler is not None:
        scheduler.step()
    if teacher is not None and finite:
        teacher.update()
    return grad_norm, lr


def _step_metrics(acc: dict[str, float], flat: list[Rollout], n_groups: int, st: RepromptStats,
                  cfg: SDPOLossConfig, grad_norm: float, lr: float, device: torch.device,
                  seconds: float) -> StepMetrics:
    """StepMetrics of the whole step: sums over processes, then divided."""
    keys = ["loss", "adv_sum", "adv_abs_sum", "kl_sum", "kl_tokens", "ent_sum", "ratio_sum",
            "clipped", "loss_tokens", "loss_samples", "tokens_scored"]
    tot = dict(zip(keys, all_reduce_sum([acc.get(k, 0.0) for k in keys], device), strict=True))
    lengths = [len(r.completion_ids) for r in flat]
    local = [float(len(flat)), float(sum(r.reward for r in flat)),
             float(sum(r.passed for r in flat)), float(sum(lengths)),
             float(sum(r.finish_reason == "length" for r in flat)),
             float(st.groups), float(st.groups_with_success), float(st.with_solution),
             float(st.feedback_only), float(st.no_context), float(st.too_long),
             float(st.truncated), float(n_groups)]
    (n, rsum, npass, lsum, ntrunc, ngroups, ngs, nsol, nfb, nnone, ntl, ntr,
     ngroups_all) = all_reduce_sum(local, device)
    n = max(n, 1.0)
    tok = max(tot["loss_tokens"], 1.0)
    scored = max(tot["tokens_scored"], 1.0)
    return StepMetrics(
        loss=tot["loss"], reward_mean=rsum / n, pass_rate=npass / n,
        advantage_mean=tot["adv_sum"] / tok, advantage_abs_mean=tot["adv_abs_sum"] / tok,
        teacher_student_kl=tot["kl_sum"] / max(tot["kl_tokens"], 1.0),
        entropy=tot["ent_sum"] / scored,
        is_ratio_mean=tot["ratio_sum"] / scored,
        is_clipped_frac=tot["clipped"] / scored,
        grad_norm=grad_norm, lr=lr, samples=int(n), groups=int(ngroups_all),
        groups_with_success=int(ngs), with_solution=int(nsol), feedback_only=int(nfb),
        no_context=int(nnone), too_long=int(ntl), truncated_context=int(ntr),
        loss_samples=int(tot["loss_samples"]), loss_tokens=int(tot["loss_tokens"]),
        response_length_mean=lsum / n, response_length_max=max(lengths, default=0),
        truncated_responses=int(ntrunc),
        teacher_prompt_length_mean=acc["teacher_prompt_tokens"] / max(acc["teacher_prompts"], 1.0),
        seconds=seconds, seconds_student=acc["t_student"],
        seconds_teacher=acc["t_teacher"], seconds_backward=acc["t_backward"],
    )
