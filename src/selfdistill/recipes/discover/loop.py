"""The discovery loop of one (method, problem, seed) run: sample B, grade, stop or update.

Methods differ only in what they plug in: sdpo an update (one SDPO step on the batch),
multiturn a context, best_of_k neither and it never stops early. multiturn runs B
conversations side by side, one attempt per turn each: conversation j's step-s chat is
the prompt plus its own past attempts and their feedback (FIFO window), and its attempt
is attempt s*B + j + 1. The loop itself touches no model: recipes/discover/model.py
supplies the real sampler, grader and update; tests supply fakes.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from selfdistill.generation.base import Chat, Completion
from selfdistill.recipes.discover.config import METHODS, step_seed
from selfdistill.recipes.discover.multiturn import MultiturnContext, PastAttempt


@dataclass
class RunResult:
    """One finished (method, problem, seed) run: the row written to RUN/results.jsonl."""

    method: str
    problem_id: str
    seed: int
    budget: int
    batch: int
    solved: bool
    attempt_index: int | None  # 1-based attempts up to and including the first success
    attempts_used: int
    n_correct: int  # accepted attempts among attempts_used
    steps: int  # sampling steps
    updates: int = 0  # SDPO steps taken
    seconds: float = 0.0
    seconds_sample: float = 0.0
    seconds_grade: float = 0.0
    seconds_update: float = 0.0
    # sample + grade + update seconds up to and including the step holding the first
    # success (the whole step: its B attempts are sampled together); None if unsolved
    seconds_to_success: float | None = None
    solution: str | None = None  # the first accepted program

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunResult:
        """Inverse of to_dict (unknown keys ignored)."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in names})


SampleFn = Callable[[Chat, int, int], list[Completion]]  # (chat, n, seed) -> completions
SampleManyFn = Callable[[list[Chat], int], list[Completion]]  # (chats, seed) -> one per chat
GradeFn = Callable[[list[str]], list[Any]]  # answer texts -> Verdicts (passed, status)
FeedbackFn = Callable[[Any], str]
UpdateFn = Callable[[Chat, list[Completion], list[Any], list[str]], dict[str, float]]
ContextFn = Callable[[list[PastAttempt]], MultiturnContext]


