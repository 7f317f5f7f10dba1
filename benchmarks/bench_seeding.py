"""Per-sample seeds (today) vs per-call seeding (before issue 32): sampling tokens/s.

Both paths run stages.sample_stage on the same model in the same process, interleaved
(ABBA order), on HumanEval's first --problems problems, n = --n at T --temperature,
top-k 20, top-p 0.8, batch --batch, four batches per generate call (the demo's setting):
  per-sample  every row's uniforms come from its own seed (seed, problem id, sample index):
              samples do not depend on batching, workers or resumes
  per-call    one seed per generate call, rows drawn from (call seed, row position): the
              previous path (samples changed with the worker count and chunking)
The work per token is the same; what could differ is the cost of building each row's
random stream. Prints tokens/s per path (median over rounds) and the ratio.

    python benchmarks/bench_seeding.py [--rounds 2] [--problems 8] [--n 4]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any


class PerCallSeeds:
    """A generator wrapper that turns per-row seeds back into one seed per call."""

    def __init__(self, gen: Any) -> None:
        self.gen = gen

    def generate(self, prompts: list[Any], params: Any, *, progress: bool | None = None
                 ) -> list[list[Any]]:
        """Sample with one call seed hashed from the rows' seeds (the previous path)."""
        h = hashlib.sha256("|".join(map(str, params.seeds or [])).encode())
        call = replace(params, seeds=None, seed=int.from_bytes(h.digest()[:7], "big"))
        return self.gen.generate(prompts, call, progress=progress)


def main() -> None:
    """Run both paths --rounds times each (ABBA) and print tokens/s and the ratio."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--problems", type=int, default=8)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    import torch

    from selfdistill.core.models import load_model
    from selfdistill.evaluation.harness import get_harness
    from selfdistill.evaluation.stages import rows_per_call, sample_stage
    from selfdistill.evaluation.sweep import load_benchmark
    from selfdistill.generation import SamplingParams
    from selfdistill.generation.hf import HFGenerator

    torch.set_num_threads(1)
    problems = load_benchmark("humaneval", args.problems)
    params = SamplingParams(temperature=args.temperature, top_k=20, top_p=0.8,
                            max_new_tokens=args.max_new_tokens, n=args.n, seed=0)
    h = get_harness("official")
    model, tok = load_model(args.model, dtype=args.dtype)
    hf = HFGenerator(model, tok, batch_size=args.batch, progress=False)
    paths = {"per-sample": hf, "per-call": PerCallSeeds(hf)}
    rates: dict[str, list[float]] = {p: [] for p in paths}
    order = [p for r in range(args.rounds) for p in (list(paths) if r % 2 == 0
                                                     else list(paths)[::-1])]
    with tempfile.TemporaryDirectory() as d:
        for k, name in enumerate(order):
            t0 = time.perf_counter()
            rows = sample_stage(paths[name], problems, params, Path(d) / f"{k}.jsonl",
                                chunk_size=rows_per_call(args.batch), chat_fn=h.chat,
                                extract_fn=h.extract)
            dt = time.perf_counter() - t0
            tokens = sum(r["n_tokens"] for r in rows)
            rates[name].append(tokens / dt)
            print(f"{name:>10}: {tokens} tokens in {dt:.1f} s = {tokens / dt:.1f} tok/s",
                  flush=True)
    med = {p: statistics.median(v) for p, v in rates.items()}
    for p, v in med.items():
        print(f"median {p:>10}: {v:.1f} tok/s")
    print(f"per-sample / per-call: {med['per-sample'] / med['per-call']:.3f}")


if __name__ == "__main__":
    main()
