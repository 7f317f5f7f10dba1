"""2-rank FSDP2 vs one process vs 2-rank replicas: per-rank memory and step time of SDPO full FT.

The workload: the embedded SmolLM2-135M, full fine-tuning, AdamW, EMA teacher, one SDPO step
(distill.step.sdpo_step) on a fixed batch of P prompts x G rollouts (bench_sdpo_step's
batch: fixed completions, rewards and feedback; no sampling), split across the ranks.

Configurations (each in fresh processes over gloo, one torch thread per rank):
- single:  one process, the plain fp32 model (no sharding) -- today's single-process path;
- replica: 2 ranks, each a full replica, gradients summed by one flat all-reduce per step --
           today's multi-process path before FSDP (re-implemented here as it was);
- fsdp:    2 ranks, training/fsdp.py (fully_shard per decoder layer + root), fp32 compute;
- fsdp-bf16 / single-bf16: the same with bf16 compute copies (fp32 masters).

Per rank we report the bytes this rank holds in parameters + gradients + AdamW state +
teacher after a step (counted from the tensors: the local shard under FSDP), the RSS after
set-up (glibc trimmed: loading's unsharded copy is not counted), the peak RSS during the
steps (VmHWM reset after set-up) and the median step time. Configurations run interleaved
in rounds. Under FSDP an update gathers one decoder layer at a time (fsdp.layerwise).

    python benchmarks/bench_fsdp.py [--prompts 4] [--g 2] [--tokens 96] [--steps 3] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from selfdistill.core.machine import proc_status_mib

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parent))

CONFIGS = {"single": (1, None), "replica": (2, None), "fsdp": (2, "float32"),
           "fsdp-bf16": (2, "bfloat16"), "single-bf16": (1, "bfloat16")}




def _local_bytes(t: Any) -> int:
    t = t.to_local() if hasattr(t, "to_local") else t
    return t.numel() * t.element_size()


def _state_bytes(model: Any, opt: Any, teacher: Any) -> dict[str, int]:
    params = sum(_local_bytes(p) for p in model.parameters())
    grads = sum(_local_bytes(p.grad) for p in model.parameters() if p.grad is not None)
    optim = sum(_local_bytes(v) for st in opt.state.values() for v in st.values()
                if hasattr(v, "numel") and v.dim() > 0)
    teach = sum(_local_bytes(t) for t in teacher._store.values())
    return {"params": params, "grads": grads, "optim": optim, "teacher": teach}


def _replica_all_reduce(model: Any) -> None:
    """The pre-FSDP multi-process path: one flat SUM all-reduce of every gradient."""
    import torch

    ps = [p for p in model.parameters() if p.requires_grad]
    for p in ps:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in ps])
    torch.distributed.all_reduce(flat)
    off = 0
    for p in ps:
        n = p.grad.numel()
        p.grad.copy_(flat[off:off + n].view_as(p.grad))
        off += n


def _worker(rank: int, world: int, port: int, name: str, a: argparse.Namespace,
            out: str) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    if world > 1 or CONFIGS[name][1]:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=world)
    from bench_sdpo_step import make_batch

    from selfdistill.core.models import load_model
    from selfdistill.distill.objective import SDPOLossConfig
    from selfdistill.distill.step import sdpo_step
    from selfdistill.distill.teacher_context import build_teacher_batch
    from selfdistill.distill.teacher_weights import Teacher
    from selfdistill.generation.chat import chat_token_ids
    from selfdistill.rollouts import Group, Rollout
    from selfdistill.training import fsdp

    model, tok = load_model("smollm2-135m-instruct")
    for p in model.parameters():
        p.requires_grad_(True)
    dtype = CONFIGS[name][1]
    if dtype is not None:
        fsdp.shard_model(model, dtype)
    teacher = Teacher(model, "ema", 0.05)
    opt = torch.optim.AdamW(list(model.parameters()), lr=1e-6, weight_decay=0.0)
    batch = make_batch(tok, a.prompts, a.g, a.tokens)[rank::world]
    groups = []
    for b in batch:
        pid = chat_token_ids(tok, b["chat"])
        groups.append(Group(b["chat"], [
            Rollout(prompt_ids=pid, completion_ids=c, text=tok.decode(c), reward=r,
                    passed=r >= 1.0, feedback=b["feedback"] or None)
            for c, r in zip(b["completions"], b["rewards"], strict=True)]))
    cfg = SDPOLossConfig(support_size=20, micro_batch_size=4)
    if name == "replica":
        # sdpo_step's own path with the old hand-written all-reduce before the clip.
        import selfdistill.distill.step as st

        orig = st.clip_and_norm

        def clip(params: Any, max_norm: Any) -> float:
            _replica_all_reduce(model)
            return orig(params, max_norm)

        st.clip_and_norm = clip
    import ctypes

    ctypes.CDLL("libc.so.6").malloc_trim(0)  # loading's freed pages (the unsharded model)
    rss0 = proc_status_mib("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:  # VmHWM := VmRSS: the steps' own peak
        fh.write("5")
    times = []
    for _ in range(a.steps):
        tb = build_teacher_batch(groups, tok)
        t0 = time.perf_counter()
        m = sdpo_step(model, teacher, opt, groups, tok, cfg, teacher_batch=tb)
        times.append(time.perf_counter() - t0)
    res = {"name": name, "rank": rank, "world": world, "step_s": statistics.median(times),
           "times": times, "rss_before_mib": rss0, "peak_rss_mib": proc_status_mib("VmHWM"),
           "loss": m.loss, **{f"{k}_bytes": v for k, v in
                              _state_bytes(model, opt, teacher).items()}}
    Path(out, f"{name}-{rank}.json").write_text(json.dumps(res))
    if dist.is_initialized():
        dist.destroy_process_group()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_config(name: str, a: argparse.Namespace) -> list[dict[str, Any]]:
    """Every rank's result of one configuration (fresh processes)."""
    import torch.multiprocessing as mp

    world = CONFIGS[name][0]
    with tempfile.TemporaryDirectory() as out:
        mp.spawn(_worker, args=(world, _port(), name, a, out), nprocs=world)
        return [json.loads(Path(out, f"{name}-{r}.json").read_text()) for r in range(world)]


