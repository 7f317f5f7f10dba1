"""One local update of the assistant's LoRA adapter from one correction.

Both kinds are self-distillation: the *teacher* is the same model (the adapter as it was
before this update) re-prompted with hindsight, the *student* is the model on the plain
request, and the student is pulled toward the teacher on a fixed set of answer tokens.

- feedback (hindsight self-distillation, Kleine Buening et al., arXiv 2603.12273): the
  teacher sees the request plus the user's follow-up and scores the assistant's original
  answer y. Per-token advantage A_t = log p(y_t|x,o,y<t) - log p(y_t|x,y<t).
- demonstration (SDFT, Shenfeld et al., arXiv 2601.19897): the teacher sees the request
  plus the user's better answer as an in-context example. The student is trained
  on-policy: we distil the teacher on a *fresh sample from the student* (and on the
  original answer, itself a student sample), never on the demonstration tokens directly,
  so the model learns the demonstrated behaviour without being pushed off its own
  distribution (the paper's point against plain SFT on the demonstration).

Loss (default "topk_kl"): per-token reverse KL(student || teacher) over the teacher's
top-K ids plus one tail bucket (losses.topk_tail_distill_loss), averaged over tokens;
"advantage" uses the sampled-token form (losses.sampled_token_distill_loss). The teacher
scores once per update (its weights are the pre-update adapter: a frozen teacher); the
student then takes `steps` AdamW steps with a fresh optimiser (no optimiser state to
persist, so /undo is just a pointer move).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch

from selfdistill.distill.losses import (
    reduce_loss,
    sampled_token_advantage,
    sampled_token_distill_loss,
    topk_tail_distill_loss,
)
from selfdistill.distill.scoring import gather_logprobs_at, pack_sequences, score_tokens
from selfdistill.distill.step import optimizer_step
from selfdistill.distill.teacher_context import (
    RepromptConfig,
    build_teacher_chats,
)
from selfdistill.distill.teacher_weights import Teacher
from selfdistill.generation.base import Chat
from selfdistill.generation.chat import chat_token_ids
from selfdistill.prompts.templates import (
    DEMO_TEMPLATE,
    HINDSIGHT_TEMPLATE,
    NEUTRAL_FOLLOWUP,
    TeacherPromptTemplate,
)
from selfdistill.training.fsdp import (
    COMPUTE_DTYPES,
    compute_dtype_of,
    gathered,
    is_sharded,
    sync_gradients,
)

PAUSE_ENV = "SELFDISTILL_ASSIST_PAUSE_AT"



def pause_point(name: str) -> None:
    """Test hook: when $SELFDISTILL_ASSIST_PAUSE_AT == name, announce it and sleep (to be killed)."""
    if os.environ.get(PAUSE_ENV) == name:
        print(f"[pause:{name}]", file=sys.stderr, flush=True)
        time.sleep(float(os.environ.get("SELFDISTILL_ASSIST_PAUSE_S", "60")))


@dataclass
class UpdateConfig:
    """Optimiser and loss settings of one update."""

    lr: float = 1e-4
    steps: int = 4  # AdamW steps per correction (fresh optimiser each update)
    support_size: int = 20  # K: the teacher's top-K ids the student is pulled toward
    loss: Literal["topk_kl", "advantage"] = "topk_kl"
    divergence: Literal["reverse_kl", "forward_kl", "jsd"] = "reverse_kl"
    max_grad_norm: float = 1.0
    # "neutral": contrast the teacher with the same template holding a neutral follow-up
    # (NEUTRAL_FOLLOWUP), so only what the feedback *says* moves the student (see docs).
    baseline: Literal["none", "neutral"] = "none"
    demo_samples: int = 1  # fresh on-policy student samples per demonstration
    demo_temperature: float = 1.0
    max_new_tokens: int = 256
    seed: int = 0


@dataclass
class Example:
    """One training sequence: the student's chat, the teacher's chat, the shared answer tokens."""

    prompt_chat: Chat
    teacher_chat: Chat
    completion_ids: list[int]
    baseline_chat: Chat | None = None  # the teacher template with a neutral follow-up
    # The user rejected this answer as a whole (the agent's denied call): the teacher then
    # only says where the blame lies -- tokens it rates *higher* than the student are left
    # out of the loss, so the update can only lower the rejected answer (see distill_update).
    rejected: bool = False


@dataclass
class UpdateResult:
    """What one update did, for the summary line and the log."""

    kind: str
    loss_first: float
    loss_last: float
    mean_advantage: float
    disliked: list[tuple[str, float]] = field(default_factory=list)
    tokens: int = 0
    sequences: int = 0
    steps: int = 0
    seconds: float = 0.0
    # Rejected answers: the summed advantage over them (< 0: the teacher dislikes them) and
    # how many of their tokens the teacher rated higher (left out of the loss).
    rejected_advantage: float = 0.0
    rejected_raised: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        d = asdict(self)
        d["disliked"] = [[t, round(a, 4)] for t, a in self.disliked]
        return d

    def summary(self) -> str:
        """One line: loss, mean advantage and the tokens the teacher disliked most."""
        worst = ", ".join(f"{t!r} ({a:+.2f})" for t, a in self.disliked) or "-"
        rej = "" if not self.rejected_raised else (
            f", {self.rejected_raised} denied tokens the teacher raised left out")
        return (f"{self.kind} update: loss {self.loss_first:.4f} -> {self.loss_last:.4f}, "
                f"mean advantage {self.mean_advantage:+.4f} over {self.tokens} tokens{rej}, "
                f"teacher disliked: {worst} [{self.seconds:.1f}s]")


def answer_ids(tokenizer: Any, text: str) -> list[int]:
    """Token ids of an assistant answer as the model would emit it, ending with EOS."""
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    return ids


def _reprompt(template: TeacherPromptTemplate) -> RepromptConfig:
    return RepromptConfig(template=template, strip_reasoning=False)


def hindsight_chat(prompt_chat: Chat, followup: str,
                   template: TeacherPromptTemplate = HINDSIGHT_TEMPLATE) -> Chat:
    """The hindsight teacher's chat: the prompt chat with the follow-up in its last user turn."""
    chats, _ = build_teacher_chats(prompt_chat, [""], [False], [followup], _reprompt(template))
    if chats[0] is None:
        raise ValueError("empty feedback gives the teacher no hindsight")
    return chats[0]


