"""The few collectives a multi-process step needs beside FSDP's (identity when single-process).

Gradients are reduce-scattered by FSDP2 (training/fsdp.py); what is left here are the
sums of a few numbers -- the loss denominators (so every rank may hold a different number
of samples and micro-batches) and the step's statistics.
"""

from __future__ import annotations

import torch


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


def all_reduce_max(value: int, device: torch.device) -> int:
    """The largest of one integer over all processes (identity when single-process)."""
    if world_size() == 1:
        return value
    t = torch.tensor([value], dtype=torch.int64, device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return int(t.item())
