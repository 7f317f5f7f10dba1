"""`selfdistill ssd`'s configuration: sample, train, eval and grid sections."""

from __future__ import annotations

from dataclasses import dataclass, field

from selfdistill.core.config import ModelConfig, register_recipe
from selfdistill.evaluation.config import EvalConfig
from selfdistill.generation.params import SamplerConfig
from selfdistill.training.config import TrainConfig


@dataclass
class SSDSampleConfig(SamplerConfig):
    """SSD's data-synthesis step: the frozen model answers training prompts hot."""

    temperature: float = 1.6
    top_k: int = 20
    top_p: float = 0.8
    max_new_tokens: int = 384
    source: str = "builtin:train"
    limit: int | None = None
    n: int = 1
    seed: int = 0
    batch_size: int = 32
    # Data policy (recipes/ssd/data.py, docs/ssd.md): samples cut at max_new_tokens are
    # dropped | kept (trained on without EOS) | flagged (kept, marked in sample/kept.jsonl);
    # stub_rule degenerate drops empty/looping/placeholder/prose-only answers, oneline also
    # drops one-line code, none keeps all but empty answers.
    truncated: str = "drop"
    stub_rule: str = "degenerate"
    backend: str = "hf"
    workers: int = 1  # sampling processes on CPU, one thread each; 0 = one per core


@dataclass
class SSDGridConfig:
    """T_train x T_eval grid without truncation (the paper's T_eff analysis)."""

    train_temperatures: list[float] = field(default_factory=lambda: [0.6, 1.0, 1.4])
    eval_temperatures: list[float] = field(default_factory=lambda: [0.4, 0.8, 1.2])


@dataclass
class SSDConfig:
    """SSD end to end: sample -> train -> evaluate."""

    run_dir: str = "runs/ssd"
    model: ModelConfig = field(default_factory=ModelConfig)
    sample: SSDSampleConfig = field(default_factory=SSDSampleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    grid: SSDGridConfig = field(default_factory=SSDGridConfig)


register_recipe("ssd", SSDConfig)