def hindsight_example(tokenizer: Any, prompt_chat: Chat, answer: str, followup: str, *,
                      rejected: bool = False) -> Example:
    """Feedback: teacher = request + the user's follow-up, scoring the original answer.

    rejected: the user turned the answer down as a whole (Example.rejected).
    """
    chats, _ = build_teacher_chats(prompt_chat, [answer], [False], [followup],
                                   _reprompt(HINDSIGHT_TEMPLATE))
    if chats[0] is None:
        raise ValueError("empty feedback gives the teacher no hindsight")
    base, _ = build_teacher_chats(prompt_chat, [answer], [False], [NEUTRAL_FOLLOWUP],
                                  _reprompt(HINDSIGHT_TEMPLATE))
    return Example(prompt_chat, chats[0], answer_ids(tokenizer, answer), base[0], rejected)


def demo_examples(tokenizer: Any, prompt_chat: Chat, demonstration: str,
                  student_answers: Sequence[str]) -> list[Example]:
    """Demonstration: teacher = request + the demonstration in context, scoring student answers."""
    n = len(student_answers)
    chats, _ = build_teacher_chats(prompt_chat, [*student_answers, demonstration],
                                   [False] * n + [True], [None] * (n + 1),
                                   _reprompt(DEMO_TEMPLATE))
    return [Example(prompt_chat, chat, answer_ids(tokenizer, ans))
            for chat, ans in zip(chats[:n], student_answers, strict=True) if chat is not None]


