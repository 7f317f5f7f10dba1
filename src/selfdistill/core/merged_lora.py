"""Run a peft LoRA model with its adapter folded into the base weights, restored bit-exactly.

Why: with the adapter live, every targeted linear runs two extra small matmuls plus a
scale and an add over its whole output; for inference-only passes (sampling, teacher
scoring) that is ~20-30% of a forward on CPU. peft's merge_adapter()/unmerge_adapter()
removes it but adds and subtracts the delta in place, so the base weights drift by
rounding on every cycle (thousands of cycles in a discovery run). Here the merged weight
is a new tensor swapped in by storage pointer and the original is swapped back on exit:
the base weights are bit-identical afterwards, and whatever LoRA values are live on entry
(the student's, or the EMA teacher's inside Teacher.weights()) are the ones merged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch


def _lora_layers(model: Any) -> list[Any]:
    """peft LoRA layers of model (empty without peft or without an adapter)."""
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:  # peft is a dependency, but keep plain models working without it
        return []
    return [m for m in model.modules() if isinstance(m, LoraLayer)]


def _merged_weight(layer: Any, weight: torch.Tensor, names: list[str]) -> torch.Tensor:
    """weight + the adapters' deltas, as a new tensor."""
    plain = (not getattr(layer, "fan_in_fan_out", False)
             and not any(getattr(layer, "use_dora", {}).get(a, False) for a in names)
             and all(layer.lora_A[a].weight.dtype == weight.dtype == torch.float32
                     and hasattr(layer.lora_A[a], "weight") and layer.lora_A[a].weight.dim() == 2
                     for a in names))
    if not plain:  # conv, DoRA, fan-in-fan-out, low precision: peft's own delta
        merged = weight.clone()
        for a in names:
            merged += layer.get_delta_weight(a).to(merged.dtype)
        return merged
    # One fused pass over the weight per adapter: W + s * B @ A.
    merged = torch.addmm(weight, _full(layer.lora_B[names[0]].weight),
                         _full(layer.lora_A[names[0]].weight), alpha=layer.scaling[names[0]])
    for a in names[1:]:
        merged.addmm_(_full(layer.lora_B[a].weight), _full(layer.lora_A[a].weight),
                      alpha=layer.scaling[a])
    return merged


def _full(t: torch.Tensor) -> torch.Tensor:
    """An FSDP shard's full value (an all-gather: every rank calls it), a tensor as is."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


@contextlib.contextmanager
def merged_lora(model: Any) -> Iterator[int]:
    """Inside, model's active LoRA adapters are merged (no LoRA matmuls); yields layers merged.

    No gradients flow to the adapter inside (the merge is computed without autograd), so
    use it for sampling and teacher scoring, never for the student's training forward.
    Models without LoRA layers, disabled adapters or already-merged layers pass through,
    and so do layers whose weights are FSDP shards (training/fsdp.layerwise gathers them
    per pass; the adapter runs live there, exact up to rounding).
    """
    swapped: list[tuple[Any, Any, torch.Tensor, list[str]]] = []
    try:
        with torch.no_grad():
            for layer in _lora_layers(model):
                if getattr(layer, "disable_adapters", False) or layer.merged:
                    continue
                names = [a for a in layer.active_adapters if a in layer.lora_A]
                if not names:
                    continue
                base = layer.get_base_layer()
                if hasattr(base.weight, "full_tensor"):
                    continue  # an FSDP shard (per-layer gathering): the adapter stays live
                original = base.weight.data
                base.weight.data = _merged_weight(layer, original, names)
                layer.merged_adapters.extend(names)
                swapped.append((layer, base, original, names))
        yield len(swapped)
    finally:
        for layer, base, original, names in swapped:
            base.weight.data = original
            for a in names:
                layer.merged_adapters.remove(a)


def iter_merged_state(model: Any, merge: bool = True) -> Iterator[tuple[str, torch.Tensor]]:
    """(HF name, tensor) of a peft model with its active adapters merged, one layer at a time.

    Each targeted linear's merged weight is a new tensor made when its turn comes and
    dropped after the consumer takes it (never a merged copy of the whole model); adapter
    tensors are left out; the model is not modified. Plain models yield their state_dict.
    merge=False: the base weights without the adapter.
    """
    lora = {id(m) for m in _lora_layers(model)} if merge else set()
    merged_of: dict[str, Any] = {}
    for name, m in model.named_modules():
        if id(m) not in lora or getattr(m, "disable_adapters", False) or m.merged:
            continue
        names = [a for a in m.active_adapters if a in m.lora_A]
        if names:
            merged_of[name + ".base_layer.weight"] = (m, names)
    with torch.no_grad():
        for n, t in model.state_dict().items():
            if "lora_" in n:
                continue
            hf = n.removeprefix("base_model.model.").replace(".base_layer.", ".")
            hit = merged_of.get(n)
            if hit is None:
                yield hf, _full(t.detach())
            else:
                yield hf, _merged_weight(hit[0], _full(t.detach()), hit[1])
