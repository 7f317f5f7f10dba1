"""Sampling semantics shared by every backend: temperature -> top-k -> top-p."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SamplingParams:
    """How to sample. temperature 0 means greedy; top_k 0 and top_p 1.0 disable truncation."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    max_new_tokens: int = 512
    n: int = 1
    seed: int | None = 0
    stop: list[str] = field(default_factory=list)
    return_logprobs: bool = True
    # One seed per prompt of a generate call: prompt i's samples then draw from seeds[i]
    # alone, whatever else the call holds (sampling stages derive it from the problem and
    # sample index, so samples do not depend on batching). None: from (seed, prompt index).
    seeds: list[int] | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 disables it), got {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1 or self.n < 1:
            raise ValueError("max_new_tokens and n must be >= 1")

    @property
    def greedy(self) -> bool:
        """True when decoding is argmax."""
        return self.temperature == 0.0
