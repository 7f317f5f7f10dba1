"""One SDPO / GRPO / hybrid training step as a reusable component (no CLI, no file I/O).

Data flow of a step (Hübotter et al. 2026, "Reinforcement Learning via Self-Distillation"):

    groups of rollouts (one prompt, G sampled answers, their verdicts and feedback)
      -> build_teacher_batch: per answer, a teacher chat = prompt + successful sibling
         and/or judge feedback (teacher.build_teacher_chats), or None (no loss)
      -> accumulate_gradients: per micro-batch, the student scores its own answer
         (log p of each token + its top-K ids and tail), the teacher (the same model
         re-prompted, with EMA / trust-region / frozen / live weights) scores the *same*
         tokens at the *same* ids without gradients, the per-token loss of the chosen
         algorithm is reduced with a step-global denominator and back-propagated
      -> sdpo_step: zero grads, accumulate, all-reduce grads across processes (if any),
         clip, optimiser (+ scheduler) step, teacher.update(); returns StepMetrics.

Callers: recipes/sdpo.py (offline RL over a problem set), test-time discovery (one
problem, repeated sample -> grade -> step) and the continual-learning assistant (its own
teacher chats from the user's follow-up: pass `teacher_chats=` to skip the re-prompt).

Distributed: the step never wraps the model in DDP (chunked scoring calls the decoder
directly, which would bypass DDP's hooks). When torch.distributed is initialised with
more than one process, the loss denominator and the gradients are all-reduced (SUM)
explicitly, so every rank may hold a different number of samples and micro-batches.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint
from transformers.cache_utils import DynamicCache

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
from selfdistill.distill.scoring import (
    DEFAULT_CHUNK_SIZE,
    TokenScores,
    _score_chunk,
    _unwrap,
    pack_sequences,
    pad_completion_values,
    score_tokens,
)
from selfdistill.generation.attention import plan_chunks
from selfdistill.generation.base import Chat, Completion
from selfdistill.generation.chat import chat_token_ids
from selfdistill.merged_lora import merged_lora
from selfdistill.teacher import RepromptConfig, RepromptStats, Teacher, build_teacher_chats

Algorithm = Literal["sdpo", "grpo", "hybrid"]
ALGORITHMS: tuple[str, ...] = ("sdpo", "grpo", "hybrid")
# "none" also covers a context that did not fit max_prompt_tokens (counted in stats.too_long).
ContextKind = Literal["solution", "feedback", "none"]


# ------------------------------------------------------------------------------ config


@dataclass
class SDPOLossConfig:
    """How one step turns scores into a loss (defaults: the paper's SDPO settings).

    algorithm: "sdpo" (distil towards the re-prompted teacher), "grpo" (A = r - mean(r)),
        "hybrid" (A = lam * A_GRPO + (1 - lam) * A_SDPO, A_SDPO_t = log q(y_t) - log p(y_t)).
    top_k: SDPO on the student's top-K ids + one tail bucket; 0 = sampled-token SDPO
        (policy gradient with A_SDPO, no logits kept).
    is_clip: upper clip of the importance ratio p_theta / mu (mu: the sampler's untempered
        log-probs, Completion.base_logprobs); None disables the ratio.
    micro_batch_size: sequences per forward/backward (gradient accumulation within a step).
    """

    algorithm: Algorithm = "sdpo"
    divergence: Divergence = "reverse_kl"
    alpha: float = 0.5  # jsd only: 0 = forward KL, 1 = reverse KL
    top_k: int = 20
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
    temperature: float = 1.0  # scoring temperature of both student and teacher

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {self.algorithm!r}; use one of {ALGORITHMS}")
        if self.top_k < 0 or self.micro_batch_size < 1:
            raise ValueError("top_k must be >= 0 and micro_batch_size >= 1")
        if not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"lam must lie in [0, 1], got {self.lam}")

    @property
    def needs_teacher(self) -> bool:
        """GRPO alone never runs the teacher."""
        return self.algorithm != "grpo"


# ----------------------------------------------------------------------------- records


@dataclass
class Rollout:
    """One sampled answer with its grade: exact token ids, sampler log-probs, reward, feedback."""

    prompt_ids: list[int]
    completion_ids: list[int]
    text: str = ""
    reward: float = 0.0
    passed: bool = False
    feedback: str | None = None
    behaviour_logprobs: list[float] | None = None  # untempered sampler log-probs (ratio)
    finish_reason: str = "stop"
    status: str = ""  # the sandbox verdict status, for logging

    @classmethod
    def from_completion(
        cls, c: Completion, *, passed: bool, reward: float | None = None,
        feedback: str | None = None, status: str = "",
    ) -> Rollout:
        """A Rollout from a generator Completion and its verdict."""
        return cls(
            prompt_ids=list(c.prompt_token_ids), completion_ids=list(c.token_ids), text=c.text,
            reward=float(passed) if reward is None else float(reward), passed=bool(passed),
            feedback=feedback, behaviour_logprobs=c.base_logprobs,
            finish_reason=c.finish_reason, status=status,
        )


@dataclass
class Group:
    """G rollouts for one prompt (GRPO baseline and sibling solutions are per group)."""

    chat: Chat
    rollouts: list[Rollout]
    problem_id: str = ""

    @property
    def rewards(self) -> list[float]:
        """Rewards of the rollouts, in order."""
        return [r.reward for r in self.rollouts]


@dataclass
class TeacherBatch:
    """Per rollout (groups flattened in order): the teacher chat or None, and its kind."""

    chats: list[Chat | None]
    kinds: list[ContextKind]
    stats: RepromptStats


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


# --------------------------------------------------------------------------- rollouts


def make_groups(
    problems: Sequence[Any],
    chats: Sequence[Chat],
    completions: Sequence[Sequence[Completion]],
    verdicts: Sequence[Sequence[Any]],
    feedback_fn: Callable[[Any], str] | None = None,
    reward_fn: Callable[[Any], float] | None = None,
) -> list[Group]:
    """Groups from generator completions and sandbox Verdicts (one list per problem)."""
    if feedback_fn is None:
        from selfdistill.execution import format_feedback

        feedback_fn = format_feedback
    groups = []
    for p, chat, comps, vs in zip(problems, chats, completions, verdicts, strict=True):
        rollouts = [
            Rollout.from_completion(
                c, passed=v.passed, reward=None if reward_fn is None else reward_fn(v),
                feedback=feedback_fn(v), status=v.status,
            )
            for c, v in zip(comps, vs, strict=True)
        ]
        groups.append(Group(chat=list(chat), rollouts=rollouts, problem_id=getattr(p, "id", "")))
    return groups


def sample_and_grade(
    generator: Any,
    problems: Sequence[Any],
    params: Any,
    *,
    sandbox_config: Any = None,
    chat_fn: Callable[[Any], Chat] | None = None,
    feedback_fn: Callable[[Any], str] | None = None,
) -> list[Group]:
    """Sample params.n answers per problem, extract code, grade in the sandbox: one Group each."""
    from selfdistill.execution import grade_many
    from selfdistill.prompts import build_chat, extract_code

    chat_fn = chat_fn or build_chat
    chats = [chat_fn(p) for p in problems]
    comps = generator.generate(chats, params, progress=False)
    items = [(p, extract_code(c.text, p.entry_point)) for p, cs in zip(problems, comps, strict=True)
             for c in cs]
    flat = grade_many(items, config=sandbox_config)
    verdicts, i = [], 0
    for cs in comps:
        verdicts.append(flat[i : i + len(cs)])
        i += len(cs)
    return make_groups(problems, chats, comps, verdicts, feedback_fn=feedback_fn)


# ----------------------------------------------------------------------- teacher batch


def _context_kind(chat: Chat | None, prompt_chat: Chat, cfg: RepromptConfig) -> ContextKind:
    if chat is None:
        return "none"
    header = cfg.template.solution.split("{solution}")[0]
    prompt_text = "".join(m["content"] for m in prompt_chat)
    has_solution = header in chat[-1]["content"] and header not in prompt_text
    return "solution" if has_solution else "feedback"


def build_teacher_batch(
    groups: Sequence[Group],
    tokenizer: Any = None,
    reprompt_cfg: RepromptConfig | None = None,
    *,
    max_prompt_tokens: int | None = None,
    rng: random.Random | None = None,
) -> TeacherBatch:
    """Teacher chats for every rollout (groups flattened in order), their kinds and counts.

    max_prompt_tokens (needs tokenizer): cap on the templated teacher prompt in tokens; the
    hindsight is truncated to fit, or the sample gets no loss (kind "too_long").
    """
    cfg = reprompt_cfg or RepromptConfig()
    length_fn = None
    if max_prompt_tokens is not None:
        if tokenizer is None:
            raise ValueError("max_prompt_tokens needs a tokenizer")
        cfg = RepromptConfig(**{**cfg.__dict__, "max_length": max_prompt_tokens})

        def length_fn(chat: Chat) -> int:
            return len(chat_token_ids(tokenizer, chat))

    rng = rng or random.Random(0)
    chats: list[Chat | None] = []
    kinds: list[ContextKind] = []
    stats = RepromptStats()
    for g in groups:
        rs = g.rollouts
        gchats, gstats = build_teacher_chats(
            g.chat, [r.text for r in rs], [r.passed for r in rs], [r.feedback for r in rs],
            cfg, length_fn=length_fn, rng=rng,
        )
        stats = stats + gstats
        chats.extend(gchats)
        kinds.extend(_context_kind(c, g.chat, cfg) for c in gchats)
    return TeacherBatch(chats=chats, kinds=kinds, stats=stats)


# ------------------------------------------------------------------------ distributed


def _world() -> int:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return 1


def _all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise SUM of a few numbers over all processes (identity when single-process)."""
    if _world() == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return t.tolist()


def all_reduce_gradients(params: Sequence[nn.Parameter]) -> None:
    """SUM every parameter's gradient over all processes, one flat buffer per dtype."""
    if _world() == 1:
        return
    by_dtype: dict[torch.dtype, list[nn.Parameter]] = {}
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)  # every rank must contribute the same layout
        by_dtype.setdefault(p.grad.dtype, []).append(p)
    for ps in by_dtype.values():
        flat = torch.cat([p.grad.reshape(-1) for p in ps])
        torch.distributed.all_reduce(flat)
        off = 0
        for p in ps:
            n = p.grad.numel()
            p.grad.copy_(flat[off : off + n].view_as(p.grad))
            off += n


