"""Every table of the 0.5B study (docs/results.md, issue 31) from the committed compact files.

    python scripts/qwen05b_tables.py                    # print every table from docs/studies/qwen05b
    python scripts/qwen05b_tables.py --collect runs/qwen05b   # run dirs -> compact files
    python scripts/qwen05b_tables.py --status runs/qwen05b    # what has run, what is left

Compact files (analysis/study_results.py; one JSON line per model x benchmark x T_eval with
every problem's pass count): harness_check.jsonl, base.jsonl, ssd.jsonl; rates.jsonl holds
the cost measurements (benchmarks/bench_study_costs.py). The cost plan (experiment sizes,
CPU time, minimum detectable effects) is computed here from the measured rates and the base
model's measured per-problem pass rates (evaluation/power.py), so it changes with them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from selfdistill.analysis.study_results import (
    compact_row,
    merge_rows,
    paired,
    pass_k,
    rates,
    read_rows,
    sample_set_id,
    write_rows,
)
from selfdistill.evaluation.power import paired_mde

DOCS = Path(__file__).resolve().parents[1] / "docs" / "studies" / "qwen05b"
LCB_SLICE_PROBLEMS = 51  # the held-out slice: the file's rows from 2025-01-01 on
HUMANEVAL = 164


def set_docs(path: Path) -> None:
    """Read and write the compact files in path instead of docs/studies/qwen05b."""
    global DOCS
    DOCS = path


def pct(x: float | None) -> str:
    """12.3 (percentage points), or '-'."""
    return "-" if x is None else f"{100 * x:.1f}"


def ci(e: dict | None) -> str:
    """12.3 [10.0, 14.6]."""
    return "-" if e is None else f"{pct(e['mean'])} [{pct(e['ci'][0])}, {pct(e['ci'][1])}]"


def table(head: list[str], rows: list[list]) -> str:
    """A markdown table."""
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


# ---------------------------------------------------------------- collect


def _difficulty(benchmark: str) -> dict[str, str]:
    from selfdistill.problems.registry import load_source

    return {p.id: p.difficulty for p in load_source(benchmark)}


# What identifies a row of each compact file: a collect replaces the rows it measured again.
KEYS = {"harness_check": ("harness", "benchmark", "t_eval"),
        "base": ("model", "benchmark", "t_eval"),
        "ssd": ("model", "benchmark", "t_eval", "sample_set"),
        "ssd_samples": ("t_train", "sample_set")}


def _sample_set(path: Path) -> str | None:
    """The fingerprint of the samples an SSD run trained on (None: no samples here)."""
    if not path.exists():
        return None
    recs = [json.loads(x) for x in path.read_text().splitlines() if x]
    return sample_set_id(recs) if recs else None


def collect(root: Path) -> None:
    """Compact files from the run directories under root (harness check, base, SSD runs)."""
    out: dict[str, list[dict]] = {"harness_check": [], "base": [], "ssd": []}
    checks = (("sd-greedy40/model/T0.00", "selfdistill"),
              ("evalplus-greedy40", "evalplus-style"),
              ("evalplus-sanitized-greedy40", "evalplus-style-sanitized"))
    for name, harness in checks:
        if (root / "check" / name / "verdicts.jsonl").exists():
            out["harness_check"].append(compact_row(
                root / "check" / name, exp="harness-check", model="base",
                benchmark="humaneval[:40]", harness=harness, t_eval=0.0))
    lcb_bench = None
    for d in sorted(root.glob("base-*")):
        bench = "humaneval" if d.name == "base-humaneval" else "lcb-slice"
        diff = None
        if bench == "lcb-slice":
            cfg = json.loads((d / "results.json").read_text()) if (d / "results.json").exists() \
                else None
            lcb_bench = cfg["benchmark"] if cfg else lcb_bench
            diff = _difficulty(lcb_bench) if lcb_bench else None
        for t in sorted((d / "model").glob("T*")):
            if (t / "verdicts.jsonl").exists():
                out["base"].append(compact_row(t, exp="base", model="base", benchmark=bench,
                                               harness="selfdistill", difficulty=diff))
    for run in sorted(root.glob("ssd-*-T*")):
        _, policy, t_train = run.name.split("-", 2)
        stats_path = run / "sample" / "stats.json"
        stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
        trained_on = _sample_set(run / "sample" / "samples.jsonl")
        for sub, bench in ((run, "humaneval"), (run / "lcb", "lcb-slice")):
            diff = _difficulty(lcb_bench) if bench == "lcb-slice" and lcb_bench else None
            for t in sorted((sub / "eval" / "ssd").glob("T*")):
                if (t / "verdicts.jsonl").exists():
                    out["ssd"].append(compact_row(
                        t, exp="ssd", model=f"ssd-{policy}-{t_train}", benchmark=bench,
                        harness="selfdistill", difficulty=diff, policy=policy,
                        t_train=float(t_train[1:]), sample_set=trained_on,
                        train_data={k: stats.get(k) for k in (
                            "samples", "kept", "dropped", "truncation_rate", "no_code_rate")}))
    out["ssd_samples"] = []
    for d in sorted(root.glob("samples-T*")):
        recs = [json.loads(x) for x in (d / "samples.jsonl").read_text().splitlines() if x]
        if recs:  # what SSD trained on: per source, length and cut answers
            by_src: dict[str, list[int]] = {}
            for r in recs:
                src = r["problem_id"].split("/", 1)[0]
                c = by_src.setdefault(src, [0, 0, 0, 0])
                c[0] += 1
                c[1] += int(r["n_tokens"])
                c[2] += r["finish_reason"] == "length"
                c[3] += r.get("code") is None
            out["ssd_samples"].append({
                "benchmark": "train", "t_train": float(d.name[9:]), "samples": len(recs),
                "sample_set": sample_set_id(recs),
                "new_tokens": sum(int(r["n_tokens"]) for r in recs),
                "by_source": {k: dict(zip(("samples", "tokens", "cut", "no_code"), v,
                                          strict=True)) for k, v in sorted(by_src.items())}})
    for name, rows in out.items():
        if rows:  # rows of run directories this machine no longer has are kept
            rows = merge_rows(read_rows(DOCS / f"{name}.jsonl"), rows, KEYS[name])
            write_rows(DOCS / f"{name}.jsonl", rows)
            print(f"{DOCS / name}.jsonl: {len(rows)} rows")
    costs = root.parent / "costs" / "rates.jsonl"
    if costs.exists():
        write_rows(DOCS / "rates.jsonl", read_rows(costs))


def status(root: Path) -> None:
    """Sample and verdict counts of every evaluation directory under root."""
    for f in sorted(root.rglob("samples.jsonl")):
        v = f.parent / "verdicts.jsonl"
        n_v = sum(1 for _ in v.open()) if v.exists() else 0
        print(f"{f.parent}: {sum(1 for _ in f.open())} samples, {n_v} graded")
    for f in sorted(root.glob("*/train/final")):
        print(f"{f}: trained")


# ---------------------------------------------------------------- tables


def harness_table() -> str:
    """The harness check: both harnesses' greedy pass@1 on the same problems, per problem."""
    rows = {r["harness"]: r for r in read_rows(DOCS / "harness_check.jsonl")}
    if len(rows) < 2:
        return "(harness check: not run yet)"
    a = rows["selfdistill"]
    names = {"selfdistill": "selfdistill harness",
             "evalplus-style": "EvalPlus-style prefill, raw fence content",
             "evalplus-style-sanitized": "EvalPlus-style prefill, sanitized"}
    lines = [table(["harness", "problems", "greedy pass@1 [95% CI]", "answers cut", "no code"],
                   [[names.get(h, h), len(r["counts"]), ci(pass_k(r)),
                     "-" if r["truncated"] is None else r["truncated"],
                     "-" if r["no_code"] is None else r["no_code"]]
                    for h, r in rows.items()]), ""]
    for h, b in rows.items():
        if h == "selfdistill":
            continue
        p = paired(b, a)
        lines.append(f"selfdistill minus {names.get(h, h)}: {100 * p['diff']:+.1f} points "
                     f"[{100 * p['ci'][0]:+.1f}, {100 * p['ci'][1]:+.1f}]; only selfdistill "
                     f"solves {p['better']}, only the other {p['worse']} "
                     f"(sign test p {p['sign_p']:.2f}).")
    return "\n".join(lines)


