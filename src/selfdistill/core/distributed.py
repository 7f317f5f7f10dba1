"""The few collectives a multi-process step needs (identity when single-process).

The step never wraps the model in DDP (chunked scoring calls the decoder directly, which
would bypass DDP's hooks); instead the loss denominator and the gradients are summed here
explicitly, so every rank may hold a different number of samples and micro-batches.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def world_size() -> int:
    """Processes in the default group (1 when torch.distributed is not initialised)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return 1


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise SUM of a few numbers over all processes (identity when single-process)."""
    if world_size() == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return t.tolist()


def all_reduce_gradients(params: Sequence[nn.Parameter]) -> None:
    """SUM every parameter's gradient over all processes, one flat buffer per dtype."""
    if world_size() == 1:
        return
    by_dtype: dict[torch.dtype, list[nn.Parameter]] = {}
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)  # every rank must contribute the same layout
        by_dtype.setdefault(p.grad.dtype, []).append(p)
    for ps in by_dtype.values():
        flat = torch.cat([p.grad.reshape(-1) for p in ps])
        torch.distributed.all_reduce(flat)
        off = 0
        for p in ps:
            n = p.grad.numel()
            p.grad.copy_(flat[off : off + n].view_as(p.grad))
            off += n

