"""The `sdpo` recipe: online RL by self-distillation over a problem set (config.py, train.py)."""

from selfdistill.recipes.sdpo.config import (
    SDPOConfig,
    SDPODataConfig,
    SDPOOptimConfig,
    SDPORolloutConfig,
    validate,
)
from selfdistill.recipes.sdpo.run import run_sdpo_train, step_prompt_indices

__all__ = ["SDPOConfig", "SDPODataConfig", "SDPOOptimConfig", "SDPORolloutConfig",
           "run_sdpo_train", "step_prompt_indices", "validate"]
