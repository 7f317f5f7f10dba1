"""Training speed and memory: SSD-style SFT through TRL's SFTTrainer defaults vs selfdistill's
training path; plus one SDPO step and one assistant update, as they are and under bf16 autocast.

Workload: real samples of the embedded SmolLM2-135M-Instruct, drawn once with the product's
own sampler (SSD's T=1.6, top-k 20, top-p 0.8) on the built-in training prompts and cached;
each example is (prompt, own answer) as exact token ids, prompt masked, truncated at
--max-len (mixed lengths). Full fine-tuning, AdamW, lr 1e-5, optimiser batch --batch.

Paths (each in its own fresh subprocess, so its peak RSS (VmHWM) is honest; the paths
alternate TRL, ours, TRL, ours ... for --rounds rounds, and medians are compared):
  trl-default  trl.SFTTrainer with SFTConfig defaults; only batch, max_length, lr, epochs
               and use_cpu (without it transformers rejects TRL's default bf16 on a
               GPU-less machine) are set (TRL's defaults: bf16 autocast, gradient checkpointing,
               fused LM head with entropy/accuracy metrics, random batches).
  ours         selfdistill.training.make_sft_trainer with recipes/ssd_cpu.yaml's train
               settings (chunked answer-only loss, micro-batches, length grouping, bf16
               autocast where the CPU has native bf16).
--ablation adds single-change variants (what each change bought) and the recipe's previous
setting (plain SFTTrainer in fp32, no checkpointing).

Throughput = real (non-pad) tokens of the epoch / the seconds of its optimiser steps (every
example is seen once by every path, so the token counts are identical). The FLOP limit is
6 x parameters x tokens at the matmul GFLOP/s measured in this run, in the path's dtype.

    python benchmarks/bench_train.py [--rounds 2] [--examples 24] [--ablation] [--skip-sdpo]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
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

MODEL = "smollm2-135m-instruct"
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "selfdistill" / "bench"
GiB = 1024.0




# ------------------------------------------------------------------------------ workload


def samples_path(n: int, max_new_tokens: int) -> Path:
    return CACHE / f"sft_samples_n{n}_t{max_new_tokens}.jsonl"


def make_samples(path: Path, n: int, max_new_tokens: int) -> None:
    """Sample the frozen embedded model hot on n built-in training prompts (the SSD sampler)."""
    from selfdistill.evaluation.stages import sample_stage
    from selfdistill.generation.factory import make_generator
    from selfdistill.problems.registry import load_source
    from selfdistill.recipes.ssd.config import SSDSampleConfig

    s = SSDSampleConfig(max_new_tokens=max_new_tokens, batch_size=16)
    problems = load_source(s.source)[:n]
    gen = make_generator(s.backend, MODEL, dtype="float32", batch_size=s.batch_size, progress=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    sample_stage(gen, problems, s.sampling_params(1, s.seed), path, chunk_size=s.batch_size,
                 keep_token_ids=True, description="bench_train samples")


def load_examples(path: Path, max_len: int, limit: int) -> list[dict[str, list[int]]]:
    """SSD's own (prompt, answer) -> masked examples (the workload of the recorded figures:
    truncated answers kept, one-line stubs dropped)."""
    from selfdistill.core.models import load_tokenizer
    from selfdistill.core.records import read_jsonl
    from selfdistill.recipes.ssd.data import select_samples, sft_examples

    kept, _ = select_samples(read_jsonl(path), truncated="keep", stub_rule="oneline")
    tok = load_tokenizer(MODEL)
    return sft_examples(kept, tok.eos_token_id, max_len)[:limit]


# ------------------------------------------------------------------------------ machine


def matmul_gflops(dtype_name: str) -> float:
    """GFLOP/s of a training-shaped matmul in this process (core/machine.py, measured once)."""
    from selfdistill.core.machine import machine_rates

    return machine_rates().limit(dtype_name)


# ------------------------------------------------------------------------------ SFT runs

VARIANTS = {
    # name: (description, TrainConfig overrides); "trl-*" are plain TRL configs
    "trl-default": ("TRL SFTTrainer, SFTConfig defaults", None),
    "trl-fp32": ("TRL SFTTrainer as the recipe ran it before (fp32, no checkpointing)", None),
    "ours": ("selfdistill (recipes/ssd_cpu.yaml train settings)", {}),
    "ours-fp32": ("ours in fp32", {"bf16": False}),
    "ours-no-chunked-loss": ("ours with TRL's fused head + metrics", {"chunked_loss": False}),
    "ours-no-grouping": ("ours with random batches", {"group_by_length": False}),
    "ours-checkpointing": ("ours with activation checkpointing", {"gradient_checkpointing": True}),
    "ours-one-micro-batch": ("ours with the whole batch in one micro-batch",
                             {"micro_batch_size": None}),
}


def recipe_train_config(batch: int, max_len: int, overrides: dict[str, Any]) -> Any:
    """recipes/ssd_cpu.yaml's train section, at optimiser batch `batch` x `max_len` tokens."""
    import dataclasses

    from selfdistill.core.config import load_config

    _, cfg = load_config(str(REPO / "recipes" / "ssd_cpu.yaml"), [])
    tc = dataclasses.replace(cfg.train, batch_size=batch, grad_accum=1, max_seq_len=max_len,
                             epochs=1.0, logging_steps=1, save_steps=10**6)
    if cfg.train.micro_batch_size and "micro_batch_size" not in overrides:
        tc = dataclasses.replace(tc, micro_batch_size=cfg.train.micro_batch_size)
    return dataclasses.replace(tc, **overrides)