def _batch(tokenizer: Any, chats: Sequence[Chat], completions: Sequence[list[int]]
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    prompts = [chat_token_ids(tokenizer, c) for c in chats]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return pack_sequences(prompts, completions, pad)


def _token_text(tokenizer: Any, tid: int) -> str:
    return tokenizer.decode([tid]) or f"<{tid}>"


@dataclass
class _Targets:
    """The frozen teacher's targets for one update, and the student's starting scores."""

    t: Any  # teacher TokenScores on its own top-K support
    s0: Any  # the student before the update, at the teacher's support
    q0: Any  # the teacher with a neutral follow-up (baseline "neutral"), else None
    target_logp: torch.Tensor
    target_tail: torch.Tensor
    reference: torch.Tensor  # what the advantage is measured against


def _teacher_targets(model: Any, tokenizer: Any, examples: Sequence[Example], cfg: UpdateConfig,
                     student: tuple[torch.Tensor, ...]) -> _Targets:
    """Score the teacher once (pre-update adapter, its own top-K support) and, for the
    neutral baseline, turn it into the contrastive target q' ~ p0 * q / q0."""
    comps = [e.completion_ids for e in examples]
    t_ids, t_att, t_cm = _batch(tokenizer, [e.teacher_chat for e in examples], comps)
    teacher = Teacher(model, kind="frozen")  # the adapter as it was before this update
    with gathered(model), teacher.gathered(compute_dtype_of(model)):
        return _targets_gathered(model, tokenizer, examples, cfg, student, teacher,
                                 (t_ids, t_att, t_cm), comps)


def _targets_gathered(model: Any, tokenizer: Any, examples: Sequence[Example],
                      cfg: UpdateConfig, student: tuple[torch.Tensor, ...], teacher: Teacher,
                      t_batch: tuple[torch.Tensor, ...], comps: list[list[int]]) -> _Targets:
    """_teacher_targets with the model's (and a sharded teacher's) weights gathered."""
    with teacher.weights():
        t = score_tokens(model, *t_batch, topk=cfg.support_size)
    assert t.support_idx is not None and t.support_logp is not None
    with torch.no_grad():
        s0 = gather_logprobs_at(model, *student, t.support_idx)
    if cfg.baseline not in ("none", "neutral"):
        raise ValueError(f"unknown baseline {cfg.baseline!r}; use none or neutral")
    if not (cfg.baseline == "neutral" and all(e.baseline_chat for e in examples)):
        return _Targets(t, s0, None, t.support_logp, t.tail_logp, s0.logp_taken)
    # Contrastive target q' ~ p0 * q / q0 on the K ids + tail: the teacher's shift caused
    # by the feedback's content, applied to the student's own starting distribution.
    b_ids, b_att, b_cm = _batch(tokenizer, [e.baseline_chat for e in examples], comps)
    with teacher.weights():
        q0 = gather_logprobs_at(model, b_ids, b_att, b_cm, t.support_idx)
    s_full = torch.cat([s0.support_logp, s0.tail_logp.unsqueeze(-1)], -1)
    t_full = torch.cat([t.support_logp, t.tail_logp.unsqueeze(-1)], -1)
    b_full = torch.cat([q0.support_logp, q0.tail_logp.unsqueeze(-1)], -1)
    target = torch.log_softmax(s_full + t_full - b_full, dim=-1)
    return _Targets(t, s0, q0, target[..., :-1], target[..., -1], q0.logp_taken)


def _disliked(tokenizer: Any, comps: list[list[int]], adv: torch.Tensor, mask: torch.Tensor
              ) -> list[tuple[str, float]]:
    """The (at most) three answer tokens with the lowest advantage."""
    n_tok = int(mask.sum())
    masked = torch.where(mask, adv, torch.full_like(adv, float("inf")))
    flat = masked.flatten()
    worst = torch.topk(-flat, k=min(3, n_tok)).indices if n_tok else torch.tensor([], dtype=torch.long)
    cols = mask.shape[1]
    out = []
    for i in worst.tolist():
        b, j = divmod(i, cols)
        out.append((_token_text(tokenizer, int(comps[b][j])), float(adv[b, j])))
    return out


def distill_update(model: Any, tokenizer: Any, examples: Sequence[Example], kind: str,
                   cfg: UpdateConfig | None = None,
                   on_step: Callable[[int, int, float], None] | None = None,
                   compute_dtype: str = "float32") -> UpdateResult:
    """Take cfg.steps optimiser steps pulling the student toward the hindsight teacher.

    The loss is the shared one (losses.py) and every step is distill.step.optimizer_step,
    as in SDPO; unlike sdpo_step the teacher's targets are scored once, on the teacher's
    own top-K support, and reused for all steps (a frozen pre-update teacher).
    compute_dtype (the session's optim.compute_dtype): bfloat16 runs the scoring and the
    student's forward/backward in bf16 while the weights, gradients and AdamW state stay
    as they are (fp32 masters); a model sharded by training/fsdp.py computes in its own
    policy's dtype already.
    """
    cfg = cfg or UpdateConfig()
    if compute_dtype not in COMPUTE_DTYPES:
        raise ValueError(f"compute_dtype must be one of {COMPUTE_DTYPES}, got {compute_dtype!r}")
    with _compute(model, compute_dtype):
        return _distill_update(model, tokenizer, examples, kind, cfg, on_step)


@contextlib.contextmanager
def _compute(model: Any, compute_dtype: str) -> Iterator[None]:
    """bf16 autocast around an update of an unsharded model when compute_dtype asks for it.

    One student forward per optimiser step, so autocast casts each weight once per step:
    the bf16 compute copy refreshed once per step that FSDP2's policy also gives.
    """
    if compute_dtype == "float32" or is_sharded(model):
        yield
        return
    device = next(model.parameters()).device.type
    with torch.autocast(device, dtype=getattr(torch, compute_dtype)):
        yield


def _distill_update(model: Any, tokenizer: Any, examples: Sequence[Example], kind: str,
                    cfg: UpdateConfig,
                    on_step: Callable[[int, int, float], None] | None) -> UpdateResult:
    """distill_update's body (under the compute dtype)."""
    if not examples:
        raise ValueError("no examples to learn from")
    t0 = time.perf_counter()
    comps = [e.completion_ids for e in examples]
    student = _batch(tokenizer, [e.prompt_chat for e in examples], comps)
    tg = _teacher_targets(model, tokenizer, examples, cfg, student)
    mask = tg.t.mask
    adv = sampled_token_advantage(tg.t.logp_taken, tg.reference)
    n_tok = int(mask.sum())
    mean_adv = float((adv * mask).sum() / max(n_tok, 1))
    disliked = _disliked(tokenizer, comps, adv, mask)
    mask, rej_adv, raised = rejected_mask(mask, adv, [e.rejected for e in examples])

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.0)
    losses: list[float] = []
    was_training = model.training
    model.train()
    try:
        # No token left to learn from (a denial whose every token the teacher raised): no step.
        for step in range(cfg.steps if bool(mask.any()) else 0):
            opt.zero_grad(set_to_none=True)
            with gathered(model):  # sharded (bf16 compute): compute copies once per step
                loss = _student_loss(model, student, tg, cfg, mask)
                loss.backward()
                sync_gradients(model)
            optimizer_step(opt, cfg.max_grad_norm)
            losses.append(float(loss.detach()))
            if on_step is not None:
                on_step(step + 1, cfg.steps, losses[-1])
            pause_point("train")
    finally:
        model.train(was_training)
        model.eval()
    return UpdateResult(kind=kind, loss_first=losses[0] if losses else 0.0,
                        loss_last=losses[-1] if losses else 0.0, mean_advantage=mean_adv,
                        disliked=disliked, tokens=n_tok, sequences=len(examples),
                        steps=len(losses), seconds=time.perf_counter() - t0,
                        rejected_advantage=rej_adv, rejected_raised=raised)