def rates_table() -> str:
    """The measured rates (benchmarks/bench_study_costs.py)."""
    rows = read_rows(DOCS / "rates.jsonl")
    out = []
    for r in rows:
        if r["part"] == "sample":
            out.append([f"sample, HF bf16, batch {r['batch_size']}, T {r['temperature']:g}",
                        f"{r['prompts']} prompts, {r['new_tokens']} new tokens",
                        r["seconds"], r["cpu_seconds"], r["tokens_per_s"],
                        round(r["new_tokens"] / r["cpu_seconds"], 1),
                        f"{r['load_before'][0]} / {r['load_after'][0]}"])
        elif r["part"] == "train":
            out.append([f"LoRA r16 SFT, max_len {r['max_len']}",
                        f"{r['examples']} examples, {r['tokens']} tokens",
                        r["train_loop_seconds"], r["cpu_seconds"], r["tokens_per_s"],
                        round(r["tokens"] / r["cpu_seconds"], 1),
                        f"{r['load_before'][0]} / {r['load_after'][0]}"])
        elif r["part"] == "grade":
            out.append(["grade (sandbox)", f"{r['programs']} programs ({r['passed']} passed)",
                        r["seconds"], "-", f"{r['programs_per_s']} programs/s", "-",
                        f"{r['load_before'][0]} / {r['load_after'][0]}"])
        elif r["part"] in ("evaluate", "peer", "study"):
            out.append([r["what"], r["work"], r["seconds"], r["cpu_seconds"],
                        r["tokens_per_s"], round(r["new_tokens"] / r["cpu_seconds"], 1),
                        r["load"]])
    return table(["what", "work", "wall s", "CPU s", "tok/s wall", "tok per CPU-s",
                  "load 1-min before / after"], out) if out else "(no rates measured yet)"


