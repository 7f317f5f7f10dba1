"""The demo's evaluation sampling stage: the previous path vs today's, one change at a time.

Workload (recipes/ssd_cpu.yaml's evaluation of the embedded model): HumanEval's first
--problems problems, n = --n answers each at T_eval --temperature, top-k 20, top-p 0.8,
--max-new-tokens new tokens, official-harness prompts, batch 32; the sample stage only
(grading does not change). Wall time includes loading the model (and, for `workers`,
starting the processes), as the demo sees it.

Paths, each in its own subprocess (clean thread settings), rotating order every round:
  before    fp32, one process using every core, one batch per generate call, every sample
            its own prefill (the path before issue 21's sampling changes)
  bf16      before + bf16 inference (model.infer_dtype)
  calls     bf16 + four batches per generate call (stages.rows_per_call)
  prefill   calls + identical prompts prefilled once (one process today)
  workers   prefill + one one-thread process per core (evaluation.parallel; the demo)
Prints medians per path: seconds, rows/s, new tokens/s, and the speed-up over `before` in
rows/s (the demo's cost is per answer; answer lengths vary between paths' samples).

    python benchmarks/bench_sampling_stage.py [--rounds 2] [--problems 40] [--paths ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PATHS = ["before", "bf16", "calls", "prefill", "workers"]


def run_path(path: str, args: argparse.Namespace, out: Path) -> dict:
    """One path in this process; returns seconds, rows and new tokens."""
    import torch

    from selfdistill.evaluation.harness import get_harness
    from selfdistill.evaluation.parallel import SampleJob, available_cores, presample
    from selfdistill.evaluation.stages import sample_stage
    from selfdistill.evaluation.sweep import load_benchmark
    from selfdistill.generation import SamplingParams

    cores = available_cores()
    problems = load_benchmark("humaneval", args.problems)
    params = SamplingParams(temperature=args.temperature, top_k=20, top_p=0.8,
                            max_new_tokens=args.max_new_tokens, n=args.n, seed=0)
    h = get_harness("official")
    dtype = "float32" if path == "before" else "bfloat16"
    chunk = 32 if path in ("before", "bf16") else 128
    t0 = time.perf_counter()
    if path == "workers":
        job = SampleJob(spec=args.model, dtype=dtype, problems=problems, params=params,
                        out_path=out, batch_size=32, chunk_size=chunk, harness="official")
        presample([job], workers=cores)
        from selfdistill.core.records import read_jsonl

        rows = read_jsonl(out)
    else:
        from selfdistill.core.models import load_model
        from selfdistill.generation.hf import HFGenerator

        torch.set_num_threads(cores)
        model, tok = load_model(args.model, dtype=dtype)
        gen = HFGenerator(model, tok, batch_size=32, progress=False,
                          share_identical_prompts=path not in ("before", "bf16", "calls"))
        rows = sample_stage(gen, problems, params, out, chunk_size=chunk, chat_fn=h.chat,
                            extract_fn=h.extract)
    dt = time.perf_counter() - t0
    return {"seconds": dt, "rows": len(rows), "tokens": sum(r["n_tokens"] for r in rows),
            "cut": sum(r["finish_reason"] == "length" for r in rows)}


def main() -> None:
    """Run every path --rounds times in rotating order and print the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--problems", type=int, default=40)
    ap.add_argument("--n", type=int, default=2)
    ap.add_argument("--temperature", type=float, default=0.6)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--paths", default=",".join(PATHS))
    ap.add_argument("--run", default=None, help=argparse.SUPPRESS)  # one path, in a child
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run:
        print(json.dumps(run_path(args.run, args, Path(args.out))), flush=True)
        return
    paths = [p for p in args.paths.split(",") if p]
    unknown = set(paths) - set(PATHS)
    if unknown:
        sys.exit(f"unknown path(s) {sorted(unknown)}; choose from {PATHS}")
    results: dict[str, list[dict]] = {p: [] for p in paths}
    child = [sys.executable, __file__, "--model", args.model, "--problems", str(args.problems),
             "--n", str(args.n), "--temperature", str(args.temperature),
             "--max-new-tokens", str(args.max_new_tokens)]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    print(f"load before: {os.getloadavg()}", flush=True)
    for r in range(args.rounds):
        order = paths[r % len(paths):] + paths[:r % len(paths)]
        for p in order:
            with tempfile.TemporaryDirectory() as d:
                res = subprocess.run([*child, "--run", p, "--out", f"{d}/samples.jsonl"],
                                     capture_output=True, text=True, env=env, check=False)
            if res.returncode != 0:
                sys.exit(f"path {p} failed:\n{res.stderr[-2000:]}")
            got = json.loads(res.stdout.strip().splitlines()[-1])
            results[p].append(got)
            print(f"round {r + 1} {p:8s} {got['seconds']:7.1f} s  {got['rows']} rows  "
                  f"{got['tokens']} tokens  cut {got['cut']}", flush=True)
    print(f"load after: {os.getloadavg()}")
    base = None
    print(f"\n{'path':8s} {'seconds':>8s} {'rows/s':>7s} {'tok/s':>7s} {'x before (rows/s)':>18s}")
    for p in paths:
        sec = statistics.median(x["seconds"] for x in results[p])
        rps = statistics.median(x["rows"] / x["seconds"] for x in results[p])
        tps = statistics.median(x["tokens"] / x["seconds"] for x in results[p])
        base = base if base is not None else (rps if p == "before" else None)
        ratio = f"{rps / base:.2f}" if base else "-"
        print(f"{p:8s} {sec:8.1f} {rps:7.3f} {tps:7.1f} {ratio:>18s}")


if __name__ == "__main__":
    main()
