"""bf16 linear layers with their weights reordered for oneDNN once per generate call.

Why: a bf16 `F.linear` on CPU runs oneDNN's matmul, which reorders (packs) the whole
weight into its blocked layout on every call; at decode time (a few rows per call) that
repacking is a large share of the matmul: measured 1.2-6x slower than the same kernel on
a pre-packed weight (batch 1-64, SmolLM2-135M shapes, AVX512-BF16). Inside
`packed_linears` each plain bf16 `nn.Linear` calls oneDNN with a weight packed once on
entry. The kernel is the same one, so outputs are bit-identical: every layer is checked
on entry (a random batch through both paths) and left alone if it differs, so this never
changes what is sampled. The packed copies are freed on exit (they cost one more copy of
the bf16 weights while generating).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

# Rows the weight layout is tuned for (oneDNN takes it as a hint; any row count works).
PACK_ROWS = 64


def packing_available() -> bool:
    """True where torch has oneDNN's bf16 linear with pre-packed weights (x86 CPUs)."""
    mkldnn = getattr(torch.ops, "mkldnn", None)
    try:
        return (torch.backends.mkldnn.is_available()
                and torch.ops.mkldnn._is_mkldnn_bf16_supported()
                and hasattr(mkldnn, "_reorder_linear_weight")
                and hasattr(mkldnn, "_linear_pointwise"))
    except (AttributeError, RuntimeError):
        return False


def _packed_forward(packed: Tensor, bias: Tensor | None, out_features: int) -> Any:
    def forward(x: Tensor) -> Tensor:
        flat = x.reshape(-1, x.shape[-1]).contiguous()
        y = torch.ops.mkldnn._linear_pointwise(flat, packed, bias, "none", [], "")
        return y.view(*x.shape[:-1], out_features)
    return forward


def _candidates(model: nn.Module) -> list[nn.Linear]:
    # A layer whose forward is already replaced (e.g. by an outer packed_linears) is skipped.
    return [m for m in model.modules()
            if type(m) is nn.Linear and "forward" not in vars(m)
            and m.weight.dtype == torch.bfloat16
            and m.weight.device.type == "cpu" and m.weight.dim() == 2
            and (m.bias is None or m.bias.dtype == torch.bfloat16)]


@contextlib.contextmanager
def packed_linears(model: nn.Module, enabled: bool = True) -> Iterator[int]:
    """Inside, model's plain bf16 CPU nn.Linear layers run on pre-packed oneDNN weights
    (bit-identical outputs, checked per layer); yields how many layers were packed.

    For inference only (no autograd through the packed op). Weights must not change
    inside (they are packed once, on entry).
    """
    layers = _candidates(model) if enabled and packing_available() else []
    patched: list[tuple[nn.Linear, Any]] = []
    try:
        with torch.inference_mode():
            probe_cache: dict[int, Tensor] = {}
            for m in layers:
                w = m.weight.detach()
                packed = torch.ops.mkldnn._reorder_linear_weight(w, PACK_ROWS)
                bias = None if m.bias is None else m.bias.detach()
                fwd = _packed_forward(packed, bias, m.out_features)
                k = m.in_features
                if k not in probe_cache:
                    g = torch.Generator().manual_seed(k)
                    probe_cache[k] = torch.randn(3, k, generator=g).to(torch.bfloat16)
                x = probe_cache[k]
                if not torch.equal(fwd(x), nn.functional.linear(x, w, bias)):
                    continue  # a different kernel here: keep the layer's own path
                m.forward = fwd  # type: ignore[method-assign]
                patched.append((m, fwd))
        yield len(patched)
    finally:
        for m, fwd in patched:
            if vars(m).get("forward") is fwd:
                del m.forward  # back to the class's forward
