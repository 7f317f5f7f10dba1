"""The optimiser and learning-rate schedule of the online recipes (sdpo, discover)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


def make_optimizer(model: Any, optim: Any) -> Any:
    """AdamW over the trainable parameters, from OptimConfig-like settings."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=optim.lr, betas=(optim.adam_beta1, optim.adam_beta2),
                             weight_decay=optim.weight_decay)


def lr_lambda(schedule: str, warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """LambdaLR factor: linear warm-up, then constant or cosine decay to 0 at total_steps."""

    def f(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "cosine":
            t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
        return 1.0

    return f