def sft_run(kind: str, a: argparse.Namespace) -> dict[str, Any]:
    """Train one epoch of the workload in this process; time every optimiser step."""
    import torch
    from transformers import TrainerCallback

    from selfdistill.core.models import load_model

    examples = load_examples(Path(a.samples), a.max_len, a.examples)
    tokens = sum(len(e["input_ids"]) for e in examples)
    model, tok = load_model(MODEL, dtype="float32")
    torch.manual_seed(0)
    out = tempfile.mkdtemp(prefix=f"bench-train-{kind}-")
    common = dict(report_to=[], save_strategy="no", logging_steps=1, disable_tqdm=True)
    if kind.startswith("trl"):
        from datasets import Dataset
        from trl import SFTConfig, SFTTrainer

        # use_cpu: transformers refuses TRL's default bf16 on a GPU-less machine without it.
        extra = ({"bf16": False, "gradient_checkpointing": False} if kind == "trl-fp32"
                 else {"use_cpu": True})
        args = SFTConfig(output_dir=out, per_device_train_batch_size=a.batch, max_length=a.max_len,
                         learning_rate=1e-5, num_train_epochs=1, **common, **extra)
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(examples),
                             processing_class=tok)
    else:
        from selfdistill.training.sft import make_sft_trainer

        tc = recipe_train_config(a.batch, a.max_len, VARIANTS[kind][1])
        trainer = make_sft_trainer(model, tok, examples, tc, Path(out), **common)
    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.t0 = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            times.append(time.perf_counter() - self.t0)

    trainer.add_callback(Timer())
    rss0 = proc_status_mib("VmRSS")
    trainer.train()
    losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
    return {"kind": kind, "tokens": tokens, "examples": len(examples), "step_s": times,
            "seconds": sum(times), "tok_s": tokens / sum(times), "peak_mb": proc_status_mib("VmHWM"),
            "rss_before_mb": rss0, "bf16": bool(trainer.args.bf16),
            "micro": trainer.args.per_device_train_batch_size,
            "accum": trainer.args.gradient_accumulation_steps,
            "first_loss": losses[0] if losses else None, "threads": torch.get_num_threads()}


# ------------------------------------------------------------------------------ SDPO / assistant


def _sdpo_bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_sdpo_step", HERE / "bench_sdpo_step.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def sdpo_run(kind: str, a: argparse.Namespace) -> dict[str, Any]:
    """One SDPO step (teacher contexts, student + EMA-teacher scoring, backward, AdamW, EMA) of
    bench_sdpo_step's batch, LoRA r16: 1 warm-up + 2 timed steps.

    kind: current-fp32 | autocast-bf16 | fsdp-bf16 (optim.compute_dtype bfloat16: FSDP2 bf16
    compute, fp32 masters); a -unfused suffix scores through autograd instead of the fused
    LM-head scores (distill/head_scores.py), to measure what the fusion changed."""
    import contextlib

    import torch

    import selfdistill.distill.scoring as scoring
    from selfdistill.core.models import load_tokenizer

    if kind.endswith("-unfused"):
        scoring.fusable_head = lambda head, softcap: False  # type: ignore[assignment]
        kind = kind[: -len("-unfused")]
    b = _sdpo_bench()
    batch = b.make_batch(load_tokenizer(MODEL), a.sdpo_prompts, a.sdpo_g, a.sdpo_tokens)
    runner = b.Ours(batch, compute_dtype="bfloat16" if kind == "fsdp-bf16" else "float32")
    ctx = (torch.autocast("cpu", dtype=torch.bfloat16) if kind == "autocast-bf16"
           else contextlib.nullcontext())
    tokens = sum(len(r.prompt_ids) + len(r.completion_ids) for g in runner.groups for r in g.rollouts)
    comp = sum(len(r.completion_ids) for g in runner.groups for r in g.rollouts)
    rss0 = proc_status_mib("VmRSS")
    with ctx:
        runner.step()
        times = [runner.step() for _ in range(2)]
    s = statistics.median(times)
    return {"kind": kind, "seconds": s, "tok_s": tokens / s, "completion_tok_s": comp / s,
            "tokens": tokens, "peak_mb": proc_status_mib("VmHWM"), "rss_before_mb": rss0,
            "loss": runner.last.get("loss")}


