"""Sampling stage chunk size: one generator batch per chunk vs chunks of several batches.

`sample_stage` hands the generator one chunk at a time and writes it durably. With a chunk
of exactly one batch, every chunk runs until its longest answer, the batch emptying as the
others finish; with a chunk of several batches the HF backend refills freed rows with
waiting prompts (continuous batching), so only the last chunk has such a tail.

Workload: the demo's evaluation sampling (HumanEval prompts through the official harness,
n samples at T, top-k 20, top-p 0.8, --max-new-tokens), the embedded model, fp32. The two
settings run interleaved (order alternating per repeat) in one process and print
tokens/s and the ratio; record them with `uptime`'s load and the thread count.

    OMP_NUM_THREADS=1 python benchmarks/bench_sample_chunks.py --problems 16 --n 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def run_once(gen, problems, params, harness, chunk_size: int) -> tuple[float, int]:  # noqa: ANN001
    """(seconds, new tokens) of one sample_stage run in a fresh directory."""
    from selfdistill.evaluation.stages import sample_stage

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        recs = sample_stage(gen, problems, params, Path(tmp) / "s.jsonl", chunk_size=chunk_size,
                            chat_fn=harness.chat, extract_fn=harness.extract,
                            description=f"chunk {chunk_size}")
        return time.perf_counter() - t0, sum(r["n_tokens"] for r in recs)


def main() -> None:
    """Interleave the two chunk sizes and print tokens/s and their ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=16)
    ap.add_argument("--n", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--chunk-batches", type=int, default=4)
    ap.add_argument("--temperature", type=float, default=0.6)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    from selfdistill.core.config import sampling_params
    from selfdistill.core.models import load_model
    from selfdistill.evaluation.harness import get_harness
    from selfdistill.problems.registry import load_source
    from selfdistill.recipes.evaluate import make_generator

    problems = load_source("humaneval")[: args.problems]
    model, tok = load_model("smollm2-135m-instruct", dtype="float32")
    gen = make_generator(model, tok, "hf", args.batch_size)
    harness = get_harness("official")
    results: dict[int, list[float]] = {}
    sizes = [args.batch_size, args.batch_size * args.chunk_batches]
    for rep in range(args.repeats):
        for chunk in sizes if rep % 2 == 0 else sizes[::-1]:
            # the seed differs per run, so neither setting keeps the same answers by luck
            params = sampling_params(args.temperature, top_k=20, top_p=0.8,
                                     max_new_tokens=args.max_new_tokens, n=args.n, seed=rep)
            secs, toks = run_once(gen, problems, params, harness, chunk)
            results.setdefault(chunk, []).append(toks / secs)
            print(f"rep {rep} chunk {chunk:4d}: {toks} tokens in {secs:.1f} s = "
                  f"{toks / secs:.1f} tok/s", flush=True)
    one, many = (statistics.median(results[s]) for s in sizes)
    print(f"threads {os.environ.get('OMP_NUM_THREADS', 'unset')}, load {os.getloadavg()[0]:.2f}")
    print(f"median tok/s: chunk = 1 batch {one:.1f}, chunk = {args.chunk_batches} batches "
          f"{many:.1f}; ratio {many / one:.2f}x")


if __name__ == "__main__":
    main()
