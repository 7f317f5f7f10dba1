"""A session's settings (`SessionConfig`) and how the command line builds them."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from selfdistill.assist.update import COMPUTE_DTYPES, UpdateConfig
from selfdistill.core.config import OptimConfig
from selfdistill.errors import UserError
from selfdistill.prompts.templates import ASSISTANT_SYSTEM_PROMPT


@dataclass
class SessionConfig:
    """Generation and update settings of a session."""

    max_new_tokens: int = 256
    temperature: float = 0.0  # greedy answers by default
    system_prompt: str | None = ASSISTANT_SYSTEM_PROMPT
    run_timeout_s: float = 10.0
    update: UpdateConfig = field(default_factory=UpdateConfig)
    # The adapter's shape (lora_*) and the updates' compute dtype (compute_dtype: float32, or
    # bfloat16 with fp32 master weights and AdamW state: assist/update.py).
    lora: OptimConfig = field(default_factory=OptimConfig)
    seed: int = 0


def session_config(max_new_tokens: int, lr: float, steps: int, threads: int | None,
                   loss: str = "topk_kl", baseline: str = "none",
                   compute_dtype: str = "float32") -> SessionConfig:
    """A SessionConfig from the command line's values (one clear error for a bad one)."""
    if max_new_tokens < 1 or steps < 1 or lr <= 0:
        raise UserError("--max-new-tokens and --steps must be >= 1 and --lr > 0.")
    if loss not in ("topk_kl", "advantage"):
        raise UserError(f"--loss must be topk_kl or advantage, got '{loss}'.")
    if baseline not in ("none", "neutral"):
        raise UserError(f"--baseline must be none or neutral, got '{baseline}'.")
    if compute_dtype not in COMPUTE_DTYPES:
        raise UserError(f"--compute-dtype must be float32 or bfloat16, got '{compute_dtype}'.")
    if threads is not None:
        if threads < 1:
            raise UserError("--threads must be >= 1.")
        torch.set_num_threads(threads)
    return SessionConfig(max_new_tokens=max_new_tokens,
                         update=UpdateConfig(lr=lr, steps=steps, loss=loss,  # type: ignore[arg-type]
                                             baseline=baseline),  # type: ignore[arg-type]
                         lora=OptimConfig(compute_dtype=compute_dtype))