def main() -> None:
    from selfdistill.core.machine import machine_line

    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--g", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=96)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--configs", default="single,replica,fsdp,fsdp-bf16,single-bf16")
    a = ap.parse_args()
    print(machine_line(), flush=True)
    names = a.configs.split(",")
    got: dict[str, list[list[dict[str, Any]]]] = {n: [] for n in names}
    for _ in range(a.rounds):
        for n in names:
            got[n].append(run_config(n, a))
            print(f"  {n}: {json.dumps(got[n][-1][0])}", flush=True)
    mib = 1024 * 1024
    print(f"\nSDPO full FT, SmolLM2-135M, {a.prompts} prompts x G={a.g} x {a.tokens} tokens, "
          f"{a.steps} steps per run, {a.rounds} round(s); per rank (rank 0):")
    print("| config | ranks | params | grads | AdamW | teacher | sum | RSS after set-up | "
          "peak RSS in steps | step s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = None
    for n in names:
        r0 = [rounds[0] for rounds in got[n]]
        last = r0[-1]
        tot = sum(last[f"{k}_bytes"] for k in ("params", "grads", "optim", "teacher"))
        base = base or tot
        step = statistics.median(x["step_s"] for x in r0)
        print(f"| {n} | {last['world']} | {last['params_bytes'] / mib:.0f} MiB | "
              f"{last['grads_bytes'] / mib:.0f} MiB | {last['optim_bytes'] / mib:.0f} MiB | "
              f"{last['teacher_bytes'] / mib:.0f} MiB | {tot / mib:.0f} MiB "
              f"({tot / base:.2f}x) | {last['rss_before_mib']} MiB | "
              f"{max(r['peak_rss_mib'] for r in got[n][-1])} MiB | {step:.2f} |")


if __name__ == "__main__":
    main()
