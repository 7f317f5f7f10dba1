"""The one training engine of the online recipes: torch FSDP2 (`fully_shard`), 1..N processes.

Layout: `fully_shard` on every decoder layer and at the root (embeddings, final norm, LM
head), over the default process group (gloo on CPU, NCCL on GPUs). At rest every rank
holds 1/N of the fp32 master weights, of their gradients, of the AdamW state (the
optimiser is built over the sharded parameters) and of the teacher's fp32 copy.
MixedPrecisionPolicy(param_dtype=compute dtype, reduce_dtype=fp32): the all-gather casts
the fp32 shards to bf16 compute copies, gradients are accumulated and reduce-scattered in
fp32. A single process gets the same path over a 1-rank group: that is how bf16 compute
with fp32 master weights runs on one CPU (`optim.compute_dtype: bfloat16`).

An update gathers one decoder layer at a time (`layerwise()`): FSDP2's own hooks
all-gather a layer's compute copy in its pre-forward and free it after (reshard_after_forward),
gather it again in its pre-backward and reduce-scatter its fp32 gradient after
(reshard_after_backward), one layer (+ the one FSDP prefetches in backward) at a time. The
root unit (embeddings, final norm, LM head) stays gathered through the update: the scorer
calls the decoder and the head directly. Gradients are reduce-scattered after every
micro-batch's backward into the sharded fp32 .grad, so no full-size gradient exists either.
The price is that every rank must run the same sequence of layer passes: with several
processes the scorer then packs rows (no shared-prefix KV cache, whose backward order
depends on the data) and the ranks pad to the same number of micro-batches and teacher
passes with zero-loss passes (distill/objective.py, `lockstep`). The teacher's weights are
swapped in shard by shard (distill/teacher_weights.py), so its passes are gathered the same way.

`gathered()` keeps the whole-model gather for what the ranks do not run in step: HF
sampling and evaluation, credit diagnostics, the assistant's update. A colocated vLLM
engine is refreshed without it: the weight stream all-gathers one tensor at a time
(core/merged_lora.iter_merged_state; `iter_full_parameters` here, per unit).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

COMPUTE_DTYPES = ("float32", "bfloat16")


def ensure_process_group() -> None:
    """A default process group: the launcher's (torchrun env) or a 1-rank in-memory gloo one."""
    import os

    import torch.distributed as dist

    if dist.is_initialized():
        return
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        return
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)