def assist_run(kind: str, a: argparse.Namespace) -> dict[str, Any]:
    """One assistant feedback update (assist/update.distill_update, 4 AdamW steps, LoRA r16)."""
    import contextlib

    import torch
    from peft import get_peft_model

    from selfdistill.assist.update import UpdateConfig, distill_update, hindsight_example
    from selfdistill.core.models import load_model
    from selfdistill.problems.registry import load_source
    from selfdistill.prompts.task import build_chat

    b = _sdpo_bench()
    model, tok = load_model(MODEL, dtype="float32")
    torch.manual_seed(0)
    model = get_peft_model(model, b.lora_config())
    probs = [p for p in load_source("builtin:train?difficulty=easy") if p.reference][:2]
    filler = " It loops once over the input and returns the result without side effects."
    examples = [hindsight_example(tok, build_chat(p),
                                  f"```python\n{p.reference.strip()}\n```\n" + filler * 6,
                                  "Please add a docstring and handle empty input.")
                for p in probs]
    ctx = (torch.autocast("cpu", dtype=torch.bfloat16) if kind.endswith("bf16")
           else contextlib.nullcontext())
    cfg = UpdateConfig()
    rss0 = proc_status_mib("VmRSS")
    with ctx:
        distill_update(model, tok, examples, "feedback", cfg)  # warm-up
        res = distill_update(model, tok, examples, "feedback", cfg)
    # tokens trained: answer tokens x optimiser steps (+ teacher/baseline scoring inside)
    return {"kind": kind, "seconds": res.seconds, "tok_s": res.tokens * res.steps / res.seconds,
            "tokens": res.tokens, "steps": res.steps, "peak_mb": proc_status_mib("VmHWM"),
            "rss_before_mb": rss0, "loss": res.loss_last}


# ------------------------------------------------------------------------------ driver


