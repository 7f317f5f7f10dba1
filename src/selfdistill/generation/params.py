"""Sampling semantics shared by every backend: temperature -> top-k -> top-p.

One type carries the sampler's knobs (`SamplerConfig`: a recipe's YAML section derives from
it); `SamplingParams` is those knobs plus what one request adds (n, seed, stop, logprobs).
Each knob has one default, declared once here.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SamplerConfig:
    """The sampler's knobs; temperature 0 means greedy, top_k 0 and top_p 1.0 disable truncation.

    max_new_tokens defaults to 512, what every library call used; a recipe section that
    wants another budget says so in its own config (SDPO's rollouts: 1024).
    """

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    max_new_tokens: int = 512

    def sampling_params(self, n: int, seed: int, stop: list[str] | None = None
                        ) -> SamplingParams:
        """SamplingParams for n answers per prompt with this seed (the greedy rule applied)."""
        return sampling_params(self.temperature, top_k=self.top_k, top_p=self.top_p,
                               max_new_tokens=self.max_new_tokens, n=n, seed=seed, stop=stop)


@dataclass
class SamplingParams(SamplerConfig):
    """How to sample one request: the knobs plus n answers per prompt, the seed, stop strings."""

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


def sampling_params(temperature: float, *, top_k: int = 0, top_p: float = 1.0,
                    max_new_tokens: int = 512, n: int = 1, seed: int | None = 0,
                    stop: list[str] | None = None, return_logprobs: bool = True
                    ) -> SamplingParams:
    """The one SamplingParams builder; its greedy rule: at temperature 0 no truncation
    applies (top_k 0, top_p 1), whatever the section's sampling knobs say."""
    greedy = temperature == 0
    return SamplingParams(temperature=temperature, top_k=0 if greedy else top_k,
                          top_p=1.0 if greedy else top_p, max_new_tokens=max_new_tokens, n=n,
                          seed=seed, stop=list(stop or []), return_logprobs=return_logprobs)