def is_sharded(model: nn.Module) -> bool:
    """True when model was prepared by shard_model (an FSDP2 root)."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def _units(model: nn.Module) -> list[nn.Module]:
    """Every FSDP unit of model in module order (the same order on every rank)."""
    from torch.distributed.fsdp import FSDPModule

    return [m for m in model.modules() if isinstance(m, FSDPModule)]


def decoder_layers(model: nn.Module) -> list[nn.Module]:
    """The decoder blocks of a (peft-wrapped) causal LM."""
    from selfdistill.core.lora import base_model

    dec = base_model(model).get_decoder()
    layers = getattr(dec, "layers", None) or getattr(dec, "h", None)
    if layers is None:
        raise ValueError(f"cannot find the decoder layers of {type(dec).__name__}")
    return list(layers)


def wants_sharding(compute_dtype: str) -> bool:
    """Does this run train through FSDP? Whenever there are several processes (torchrun
    env) or the compute dtype differs from the fp32 master weights."""
    import os

    return compute_dtype != "float32" or int(os.environ.get("WORLD_SIZE", "1")) > 1


def prepare_model(model: nn.Module, optim: Any) -> nn.Module:
    """The trainable model as the online recipes train it, from OptimConfig-like settings:
    sharded (shard_model) when wants_sharding, else as it is (plain single-process fp32)."""
    from selfdistill.errors import UserError

    dtype = getattr(optim, "compute_dtype", "float32")
    if dtype not in COMPUTE_DTYPES:
        raise UserError(f"optim.compute_dtype must be one of {', '.join(COMPUTE_DTYPES)}.")
    if not wants_sharding(dtype):
        return model
    if any(p.dtype != torch.float32 for p in model.parameters()):
        raise UserError("Sharded / mixed-precision training keeps fp32 master weights: set "
                        "model.dtype: float32 (optim.compute_dtype picks the compute dtype).")
    return shard_model(model, dtype)


def shard_model(model: nn.Module, compute_dtype: str = "float32") -> nn.Module:
    """model (fp32 weights) sharded with fully_shard per decoder layer and at the root.

    compute_dtype: float32 | bfloat16, the dtype of forward/backward; master weights,
    optimiser state and gradient reduction stay fp32. Build the optimiser afterwards.
    """
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    if compute_dtype not in COMPUTE_DTYPES:
        raise ValueError(f"compute_dtype must be one of {COMPUTE_DTYPES}, got {compute_dtype!r}")
    if any(p.dtype != torch.float32 for p in model.parameters()):
        raise ValueError("shard_model needs fp32 weights (they are the master copy); load the "
                         "model with dtype float32 and set compute_dtype instead")
    ensure_process_group()
    mp = MixedPrecisionPolicy(param_dtype=getattr(torch, compute_dtype),
                              reduce_dtype=torch.float32)
    layers = decoder_layers(model)
    for layer in layers:  # layers: gathered per call (layerwise); the root: by hand
        fully_shard(layer, mp_policy=mp, reshard_after_forward=True)
    fully_shard(model, mp_policy=mp, reshard_after_forward=False)
    model.set_reduce_scatter_unused_params(True)  # a rank with no work still joins
    for unit in _units(model):  # SUM over ranks: the loss denominators are already global
        unit.set_gradient_divide_factor(1.0)
        unit.set_force_sum_reduction_for_comms(True)  # gloo has no PREMUL_SUM
    model._selfdistill_compute_dtype = compute_dtype  # type: ignore[attr-defined]
    # One root forward initialises FSDP's shared state (the scorer calls the decoder and
    # head directly, which never runs the root's pre-forward hook).
    with torch.no_grad():
        _one_token_forward(model)
    reshard_all(model)
    return model


def _one_token_forward(model: nn.Module) -> Tensor:
    """The root's forward on one token (logits [1, 1, V])."""
    device = next(model.parameters()).device
    return model(input_ids=torch.zeros((1, 1), dtype=torch.long, device=device),
                 use_cache=False).logits


def compute_dtype_of(model: nn.Module) -> torch.dtype:
    """The dtype the model computes in (its compute copies; the parameter dtype if unsharded)."""
    name = getattr(model, "_selfdistill_compute_dtype", None)
    return getattr(torch, name) if name else next(model.parameters()).dtype


def _set_mode(model: nn.Module, mode: str) -> None:
    """FSDP2's knobs for "rest" / "gathered" (whole model, local gradient accumulation) /
    "layerwise" (per-layer gather and reduce-scatter; the root stays gathered)."""
    per_layer = mode != "gathered"
    model.set_requires_gradient_sync(per_layer)
    model.set_reshard_after_forward(per_layer)
    model.set_reshard_after_forward(False, recurse=False)  # the root is gathered by hand
    model.set_reshard_after_backward(per_layer)
    if mode == "layerwise":
        model.set_reshard_after_backward(False, recurse=False)


def unshard_all(model: nn.Module) -> None:
    """All-gather every unit's compute copy (a collective: every rank calls it)."""
    for m in _units(model):
        m.unshard()


def reshard_all(model: nn.Module) -> None:
    """Free the compute copies; only the shards stay."""
    for m in _units(model):
        m.reshard()


def gather_mode(model: nn.Module) -> str | None:
    """"gathered" / "layerwise" inside those contexts, else None."""
    return getattr(model, "_selfdistill_gather_mode", None)


def lockstep(model: nn.Module) -> bool:
    """Must every rank run the same layer passes? (layerwise with several processes)."""
    from selfdistill.core.distributed import world_size

    return gather_mode(model) == "layerwise" and world_size() > 1


@contextlib.contextmanager
def gathered(model: nn.Module) -> Iterator[nn.Module]:
    """Inside, the model holds full compute copies and accumulates gradients locally in fp32.

    For work the ranks do not run in step (sampling, evaluation). Every rank must enter
    (collectives). Call sync_gradients() inside, after the last backward, to
    reduce-scatter; leaving reshards. A no-op for a model that is not sharded, or nested.
    """
    with _in_gather_mode(model, "gathered", unshard_all) as m:
        yield m


