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
    paired,
    pass_k,
    rates,
    read_rows,
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


def collect(root: Path) -> None:
    """Compact files from the run directories under root (harness check, base, SSD runs)."""
    out: dict[str, list[dict]] = {"harness_check": [], "base": [], "ssd": []}
    for name, model in (("sd-greedy40", "selfdistill"), ("evalplus-greedy40", "evalplus-style")):
        tdir = root / "check" / name / "model"
        for t in sorted(tdir.glob("T*")) if tdir.exists() else []:
            if (t / "verdicts.jsonl").exists():
                out["harness_check"].append(compact_row(
                    t, exp="harness-check", model="base", benchmark="humaneval[:40]",
                    harness=model))
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
        for sub, bench in ((run, "humaneval"), (run / "lcb", "lcb-slice")):
            diff = _difficulty(lcb_bench) if bench == "lcb-slice" and lcb_bench else None
            for t in sorted((sub / "eval" / "ssd").glob("T*")):
                if (t / "verdicts.jsonl").exists():
                    out["ssd"].append(compact_row(
                        t, exp="ssd", model=f"ssd-{policy}-{t_train}", benchmark=bench,
                        harness="selfdistill", difficulty=diff, policy=policy,
                        t_train=float(t_train[1:]), train_data={k: stats.get(k) for k in (
                            "samples", "kept", "dropped", "truncation_rate", "no_code_rate")}))
    for name, rows in out.items():
        if rows:
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
    a, b = rows["selfdistill"], rows["evalplus-style"]
    p = paired(b, a)
    both = sum(1 for i in a["counts"] if a["counts"][i][0] and b["counts"].get(i, [0])[0])
    lines = [table(["harness", "problems", "greedy pass@1 [95% CI]", "answers cut", "no code"],
                   [[h, len(r["counts"]), ci(pass_k(r)), r["truncated"], r["no_code"]]
                    for h, r in (("selfdistill", a), ("EvalPlus-style prefill", b))])]
    lines.append(f"\nselfdistill minus EvalPlus-style: {100 * p['diff']:+.1f} points "
                 f"[{100 * p['ci'][0]:+.1f}, {100 * p['ci'][1]:+.1f}]; solved by both {both}, "
                 f"only selfdistill {p['better']}, only EvalPlus-style {p['worse']} "
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
        elif r["part"] == "evaluate":
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
        got = base_rates(bench)
        if got is None:
            out.append([bench, "-", "-", "base model's sampled rates not measured yet", "", ""])
            continue
        rs, m, t = got
        scale = (len(rs) / n_total) ** 0.5  # the same rate mix over the whole set
        for n in (1, 2, 5, 10):
            mde = paired_mde(rs, n, n_measured=m) * scale
            half = paired_mde(rs, n, power=0.5, n_measured=m) * scale
            tau = paired_mde(rs, n, tau=0.1, n_measured=m) * scale
            out.append([bench, f"{len(rs)} of {n_total} measured at T {t:g} (n={m})", n,
                        pct(mde), pct(half), pct(tau)])
    return table(["benchmark", "base rates from", "samples per problem and model",
                  "MDE, points (tau 0)", "CI half-width", "MDE if effects vary (tau 0.1)"], out)


def ssd_table() -> str:
    """Each SSD model and the base at their best T_eval: pass@1/@5, paired gain, sign test."""
    base = read_rows(DOCS / "base.jsonl")
    ssd = read_rows(DOCS / "ssd.jsonl")
    if not ssd:
        return "(no SSD model evaluated yet)"
    out = []
    for bench in ("humaneval", "lcb-slice"):
        b_rows = [r for r in base if r["benchmark"] == bench]
        if not b_rows:
            continue
        b = max(b_rows, key=lambda r: pass_k(r)["mean"])
        for model in sorted({r["model"] for r in ssd if r["benchmark"] == bench}):
            s_rows = [r for r in ssd if r["benchmark"] == bench and r["model"] == model]
            s = max(s_rows, key=lambda r: pass_k(r)["mean"])
            p = paired(b, s)
            out.append([bench, model, f"{b['t_eval']:g} / {s['t_eval']:g}", ci(pass_k(b)),
                        ci(pass_k(s)), ci(pass_k(b, 5)), ci(pass_k(s, 5)),
                        f"{100 * p['diff']:+.1f} [{100 * p['ci'][0]:+.1f}, "
                        f"{100 * p['ci'][1]:+.1f}]",
                        f"{p['better']} / {p['worse']}, p {p['sign_p']:.2f}"])
    return table(["benchmark", "SSD model", "best T_eval base / SSD", "base pass@1",
                  "SSD pass@1", "base pass@5", "SSD pass@5", "SSD - base pass@1 [95% CI]",
                  "better / worse, sign test"], out)


def base_table() -> str:
    """The base model at every T_eval measured (pass@1, pass@5, cut answers)."""
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
                        f"{r['t_eval']:g}", n, ci(e), ci(pass_k(r, 5, g)),
                        f"{r['truncated']} of {r['samples']}",
                        round(r["new_tokens"] / max(r["samples"], 1))])
    return table(["benchmark", "difficulty", "problems", "T_eval", "n", "pass@1 [95% CI]",
                  "pass@5 [95% CI]", "cut at 384 tokens", "mean tokens"], out)


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
                      ("Measured rates", rates_table), ("Minimum detectable effects", mde_table),
                      ("Base model", base_table), ("SSD vs base", ssd_table)):
        print(f"### {title}\n\n{fn()}\n")


if __name__ == "__main__":
    main()