def run_discovery(
    method: str,
    prompt_chat: Chat,
    *,
    budget: int,
    batch: int,
    seed: int,
    sample: SampleFn,
    grade: GradeFn,
    feedback: FeedbackFn,
    update: UpdateFn | None = None,
    context: ContextFn | None = None,
    sample_many: SampleManyFn | None = None,
    stop_at_success: bool = True,
    problem_id: str = "",
    code_of: Callable[[str], str | None] | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> RunResult:
    """One run of a method on one problem: sample B, grade, stop or update, until the budget.

    update (sdpo): after a batch without a stopping success while budget remains. context
    (multiturn): a conversation's chat from its past attempts; sample_many: one answer
    per chat. on_step: each step's record (the JSONL log)."""
    _check_plugins(method, update, context, sample_many)
    stops = stop_at_success and method != "best_of_k"
    t_run, used, n_correct, steps, updates = time.perf_counter(), 0, 0, 0, 0
    first: int | None = None
    t_first: float | None = None  # seconds to the first success
    solution: str | None = None
    histories: list[list[PastAttempt]] = [[] for _ in range(batch)]  # multiturn: per conversation
    secs = {"sample": 0.0, "grade": 0.0, "update": 0.0}
    while used < budget:
        b = min(batch, budget - used)
        chats, ctx_info = _step_chats(prompt_chat, context if method == "multiturn" else None,
                                      histories[:b])
        draw = _draw(sample, sample_many, prompt_chat, chats, b)
        comps, verdicts, fbs, rec = _attempt_batch(draw, grade, feedback, b,
                                                   step_seed(seed, steps), used, secs)
        rec.update({"method": method, "problem_id": problem_id, "seed": seed, **ctx_info})
        j = rec["first_success_in_batch"]
        if j is not None and first is None:
            first = used + j
            t_first = sum(secs.values())
            solution = code_of(comps[j - 1].text) if code_of else comps[j - 1].text
        rec["attempt_index"] = first
        n_correct += rec["n_correct"]
        used += b
        steps += 1
        rec["step"] = steps
        done = (stops and first is not None) or used >= budget
        if method == "sdpo" and not done:
            t3 = time.perf_counter()
            rec["metrics"] = update(chats[0], comps, verdicts, fbs)  # type: ignore[misc]
            rec["seconds_update"] = time.perf_counter() - t3
            secs["update"] += rec["seconds_update"]
            updates += 1
        if method == "multiturn":  # one attempt per turn in each conversation
            for h, c, fb in zip(histories, comps, fbs, strict=False):
                h.append(PastAttempt(c.text, fb))
        if on_step is not None:
            on_step(rec)
        if done:
            break
    return RunResult(
        method=method, problem_id=problem_id, seed=seed, budget=budget, batch=batch,
        solved=first is not None, attempt_index=first, attempts_used=used, n_correct=n_correct,
        steps=steps, updates=updates, seconds=time.perf_counter() - t_run,
        seconds_sample=secs["sample"], seconds_grade=secs["grade"],
        seconds_update=secs["update"], seconds_to_success=t_first, solution=solution,
    )


def _step_chats(prompt_chat: Chat, context: ContextFn | None,
                histories: list[list[PastAttempt]]) -> tuple[list[Chat], dict[str, Any]]:
    """This step's chats: [the prompt], or (multiturn) one per conversation, the prompt
    plus its past attempts, with what each context kept and dropped, for the log."""
    if context is None:
        return [prompt_chat], {}
    mcs = [context(h) for h in histories]
    return [mc.chat for mc in mcs], {"context_kept": [mc.kept for mc in mcs],
                                     "context_dropped": [mc.dropped for mc in mcs],
                                     "context_length": [mc.length for mc in mcs]}


def _draw(sample: SampleFn, sample_many: SampleManyFn | None, prompt_chat: Chat,
          chats: list[Chat], b: int) -> Callable[[int], list[Completion]]:
    """seed -> b completions: b samples of one chat, or one sample of each of b chats.

    While every conversation is still the bare prompt (the first step) multiturn draws
    like the other methods, so the three methods' first batches are the same draw.
    """
    if len(chats) == 1 or all(c == prompt_chat for c in chats):
        return lambda seed: sample(chats[0], b, seed)
    assert sample_many is not None
    return lambda seed: sample_many(chats, seed)


def _check_plugins(method: str, update: UpdateFn | None, context: ContextFn | None,
                   sample_many: SampleManyFn | None) -> None:
    """A known method with what it needs: sdpo an update, multiturn a context + sample_many."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}")
    if method == "sdpo" and update is None:
        raise ValueError("sdpo needs an update function")
    if method == "multiturn" and (context is None or sample_many is None):
        raise ValueError("multiturn needs a context function and sample_many")


def _attempt_batch(draw: Callable[[int], list[Completion]], grade: GradeFn,
                   feedback: FeedbackFn, b: int, seed: int, used: int, secs: dict[str, float]
                   ) -> tuple[list[Completion], list[Any], list[str], dict[str, Any]]:
    """Sample b attempts, grade them, format their feedback; the step's log record."""
    t0 = time.perf_counter()
    comps = draw(seed)
    t1 = time.perf_counter()
    verdicts = grade([c.text for c in comps])
    t2 = time.perf_counter()
    fbs = [feedback(v) for v in verdicts]
    passed = [bool(v.passed) for v in verdicts]
    j = next((i for i, p in enumerate(passed) if p), None)
    secs["sample"] += t1 - t0
    secs["grade"] += t2 - t1
    rec: dict[str, Any] = {
        "kind": "step", "method": "", "problem_id": "", "seed": 0, "step": 0,
        "attempts_before": used, "n": b, "first_success_in_batch": None if j is None else j + 1,
        "attempt_index": None, "n_correct": sum(passed),
        "statuses": dict(Counter(v.status for v in verdicts)),
        "seconds_sample": t1 - t0, "seconds_grade": t2 - t1,
        "attempts": [{"index": used + i + 1, "passed": p, "status": v.status,
                      "n_tokens": len(c.token_ids), "finish_reason": c.finish_reason,
                      "text": c.text, "feedback": fb}
                     for i, (c, v, p, fb) in enumerate(zip(comps, verdicts, passed, fbs,
                                                           strict=True))],
    }
    return comps, verdicts, fbs, rec