def rejected_mask(mask: torch.Tensor, adv: torch.Tensor, rejected: Sequence[bool]
                  ) -> tuple[torch.Tensor, float, int]:
    """The loss mask with the rejected rows' tokens the teacher *raised* (A_t >= 0) left out.

    A rejected answer (a denied call) is bad as a whole by the user's verdict; the teacher
    in hindsight only assigns the blame. A small teacher with the reason in context copies
    the words it names ("Do not read README.md" raised `read README.md` by +4.76 nats on
    Qwen2.5-Coder-0.5B, issue 34), and pulling the student toward it would raise the very
    call the user refused. Returns (mask, summed advantage over the rejected rows, tokens
    left out).
    """
    rows = torch.tensor(list(rejected), dtype=torch.bool, device=mask.device)[:, None]
    if not bool(rows.any()):
        return mask, 0.0, 0
    on_rej = mask & rows
    raised = on_rej & (adv >= 0)
    return mask & ~raised, float((adv * on_rej).sum()), int(raised.sum())


def _student_loss(model: Any, student: tuple[torch.Tensor, ...], tg: _Targets,
                  cfg: UpdateConfig, mask: torch.Tensor) -> torch.Tensor:
    """The student's loss against the fixed teacher targets (one forward)."""
    s = gather_logprobs_at(model, *student, tg.t.support_idx)
    if cfg.loss == "topk_kl":
        per_tok = topk_tail_distill_loss(
            s.support_logp, tg.target_logp, student_tail_logp=s.tail_logp,
            teacher_tail_logp=tg.target_tail, divergence=cfg.divergence, mask=mask)
    elif cfg.loss == "advantage":
        # Target log-prob of the taken token: the teacher's, or the contrastive one.
        taken = tg.t.logp_taken if tg.q0 is None else (
            tg.s0.logp_taken + tg.t.logp_taken - tg.q0.logp_taken)
        per_tok = sampled_token_distill_loss(s.logp_taken, taken, mask=mask)
    else:
        raise ValueError(f"unknown loss {cfg.loss!r}; use topk_kl or advantage")
    return reduce_loss(per_tok, mask, "token_mean")


@torch.no_grad()
def answer_token_logprobs(model: Any, tokenizer: Any, prompt_chats: Sequence[Chat],
                          answers: Sequence[str], eos: bool = True
                          ) -> list[tuple[list[int], list[float]]]:
    """(token ids, per-token log p) of each answer (+ EOS unless eos=False: a prefix) given its chat."""
    comps = [answer_ids(tokenizer, a) if eos else
             list(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers]
    ids, att, cm = _batch(tokenizer, prompt_chats, comps)
    s = score_tokens(model, ids, att, cm)
    return [(c, [float(v) for v in s.logp_taken[i, : len(c)]]) for i, c in enumerate(comps)]


def answer_logprob(model: Any, tokenizer: Any, prompt_chats: Sequence[Chat],
                   answers: Sequence[str], eos: bool = True) -> list[float]:
    """Sum of log p(answer tokens (+ EOS) | chat) for each (chat, answer) pair."""
    return [sum(lp) for _, lp in
            answer_token_logprobs(model, tokenizer, prompt_chats, answers, eos)]
