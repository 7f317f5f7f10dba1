"""The Generator interface every recipe uses, and the Completion record it returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from selfdistill.generation.params import SamplingParams

# [{"role": "system"|"user"|"assistant", "content": ...}]. A chat that ends with an
# assistant turn is a prefill: the model continues that partial turn (chat.render_chat).
Chat = list[dict[str, str]]


@dataclass
class Completion:
    """One sampled answer (for a prefilled chat: only the continuation, not the prefill).

    logprobs: log-probability of each sampled token under the *sampling* distribution
        (after temperature, top-k, top-p). base_logprobs: under the untempered,
        untruncated model (SDPO's importance ratio needs these).
    finish_reason: "stop" (EOS or a stop string) or "length".
    """

    text: str
    token_ids: list[int]
    prompt_token_ids: list[int] = field(default_factory=list)
    logprobs: list[float] | None = None
    base_logprobs: list[float] | None = None
    finish_reason: str = "stop"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


class Generator(Protocol):
    """generate(prompts, params) -> for each prompt, params.n completions."""

    def generate(
        self, prompts: list[Chat], params: SamplingParams, *, progress: bool = True
    ) -> list[list[Completion]]:
        """Sample params.n completions for every chat prompt."""
        ...