def base_rates(benchmark: str) -> tuple[list[float], int, float] | None:
    """Per-problem pass rates of the base model's sampled row with the most samples."""
    rows = [r for r in read_rows(DOCS / "base.jsonl")
            if r["benchmark"] == benchmark and (r["t_eval"] or 0) > 0]
    if not rows:
        return None
    r = max(rows, key=lambda x: (x["graded"], -abs((x["t_eval"] or 0) - 0.4)))
    n = min(c[1] for c in r["counts"].values())
    return rates(r), n, r["t_eval"]


def mde_table() -> str:
    """MDE of a paired pass@1 difference (95%, power 0.8) for the plan's evaluation sizes."""
    out = []
    for bench, n_total in (("humaneval", HUMANEVAL), ("lcb-slice", LCB_SLICE_PROBLEMS)):
        for n in (5, 10):  # the bound: every problem at p = 0.5 (the largest p(1-p))
            worst = [0.5] * n_total
            out.append([bench, "upper bound: p = 0.5 on every problem", n,
                        pct(paired_mde(worst, n)), pct(paired_mde(worst, n, power=0.5)),
                        pct(paired_mde(worst, n, tau=0.1))])
        got = base_rates(bench)
        if got is None:
            out.append([bench, "base model's sampled rates: not measured yet", "-", "-", "-",
                        "-"])
            continue
        rs, m, t = got
        if m < 2:  # one sample per problem: rates of 0 or 1 estimate no variance
            out.append([bench, f"base model's sampled rates: n={m} per problem so far "
                        "(>= 2 needed)", "-", "-", "-", "-"])
            continue
        if len(rs) < 20:  # a rate mix from a handful of problems says nothing about the set
            out.append([bench, f"base model's sampled rates: only {len(rs)} of {n_total} "
                        "problems so far (>= 20 needed)", "-", "-", "-", "-"])
            continue
        scale = (len(rs) / n_total) ** 0.5  # the same rate mix over the whole set
        for n in (1, 2, 3, 5, 10):
            mde = paired_mde(rs, n, n_measured=m) * scale
            half = paired_mde(rs, n, power=0.5, n_measured=m) * scale
            tau = paired_mde(rs, n, tau=0.1, n_measured=m) * scale
            out.append([bench, f"{len(rs)} of {n_total} measured at T {t:g} (n={m})", n,
                        pct(mde), pct(half), pct(tau)])
    return table(["benchmark", "base rates from", "samples per problem and model",
                  "MDE, points (tau 0)", "CI half-width", "MDE if effects vary (tau 0.1)"], out)


