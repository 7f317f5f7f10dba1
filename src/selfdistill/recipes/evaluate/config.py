"""`selfdistill evaluate`'s configuration as a recipe file (model + eval sections)."""

from __future__ import annotations

from dataclasses import dataclass, field

from selfdistill.core.config import ModelConfig, register_recipe
from selfdistill.evaluation.config import EvalConfig


@dataclass
class EvaluateConfig:
    """`selfdistill evaluate` as a recipe file."""

    run_dir: str = "runs/eval"
    model: ModelConfig = field(default_factory=ModelConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


register_recipe("evaluate", EvaluateConfig)
