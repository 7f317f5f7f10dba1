"""Per-token credit: which answer tokens the SDPO teacher blames, and what it prefers instead.

For an answer y to a prompt x and hindsight f (judge feedback, a successful sibling, or a
user's follow-up), self-distillation gives every token its own advantage

    A_t = log pi(y_t | x, f, y<t) - log pi(y_t | x, y<t)        (teacher minus student)

while GRPO gives every token of the rollout the same r - mean(r). This module computes
A_t with the project's own pieces -- the SDPO re-prompt (teacher.build_teacher_chats), the
chat rendering every backend uses (generation.chat.chat_token_ids) and chunked scoring
(scoring.score_tokens) -- plus, per position, the teacher's top alternatives with both
models' probabilities. Records are plain dicts (JSONL), so SDPO and discover runs can save
a few per step (CreditRecorder, bounded) and `selfdistill credit` renders them later.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from selfdistill.assist.update import answer_ids
from selfdistill.core.merged_lora import merged_lora
from selfdistill.core.records import JsonlWriter, read_jsonl
from selfdistill.distill.losses import grpo_advantages
from selfdistill.distill.scoring import pack_sequences, score_tokens
from selfdistill.distill.teacher_context import RepromptConfig, build_teacher_chats, last_user_text
from selfdistill.generation.base import Chat
from selfdistill.generation.chat import chat_token_ids

DEFAULT_ALTERNATIVES = 5


@dataclass
class TokenCredit:
    """One answer token: log-probs under student and teacher, A_t, the teacher's top picks."""

    token_id: int
    text: str
    student_logp: float
    teacher_logp: float
    # The teacher's top alternatives at this position: (text, teacher log p, student log p).
    alternatives: list[tuple[str, float, float]] = field(default_factory=list)

    @property
    def advantage(self) -> float:
        """A_t = log pi_teacher(y_t) - log pi_student(y_t)."""
        return self.teacher_logp - self.student_logp


@dataclass
class CreditRecord:
    """The per-token credit of one rollout, with what is needed to show it on its own."""

    prompt: str  # the (last) user message the student saw
    answer: str
    teacher_message: str  # the teacher's user message (prompt + hindsight)
    tokens: list[TokenCredit]
    grpo_advantage: float  # r - mean(r) of the rollout's group: the same for every token
    reward: float | None = None
    group_rewards: list[float] | None = None
    feedback: str | None = None
    solution: str | None = None
    model: str = ""
    truncated: int = 0  # answer tokens beyond the saved ones (not scored)
    meta: dict[str, Any] = field(default_factory=dict)  # step, problem_id, sample_idx, ...

    @property
    def advantages(self) -> list[float]:
        """A_t of every saved token, in order."""
        return [t.advantage for t in self.tokens]

    def most_negative(self, n: int = 5) -> list[tuple[int, TokenCredit]]:
        """The n tokens the teacher blames most (lowest A_t), as (position, token)."""
        order = sorted(range(len(self.tokens)), key=lambda i: self.tokens[i].advantage)
        return [(i, self.tokens[i]) for i in order[:n] if self.tokens[i].advantage < 0]

    def peak(self) -> float:
        """How much one token stands out: max_t |A_t - median A| (0 for an empty answer).

        A rollout whose credit is concentrated on a few tokens (the talk's `n + 1`) says
        more about what the feedback blames than one with uniformly shifted log-probs.
        """
        a = self.advantages
        if not a:
            return 0.0
        med = statistics.median(a)
        return max(abs(x - med) for x in a)

    def to_dict(self) -> dict[str, Any]:
        """Compact JSON: per-token columns, numbers rounded to 4 decimals."""
        d = asdict(self)
        d.pop("tokens")
        r = _round
        d["grpo_advantage"] = r(self.grpo_advantage)
        d["tok"] = {
            "id": [t.token_id for t in self.tokens],
            "text": [t.text for t in self.tokens],
            "s": [r(t.student_logp) for t in self.tokens],
            "t": [r(t.teacher_logp) for t in self.tokens],
            "alt": [[[a, r(tl), r(sl)] for a, tl, sl in t.alternatives] for t in self.tokens],
        }
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CreditRecord:
        """Inverse of to_dict."""
        d = dict(d)
        tk = d.pop("tok")
        tokens = [TokenCredit(int(i), str(x), float(s), float(t),
                              [(str(a), float(tl), float(sl)) for a, tl, sl in alt])
                  for i, x, s, t, alt in zip(tk["id"], tk["text"], tk["s"], tk["t"], tk["alt"],
                                             strict=True)]
        known = {f for f in cls.__dataclass_fields__ if f != "tokens"}
        return cls(tokens=tokens, **{k: v for k, v in d.items() if k in known})