def _rate(part: str, **match: object) -> float | None:
    """Median tokens per CPU-second of the measured rows of one part."""
    rows = [r for r in read_rows(DOCS / "rates.jsonl") if r["part"] == part
            and all(r.get(k) == v for k, v in match.items())]
    key = "tokens" if part == "train" else "new_tokens"
    vals = sorted(r[key] / r["cpu_seconds"] for r in rows if r.get("cpu_seconds"))
    return vals[len(vals) // 2] if vals else None


def _mean_tokens(path: str, benchmark: str, min_problems: int = 20) -> float | None:
    rows = [r for r in read_rows(DOCS / path) if r["benchmark"] == benchmark
            and len(r["counts"]) >= min_problems]  # a few problems' lengths are noise
    n = sum(r["samples"] for r in rows)
    return sum(r["new_tokens"] for r in rows) / n if n else None


# The issue's experiments at the sizes this plan proposes (answers x tokens each; training
# examples x tokens each). ASSUMED lengths are marked in the table until measured.
PLAN_PROMPTS, PLAN_TRAIN_TOKENS = 128, 700  # SSD training prompts; prompt + answer tokens


def plan_rows(budget: bool) -> list[list]:
    """(experiment, work, CPU-minutes): the issue's design, or the one that fits 10 CPU-hours."""
    r_eval = _rate("sample", batch_size=32)
    r_train = _rate("train")
    if not r_eval or not r_train:
        return []
    he = _mean_tokens("base.jsonl", "humaneval") or _mean_tokens("harness_check.jsonl",
                                                                 "humaneval[:40]") or 170.0
    lcb = _mean_tokens("base.jsonl", "lcb-slice")
    lcb_note = "" if lcb else " (LCB answers assumed 2x HumanEval's length)"
    lcb = lcb or 2 * he
    full = [r for r in read_rows(DOCS / "ssd_samples.jsonl") if r["samples"] >= PLAN_PROMPTS]
    samp = full[0]["new_tokens"] / full[0]["samples"] if full else 350.0  # else ASSUMED

    def ev(models: int, temps: int, n: int, tokens: float, problems: int) -> float:
        return models * temps * n * problems * tokens / r_eval / 60

    def data(t_trains: int) -> float:
        return t_trains * PLAN_PROMPTS * samp / r_eval / 60

    def train(models: int) -> float:
        return models * PLAN_PROMPTS * PLAN_TRAIN_TOKENS / r_train / 60

    if not budget:
        rows = [
            ["E1 base model", f"HumanEval + LCB slice, n=5 at T_eval 0.4, 0.8{lcb_note}",
             ev(1, 2, 5, he, HUMANEVAL) + ev(1, 2, 5, lcb, LCB_SLICE_PROBLEMS)],
            ["E1 SSD data", f"2 T_train x {PLAN_PROMPTS} prompts", data(2)],
            ["E1 SSD training", f"4 LoRA models x {PLAN_PROMPTS} examples x "
             f"{PLAN_TRAIN_TOKENS} tokens", train(4)],
            ["E1 SSD evaluation", "4 models x (HumanEval + LCB slice) x 2 T_eval x n=5",
             ev(4, 2, 5, he, HUMANEVAL) + ev(4, 2, 5, lcb, LCB_SLICE_PROBLEMS)],
            ["E2 T_eff grid", "3 T_train (data + LoRA) + 9 cells x HumanEval n=2",
             data(3) + train(3) + ev(3, 3, 2, he, HUMANEVAL)],
            ["E3 SDPO vs GRPO", "2 runs x 16 steps x 4 prompts x G=8 x 300 tokens (sampling + "
             "2 scoring passes) + 2 models x HumanEval n=5 at 1 T_eval",
             2 * 16 * 4 * 8 * 300 / r_eval / 60 + 2 * 16 * 4 * 8 * 500 * 2 / r_train / 60
             + ev(2, 1, 5, he, HUMANEVAL)],
            ["E4 discover-bench", "selection: 100 problems x 16 samples; 6 problems x 3 seeds "
             "x 3 methods x 32 attempts x 300 tokens",
             100 * 16 * he / r_eval / 60 + 6 * 3 * 3 * 32 * 300 / r_eval / 60],
        ]
    else:
        rows = [
            ["E1 base model", f"HumanEval n=5 at T_eval 0.4, 0.8; LCB slice n=5 at 0.4"
             f"{lcb_note}", ev(1, 2, 5, he, HUMANEVAL) + ev(1, 1, 5, lcb, LCB_SLICE_PROBLEMS)],
            ["E1 SSD, T_train 1.6, both policies", f"1 x {PLAN_PROMPTS} samples; 2 LoRA models; "
             "each on HumanEval n=5 at 1 T_eval and the LCB slice n=5 at 1 T_eval",
             data(1) + train(2) + ev(2, 1, 5, he, HUMANEVAL) + ev(2, 1, 5, lcb,
                                                                 LCB_SLICE_PROBLEMS)],
            ["E1 SSD, T_train 1.0, paper policy", "the same for one model",
             data(1) + train(1) + ev(1, 1, 5, he, HUMANEVAL) + ev(1, 1, 5, lcb,
                                                                 LCB_SLICE_PROBLEMS)],
            ["E2, E3, E4", "do not fit (a 2 x 3 grid at HumanEval n=1 alone: "
             f"{data(2) + train(2) + ev(2, 3, 1, he, HUMANEVAL):.0f} CPU-minutes)", 0.0],
        ]
    return [[a, b, round(c)] for a, b, c in rows]


def plan_table() -> str:
    """The plan's CPU-minutes per experiment: the issue's design and the 10-hour one."""
    out = []
    for budget in (False, True):
        rows = plan_rows(budget)
        if not rows:
            return "(rates not measured yet)"
        total = sum(r[2] for r in rows)
        name = "within 10 CPU-hours" if budget else "the issue's design"
        out.append(f"**{name}** ({total} CPU-minutes = {total / 60:.1f} CPU-hours):\n\n"
                   + table(["experiment", "work", "CPU-minutes"], rows))
    return "\n\n".join(out)


def _on(row: dict, ids: set[str]) -> dict:
    """The row restricted to the problems in ids (both models of a pair on the same set)."""
    return {**row, "counts": {k: v for k, v in row["counts"].items() if k in ids}}


def _k(*rows: dict) -> int:
    """The pass@k a table shows: k = 5, or the fewest samples per problem when fewer."""
    return min([5] + [min(c[1] for c in r["counts"].values()) for r in rows if r["counts"]])


def ssd_table() -> str:
    """Each SSD model and the base at their best T_eval on the problems both have answered:
    pass@1 and pass@k (k = min(5, n)), paired gain, sign test."""
    base = read_rows(DOCS / "base.jsonl")
    ssd = read_rows(DOCS / "ssd.jsonl")
    if not ssd:
        return "(no SSD model evaluated yet)"
    out = []
    for bench in ("humaneval", "lcb-slice"):
        b_rows = [r for r in base if r["benchmark"] == bench]
        if not b_rows:
            continue
        for model, sset in _ssd_models(ssd, bench):
            s = _best(ssd, bench, model, sset)
            ids = set(s["counts"])  # a base sweep may cover more problems than the SSD one
            full = [r for r in b_rows if ids <= set(r["counts"])]  # a T_eval on a prefix
            b = max((_on(r, ids) for r in full or b_rows),  # only is no best-tuned base
                    key=lambda r: pass_k(r)["mean"])
            s = _on(s, set(b["counts"]))
            p = paired(b, s)
            k = _k(b, s)
            out.append([bench, model, p["problems"], f"{b['t_eval']:g} / {s['t_eval']:g}",
                        min(c[1] for c in s["counts"].values()), ci(pass_k(b)),
                        ci(pass_k(s)), k, ci(pass_k(b, k)), ci(pass_k(s, k)),
                        f"{100 * p['diff']:+.1f} [{100 * p['ci'][0]:+.1f}, "
                        f"{100 * p['ci'][1]:+.1f}]",
                        f"{p['better']} / {p['worse']}, p {p['sign_p']:.2f}", sset or "-"])
    return table(["benchmark", "SSD model", "problems", "best T_eval base / SSD", "n",
                  "base pass@1", "SSD pass@1", "k", "base pass@k", "SSD pass@k",
                  "SSD - base pass@1 [95% CI]", "better / worse, sign test",
                  "trained on samples"], out)


def _ssd_models(ssd: list[dict], bench: str) -> list[tuple[str, str | None]]:
    """(model, training sample set) of every SSD model evaluated on bench."""
    return sorted({(r["model"], r.get("sample_set")) for r in ssd if r["benchmark"] == bench},
                  key=lambda m: (m[0], m[1] or ""))


def _best(ssd: list[dict], bench: str, model: str, sset: str | None) -> dict:
    """One SSD model's row at its best T_eval on bench."""
    return max((r for r in ssd if r["benchmark"] == bench and r["model"] == model
                and r.get("sample_set") == sset), key=lambda r: pass_k(r)["mean"])


def _kept(r: dict) -> str:
    d = r.get("train_data") or {}
    return f"{d['kept']} of {d['samples']}" if d.get("samples") else "-"


def policy_table() -> str:
    """The two data policies at one T_train: default minus paper, paired per problem, each at
    its best T_eval, on the problems both answered; whether they trained on the same samples."""
    ssd = read_rows(DOCS / "ssd.jsonl")
    out = []
    for bench in ("humaneval", "lcb-slice"):
        models = _ssd_models(ssd, bench)
        for dm, dset in models:
            if not dm.startswith("ssd-default-"):
                continue
            for pm, pset in models:
                if pm != dm.replace("ssd-default-", "ssd-paper-"):
                    continue
                d, p_row = _best(ssd, bench, dm, dset), _best(ssd, bench, pm, pset)
                ids = set(d["counts"]) & set(p_row["counts"])
                d, p_row = _on(d, ids), _on(p_row, ids)
                p = paired(p_row, d)
                out.append([bench, dm[len("ssd-default-"):], p["problems"],
                            f"{p_row['t_eval']:g} / {d['t_eval']:g}",
                            f"{_kept(p_row)} / {_kept(d)}", ci(pass_k(p_row)), ci(pass_k(d)),
                            f"{100 * p['diff']:+.1f} [{100 * p['ci'][0]:+.1f}, "
                            f"{100 * p['ci'][1]:+.1f}]",
                            f"{p['better']} / {p['worse']}, p {p['sign_p']:.2f}",
                            "yes" if pset and pset == dset else f"no ({pset} / {dset})"])
    if not out:
        return "(no default-policy model beside a paper-policy one yet)"
    return table(["benchmark", "T_train", "problems", "best T_eval paper / default",
                  "trained on (kept of sampled) paper / default", "paper pass@1",
                  "default pass@1", "default - paper pass@1 [95% CI]",
                  "better / worse, sign test", "same training samples"], out)


def base_table() -> str:
    """The base model at every T_eval measured (pass@1, pass@k with k = min(5, n), cut answers)."""
    rows = read_rows(DOCS / "base.jsonl")
    if not rows:
        return "(base model: not evaluated yet)"
    out = []
    for r in rows:
        n = min(c[1] for c in r["counts"].values())
        groups = ["overall"] + sorted({d for d in r.get("difficulty", {}).values()
                                        if d != "unknown"})
        for g in groups:
            e = pass_k(r, 1, g)
            out.append([r["benchmark"], g, e["n_problems"] if e else "-",
                        f"{r['t_eval']:g}", n, ci(e), f"{_k(r)}: {ci(pass_k(r, _k(r), g))}",
                        f"{r['truncated']} of {r['samples']}",
                        round(r["new_tokens"] / max(r["samples"], 1))])
    return table(["benchmark", "difficulty", "problems", "T_eval", "n", "pass@1 [95% CI]",
                  "k: pass@k [95% CI]", "cut at 384 tokens", "mean tokens"], out)


def base_teval_table() -> str:
    """The base model's T_eval against each other, paired on the problems both swept (the
    best-tuned T_eval; a T_eval swept on a prefix is compared on that prefix only)."""
    rows = read_rows(DOCS / "base.jsonl")
    out = []
    for bench in ("humaneval", "lcb-slice"):
        rs = sorted((r for r in rows if r["benchmark"] == bench and (r["t_eval"] or 0) > 0),
                    key=lambda r: r["t_eval"])
        for i, a in enumerate(rs):
            for b in rs[i + 1:]:
                ids = set(a["counts"]) & set(b["counts"])
                a_on, b_on = _on(a, ids), _on(b, ids)
                p = paired(a_on, b_on)
                out.append([bench, p["problems"], f"{a['t_eval']:g} / {b['t_eval']:g}",
                            f"{_k(a_on)} / {_k(b_on)}", ci(pass_k(a_on)), ci(pass_k(b_on)),
                            f"{100 * p['diff']:+.1f} [{100 * p['ci'][0]:+.1f}, "
                            f"{100 * p['ci'][1]:+.1f}]",
                            f"{p['better']} / {p['worse']}, p {p['sign_p']:.2f}"])
    if not out:
        return "(the base model at one T_eval only)"
    return table(["benchmark", "problems", "T_eval a / b", "n a / b", "pass@1 at a",
                  "pass@1 at b", "b - a [95% CI]", "better / worse, sign test"], out)


def main() -> None:
    """Collect, report status, or print every table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--collect", metavar="ROOT")
    ap.add_argument("--status", metavar="ROOT")
    ap.add_argument("--docs", default=str(DOCS), help="the compact files' directory")
    args = ap.parse_args()
    set_docs(Path(args.docs))
    if args.collect:
        collect(Path(args.collect))
        return
    if args.status:
        status(Path(args.status))
        return
    if not DOCS.exists():
        sys.exit(f"no compact results at {DOCS}")
    for title, fn in (("Harness check (greedy, HumanEval's first 40)", harness_table),
                      ("Measured rates", rates_table), ("Cost of the issue's experiments",
                                                        plan_table),
                      ("Minimum detectable effects", mde_table),
                      ("Base model", base_table),
                      ("Base model: T_eval against T_eval", base_teval_table),
                      ("SSD vs base", ssd_table),
                      ("Data policies: default vs paper", policy_table)):
        print(f"### {title}\n\n{fn()}\n")


if __name__ == "__main__":
    main()
