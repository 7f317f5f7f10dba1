"""How a model is evaluated (the `eval:` section of every recipe that evaluates)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EvalConfig:
    """How a model is evaluated on a benchmark."""

    benchmark: str = "humaneval"
    limit: int | None = None  # first N problems (None: all)
    n: int = 1  # samples per problem
    temperatures: list[float] = field(default_factory=lambda: [0.0])
    top_k: int = 0
    top_p: float = 1.0
    max_new_tokens: int = 384
    k_values: list[int] = field(default_factory=lambda: [1])
    seed: int = 0
    batch_size: int = 32
    timeout_s: float = 6.0
    backend: str = "hf"
    harness: str = "official"  # official benchmarks' own rules, or "selfdistill" (harness.py)
    workers: int = 1  # sampling processes on CPU, one thread each; 0 = one per core
