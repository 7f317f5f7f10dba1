"""What the reference's update scheme costs: one rollout batch as ONE optimiser step vs one
step per prompt (loss.ppo_mini_batch_size 0 vs 1), same model, same fixed batch.

Both run sdpo_step on the embedded SmolLM2-135M-Instruct (fp32, CPU, LoRA r16 on all
projections, EMA teacher, top-K 20 + tail, reverse KL) over the same P prompts x G fixed
completions (benchmarks/bench_sdpo_step.make_batch), each on its own model copy,
interleaved in blocks after one warm-up step each; medians and their ratio are printed
(only the in-run ratio is meaningful on a shared machine). The mini-batch side does the
same scoring work plus one gradient-free pass for p_old over the prompts after the first,
and P optimiser steps instead of 1.

    python benchmarks/bench_sdpo_updates.py [--prompts 2] [--g 4] [--tokens 128] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    """Interleave the two update schemes on one batch and print medians and the ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=2)
    ap.add_argument("--g", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    from bench_sdpo_step import Ours, make_batch

    from selfdistill.core.models import load_tokenizer

    batch = make_batch(load_tokenizer("smollm2-135m-instruct"), a.prompts, a.g, a.tokens)
    sides = {"one step per batch (ppo_mini_batch_size 0)": Ours(batch),
             "one step per prompt (ppo_mini_batch_size 1)": Ours(batch)}
    list(sides.values())[1].cfg.ppo_mini_batch_size = 1
    times: dict[str, list[float]] = {k: [] for k in sides}
    for side in sides.values():
        side.step()  # warm-up
    for _ in range(a.rounds):
        for name, side in sides.items():
            times[name].append(side.step())
    print(f"{a.prompts} prompts x G={a.g}, {a.tokens} tokens, {a.threads} thread(s), "
          f"{a.rounds} interleaved rounds")
    for name, side in sides.items():
        print(f"{name}: median {statistics.median(times[name]):.2f} s per batch, "
              f"{int(side.last.get('updates', 1))} updates, {times[name]}")
    a0, a1 = (statistics.median(t) for t in times.values())
    print(f"ratio (per prompt / per batch): {a1 / a0:.2f}")


if __name__ == "__main__":
    main()