# ---------------------------------------------------------------------------- scoring


def score_shared_prefix(
    model: nn.Module,
    prefix_ids: Sequence[int],
    completions: Sequence[Sequence[int]],
    *,
    topk: int | None = None,
    at_idx: Tensor | None = None,
    temperature: float = 1.0,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    pad_id: int = 0,
    checkpoint_chunks: bool | None = None,
    middles: Sequence[Sequence[int]] | None = None,
) -> TokenScores:
    """Like scoring.score_tokens for n completions of ONE prompt: the prompt runs once.

    The prompt's KV cache (with its autograd graph) is repeated over the n completions, so
    the prompt's cost is paid once instead of n times; gradients flow into it through the
    cache. middles[i] (optional): row i's own unscored tokens between the shared prefix
    and its completion (e.g. teacher re-prompts sharing their question but not their
    feedback). Output is completion-aligned [n, T(, K)], T = longest completion.
    """
    if topk is not None and at_idx is not None:
        raise ValueError("pass either topk or at_idx, not both")
    if not prefix_ids:
        raise ValueError("a shared prefix needs at least one token")
    base = _unwrap(model)
    device = next(model.parameters()).device
    decoder = base.get_decoder()
    cfg = getattr(base, "config", None)
    softcap = getattr(cfg, "final_logit_softcapping", None)
    if getattr(cfg, "logit_scale", None) not in (None, 1.0):
        raise NotImplementedError("models with a logit_scale are not supported by chunked scoring")
    head = base.get_output_embeddings()

    n, p = len(completions), len(prefix_ids)
    t = max((len(c) for c in completions), default=0)
    mids = [list(m) for m in middles] if middles is not None else [[] for _ in completions]
    if len(mids) != n:
        raise ValueError(f"{len(mids)} middles for {n} completions")
    seqs = [m + list(c) for m, c in zip(mids, completions, strict=True)]
    width = max((len(x) for x in seqs), default=0)
    pre = torch.tensor([list(prefix_ids)], dtype=torch.long, device=device)
    out = decoder(input_ids=pre, attention_mask=torch.ones_like(pre),
                  position_ids=torch.arange(p, device=device)[None], use_cache=True)
    cache = out.past_key_values
    h_last = out.last_hidden_state[:, -1:]  # predicts each row's first own token
    comp = torch.full((n, t), pad_id, dtype=torch.long, device=device)
    cmask = torch.zeros((n, t), dtype=torch.bool, device=device)
    for i, c in enumerate(completions):
        comp[i, : len(c)] = torch.as_tensor(list(c), dtype=torch.long)
        cmask[i, : len(c)] = True
    # Rows with their own middles (teacher re-prompts: feedback of very different lengths)
    # run in length groups, so little compute goes to right padding; each group gets its
    # own copy of the prefix cache. Completions alone (the student) stay one batch.
    order = sorted(range(n), key=lambda i: -len(seqs[i]))
    groups = [order[a:z] for a, z, _ in
              plan_chunks([width - len(seqs[i]) for i in order], width, max_chunks=3,
                          min_saving=0.10)] if n > 1 and any(mids) else [list(range(n))]
    prefix_kv = [(layer.keys, layer.values) for layer in cache.layers] if len(groups) > 1 \
        else None
    hh_parts, row_parts, slot_parts = [], [], []
    for g in groups:
        g_rows = torch.tensor(g, dtype=torch.long, device=device)
        w = max(len(seqs[i]) for i in g)
        if w > 1:
            if prefix_kv is None:
                cache.batch_repeat_interleave(len(g))
                g_cache = cache
            else:
                g_cache = DynamicCache()
                for li, (k, v) in enumerate(prefix_kv):
                    shape = (len(g), -1, -1, -1)
                    g_cache.update(k.expand(shape), v.expand(shape), li)
            seq = torch.full((len(g), w), pad_id, dtype=torch.long, device=device)
            smask = torch.zeros((len(g), w), dtype=torch.long, device=device)
            for r, i in enumerate(g):
                seq[r, : len(seqs[i])] = torch.as_tensor(seqs[i], dtype=torch.long)
                smask[r, : len(seqs[i])] = 1
            att = torch.cat([smask.new_ones((len(g), p)), smask], 1)
            pos = (p + torch.arange(w - 1, device=device)).expand(len(g), w - 1)
            # The last token of a row predicts nothing: feed tokens 0..W-2 only.
            hs = decoder(input_ids=seq[:, :-1], attention_mask=att[:, :-1], position_ids=pos,
                         past_key_values=g_cache, use_cache=True).last_hidden_state
            h = torch.cat([h_last.expand(len(g), 1, -1), hs], dim=1)  # h[:, s] predicts seq[:, s]
        else:
            h = h_last.expand(len(g), 1, -1)
        r_loc, s_loc = cmask[g_rows].nonzero(as_tuple=True)
        offsets = torch.tensor([len(mids[i]) for i in g], dtype=torch.long, device=device)
        hh_parts.append(h[r_loc, s_loc + offsets[r_loc]])
        row_parts.append(g_rows[r_loc])
        slot_parts.append(s_loc)
    del cache
    # Scores are placed back by (row, slot), so the groups' order does not matter.
    rows, slots, hh = torch.cat(row_parts), torch.cat(slot_parts), torch.cat(hh_parts)
    targets = comp[rows, slots]
    idx = at_idx[rows, slots].long() if at_idx is not None else None
    if checkpoint_chunks is None:
        checkpoint_chunks = torch.is_grad_enabled() and hh.requires_grad
    parts: list[tuple[Tensor, ...]] = []
    for s in range(0, hh.shape[0], chunk_size):
        e = s + chunk_size
        args = (hh[s:e], targets[s:e], None if idx is None else idx[s:e])
        if checkpoint_chunks:  # recompute the chunk's logits in backward instead of keeping them
            parts.append(checkpoint(_score_chunk, *args, head, topk, temperature, softcap,
                                    use_reentrant=False))
        else:
            parts.append(_score_chunk(*args, head, topk, temperature, softcap))
    k = topk if topk is not None else (at_idx.shape[-1] if at_idx is not None else 0)

    def place(j: int, trailing: tuple[int, ...]) -> Tensor:
        flat = torch.cat([q[j] for q in parts])
        full = torch.zeros((n, t, *trailing), dtype=flat.dtype, device=device)
        return full.index_put((rows, slots), flat)

    scores = TokenScores(logp_taken=place(0, ()), mask=cmask)
    if k:
        scores.support_logp = place(1, (k,))
        scores.support_idx = place(2, (k,))
        scores.tail_logp = place(3, ())
    return scores


