"""Multi-turn in-context baseline of test-time discovery: re-prompt with past feedback only.

One conversation per run: the problem's chat (system + user), then for each past attempt
its answer as an assistant turn and the judge's feedback as a user turn, ending with a
request to solve the question again. Nothing is learned: the model only sees the history.

The history is a FIFO window: when the templated conversation plus the answer budget
(max_new_tokens) would exceed the context window, the oldest attempts are dropped first
(SDPO paper's multi-turn baseline). The number of attempts kept is found by bisection
(the length grows monotonically with the number of kept attempts), so building a context
costs O(log n) templatings, not O(n).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from selfdistill.generation.base import Chat
from selfdistill.generation.chat import chat_token_ids
from selfdistill.prompts.templates import MULTITURN_FEEDBACK_TURN


@dataclass
class PastAttempt:
    """One earlier attempt of the conversation: the model's answer and the judge's feedback."""

    answer: str
    feedback: str


@dataclass
class MultiturnContext:
    """The chat to sample from and how much history it holds."""

    chat: Chat
    kept: int  # past attempts in the chat (the most recent ones)
    dropped: int  # oldest attempts left out to fit the window
    length: int  # length_fn(chat)


def history_turns(history: Sequence[PastAttempt], template: str = MULTITURN_FEEDBACK_TURN) -> Chat:
    """Assistant/user turn pairs for past attempts, oldest first."""
    turns: Chat = []
    for a in history:
        turns.append({"role": "assistant", "content": a.answer})
        turns.append({"role": "user", "content": template.format(feedback=a.feedback)})
    return turns


def char_length(chat: Chat) -> int:
    """Characters of content: a tokenizer-free length_fn for tests."""
    return sum(len(m["content"]) for m in chat)


def token_length_fn(tokenizer: Any) -> Callable[[Chat], int]:
    """length_fn counting the templated chat's tokens (with the generation prompt)."""
    def length(chat: Chat) -> int:
        return len(chat_token_ids(tokenizer, chat))

    return length


def build_multiturn_chat(
    prompt_chat: Chat,
    history: Sequence[PastAttempt],
    *,
    max_prompt_length: int | None,
    length_fn: Callable[[Chat], int] = char_length,
    template: str = MULTITURN_FEEDBACK_TURN,
) -> MultiturnContext:
    """The prompt plus the most recent past attempts that fit max_prompt_length (FIFO drop).

    max_prompt_length: context window minus max_new_tokens, in length_fn units; None keeps
    the whole history. If even the bare prompt is too long it is returned alone.
    """
    base = [dict(m) for m in prompt_chat]

    def chat_with(keep: int) -> Chat:
        return base + history_turns(history[len(history) - keep:] if keep else [], template)

    n = len(history)
    if max_prompt_length is None:
        chat = chat_with(n)
        return MultiturnContext(chat, n, 0, length_fn(chat))
    full = chat_with(n)
    full_len = length_fn(full)
    if full_len <= max_prompt_length:
        return MultiturnContext(full, n, 0, full_len)
    lo, hi = 0, n - 1  # largest keep in [lo, hi] that fits; 0 always "fits" (bare prompt)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if length_fn(chat_with(mid)) <= max_prompt_length:
            lo = mid
        else:
            hi = mid - 1
    chat = chat_with(lo)
    return MultiturnContext(chat, lo, n - lo, length_fn(chat))
