"""`selfdistill plan RECIPE`: a recipe's settings -> PlanInputs -> the plan, its table and verdict."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from selfdistill.errors import UserError
from selfdistill.planning.memory import GiB, MemoryPlan, PlanInputs, plan_with_advice
from selfdistill.planning.shape import model_shape

# ------------------------------------------------------------------------ from a recipe


def inputs_from_recipe(name: str, cfg: Any, *, gpus: int, budget_bytes: int, device: str,
                       prompt_tokens: int, strategy: str, fsdp_gather: str = "layer"
                       ) -> PlanInputs:
    """PlanInputs of an sdpo, discover or ssd config."""
    # training/fsdp.py: model.dtype is the master dtype, optim.compute_dtype the compute one
    compute = getattr(cfg.train if name == "ssd" else cfg.optim, "compute_dtype", None)
    dtype = compute if strategy == "fsdp" and compute else cfg.model.dtype
    common: dict[str, Any] = {"recipe": name, "dtype": dtype, "ranks": gpus,
                              "device": device, "budget_bytes": budget_bytes,
                              "strategy": strategy, "master_dtype": cfg.model.dtype,
                              "fsdp_gather": fsdp_gather}
    if name in ("sdpo", "discover"):
        loss, opt, teacher = cfg.loss, cfg.optim, cfg.teacher
        needs = loss.needs_teacher if name == "sdpo" else True
        if name == "sdpo":
            r = cfg.rollout
            gen = {"completion_tokens": r.max_new_tokens, "backend": r.backend,
                   "gen_batch": r.batch_size,
                   "vllm_gpu_memory_utilization": r.vllm_gpu_memory_utilization,
                   "vllm_sleep": bool(getattr(r, "vllm_sleep", False))}
            micro = min(loss.micro_batch_size, r.n)
        else:
            sm = cfg.sampling
            gen = {"completion_tokens": sm.max_new_tokens,
                   "backend": getattr(sm, "backend", "hf"), "gen_batch": sm.gen_batch_size,
                   "vllm_gpu_memory_utilization": getattr(sm, "vllm_gpu_memory_utilization",
                                                          0.3),
                   "vllm_sleep": bool(getattr(sm, "vllm_sleep", False))}
            micro = min(loss.micro_batch_size, sm.batch)
        tp = teacher.max_prompt_tokens or prompt_tokens
        return PlanInputs(**common, **gen, method=opt.method, micro_batch=micro,
                          prompt_tokens=prompt_tokens,
                          teacher_prompt_tokens=max(tp, prompt_tokens) if needs else 0,
                          teacher=teacher.kind if needs else "none",
                          share_prefix=loss.share_prefix,
                          checkpointing=opt.gradient_checkpointing,
                          logits_chunk=loss.chunk_size,
                          teacher_logits_chunk=min(loss.chunk_size, loss.teacher_chunk_size))
    if name == "ssd":
        tc = cfg.train
        return PlanInputs(**common, method=tc.method,
                          micro_batch=tc.micro_batch_size or tc.batch_size,
                          prompt_tokens=0, completion_tokens=tc.max_seq_len,
                          teacher="none", share_prefix=False,
                          checkpointing=tc.gradient_checkpointing,
                          logits_chunk=tc.loss_chunk if tc.chunked_loss else tc.max_seq_len,
                          backend=cfg.sample.backend, gen_batch=cfg.sample.batch_size)
    raise UserError(f"plan knows sdpo, discover and ssd recipes, not '{name}'.")


def lora_settings(name: str, cfg: Any) -> tuple[int, list[str]]:
    """(r, targets) of the recipe's LoRA settings."""
    o = cfg.train if name == "ssd" else cfg.optim
    return o.lora_r, list(o.lora_targets)


def local_budget(device: str) -> int:
    """Memory of this machine's first GPU, or its available RAM."""
    if device == "cuda":
        import torch

        return int(torch.cuda.get_device_properties(0).total_memory)
    with open("/proc/meminfo") as fh:
        info = {ln.split(":")[0]: int(ln.split()[1]) * 1024 for ln in fh}
    return info.get("MemAvailable", info.get("MemTotal", 0))


