"""Per-attempt overhead of the SDPO discovery loop over plain best-of-k sampling.

Both methods run through the same code path (recipes.discover.Discoverer.run) with the
same sampler, batch and problem, in one process, interleaved (best_of_k run, sdpo run,
best_of_k run, ...), after a warm-up step of each. An SDPO step = sample B + grade B +
one SDPO update (student + EMA-teacher scoring of the B answers, backward, AdamW, EMA);
a best-of-k step = sample B + grade B. Reported:

- steady state: median seconds per attempt over SDPO steps that took an update vs the
  median over best-of-k steps (no target: the earlier <= 1.3x target is retired; what
  matters is which method discovers more for the same seconds, which discover-bench's
  equal-compute curves measure -- this benchmark says where the time goes);
- whole runs: total seconds / attempts (the last SDPO batch takes no update);
- the split of an SDPO step (sample / grade / update) and tokens sampled per attempt,
  because SDPO's updated weights change answer lengths, hence sampling time.

A hard problem the model does not solve is used and stop_at_success is off, so both
methods spend the same number of attempts. Timings on this machine vary up to 2.6x
between identical runs: only the in-run ratio is meaningful.

    python benchmarks/bench_discover_overhead.py [--batch 8] [--max-new-tokens 128]
        [--steps 3] [--rounds 2] [--problem builtin/hard-edit-distance] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
warnings.filterwarnings("ignore")


def main() -> None:
    """Run the interleaved comparison and print medians and ratios."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recipe", default="recipes/discover_cpu.yaml",
                    help="base config (loss/teacher/optim settings); flags below override it")
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--problem", default="builtin/hard-edit-distance")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--steps", type=int, default=3, help="sampling steps per run")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved run pairs")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = ap.parse_args()

    import torch

    from selfdistill.core.config import load_config
    from selfdistill.problems.registry import find_problem
    from selfdistill.recipes.discover import DiscoverConfig, Discoverer

    cfg = load_config(args.recipe, recipe="discover")[1] if args.recipe else DiscoverConfig()
    cfg.problem, cfg.budget, cfg.seeds = args.problem, args.batch * args.steps, 1
    cfg.stop_at_success = False
    cfg.model.spec = args.model
    cfg.sampling.batch = args.batch
    cfg.sampling.gen_batch_size = args.batch
    cfg.sampling.max_new_tokens = args.max_new_tokens
    cfg.optim.lr = args.lr
    cfg.teacher.max_prompt_tokens = 2048
    problem = find_problem(args.problem)
    t0 = time.perf_counter()
    disc = Discoverer(cfg)
    print(f"model {args.model} loaded in {time.perf_counter() - t0:.1f}s; torch threads "
          f"{torch.get_num_threads()}; problem {problem.id}; B={args.batch}, "
          f"{args.max_new_tokens} new tokens, {args.steps} steps/run, {args.rounds} rounds",
          file=sys.stderr)

    # warm-up: one short run of each (allocator, sandbox pool, first-call overheads)
    warm = DiscoverConfig(**{**cfg.__dict__, "budget": args.batch})
    disc.cfg = warm
    for m in ("best_of_k", "sdpo"):
        disc.run(m, problem, 999)
    disc.cfg = cfg

    steps: dict[str, list[dict[str, Any]]] = {"best_of_k": [], "sdpo": []}
    runs: dict[str, list[float]] = {"best_of_k": [], "sdpo": []}
    for rnd in range(args.rounds):
        for m in ("best_of_k", "sdpo"):
            recs: list[dict[str, Any]] = []
            r = disc.run(m, problem, rnd, on_step=recs.append)
            steps[m].extend(recs)
            runs[m].append(r.seconds / r.attempts_used)
            print(f"round {rnd} {m}: {r.seconds:.1f}s for {r.attempts_used} attempts "
                  f"({r.seconds / r.attempts_used:.2f} s/attempt; sample {r.seconds_sample:.1f}, "
                  f"grade {r.seconds_grade:.1f}, update {r.seconds_update:.1f})",
                  file=sys.stderr)

    def per_attempt(rec: dict[str, Any]) -> float:
        return (rec["seconds_sample"] + rec["seconds_grade"] + rec.get("seconds_update", 0.0)
                ) / rec["n"]

    def tokens(recs: list[dict[str, Any]]) -> float:
        return statistics.mean(a["n_tokens"] for rec in recs for a in rec["attempts"])

    plain = [per_attempt(x) for x in steps["best_of_k"]]
    sdpo_upd = [x for x in steps["sdpo"] if "seconds_update" in x]
    sdpo = [per_attempt(x) for x in sdpo_upd]
    med_plain, med_sdpo = statistics.median(plain), statistics.median(sdpo)
    ratio = med_sdpo / med_plain
    run_ratio = statistics.median(runs["sdpo"]) / statistics.median(runs["best_of_k"])
    split = {k: statistics.median(x[f"seconds_{k}"] / x["n"] for x in sdpo_upd)
             for k in ("sample", "grade", "update")}
    plain_sample = statistics.median(x["seconds_sample"] / x["n"] for x in steps["best_of_k"])
    # Inside an update: student scoring (forward with grad), teacher scoring, backward, rest
    # (optimiser, EMA, teacher-prompt building).
    inner = {k: statistics.median(x["metrics"][f"seconds_{k}"] / x["n"] for x in sdpo_upd)
             for k in ("student", "teacher", "backward")}
    inner["other"] = split["update"] - sum(inner.values())
    teacher_prompt = statistics.median(x["metrics"]["teacher_prompt_length_mean"]
                                       for x in sdpo_upd)
    out = {
        "problem": problem.id, "batch": args.batch, "max_new_tokens": args.max_new_tokens,
        "steps_per_run": args.steps, "rounds": args.rounds,
        "best_of_k_s_per_attempt": med_plain, "sdpo_s_per_attempt": med_sdpo,
        "steady_state_ratio": ratio, "whole_run_ratio": run_ratio,
        "sdpo_split_s_per_attempt": split, "best_of_k_sample_s_per_attempt": plain_sample,
        "update_split_s_per_attempt": inner, "teacher_prompt_tokens": teacher_prompt,
        "tokens_per_attempt": {"best_of_k": tokens(steps["best_of_k"]),
                               "sdpo": tokens(steps["sdpo"])},
        "per_step_best_of_k": plain, "per_step_sdpo": sdpo,
    }
    print(f"best_of_k: {med_plain:.3f} s/attempt (median of {len(plain)} steps)")
    print(f"sdpo     : {med_sdpo:.3f} s/attempt (median of {len(sdpo)} steps with an update): "
          f"sample {split['sample']:.3f} + grade {split['grade']:.3f} + update "
          f"{split['update']:.3f}")
    print(f"steady-state ratio {ratio:.2f}x (for the same seconds best-of-k makes {ratio:.2f}x "
          f"the attempts); whole-run ratio {run_ratio:.2f}x "
          f"(the last batch takes no update); tokens/attempt best_of_k "
          f"{out['tokens_per_attempt']['best_of_k']:.0f} vs sdpo "
          f"{out['tokens_per_attempt']['sdpo']:.0f}")
    print(f"update-only overhead: {split['update'] / plain_sample:.2f}x of best_of_k's "
          f"sampling time per attempt")
    print("update split (s/attempt): " + ", ".join(f"{k} {v:.3f}" for k, v in inner.items())
          + f"; teacher prompt {teacher_prompt:.0f} tokens")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
