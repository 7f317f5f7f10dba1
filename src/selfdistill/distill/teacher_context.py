"""The teacher's context: what the student's own model is re-prompted with, per rollout.

A rollout's teacher chat is its prompt with the last user message rewritten by a template
(the SDPO paper's by default) to hold a successful sibling's answer ("solution") and/or the
judge's feedback on this rollout ("feedback"), truncated to fit a length budget; a
rollout with neither gets no teacher ("none"). The kind is decided here, once, and carried
with the chat (TeacherBatch.kinds) to the step and the rollout logs.

The teacher's *weights* (EMA, trust region, frozen, live) are in teacher_weights.py.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from selfdistill.generation.base import Chat
from selfdistill.generation.chat import chat_token_ids
from selfdistill.prompts.task import strip_reasoning
from selfdistill.prompts.templates import TeacherPromptTemplate
from selfdistill.rollouts import Group

# "none" also covers a context that did not fit max_prompt_tokens (counted in stats.too_long).
ContextKind = Literal["solution", "feedback", "none"]


@dataclass
class RepromptConfig:
    """What goes into the teacher's context and how long it may be."""

    template: TeacherPromptTemplate = field(default_factory=TeacherPromptTemplate)
    use_solution: bool = True
    use_feedback: bool = True
    feedback_only_without_solution: bool = True  # the paper: feedback only when no solution
    # The feedback header speaks of an "unsuccessful earlier attempt": off for passing samples.
    feedback_for_successes: bool = False
    dont_reprompt_on_self_success: bool = True
    strip_reasoning: bool = True
    sibling_choice: Literal["first", "random"] = "first"
    # The teacher prompt's length cap in units of length_fn (characters by default);
    # build_teacher_batch sets it from its max_prompt_tokens (a token count).
    max_length: int | None = None


@dataclass
class TeacherConfig:
    """A recipe's `teacher:` section: the teacher's weights and what its re-prompt holds."""

    kind: str = "ema"  # ema | trust_region | trust_region_params | frozen | live (teacher_weights)
    rate: float = 0.01
    use_solution: bool = True
    use_feedback: bool = True
    feedback_only_without_solution: bool = True
    dont_reprompt_on_self_success: bool = True
    sibling_choice: str = "first"  # first | random
    max_prompt_tokens: int | None = 4096  # templated teacher prompt; hindsight is truncated

    def reprompt(self) -> RepromptConfig:
        """The RepromptConfig of this section (the paper's template)."""
        return RepromptConfig(
            use_solution=self.use_solution, use_feedback=self.use_feedback,
            feedback_only_without_solution=self.feedback_only_without_solution,
            dont_reprompt_on_self_success=self.dont_reprompt_on_self_success,
            sibling_choice=self.sibling_choice)  # type: ignore[arg-type]


@dataclass
class RepromptStats:
    """Counts over the samples given to build_teacher_chats (add them up across groups)."""

    samples: int = 0
    with_solution: int = 0
    feedback_only: int = 0
    no_context: int = 0  # neither solution nor feedback: masked out of the loss
    truncated: int = 0
    too_long: int = 0  # even fully truncated the context does not fit: masked out
    groups: int = 0
    groups_with_success: int = 0

    def __add__(self, other: RepromptStats) -> RepromptStats:
        return RepromptStats(**{k: v + getattr(other, k) for k, v in asdict(self).items()})

    def as_dict(self) -> dict[str, int]:
        """A plain dict for logging."""
        return asdict(self)


def solution_text(answer: str) -> str:
    """A sibling's answer as the teacher sees it: reasoning removed (prompts.strip_reasoning),
    surrounding white space trimmed."""
    return strip_reasoning(answer).strip()


def _chat_chars(chat: Chat) -> int:
    return sum(len(m["content"]) for m in chat)


def _teacher_chat(prompt_chat: Chat, user_message: str) -> Chat:
    """The prompt chat with its last user message replaced by the teacher's message."""
    last_user = max((i for i, m in enumerate(prompt_chat) if m["role"] == "user"), default=None)
    if last_user is None:
        return [*prompt_chat, {"role": "user", "content": user_message}]
    chat = [dict(m) for m in prompt_chat]
    chat[last_user]["content"] = user_message
    return chat


def last_user_text(prompt_chat: Chat) -> str:
    """The content of the chat's last user message ("" when there is none)."""
    users = [m["content"] for m in prompt_chat if m["role"] == "user"]
    return users[-1] if users else ""