def _score_rows(
    model: nn.Module,
    prompts: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    cfg: SDPOLossConfig,
    pad_id: int,
    *,
    topk: int | None = None,
    at_idx: Tensor | None = None,
) -> TokenScores:
    """Score rows (prompt_i, completion_i): per distinct prompt with a shared prefix, or packed.

    Returns completion-aligned [n, T(, K)] with T = the longest completion; at_idx must
    be [n, >= T, K].
    """
    device = next(model.parameters()).device
    n = len(completions)
    t = max((len(c) for c in completions), default=0)
    vocab = _unwrap(model).get_output_embeddings().weight.shape[0]
    ckpt = None
    if torch.is_grad_enabled():  # small micro-batches keep their logits: no recomputation
        ckpt = sum(len(c) for c in completions) * vocab > cfg.keep_logits_max_elements
    if cfg.share_prefix and len({tuple(p) for p in prompts}) == n > 1:
        # Distinct prompts (teacher re-prompts): share their common prefix, if long enough.
        shared = len(os.path.commonprefix([list(p) for p in prompts]))
        if shared >= cfg.min_shared_prefix:
            return score_shared_prefix(
                model, prompts[0][:shared], completions, topk=topk,
                at_idx=None if at_idx is None else at_idx[:, :t], temperature=cfg.temperature,
                chunk_size=cfg.chunk_size, pad_id=pad_id, checkpoint_chunks=ckpt,
                middles=[p[shared:] for p in prompts])
    if not cfg.share_prefix or len({tuple(p) for p in prompts}) == n:
        ids, att, comp = pack_sequences(prompts, completions, pad_id)
        return score_tokens(model, ids.to(device), att.to(device), comp.to(device), topk=topk,
                            at_idx=None if at_idx is None else at_idx[:, :t],
                            temperature=cfg.temperature, chunk_size=cfg.chunk_size,
                            checkpoint_chunks=ckpt)
    by_prompt: dict[tuple[int, ...], list[int]] = {}
    for i, p in enumerate(prompts):
        by_prompt.setdefault(tuple(p), []).append(i)
    if len(by_prompt) == 1:
        return score_shared_prefix(model, prompts[0], completions, topk=topk,
                                   at_idx=None if at_idx is None else at_idx[:, :t],
                                   temperature=cfg.temperature, chunk_size=cfg.chunk_size,
                                   pad_id=pad_id, checkpoint_chunks=ckpt)
    k = topk if topk is not None else (at_idx.shape[-1] if at_idx is not None else 0)
    out = TokenScores(logp_taken=torch.zeros((n, t), device=device),
                      mask=torch.zeros((n, t), dtype=torch.bool, device=device))
    if k:
        out.support_logp = torch.zeros((n, t, k), device=device)
        out.support_idx = torch.zeros((n, t, k), dtype=torch.long, device=device)
        out.tail_logp = torch.zeros((n, t), device=device)
    for prefix, rows in by_prompt.items():
        sub_idx = None if at_idx is None else at_idx[rows]
        sub = score_shared_prefix(model, prefix, [completions[i] for i in rows], topk=topk,
                                  at_idx=None if sub_idx is None else
                                  sub_idx[:, : max(len(completions[i]) for i in rows)],
                                  temperature=cfg.temperature, chunk_size=cfg.chunk_size,
                                  pad_id=pad_id, checkpoint_chunks=ckpt)
        r = torch.tensor(rows, device=device)
        w = sub.mask.shape[1]
        # index_put keeps the autograd graph of every sub-batch.
        out.logp_taken = _put_rows(out.logp_taken, r, sub.logp_taken, w)
        out.mask[r, :w] = sub.mask
        if k:
            out.support_logp = _put_rows(out.support_logp, r, sub.support_logp, w)
            out.support_idx[r, :w] = sub.support_idx
            out.tail_logp = _put_rows(out.tail_logp, r, sub.tail_logp, w)
    return out