def plan_recipe(recipe: str, *, gpus: int = 1, gpu_mem: float | None = None,
                overrides: list[str] | None = None, model_config: str | None = None,
                prompt_tokens: int = 512, strategy: str | None = None,
                fsdp_gather: str = "layer") -> MemoryPlan:
    """`selfdistill plan`: the recipe's per-rank memory, verdict and advice."""
    from selfdistill.core.config import load_config

    if gpus < 1:
        raise UserError("--gpus must be >= 1.")
    if gpu_mem is not None and gpu_mem <= 0:
        raise UserError("--gpu-mem must be > 0 (GiB per GPU).")
    if prompt_tokens < 0:
        raise UserError("--prompt-tokens must be >= 0.")
    name, cfg = load_config(recipe, overrides or [])
    device = "cuda" if gpu_mem is not None or _cuda() else "cpu"
    budget = int(gpu_mem * GiB) if gpu_mem is not None else local_budget(device)
    if device == "cpu" and gpu_mem is None:
        budget //= gpus  # the ranks share this machine's RAM
    # What runs (training/fsdp.wants_sharding): FSDP with several ranks or a compute dtype
    # other than the fp32 masters' (one process over a 1-rank group), else the plain model.
    compute = getattr(cfg.train if name == "ssd" else cfg.optim, "compute_dtype", None)
    strategy = strategy or ("fsdp" if gpus > 1 or compute not in (None, "float32")
                            else "replica")
    if strategy not in ("fsdp", "replica"):
        raise UserError("--strategy must be fsdp or replica.")
    if fsdp_gather not in ("update", "layer"):
        raise UserError("--fsdp-gather must be update or layer.")
    r, targets = lora_settings(name, cfg)
    shape = model_shape(cfg.model.spec, config=model_config, lora_r=r, lora_targets=targets)
    inputs = inputs_from_recipe(name, cfg, gpus=gpus, budget_bytes=budget, device=device,
                                prompt_tokens=prompt_tokens, strategy=strategy,
                                fsdp_gather=fsdp_gather)
    return plan_with_advice(shape, inputs)


def _cuda() -> bool:
    if os.environ.get("CUDA_VISIBLE_DEVICES") == "":
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def format_plan(p: MemoryPlan) -> list[tuple[str, str, str, str]]:
    """(component, phase, GiB, note) rows for a table, then the peak line."""
    out = [(r.name, r.phase, f"{r.bytes / GiB:.2f}", r.note) for r in p.rows]
    out.append(("peak per rank", p.peak_phase, f"{p.peak_bytes / GiB:.2f}",
                f"budget {p.inputs.budget_bytes / GiB:.1f} GiB"))
    return out


def verdict_line(p: MemoryPlan) -> str:
    """One sentence: fits / does not fit, and the cheapest change that fits."""
    i = p.inputs
    where = (f"{i.ranks} x {i.budget_bytes / GiB:.0f} GiB {'GPU' if i.device == 'cuda' else 'CPU'}"
             f" ({i.strategy})")
    if p.fits:
        return (f"FITS: peak {p.peak_bytes / GiB:.1f} GiB per rank on {where}, "
                f"{(i.budget_bytes - p.peak_bytes) / GiB:.1f} GiB to spare.")
    head = f"DOES NOT FIT: peak {p.peak_bytes / GiB:.1f} GiB per rank on {where}."
    if p.suggestion:
        return (head + f" Cheapest change that fits: {p.suggestion} -> "
                f"{(p.suggestion_peak or 0) / GiB:.1f} GiB.")
    return head + " No single change tried (checkpointing, micro-batch, ranks, LoRA) fits."


def to_json(p: MemoryPlan) -> dict[str, Any]:
    """The plan as a JSON-serialisable dict (for scripts: gpu_check.sh, calibration)."""
    return {"inputs": dataclasses.asdict(p.inputs), "shape": dataclasses.asdict(p.shape),
            "rows": [dataclasses.asdict(r) for r in p.rows], "peak_bytes": p.peak_bytes,
            "peak_phase": p.peak_phase, "fits": p.fits, "suggestion": p.suggestion,
            "suggestion_peak": p.suggestion_peak, "alternatives": p.alternatives,
            "peak_gib": round(p.peak_bytes / GiB, 3)}