def child(what: str, kind: str, a: argparse.Namespace) -> dict[str, Any]:
    """Run one measurement in a fresh subprocess; return its JSON line."""
    cmd = [sys.executable, __file__, "--child", f"{what}:{kind}", "--samples", str(a.samples),
           "--examples", str(a.examples), "--batch", str(a.batch), "--max-len", str(a.max_len),
           "--sdpo-prompts", str(a.sdpo_prompts), "--sdpo-g", str(a.sdpo_g),
           "--sdpo-tokens", str(a.sdpo_tokens)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-3000:])
        raise SystemExit(f"{what}:{kind} failed (exit {p.returncode})")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2,
                    help="interleaved TRL/ours rounds (0: only --ablation / SDPO)")
    ap.add_argument("--examples", type=int, default=24, help="examples per epoch (3 steps of 8)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-len", type=int, default=512)
    ap.add_argument("--n-samples", type=int, default=40, help="prompts sampled for the workload")
    ap.add_argument("--max-new-tokens", type=int, default=384)
    ap.add_argument("--samples", default=None, help="samples.jsonl (default: cached workload)")
    ap.add_argument("--ablation", action="store_true", help="also the single-change variants")
    ap.add_argument("--skip-sdpo", action="store_true")
    ap.add_argument("--skip-sft", action="store_true")
    ap.add_argument("--sdpo-prompts", type=int, default=2)
    ap.add_argument("--sdpo-g", type=int, default=4)
    ap.add_argument("--sdpo-tokens", type=int, default=192)
    ap.add_argument("--sdpo-kinds", default="current-fp32,autocast-bf16",
                    help="SDPO/assist variants: current-fp32, autocast-bf16, fsdp-bf16 (SDPO "
                         "only), each optionally -unfused (SDPO only)")
    ap.add_argument("--skip-assist", action="store_true")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        what, kind = a.child.split(":")
        fn = {"sft": sft_run, "sdpo": sdpo_run, "assist": assist_run}[what]
        print(json.dumps(fn(kind, a)))
        return

    import torch

    sft = not a.skip_sft and (a.rounds > 0 or a.ablation)
    n_params = 134_515_008  # SmolLM2-135M (tied embeddings counted once)
    with open("/proc/loadavg") as fh:
        load = " ".join(fh.read().split()[:3])
    g32, g16 = matmul_gflops("float32"), matmul_gflops("bfloat16")
    lim32, lim16 = g32 * 1e9 / (6 * n_params), g16 * 1e9 / (6 * n_params)
    from selfdistill.core.machine import machine_line

    print(machine_line())
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads, load average {load}; matmul fp32 {g32:.0f} GFLOP/s, bf16 {g16:.0f} GFLOP/s "
          f"-> FLOP limit (6 x 135M per token) fp32 {lim32:.0f} tok/s, bf16 {lim16:.0f} tok/s")
    if sft:  # the SFT workload (sampled once and cached; SDPO/assist bring their own)
        path = Path(a.samples) if a.samples else samples_path(a.n_samples, a.max_new_tokens)
        if not path.exists():
            print(f"sampling the workload once -> {path}", flush=True)
            make_samples(path, a.n_samples, a.max_new_tokens)
        a.samples = str(path)
        ex = load_examples(path, a.max_len, a.examples)
        lens = sorted(len(e["input_ids"]) for e in ex)
        answer = sum(sum(x != -100 for x in e["labels"]) for e in ex)
        print(f"workload: {len(ex)} SSD samples of {MODEL} ({path.name}), {sum(lens)} tokens "
              f"({answer} answer tokens trained), lengths min {lens[0]} median "
              f"{lens[len(lens) // 2]} max {lens[-1]} (max {a.max_len}); optimiser batch "
              f"{a.batch}; full fine-tuning, lr 1e-5, one epoch per run")

    def frac(r: dict[str, Any]) -> float:
        return r["tok_s"] / (lim16 if r.get("bf16") else lim32)

    def line(r: dict[str, Any]) -> str:
        return (f"{r['tok_s']:7.1f} tok/s ({100 * frac(r):4.1f}% of the "
                f"{'bf16' if r.get('bf16') else 'fp32'} FLOP limit), peak RSS "
                f"{r['peak_mb'] / GiB:5.2f} GiB, steps "
                f"[{', '.join(f'{s:.1f}' for s in r['step_s'])}] s, micro {r['micro']}x{r['accum']}")

    if not a.skip_sft and a.rounds > 0:
        runs: dict[str, list[dict[str, Any]]] = {"trl-default": [], "ours": []}
        for r in range(a.rounds):
            for kind in runs:
                res = child("sft", kind, a)
                runs[kind].append(res)
                print(f"round {r + 1} {kind:12s} {line(res)}", flush=True)
        med = {k: statistics.median(x["tok_s"] for x in v) for k, v in runs.items()}
        peak = {k: max(x["peak_mb"] for x in v) for k, v in runs.items()}
        ratio = med["ours"] / med["trl-default"]
        print(f"\nSFT {a.batch} x {a.max_len}: TRL SFTTrainer defaults {med['trl-default']:.1f} "
              f"tok/s, peak {peak['trl-default'] / GiB:.2f} GiB | selfdistill {med['ours']:.1f} "
              f"tok/s, peak {peak['ours'] / GiB:.2f} GiB")
        print(f"ratio selfdistill / TRL defaults: {ratio:.2f}x (target >= 2); selfdistill peak "
              f"RSS {peak['ours'] / GiB:.2f} GiB (target <= 4); "
              f"{100 * frac(runs['ours'][-1] | {'tok_s': med['ours']}):.0f}% of the FLOP limit")
    if a.ablation:
        print("\nablation (one run each, this run's machine):")
        for kind in ("ours", "trl-fp32", "ours-fp32", "ours-no-chunked-loss", "ours-no-grouping",
                     "ours-checkpointing", "ours-one-micro-batch"):
            res = child("sft", kind, a)
            print(f"  {kind:21s} {line(res)}  [{VARIANTS[kind][0]}]", flush=True)
    if not a.skip_sdpo:
        print(f"\nSDPO step (bench_sdpo_step batch: {a.sdpo_prompts} prompts x G={a.sdpo_g}, "
              f"{a.sdpo_tokens}-token completions, LoRA r16, EMA teacher) and assistant update "
              "(2 hindsight examples, 4 AdamW steps, LoRA r16); tok/s = student tokens / s:")
        for what in ("sdpo",) + (() if a.skip_assist else ("assist",)):
            for kind in a.sdpo_kinds.split(","):
                if what == "assist" and (kind.endswith("-unfused") or kind == "fsdp-bf16"):
                    continue
                res = child(what, kind, a)
                print(f"  {what:6s} {kind:19s} {res['seconds']:6.2f} s, {res['tok_s']:7.1f} tok/s, "
                      f"peak RSS {res['peak_mb'] / GiB:.2f} GiB, loss {res['loss']:.4g}", flush=True)


if __name__ == "__main__":
    main()