def _round(x: float) -> float:
    return round(float(x), 4) if math.isfinite(x) else float(x)


# ------------------------------------------------------------------------------ scoring


def _token_text(tokenizer: Any, tid: int) -> str:
    """How one token reads on its own (byte pieces of a multi-byte character show as U+FFFD)."""
    return tokenizer.decode([int(tid)]) or f"<{tid}>"


def score_credit(
    model: Any,
    tokenizer: Any,
    prompt_ids: Sequence[Sequence[int]],
    teacher_ids: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    *,
    teacher: Any = None,
    alternatives: int = DEFAULT_ALTERNATIVES,
    temperature: float = 1.0,
) -> list[list[TokenCredit]]:
    """Per-token credit of each completion: student on prompt_ids[i], teacher on teacher_ids[i].

    teacher: a teacher.Teacher whose weights score the teacher side (as in the SDPO step:
    the EMA / trust-region / frozen copy, the LoRA adapter folded in); None = the model's
    current weights for both sides (the assistant's frozen pre-update teacher, the CLI).
    No gradients; the model's train/eval mode is restored.
    """
    import torch

    if not completions:
        return []
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    k = max(1, int(alternatives))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            t_ids, t_att, t_cm = pack_sequences(teacher_ids, completions, pad)
            with ExitStack() as stack:
                if teacher is not None:
                    stack.enter_context(teacher.weights())
                    stack.enter_context(merged_lora(model))
                tt = score_tokens(model, t_ids.to(device), t_att.to(device), t_cm.to(device),
                                  topk=k, temperature=temperature)
            s_ids, s_att, s_cm = pack_sequences(prompt_ids, completions, pad)
            st = score_tokens(model, s_ids.to(device), s_att.to(device), s_cm.to(device),
                              at_idx=tt.support_idx, temperature=temperature)
    finally:
        model.train(was_training)
    out: list[list[TokenCredit]] = []
    for b, comp in enumerate(completions):
        rows = []
        for j, tid in enumerate(comp):
            alts = [(_token_text(tokenizer, int(a)), float(tl), float(sl)) for a, tl, sl in
                    zip(tt.support_idx[b, j].tolist(), tt.support_logp[b, j].tolist(),
                        st.support_logp[b, j].tolist(), strict=True)]
            rows.append(TokenCredit(int(tid), _token_text(tokenizer, int(tid)),
                                    float(st.logp_taken[b, j]), float(tt.logp_taken[b, j]),
                                    alts))
        out.append(rows)
    return out


def credit_for_answer(
    model: Any,
    tokenizer: Any,
    prompt: str | Chat,
    answer: str,
    *,
    feedback: str | None = None,
    solution: str | None = None,
    teacher_chat: Chat | None = None,
    reward: float = 0.0,
    group_rewards: Sequence[float] | None = None,
    alternatives: int = DEFAULT_ALTERNATIVES,
    model_name: str = "",
    meta: dict[str, Any] | None = None,
) -> CreditRecord:
    """Credit of one written answer: the SDPO paper's re-prompt with feedback and/or a solution.

    prompt: the user message (or a whole chat). teacher_chat overrides the re-prompt (e.g.
    the assistant's hindsight template). group_rewards: the rollout's group, this answer's
    reward included, for GRPO's r - mean(r) (default: just [reward], i.e. 0).
    """
    chat: Chat = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    if teacher_chat is None:
        if feedback is None and solution is None:
            raise ValueError("the teacher needs hindsight: give feedback and/or a solution")
        # With both given the user asked for both: keep the feedback beside the solution.
        cfg = RepromptConfig(feedback_only_without_solution=False, strip_reasoning=False)
        # The sibling's solution is the second "sample" of a two-answer group that passed.
        answers = [answer] if solution is None else [answer, solution]
        passed = [False] if solution is None else [False, True]
        fbs: list[str | None] = [feedback] if solution is None else [feedback, None]
        chats, _ = build_teacher_chats(chat, answers, passed, fbs, cfg)
        teacher_chat = chats[0]
        if teacher_chat is None:
            raise ValueError("the feedback and solution are empty: the teacher has no hindsight")
    comp = answer_ids(tokenizer, answer)
    rows = score_credit(model, tokenizer, [chat_token_ids(tokenizer, chat)],
                        [chat_token_ids(tokenizer, teacher_chat)], [comp],
                        alternatives=alternatives)[0]
    group = list(group_rewards) if group_rewards else [reward]
    if group[0] != reward:
        raise ValueError("group_rewards must start with this answer's reward")
    return CreditRecord(
        prompt=last_user_text(chat), answer=answer, teacher_message=last_user_text(teacher_chat),
        tokens=rows, grpo_advantage=_grpo(group, 0), reward=reward, group_rewards=group,
        feedback=feedback, solution=solution, model=model_name, meta=dict(meta or {}))


