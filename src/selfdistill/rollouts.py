"""Rollouts: sample answers, grade them in the sandbox, keep them per prompt.

    problem -> chat (prompts.build_chat) -> Generator -> Completion
      -> extract_code -> sandbox (execution.grade_many) -> Verdict -> judge feedback
      -> Rollout (exact token ids, sampler log-probs, reward, feedback), grouped per prompt

Every recipe that learns from graded samples goes through here: `sdpo train` calls
sample_and_grade for a step's prompts; test-time discovery samples one chat per step
(adapter on or off, multi-turn contexts) and then calls grade_answers and make_group on
that batch. The groups feed the distillation step (distill/step.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from selfdistill.execution import format_feedback, grade_many
from selfdistill.generation.base import Chat, Completion
from selfdistill.prompts.task import build_chat, extract_code

REWARDS: tuple[str, ...] = ("binary", "fraction")


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
class RolloutBatch:
    """A step's groups (one per problem, in order) and where the time went."""

    groups: list[Group]
    seconds_generate: float = 0.0
    seconds_grade: float = 0.0


def reward_of(verdict: Any, kind: str = "binary") -> float:
    """binary: 1 if every test passed; fraction: tests passed / tests run."""
    if kind == "fraction":
        return verdict.tests_passed / max(verdict.tests_total, 1)
    if kind != "binary":
        raise ValueError(f"unknown reward {kind!r}; use one of {REWARDS}")
    return float(verdict.passed)


def grade_answers(problem: Any, texts: Sequence[str], sandbox_config: Any = None) -> list[Any]:
    """Extract each answer's code and run it against the problem's tests: one Verdict each."""
    return grade_completions([problem], [list(texts)], sandbox_config)[0]


def grade_completions(problems: Sequence[Any], answers: Sequence[Sequence[Any]],
                      sandbox_config: Any = None, collect: int = 0) -> list[list[Any]]:
    """Verdicts per problem for its answers (Completions or texts), graded in one sandbox batch
    (collect: failing tests kept for the reference feedback, execution.grade)."""
    def text(a: Any) -> str:
        return a if isinstance(a, str) else a.text

    items = [(p, extract_code(text(a), p.entry_point))
             for p, answers_p in zip(problems, answers, strict=True) for a in answers_p]
    flat = grade_many(items, config=sandbox_config, collect=collect)
    out, i = [], 0
    for answers_p in answers:
        out.append(flat[i : i + len(answers_p)])
        i += len(answers_p)
    return out


def make_group(chat: Chat, completions: Sequence[Completion], verdicts: Sequence[Any],
               feedbacks: Sequence[str | None], *, problem_id: str = "",
               reward: str | Callable[[Any], float] = "binary") -> Group:
    """One Group from a prompt's completions, their verdicts and their (already formatted) feedback."""
    reward_fn = reward if callable(reward) else (lambda v: reward_of(v, reward))
    rollouts = [Rollout.from_completion(c, passed=v.passed, reward=reward_fn(v), feedback=fb,
                                        status=v.status)
                for c, v, fb in zip(completions, verdicts, feedbacks, strict=True)]
    return Group(chat=list(chat), rollouts=rollouts, problem_id=problem_id)


def make_groups(
    problems: Sequence[Any],
    chats: Sequence[Chat],
    completions: Sequence[Sequence[Completion]],
    verdicts: Sequence[Sequence[Any]],
    feedback_fn: Callable[[Any], str] | None = None,
    reward_fn: Callable[[Any], float] | None = None,
    feedback_cfg: Any = None,
) -> list[Group]:
    """Groups from generator completions and sandbox Verdicts (one list per problem).

    Feedback: feedback_fn(verdict) if given, else feedback_cfg.render(verdict, truncated)
    (execution.FeedbackConfig; truncated = the answer stopped at the length limit), else
    execution.format_feedback.
    """
    if feedback_fn is None and feedback_cfg is not None:
        def text(v: Any, c: Completion) -> str:
            return feedback_cfg.render(v, truncated=c.finish_reason == "length")
    else:
        if feedback_fn is None:
            feedback_fn = format_feedback
        fn = feedback_fn

        def text(v: Any, c: Completion) -> str:
            return fn(v)
    return [make_group(chat, comps, vs, [text(v, c) for v, c in zip(vs, comps, strict=True)],
                       problem_id=getattr(p, "id", ""), reward=reward_fn or "binary")
            for p, chat, comps, vs in zip(problems, chats, completions, verdicts, strict=True)]


def sample_and_grade(
    generator: Any,
    problems: Sequence[Any],
    params: Any,
    *,
    chats: Sequence[Chat] | None = None,
    sandbox_config: Any = None,
    reward: str | Callable[[Any], float] = "binary",
    feedback_fn: Callable[[Any], str] | None = None,
    feedback_cfg: Any = None,
) -> RolloutBatch:
    """Sample params.n answers per problem, extract code, grade in the sandbox: one Group each.

    chats default to prompts.build_chat(problem); feedback as in make_groups (feedback_cfg,
    an execution.FeedbackConfig, also sets how many failing tests the grader keeps).
    """
    chats = [list(c) for c in chats] if chats is not None else [build_chat(p) for p in problems]
    t0 = time.perf_counter()
    comps = generator.generate(chats, params, progress=False) if problems else []
    t1 = time.perf_counter()
    collect = feedback_cfg.grade_collect if feedback_cfg is not None and feedback_fn is None else 0
    verdicts = grade_completions(problems, comps, sandbox_config, collect=collect)
    t2 = time.perf_counter()
    groups = make_groups(problems, chats, comps, verdicts, feedback_fn=feedback_fn,
                         feedback_cfg=feedback_cfg,
                         reward_fn=reward if callable(reward) else (lambda v: reward_of(v, reward)))
    return RolloutBatch(groups, seconds_generate=t1 - t0, seconds_grade=t2 - t1)
