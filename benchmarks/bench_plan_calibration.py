"""`selfdistill plan` against measured peak memory of real SDPO steps on this CPU.

Cases (each in a fresh subprocess, so its peak is its own):
    embedded-full       SmolLM2-135M, full fine-tuning, fp32, EMA teacher
    embedded-full-ckpt  the same with activation checkpointing
    embedded-lora       SmolLM2-135M, LoRA r 16 on all projections, fp32, EMA teacher
    qwen05-lora         Qwen2.5-Coder-0.5B-Instruct (study model; not a test dependency), LoRA
    *-fsdp1 / *-fsdp2   the embedded cases through training/fsdp.py (optim.compute_dtype
                        bfloat16, fp32 masters, per-layer gathering) on 1 rank and on 2 gloo
                        ranks (two processes, the batch's prompts split; peak = the larger
                        rank's); qwen05-lora-fsdp1 likewise

A step is selfdistill.distill.step.sdpo_step on a fixed batch: P prompts x G completions of
exactly --tokens tokens (group 0 holds one success: sibling-solution teacher contexts; the
others judge feedback), teacher re-prompts built by build_teacher_batch, micro-batch 4,
top-20 support with tail, reverse KL, AdamW. No sampling in the measured process.

Measured: the process's peak resident set (VmHWM), reset (/proc/self/clear_refs 5) after the
model, optimiser and teacher are built, so loading's transient copies do not count; and the
RSS after imports (what `plan` calls runtime). torch CPU tensors are invisible to
tracemalloc, hence RSS. Predicted: selfdistill.planning.plan_memory with the case's exact
lengths (prompt, completion, longest teacher prompt), backend none (no sampler here).

    python benchmarks/bench_plan_calibration.py [--cases all|a,b] [--tokens 256] [--g 4]
        [--prompts 2] [--steps 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from selfdistill.core.machine import proc_status_bytes

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
warnings.filterwarnings("ignore")

QWEN05 = Path("~/.cache/selfdistill/models/qwen2.5-coder-0.5b-instruct/hf").expanduser()
EMB = "smollm2-135m-instruct"
CASES: dict[str, dict[str, Any]] = {
    "embedded-full": {"spec": EMB, "method": "full", "ckpt": False},
    "embedded-full-ckpt": {"spec": EMB, "method": "full", "ckpt": True},
    "embedded-lora": {"spec": EMB, "method": "lora", "ckpt": False},
    "qwen05-lora": {"spec": str(QWEN05), "method": "lora", "ckpt": False},
}
for _name, _c in list(CASES.items()):  # the FSDP2 engine on 1 and 2 ranks, bf16 compute
    if not _c["ckpt"]:
        for _n in (1, 2) if _c["spec"] == EMB else (1,):
            CASES[f"{_name}-fsdp{_n}"] = {**_c, "ranks": _n, "compute": "bfloat16"}
MICRO = 4
FEEDBACK = ("Wrong answer on test 1 (0/3 tests passed).\nInput: example\nExpected: the "
            "correct value\nGot: a different value\nTraceback: AssertionError in check()")




def groups_for(tok: Any, n_prompts: int, g: int, n_tokens: int) -> list[Any]:
    """P prompts x G fixed completions of exactly n_tokens (group 0: one success)."""
    from selfdistill.generation.chat import chat_token_ids
    from selfdistill.problems.registry import load_source
    from selfdistill.prompts.task import build_chat
    from selfdistill.rollouts import Group, Rollout

    probs = [p for p in load_source("builtin:train?difficulty=easy") if p.reference]
    filler = tok(" The loop handles empty inputs, single elements and negative numbers alike.",
                 add_special_tokens=False)["input_ids"]
    out = []
    for i in range(n_prompts):
        chat = build_chat(probs[i])
        pid = chat_token_ids(tok, chat)
        rs = []
        for j in range(g):
            ok = i == 0 and j == 0
            code = probs[i if ok else (i + j + 5) % len(probs)].reference
            ids = tok(f"Attempt {j}.\n```python\n{code.strip()}\n```\n",
                      add_special_tokens=False)["input_ids"]
            while len(ids) < n_tokens - 1:
                ids += filler
            ids = ids[: n_tokens - 1] + [tok.eos_token_id]
            rs.append(Rollout(prompt_ids=pid, completion_ids=ids, text=tok.decode(ids),
                              reward=1.0 if ok else 0.0, passed=ok,
                              feedback=None if ok else FEEDBACK))
        out.append(Group(chat, rs))
    return out


def child(case: str, n_prompts: int, g: int, n_tokens: int, steps: int) -> dict[str, Any]:
    """Build the case's trainer, reset the peak, run the steps; sizes and peaks as JSON."""
    import torch

    torch.set_num_threads(1)
    from selfdistill.core.config import OptimConfig
    from selfdistill.core.lora import make_trainable
    from selfdistill.core.models import load_model
    from selfdistill.core.optim import make_optimizer
    from selfdistill.distill.objective import SDPOLossConfig
    from selfdistill.distill.step import sdpo_step
    from selfdistill.distill.teacher_context import build_teacher_batch
    from selfdistill.distill.teacher_weights import Teacher
    from selfdistill.generation.chat import chat_token_ids
    from selfdistill.training.fsdp import prepare_model

    rss_imports = proc_status_bytes("VmRSS")
    c = CASES[case]
    ranks = c.get("ranks", 0)  # 0: the plain model (no FSDP)
    rank = int(os.environ.get("RANK", "0"))
    torch.manual_seed(0)
    model, tok = load_model(c["spec"], dtype="float32")
    optim = OptimConfig(method=c["method"], lr=1e-5, gradient_checkpointing=c["ckpt"],
                        compute_dtype=c.get("compute", "float32"))
    model = make_trainable(model, optim)
    if ranks:
        model = prepare_model(model, optim)  # fully_shard per layer + root (1-rank group too)
    teacher = Teacher(model, "ema", 0.05)
    opt = make_optimizer(model, optim)
    cfg = SDPOLossConfig(micro_batch_size=MICRO)
    groups = groups_for(tok, n_prompts, g, n_tokens)[rank::max(ranks, 1)]
    tb = build_teacher_batch(groups, tok, None)
    t_prompt = max(len(chat_token_ids(tok, ch)) for ch in tb.chats if ch is not None)
    if ranks:  # loading's freed pages (the full fp32 model before sharding) back to the OS
        _trim()
    rss_ready = proc_status_bytes("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:  # VmHWM := VmRSS from here on
        fh.write("5")
    t0 = time.perf_counter()
    for _ in range(steps):
        sdpo_step(model, teacher, opt, groups, tok, cfg, teacher_batch=tb)
    return {"case": case, "spec": c["spec"], "method": c["method"], "ckpt": c["ckpt"],
            "ranks": ranks, "compute": c.get("compute", "float32"), "rank": rank,
            "prompt_tokens": len(groups[0].rollouts[0].prompt_ids),
            "completion_tokens": n_tokens, "teacher_prompt_tokens": t_prompt,
            "micro_batch": min(MICRO, g), "rss_imports": rss_imports, "rss_ready": rss_ready,
            "peak": proc_status_bytes("VmHWM"), "seconds_per_step": (time.perf_counter() - t0) / steps}


def predict(m: dict[str, Any]) -> Any:
    """The planner's MemoryPlan for a measured case (its exact lengths, no sampler)."""
    from selfdistill.core.config import LORA_TARGETS
    from selfdistill.planning.memory import GiB, PlanInputs, plan_memory
    from selfdistill.planning.shape import model_shape

    shape = model_shape(m["spec"], lora_r=16, lora_targets=list(LORA_TARGETS))
    i = PlanInputs(recipe="sdpo", method=m["method"], dtype=m.get("compute", "float32"),
                   strategy="fsdp" if m.get("ranks") else "replica",
                   ranks=m.get("ranks") or 1, device="cpu", budget_bytes=24 * GiB,
                   micro_batch=m["micro_batch"],
                   prompt_tokens=m["prompt_tokens"], completion_tokens=m["completion_tokens"],
                   teacher_prompt_tokens=m["teacher_prompt_tokens"], teacher="ema",
                   share_prefix=True, checkpointing=m["ckpt"], backend="none")
    return plan_memory(shape, i)


def main() -> None:
    """Run each case in a fresh process; print measured vs predicted and the ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="all")
    ap.add_argument("--prompts", type=int, default=2)
    ap.add_argument("--g", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=256)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--json", default=None, help="Append the rows as JSON lines here.")
    ap.add_argument("--from-json", default=None,
                    help="Re-predict the measurements saved in this file (no new runs).")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.prompts, a.g, a.tokens, a.steps)))
        return
    if a.from_json:
        for line in open(a.from_json):
            if line.strip():
                report(json.loads(line), None)
        return

    names = list(CASES) if a.cases == "all" else a.cases.split(",")
    print(f"load: {os.getloadavg()[0]:.2f} (1-min)  |  P {a.prompts} x G {a.g} x {a.tokens} "
          f"tokens, micro-batch {MICRO}, {a.steps} steps, fp32, 1 thread")
    for name in names:
        if name == "qwen05-lora" and not (QWEN05 / "model.safetensors").is_file():
            print(f"{name}: skipped ({QWEN05} not built)")
            continue
        rows = run_case(name, a)
        if rows is None:
            continue
        report(max(rows, key=lambda r: r["peak"]), a.json)  # the larger rank's peak


def _trim() -> None:
    """glibc: give freed heap pages back to the OS (loading's transient copies)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc
        pass


def run_case(name: str, a: argparse.Namespace) -> list[dict[str, Any]] | None:
    """Every process's result of one case (one, or one per rank over gloo), None on failure."""
    import socket

    ranks = max(CASES[name].get("ranks", 0), 1)
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    cmd = [sys.executable, __file__, "--child", name, "--prompts", str(a.prompts), "--g",
           str(a.g), "--tokens", str(a.tokens), "--steps", str(a.steps)]
    procs = []
    for r in range(ranks):
        env = dict(os.environ)
        if CASES[name].get("ranks"):  # torchrun's variables: training/fsdp.py joins them
            env.update(RANK=str(r), WORLD_SIZE=str(ranks), LOCAL_RANK=str(r),
                       MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outs = [p.communicate() for p in procs]
    if any(p.returncode != 0 for p in procs):
        print(f"{name}: FAILED\n" + "\n".join(e[-2000:] for _, e in outs))
        return None
    return [json.loads(o.strip().splitlines()[-1]) for o, _ in outs]


def report(m: dict[str, Any], json_out: str | None) -> None:
    """Print one case's measured vs predicted line (and append it to json_out)."""
    from selfdistill.planning.memory import GiB

    name = m["case"]
    plan = predict(m)
    runtime = plan.row("runtime").bytes
    pred, meas = plan.peak_bytes, m["peak"]
    pred_x, meas_x = pred - runtime, meas - m["rss_imports"]
    m.update({"predicted": pred, "ratio": pred / meas, "predicted_ex_runtime": pred_x,
              "measured_ex_runtime": meas_x, "ratio_ex_runtime": pred_x / meas_x,
              "peak_phase": plan.peak_phase, "load": m.get("load", os.getloadavg()[0]),
              "rows": {r.name: r.bytes for r in plan.rows}})
    print(f"{name:20s} prompt {m['prompt_tokens']:4d} teacher {m['teacher_prompt_tokens']:4d}"
          f" | measured peak {meas / GiB:5.2f} GiB (imports {m['rss_imports'] / GiB:.2f}) |"
          f" predicted {pred / GiB:5.2f} GiB ({plan.peak_phase}) | predicted/measured "
          f"{pred / meas:.2f}, without runtime {pred_x / GiB:.2f}/{meas_x / GiB:.2f} = "
          f"{pred_x / meas_x:.2f} | {m['seconds_per_step']:.0f} s/step")
    if json_out:
        with open(json_out, "a") as fh:
            fh.write(json.dumps(m) + "\n")


if __name__ == "__main__":
    main()
