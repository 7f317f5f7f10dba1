"""Fused projections for HF decode steps: q/k/v as one matmul, gate/up as one matmul.

Why: at decode time the linear layers see a few dozen rows, so each of a layer's seven
projections is a small matmul with its own call overhead; vLLM runs fused qkv and
gate_up weights. Here, for the duration of one generate call, each attention's q_proj
computes q, k and v with one matmul over the concatenated weight and hands k and v to
k_proj and v_proj when they are called on the same input tensor (the order transformers'
Llama-family attention uses); gate_proj does the same for up_proj. Any other call falls
back to the module's own weight, so results are the same maths.

Only plain nn.Linear projections are fused (a peft adapter is merged into plain weights
before decoding, see core/merged_lora.py); the concatenated weights cost extra memory
(about half the model) while the context is open.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


def _plain(*mods: Any) -> bool:
    return all(type(m) is nn.Linear for m in mods) and len({m.in_features for m in mods}) == 1


def _fuse(first: nn.Linear, rest: list[nn.Linear]) -> list[tuple[nn.Module, Any]]:
    """Patch first.forward to compute all outputs at once; rest read theirs from it."""
    mods = [first, *rest]
    weight = torch.cat([m.weight for m in mods]).contiguous()
    bias = None if first.bias is None else torch.cat([m.bias for m in mods])
    sizes = [m.out_features for m in mods]
    handoff: dict[str, Any] = {}

    def first_forward(x: torch.Tensor) -> torch.Tensor:
        parts = F.linear(x, weight, bias).split(sizes, dim=-1)
        handoff["x"], handoff["parts"] = x, parts
        return parts[0]

    def make_rest(i: int, m: nn.Linear) -> Any:
        def forward(x: torch.Tensor) -> torch.Tensor:
            if handoff.get("x") is x:
                return handoff["parts"][i]
            return F.linear(x, m.weight, m.bias)
        return forward

    patched = [(first, first_forward)] + [(m, make_rest(i + 1, m)) for i, m in enumerate(rest)]
    for m, fwd in patched:
        m.forward = fwd
    return patched


@contextlib.contextmanager
def fused_projections(model: Any) -> Iterator[int]:
    """Fuse every decoder layer's q/k/v and gate/up projections; yields how many layers."""
    patched: list[tuple[nn.Module, Any]] = []
    layers = 0
    try:
        for mod in model.modules():
            attn, mlp = getattr(mod, "self_attn", None), getattr(mod, "mlp", None)
            qkv = [getattr(attn, n, None) for n in ("q_proj", "k_proj", "v_proj")]
            gu = [getattr(mlp, n, None) for n in ("gate_proj", "up_proj")]
            if attn is not None and _plain(*qkv):
                patched += _fuse(qkv[0], qkv[1:])
                layers += 1
            if mlp is not None and _plain(*gu):
                patched += _fuse(gu[0], gu[1:])
        yield layers
    finally:
        for m, _ in patched:
            del m.forward  # the instance attribute; the class's forward is back