def _put_rows(full: Tensor, rows: Tensor, part: Tensor, width: int) -> Tensor:
    """full with full[rows, :width] = part, out of place (keeps part's autograd graph)."""
    pad = [0, 0] * (part.dim() - 2) + [0, full.shape[1] - width]
    return full.index_put((rows,), torch.nn.functional.pad(part, pad))


# ------------------------------------------------------------------------------- step


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
    den_tokens, den_seqs = _all_reduce_sum([float(den_tokens), float(den_seqs)], device)
    denominator = den_tokens if cfg.reduction == "token_mean" else den_seqs

    work = [s for s in samples if _contributes(s, cfg)]
    acc = {"loss": 0.0, "adv_sum": 0.0, "adv_abs_sum": 0.0, "kl_sum": 0.0, "kl_tokens": 0.0,
           "ent_sum": 0.0, "ratio_sum": 0.0, "clipped": 0.0, "loss_tokens": 0.0,
           "loss_samples": float(len(work)), "t_student": 0.0, "t_teacher": 0.0,
           "t_backward": 0.0, "tokens_scored": 0.0,
           "teacher_prompt_tokens": float(sum(len(s.teacher_ids or []) for s in samples)),
           "teacher_prompts": float(sum(s.teacher_ids is not None for s in samples))}
    k = cfg.top_k if cfg.top_k > 0 else None
    for mb in _micro_batches(work, cfg):
        t0 = time.perf_counter()
        st = _score_rows(model, [s.prompt_ids for s in mb], [s.completion_ids for s in mb],
                         cfg, pad_id, topk=k if cfg.needs_teacher else None)
        mask = st.mask
        t1 = time.perf_counter()
        acc["t_student"] += t1 - t0

        has_ctx = torch.tensor([s.has_ctx for s in mb], device=device)
        tt: TokenScores | None = None
        if cfg.needs_teacher and bool(has_ctx.any()):
            tt = _teacher_scores(model, teacher, mb, st, pad_id, cfg, device)
        t2 = time.perf_counter()
        acc["t_teacher"] += t2 - t1

        ratio = None
        if cfg.is_clip is not None and all(s.behaviour is not None for s in mb):
            mu = pad_completion_values([s.behaviour for s in mb], mask.shape[1]).to(device)
            ratio = importance_ratio(st.logp_taken, mu, cfg.is_clip, mask)
            lr_raw = (st.logp_taken - mu).detach().clamp(max=20.0).exp()
            acc["ratio_sum"] += float(ratio[mask].sum())
            acc["clipped"] += float(((lr_raw > cfg.is_clip) & mask).sum())
        elif cfg.is_clip is not None:
            acc["ratio_sum"] += float(mask.sum())

        ctx_mask = mask & has_ctx[:, None]
        adv_seq = torch.tensor([s.adv_seq for s in mb], device=device, dtype=torch.float32)
        if cfg.algorithm == "sdpo":
            loss_mask = ctx_mask
            if k is not None:
                per_tok = topk_tail_distill_loss(
                    st.support_logp, tt.support_logp, student_tail_logp=st.tail_logp,
                    teacher_tail_logp=tt.tail_logp, divergence=cfg.divergence, alpha=cfg.alpha,
                    add_tail=cfg.add_tail, mask=loss_mask, ratio=ratio)
            else:
                per_tok = sampled_token_distill_loss(st.logp_taken, tt.logp_taken, loss_mask,
                                                     ratio)
            adv_tok = (tt.logp_taken - st.logp_taken).detach()
        else:
            loss_mask = mask
            if cfg.algorithm == "grpo":
                adv_tok = adv_seq[:, None].expand_as(st.logp_taken)
            else:
                a_sdpo = torch.zeros_like(st.logp_taken)
                if tt is not None:
                    a_sdpo = torch.where(ctx_mask, tt.logp_taken - st.logp_taken.detach(), a_sdpo)
                adv_tok = hybrid_advantages(adv_seq, a_sdpo, cfg.lam)
            per_tok = policy_gradient_loss(st.logp_taken, adv_tok, loss_mask, ratio)
        loss = reduce_loss(per_tok, loss_mask, cfg.reduction, denominator=max(denominator, 1.0))

        # Diagnostics (no grad): advantage, teacher-student KL and entropy per token.
        with torch.no_grad():
            m = loss_mask
            acc["adv_sum"] += float(adv_tok[m].sum())
            acc["adv_abs_sum"] += float(adv_tok[m].abs().sum())
            acc["loss_tokens"] += float(m.sum())
            if tt is not None:
                if k is not None:
                    kl = categorical_divergence(with_tail(st.support_logp, st.tail_logp),
                                                with_tail(tt.support_logp, tt.tail_logp),
                                                "reverse_kl")
                else:
                    kl = st.logp_taken - tt.logp_taken  # one-sample estimate
                acc["kl_sum"] += float(kl[ctx_mask].sum())
                acc["kl_tokens"] += float(ctx_mask.sum())
            if st.support_logp is not None:
                acc["ent_sum"] += float(_entropy_topk(st.support_logp, st.tail_logp)[mask].sum())
            else:
                acc["ent_sum"] += float(-st.logp_taken[mask].sum())
        t3 = time.perf_counter()
        backward(loss)
        acc["t_backward"] += time.perf_counter() - t3
        acc["loss"] += float(loss.detach())
        acc["tokens_scored"] += float(mask.sum())
    return acc


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
        sub = _score_rows(model, [mb[i].teacher_ids for i in rows],
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
    max_teacher_prompt_tokens: int | None = None,
    scheduler: Any = None,
    rng: random.Random | None = None,
    backward: Callable[[Tensor], None] | None = None,
) -> StepMetrics:
    """One optimiser step of SDPO / GRPO / hybrid on groups of graded rollouts.

    teacher_batch: a build_teacher_batch result computed by the caller (e.g. to log the
    context kinds); otherwise it is built here from reprompt_cfg.
    teacher_chats (one per rollout, groups flattened) overrides the sibling/feedback
    re-prompt (e.g. the assistant's user follow-up). The model is left in train mode.
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
                                 max_prompt_tokens=max_teacher_prompt_tokens, rng=rng)
    elif teacher_chats is not None:
        kinds: list[ContextKind] = ["none" if c is None else "feedback" for c in teacher_chats]
        n_ctx = sum(c is not None for c in teacher_chats)
        tb = TeacherBatch(list(teacher_chats), kinds, RepromptStats(
            samples=len(flat), feedback_only=n_ctx, no_context=len(flat) - n_ctx,
            groups=len(groups)))
    else:
        tb = TeacherBatch([None] * len(flat), ["none"] * len(flat), RepromptStats(
            samples=len(flat), no_context=len(flat), groups=len(groups)))

    model.train()
    optimizer.zero_grad(set_to_none=True)
    acc = accumulate_gradients(model, teacher, groups, tokenizer, cfg, tb.chats,
                               backward=backward)
    params = [p for g in optimizer.param_groups for p in g["params"] if p.requires_grad]
    all_reduce_gradients(params)
    grad_norm = 0.0
    if any(p.grad is not None for p in params):
        max_norm = cfg.max_grad_norm if cfg.max_grad_norm is not None else math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    lr = float(optimizer.param_groups[0]["lr"])
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    if teacher is not None:
        teacher.update()

    device = next(model.parameters()).device
    # Global diagnostics: sum over processes, then divide.
    keys = ["loss", "adv_sum", "adv_abs_sum", "kl_sum", "kl_tokens", "ent_sum", "ratio_sum",
            "clipped", "loss_tokens", "loss_samples", "tokens_scored"]
    tot = dict(zip(keys, _all_reduce_sum([acc.get(k, 0.0) for k in keys], device), strict=True))
    lengths = [len(r.completion_ids) for r in flat]
    rewards = [r.reward for r in flat]
    st = tb.stats
    local = [float(len(flat)), float(sum(rewards)), float(sum(r.passed for r in flat)),
             float(sum(lengths)), float(sum(r.finish_reason == "length" for r in flat)),
             float(st.groups), float(st.groups_with_success), float(st.with_solution),
             float(st.feedback_only), float(st.no_context), float(st.too_long),
             float(st.truncated), float(len(groups))]
    (n, rsum, npass, lsum, ntrunc, ngroups, ngs, nsol, nfb, nnone, ntl, ntr,
     ngroups_all) = _all_reduce_sum(local, device)
    n = max(n, 1.0)
    tok = max(tot["loss_tokens"], 1.0)
    kl_tok = max(tot["kl_tokens"], 1.0)
    return StepMetrics(
        loss=tot["loss"], reward_mean=rsum / n, pass_rate=npass / n,
        advantage_mean=tot["adv_sum"] / tok, advantage_abs_mean=tot["adv_abs_sum"] / tok,
        teacher_student_kl=tot["kl_sum"] / kl_tok,
        entropy=tot["ent_sum"] / max(tot["tokens_scored"], 1.0),
        is_ratio_mean=tot["ratio_sum"] / max(tot["tokens_scored"], 1.0)
        if cfg.is_clip is not None else 1.0,
        is_clipped_frac=tot["clipped"] / max(tot["tokens_scored"], 1.0),
        grad_norm=grad_norm, lr=lr, samples=int(n), groups=int(ngroups_all),
        groups_with_success=int(ngs), with_solution=int(nsol), feedback_only=int(nfb),
        no_context=int(nnone), too_long=int(ntl), truncated_context=int(ntr),
        loss_samples=int(tot["loss_samples"]), loss_tokens=int(tot["loss_tokens"]),
        response_length_mean=lsum / n, response_length_max=max(lengths, default=0),
        truncated_responses=int(ntrunc),
        teacher_prompt_length_mean=acc["teacher_prompt_tokens"] / max(acc["teacher_prompts"], 1.0),
        seconds=time.perf_counter() - t0, seconds_student=acc["t_student"],
        seconds_teacher=acc["t_teacher"], seconds_backward=acc["t_backward"],
    )