@contextlib.contextmanager
def layerwise(model: nn.Module) -> Iterator[nn.Module]:
    """An update with FSDP2's per-layer gathering (see the module docstring).

    Inside, the root unit is gathered and every decoder layer is gathered only while it
    runs; each backward reduce-scatters its fp32 gradients into the sharded .grad. Every
    rank must enter and run the same layer passes (objective.accumulate_samples pads).
    A no-op for a model that is not sharded, or nested in either context.
    """
    # model.unshard(): the root unit only (embeddings, final norm, LM head)
    with _in_gather_mode(model, "layerwise", lambda m: m.unshard()) as m:
        yield m


@contextlib.contextmanager
def _in_gather_mode(model: nn.Module, mode: str, unshard: Any) -> Iterator[nn.Module]:
    """Enter a gather mode (unshard as it needs), leave it resharded; no-op if unsharded or nested."""
    if not is_sharded(model) or gather_mode(model):
        yield model
        return
    _set_mode(model, mode)
    unshard(model)
    model._selfdistill_gather_mode = mode  # type: ignore[attr-defined]
    try:
        yield model
    finally:
        model._selfdistill_gather_mode = None  # type: ignore[attr-defined]
        _set_mode(model, "rest")
        reshard_all(model)


def sync_gradients(model: nn.Module) -> None:
    """Reduce-scatter the gradients accumulated inside gathered() (every rank calls it once).

    A one-token forward/backward with a zero loss runs every unit's post-backward with
    sync on: the accumulated fp32 gradients (+ exact zeros) are reduce-scattered (sum over
    ranks: the loss denominators are already global) into the sharded .grad.
    """
    if not is_sharded(model) or gather_mode(model) == "layerwise":  # reduced per backward
        return
    model.set_requires_gradient_sync(True)
    model.set_reshard_after_backward(True)
    with torch.enable_grad():
        (_one_token_forward(model).float().sum() * 0.0).backward()


def clip_and_norm(params: list[nn.Parameter], max_norm: float | None) -> float:
    """Pre-clip global gradient norm (over every rank's shard); clips to max_norm when finite."""
    grads = [p for p in params if p.grad is not None]
    if not grads:
        return 0.0
    norm = torch.nn.utils.clip_grad_norm_(
        grads, max_norm if max_norm is not None else math.inf)
    if hasattr(norm, "full_tensor"):
        norm = norm.full_tensor()
    return float(norm)


def full_tensor(t: Tensor) -> Tensor:
    """A DTensor's full value (collective), a plain tensor as is."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def iter_full_parameters(model: nn.Module, dtype: torch.dtype | None = None,
                         ) -> Iterator[tuple[str, Tensor]]:
    """(name, full tensor) of every parameter, one FSDP unit at a time (every rank calls it).

    For a colocated engine's weight refresh: each unit is all-gathered, yielded parameter
    by parameter, and freed before the next, so at most one decoder layer is held in full
    beyond the shards (never the whole model twice). dtype: cast on the way (e.g. bf16).
    Names are the model's own (peft prefixes included); a model that is not sharded
    yields its parameters as they are.
    """
    if not is_sharded(model):
        for n, p in model.named_parameters():
            yield n, (p.detach() if dtype is None else p.detach().to(dtype))
        return
    units = _units(model)
    inner: dict[int, int] = {}
    for i, u in enumerate(units):
        for p in u.parameters():
            inner[id(p)] = i  # later (deeper) units overwrite the root's claim
    names = dict(model.named_parameters())
    by_unit: dict[int, list[str]] = {}
    for n, p in names.items():
        by_unit.setdefault(inner[id(p)], []).append(n)
    for i in sorted(by_unit, key=lambda j: (j == 0, j)):  # layers first, then the root
        for n in by_unit[i]:
            t = full_tensor(names[n].detach())
            yield n, (t if dtype is None else t.to(dtype))
            del t


def full_state_dict(model: nn.Module, rank0_only: bool = True) -> dict[str, Tensor]:
    """The model's full state dict on CPU (rank 0 only when rank0_only; every rank calls it)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    if not is_sharded(model):
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}
    opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
    sd = get_model_state_dict(model, options=opts)
    import torch.distributed as dist

    if rank0_only and dist.get_rank() != 0:
        return {}
    return sd


def load_full_state_dict(model: nn.Module, sd: dict[str, Any]) -> None:
    """Load a full state dict into a sharded model (every rank passes the full dict)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    set_model_state_dict(model, sd, options=StateDictOptions(full_state_dict=True))
