"""A colocated vLLM engine kept in step with the model being trained.

Loops that sample from the model they train (sdpo train, discover, discover-bench) hold
one EngineSync around their generator:

    sync.ready(key, source)   before sampling: wake the engine if it sleeps, and push the
                              weights named `key` unless the engine holds them already
    sync.release()            before an update: let the engine sleep (CUDA with
                              rollout.vllm_sleep; a no-op on CPU and for the HF backend)
    sync.invalidate()         after an update: the engine's weights are stale

`source` is a WeightSource: a callable returning (HF name, full tensor) pairs as a
stream, consumed one tensor at a time by VLLMGenerator.refresh_weights. model_weights(model)
merges a LoRA adapter one layer at a time; for a sharded (FSDP2) model the same stream
all-gathers each tensor (and its adapter's A and B) from the fp32 shards when the engine
takes it (core/merged_lora.iter_merged_state), so the full model never exists twice; every
rank then refreshes its own engine (the gathers are collectives). The HF backend samples from the live
model and needs none of this: every method is a no-op there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from torch import Tensor

WeightSource = Callable[[], Iterable[tuple[str, Tensor]]]


def model_weights(model: Any, adapter: bool = True) -> WeightSource:
    """The default source: the model's HF-named weights, LoRA merged in (adapter=False: the base)."""
    from selfdistill.core.lora import iter_merged_weights

    return lambda: iter_merged_weights(model, merge=adapter)


class EngineSync:
    """Which weights a generator's engine holds, its refresh on demand and its sleep."""

    def __init__(self, gen: Any, sleep: bool = False):
        self.gen = gen
        self.engine = hasattr(gen, "refresh_weights")  # vLLM; the HF backend samples live
        self.sleep = sleep and bool(getattr(gen, "can_sleep", False))
        self.held: object = None
        self.refreshes = 0

    def ready(self, key: object, source: WeightSource) -> None:
        """Before sampling: the engine awake and holding the weights named key."""
        if not self.engine:
            return
        if getattr(self.gen, "asleep", False):
            self.gen.wake_up(tags=["weights"])
        if key != self.held:
            self.gen.refresh_weights(source())
            self.held = key
            self.refreshes += 1
        if getattr(self.gen, "asleep", False):
            self.gen.wake_up(tags=["kv_cache"])

    def invalidate(self) -> None:
        """After an update: whatever the engine holds is out of date."""
        self.held = None

    def release(self) -> None:
        """Before an update: free the engine's GPU memory (level 2: weights are re-pushed)."""
        if self.engine and self.sleep:
            self.gen.sleep(level=2)
            self.held = None
