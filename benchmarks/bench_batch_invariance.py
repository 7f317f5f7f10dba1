"""Batch invariance of the HF engine, and what it costs (issue 32).

Part 1: HumanEval's first 8 problems (official chats), --tokens new tokens, greedy and
T 0.8 with per-sample seeds; each engine's answers at batch 3, batch 8 reversed, batch 1
and 3 of them at batch 2 are compared with batch 8: answers differing in tokens and in any
logprob bit. Part 2: new tokens per CPU-second of both engines on HumanEval's first 12 x n 2
x --cost-tokens at batch 32, T 0.6, ABBA (process CPU time: the machine is shared), then
the batch-invariant engine in fp32 once, for scale.

    python benchmarks/bench_batch_invariance.py [--model smollm2-135m-instruct] [--tokens 48]
"""

from __future__ import annotations

import argparse
import time
from typing import Any


def main() -> None:
    """Print the comparison table rows and the cost."""
    from selfdistill.core.models import load_model
    from selfdistill.evaluation.harness import get_harness
    from selfdistill.evaluation.stages import sample_seed
    from selfdistill.generation import SamplingParams
    from selfdistill.generation.hf import HFGenerator
    from selfdistill.problems.registry import load_source

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--cost-tokens", type=int, default=96)
    args = ap.parse_args()
    print("load", open("/proc/loadavg").read().split()[0], flush=True)
    probs = load_source("humaneval")[:12]
    chats = [get_harness("official").chat(p) for p in probs]
    models = {"bfloat16": load_model(args.model, dtype="bfloat16")}

    def run(bs: int, order: list[int], temp: float, n: int = 1, max_new: int = args.tokens,
            dtype: str = "bfloat16", **kw: Any) -> tuple[dict[int, Any], float]:
        model, tok = models[dtype]
        gen = HFGenerator(model, tok, batch_size=bs, progress=False, **kw)
        params = SamplingParams(
            temperature=temp, top_k=20, top_p=0.8, max_new_tokens=max_new, n=n,
            return_logprobs=True, seed=0,
            seeds=[sample_seed(0, probs[i].id, 0) for i in order] if temp > 0 else None)
        t = time.process_time()
        out = gen.generate([chats[i] for i in order], params)
        dt = time.process_time() - t
        res = {i: [(tuple(c.token_ids), tuple(c.logprobs)) for c in cs]
               for i, cs in zip(order, out, strict=True)}
        return res, sum(len(c.token_ids) for cs in out for c in cs) / dt

    eight = list(range(8))
    for temp in (0.0, 0.8):
        for name, kw in (("fast path (batch_invariant=False)", {"batch_invariant": False}),
                         ("batch_invariant=True", {})):
            base, _ = run(8, eight, temp, **kw)
            cells = []
            for label, bs, order in (("batch 3", 3, eight), ("batch 8 reversed", 8, eight[::-1]),
                                     ("batch 1", 1, eight), ("batch 2, 3 of them", 2, [5, 1, 7])):
                got, _ = run(bs, order, temp, **kw)
                toks = sum(got[i][0][0] != base[i][0][0] for i in got)
                bits = sum(got[i] != base[i] for i in got)
                cells.append(f"{label}: {toks} / {bits} of {len(got)}")
            print(f"T={temp} {name}: " + "; ".join(cells), flush=True)
    rates: dict[str, list[float]] = {"fast": [], "invariant": []}
    for name in ("fast", "invariant", "invariant", "fast"):
        _, r = run(32, list(range(12)), 0.6, n=2, max_new=args.cost_tokens,
                   batch_invariant=name == "invariant")
        rates[name].append(r)
        print(f"cost {name}: {r:.1f} new tok per CPU-s", flush=True)
    mean = {k: sum(v) / len(v) for k, v in rates.items()}
    print(f"fast {mean['fast']:.1f}, invariant {mean['invariant']:.1f} tok per CPU-s: "
          f"{mean['invariant'] / mean['fast']:.2f}x", flush=True)
    models["float32"] = load_model(args.model, dtype="float32")
    _, r = run(32, list(range(12)), 0.6, n=2, max_new=args.cost_tokens, dtype="float32")
    print(f"fp32, batch-invariant engine: {r:.1f} new tok per CPU-s "
          f"(load {open('/proc/loadavg').read().split()[0]})")


if __name__ == "__main__":
    main()
