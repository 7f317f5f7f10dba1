"""How one rollout batch becomes optimiser steps: mini-batches x epochs, and the old policy.

As in the reference (lasgroup/SDPO, a verl fork): the batch's rollouts are split into
mini-batches of `ppo_mini_batch_size` prompts (x G sequences, split across processes);
each mini-batch is one optimiser step, `ppo_epochs` passes over the batch. Every update's
ratio is taken against p_old, the policy before the batch's first update: the first
mini-batch scores it itself (ratio 1, so its update equals the on-policy step); the others
get it from one gradient-free scoring pass before the first update. The teacher (EMA) and
the LR schedule advance once per batch, after all its updates (distill/step.py).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch
from torch import nn

from selfdistill.core.distributed import all_reduce_max, all_reduce_sum, world_size
from selfdistill.distill.objective import (
    LossSample,
    SDPOLossConfig,
    contributes,
    micro_batches,
)
from selfdistill.distill.prefix_scoring import score_rows
from selfdistill.training.fsdp import lockstep


def split_mini_batches(samples: Sequence[LossSample], cfg: SDPOLossConfig, group_size: int,
                       device: torch.device) -> list[list[LossSample]]:
    """This process's samples in the batch's mini-batches (same count on every process).

    A mini-batch holds ppo_mini_batch_size * group_size sequences over all processes, taken
    in order (one prompt's G rollouts at a time on one process); the last one takes any
    remainder and a process with fewer samples gets empty ones (it still joins the step).
    """
    if cfg.ppo_mini_batch_size <= 0:
        return [list(samples)]
    world = world_size()
    chunk = max(1, math.ceil(cfg.ppo_mini_batch_size * max(group_size, 1) / world))
    (total,) = all_reduce_sum([float(len(samples))], device)
    n = max(1, math.ceil(math.ceil(total / world) / chunk))
    out = [list(samples[j * chunk:(j + 1) * chunk]) for j in range(n - 1)]
    out.append(list(samples[(n - 1) * chunk:]))
    return out


@torch.no_grad()
def record_old_logprobs(model: nn.Module, samples: Sequence[LossSample], cfg: SDPOLossConfig,
                        pad_id: int) -> None:
    """Set each sample's old_logp: log p of its tokens under the current (pre-update) weights."""
    work = [s for s in samples if contributes(s, cfg)]
    together = lockstep(model)
    if together:  # the ranks run the same layer passes (training/fsdp.py): packed rows
        cfg = dataclasses.replace(cfg, share_prefix=False)
    mbs = micro_batches(work, cfg)
    device = next(model.parameters()).device
    for j in range(all_reduce_max(len(mbs), device) if together else len(mbs)):
        if j >= len(mbs):  # fewer here than on another rank: a one-token pass
            score_rows(model, [[pad_id]], [[pad_id]], cfg, pad_id)
            continue
        mb = mbs[j]
        st = score_rows(model, [s.prompt_ids for s in mb], [s.completion_ids for s in mb],
                        cfg, pad_id)
        for i, s in enumerate(mb):
            s.old_logp = st.logp_taken[i, :len(s.completion_ids)].detach().clone()