def _grpo(group: Sequence[float], j: int) -> float:
    """GRPO's advantage of rollout j of a group: r - mean(r) (losses.grpo_advantages)."""
    import torch

    return float(grpo_advantages(torch.tensor(list(group), dtype=torch.float64))[j])


# ------------------------------------------------------------------------- run logging


@dataclass
class CreditLogConfig:
    """How much per-token credit an SDPO / discover run saves (RUN/credit.jsonl).

    Bounded: at most rollouts_per_step rollouts every `every` steps, max_tokens tokens each,
    max_records in all (about 100 bytes per token with 3 alternatives).
    """

    enabled: bool = True
    rollouts_per_step: int = 2
    every: int = 1
    max_tokens: int = 192
    alternatives: int = 3
    max_records: int = 100


def pick_rollouts(kinds: Sequence[str], passed: Sequence[bool], n: int) -> list[int]:
    """Which rollouts of a step to save: ones with a teacher context, failures first, and one
    of each context kind (solution, feedback) before a second of either."""
    cands = [i for i, k in enumerate(kinds) if k != "none"]
    cands.sort(key=lambda i: (passed[i], i))
    chosen: list[int] = []
    for kind in ("solution", "feedback"):
        first = next((i for i in cands if kinds[i] == kind), None)
        if first is not None and len(chosen) < n:
            chosen.append(first)
    chosen += [i for i in cands if i not in chosen][: max(0, n - len(chosen))]
    return sorted(chosen)


class CreditRecorder:
    """Appends a few rollouts' per-token credit per step to a JSONL file (bounded in size).

    Call record() *before* the optimiser step: the student and teacher then have exactly
    the weights that step scores with.
    """

    def __init__(self, path: str | Path, cfg: CreditLogConfig | None = None,
                 model_name: str = ""):
        self.path = Path(path)
        self.cfg = cfg or CreditLogConfig()
        self.model_name = model_name
        self.written = len(read_jsonl(self.path)) if self.path.exists() else 0

    def record(self, model: Any, teacher: Any, tokenizer: Any, groups: Sequence[Any],
               teacher_batch: Any, *, step: int, temperature: float = 1.0,
               **meta: Any) -> list[CreditRecord]:
        """Score and save the chosen rollouts of this step (sdpo.Group / TeacherBatch inputs)."""
        c = self.cfg
        if (not c.enabled or c.rollouts_per_step < 1 or self.written >= c.max_records
                or (c.every > 1 and step % c.every != 0 and step != 1)):
            return []
        flat = [(g, j, r) for g in groups for j, r in enumerate(g.rollouts)]
        kinds = list(teacher_batch.kinds)
        n = min(c.rollouts_per_step, c.max_records - self.written)
        chosen = [i for i in pick_rollouts(kinds, [r.passed for _, _, r in flat], n)
                  if flat[i][2].completion_ids]
        if not chosen:
            return []
        comps = [list(flat[i][2].completion_ids[: c.max_tokens]) for i in chosen]
        rows = score_credit(
            model, tokenizer, [flat[i][2].prompt_ids for i in chosen],
            [chat_token_ids(tokenizer, teacher_batch.chats[i]) for i in chosen], comps,
            teacher=teacher, alternatives=c.alternatives, temperature=temperature)
        records = []
        for i, toks in zip(chosen, rows, strict=True):
            g, j, r = flat[i]
            tchat = teacher_batch.chats[i]
            records.append(CreditRecord(
                prompt=last_user_text(g.chat), answer=r.text, teacher_message=last_user_text(tchat),
                tokens=toks, grpo_advantage=_grpo(g.rewards, j), reward=r.reward,
                group_rewards=list(g.rewards), feedback=r.feedback, model=self.model_name,
                truncated=max(0, len(r.completion_ids) - c.max_tokens),
                meta={"step": step, "problem_id": g.problem_id, "sample_idx": j,
                      "context": kinds[i], "passed": r.passed, "status": r.status, **meta}))
        with JsonlWriter(self.path) as w:
            w.write_many([x.to_dict() for x in records])
        self.written += len(records)
        return records


def load_records(path: str | Path) -> list[CreditRecord]:
    """Every saved record of a credit.jsonl; a unit restarted after a kill keeps its last copy."""
    by_key: dict[tuple[Any, ...], CreditRecord] = {}
    for d in read_jsonl(path):
        rec = CreditRecord.from_dict(d)
        m = rec.meta
        key = (m.get("method"), m.get("problem_id"), m.get("seed"), m.get("step"),
               m.get("sample_idx"))
        by_key[key] = rec
    return list(by_key.values())