def _fit(
    prompt_chat: Chat,
    solution: str | None,
    feedback: str | None,
    cfg: RepromptConfig,
    length_fn: Callable[[Chat], int],
) -> tuple[Chat | None, bool]:
    """Teacher chat within cfg.max_length, truncating solution/feedback (never the instruction).

    Both parts are capped at a common number of characters (the longer one shrinks first),
    the largest cap that fits is found by bisection. Returns (chat or None, truncated).
    """
    tpl = cfg.template
    prompt = last_user_text(prompt_chat)

    def build(cap: int | None) -> Chat:
        def cut(s: str | None) -> str | None:
            if s is None or cap is None or len(s) <= cap:
                return s
            return s[:cap] + tpl.truncation_marker

        return _teacher_chat(prompt_chat, tpl.render(prompt, cut(solution), cut(feedback)))

    full = build(None)
    if cfg.max_length is None or length_fn(full) <= cfg.max_length:
        return full, False
    lo, hi = 0, max(len(solution or ""), len(feedback or ""))
    best = None
    while lo <= hi:
        mid = (lo + hi) // 2
        if length_fn(build(mid)) <= cfg.max_length:
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    if not best:  # nothing of the hindsight survives: the teacher would add no information
        return None, True
    return build(best), True


def teacher_contexts(
    prompt_chat: Chat | str,
    answers: Sequence[str],
    passed: Sequence[bool],
    feedback: Sequence[str | None],
    config: RepromptConfig | None = None,
    *,
    length_fn: Callable[[Chat], int] | None = None,
    rng: random.Random | None = None,
) -> tuple[list[Chat | None], list[ContextKind], RepromptStats]:
    """Teacher chats for one group of sampled answers to the same prompt, and their kinds.

    answers[i] is sample i's text, passed[i] its verdict, feedback[i] the judge's message.
    Returns one chat per sample (None where the sample gets no loss), its ContextKind, and
    counts.
    length_fn measures a chat against config.max_length (default: characters of content;
    pass e.g. a chat-template token count).
    """
    cfg = config or RepromptConfig()
    length_fn = length_fn or _chat_chars
    rng = rng or random.Random(0)
    if isinstance(prompt_chat, str):
        prompt_chat = [{"role": "user", "content": prompt_chat}]
    n = len(answers)
    if not (len(passed) == len(feedback) == n):
        raise ValueError(
            f"answers/passed/feedback lengths differ: {n}, {len(passed)}, {len(feedback)}"
        )

    successes = [i for i in range(n) if passed[i]]
    stats = RepromptStats(samples=n, groups=1, groups_with_success=int(bool(successes)))
    chats: list[Chat | None] = []
    kinds: list[ContextKind] = []
    for i in range(n):
        solution = None
        if cfg.use_solution:
            pool = [j for j in successes if not (cfg.dont_reprompt_on_self_success and j == i)]
            if pool:
                j = pool[0] if cfg.sibling_choice == "first" else rng.choice(pool)
                solution = solution_text(answers[j]) if cfg.strip_reasoning else answers[j]
                solution = solution or None  # an empty demonstration teaches nothing
        fb = feedback[i]
        fb = fb if (fb is not None and fb.strip()) else None
        if (
            not cfg.use_feedback
            or (solution is not None and cfg.feedback_only_without_solution)
            or (passed[i] and not cfg.feedback_for_successes)
        ):
            fb = None
        if solution is None and fb is None:
            stats.no_context += 1
            chats.append(None)
            kinds.append("none")
            continue
        chat, truncated = _fit(prompt_chat, solution, fb, cfg, length_fn)
        stats.truncated += int(truncated)
        kind: ContextKind = "none" if chat is None else \
            ("solution" if solution is not None else "feedback")
        stats.too_long += int(chat is None)
        stats.with_solution += int(kind == "solution")
        stats.feedback_only += int(kind == "feedback")
        chats.append(chat)
        kinds.append(kind)
    return chats, kinds, stats


def build_teacher_chats(
    prompt_chat: Chat | str,
    answers: Sequence[str],
    passed: Sequence[bool],
    feedback: Sequence[str | None],
    config: RepromptConfig | None = None,
    *,
    length_fn: Callable[[Chat], int] | None = None,
    rng: random.Random | None = None,
) -> tuple[list[Chat | None], RepromptStats]:
    """teacher_contexts without the kinds: (one chat or None per sample, counts)."""
    chats, _, stats = teacher_contexts(prompt_chat, answers, passed, feedback, config,
                                       length_fn=length_fn, rng=rng)
    return chats, stats


@dataclass
class TeacherBatch:
    """Per rollout (groups flattened in order): the teacher chat or None, and its kind."""

    chats: list[Chat | None]
    kinds: list[ContextKind]
    stats: RepromptStats


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
    hindsight is truncated to fit, or the sample gets no loss (kind "none", counted in stats.too_long).
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
        gchats, gkinds, gstats = teacher_contexts(
            g.chat, [r.text for r in rs], [r.passed for r in rs], [r.feedback for r in rs],
            cfg, length_fn=length_fn, rng=rng,
        )
        stats = stats + gstats
        chats.extend(gchats)
        kinds.extend(gkinds)
    return TeacherBatch(chats=chats, kinds=kinds, stats=stats)
