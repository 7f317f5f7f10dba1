"""SSD's reports: report.md (base vs SSD, the paired gain) and grid_report.md, + .html."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selfdistill.core.records import write_json_atomic
from selfdistill.evaluation.metrics import TemperatureResult, best_temperature
from selfdistill.evaluation.report import (
    difficulty_table,
    fmt_ci,
    fmt_pct,
    markdown_table,
    results_table,
)
from selfdistill.evaluation.report_html import write_html_report
from selfdistill.problems import Problem
from selfdistill.recipes.ssd.config import SSDConfig, SSDGridConfig


def write_report(cfg: SSDConfig, run_dir: Path, problems: list[Problem],
                 results: dict[str, list[TemperatureResult]], paired: dict[str, Any],
                 plot: Path, ks: list[int]) -> Path:
    """RUN/report.md + report.html + results.json: base vs SSD at their best temperatures."""
    base_best, ssd_best = best_temperature(results["base"]), best_temperature(results["ssd"])
    stats_path = run_dir / "sample" / "stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    gain = paired["gain"]
    verdict = ("SSD is better" if paired["ci"][0] > 0 else
               "SSD is worse" if paired["ci"][1] < 0 else "no significant difference")
    text = "\n\n".join([
        "# SSD report",
        f"Model `{cfg.model.spec}`; training prompts `{cfg.sample.source}` sampled at "
        f"T_train={cfg.sample.temperature:g}, top-k {cfg.sample.top_k}, "
        f"top-p {cfg.sample.top_p}, at most {cfg.sample.max_new_tokens} tokens; "
        f"{stats.get('kept', '?')} of {stats.get('samples', '?')} answers kept (no correctness "
        f"filter). {_data_line(stats)} Fine-tuning: {cfg.train.method}, lr "
        f"{cfg.train.lr:g} -> {cfg.train.lr_end:g} cosine, {cfg.train.epochs:g} epoch(s).",
        f"Benchmark `{cfg.eval.benchmark}`, {len(problems)} problems; evaluation top-k "
        f"{cfg.eval.top_k}, top-p {cfg.eval.top_p} at T > 0, greedy at T = 0. "
        "CIs are 95% percentile bootstraps over problems.",
        "## Headline: SSD vs the best-tuned base temperature",
        markdown_table(
            ["", "best T_eval", "pass@1 [95% CI]"],
            [["base", f"{base_best.temperature:g}", fmt_ci(base_best.pass1())],
             ["SSD", f"{ssd_best.temperature:g}", fmt_ci(ssd_best.pass1())]]),
        f"Gain (SSD best minus base best, paired over problems): **{100 * gain:+.1f} points**, "
        f"95% CI [{100 * paired['ci'][0]:+.1f}, {100 * paired['ci'][1]:+.1f}] -> {verdict}. "
        f"Answers cut at the token limit: base {fmt_pct(base_best.truncation_rate)}, SSD "
        f"{fmt_pct(ssd_best.truncation_rate)} (at their best T_eval).",
        "**Reading it:** " + _reading_note(paired, base_best, len(problems)),
        "## All temperatures",
        results_table(results, ks),
        f"![pass@1 vs T_eval]({plot.name})",
        "## Per difficulty (each model at its best temperature)",
        difficulty_table({f"base T={base_best.temperature:g}": base_best,
                          f"SSD T={ssd_best.temperature:g}": ssd_best}),
    ])
    report = run_dir / "report.md"
    report.write_text(text + "\n")
    write_html_report(report)  # report.html beside it (report_html.py)
    write_json_atomic(run_dir / "results.json", {
        "base_best": {"temperature": base_best.temperature, "pass@1": base_best.pass1()},
        "ssd_best": {"temperature": ssd_best.temperature, "pass@1": ssd_best.pass1()},
        "paired_gain": paired,
        "all": {label: [{"temperature": r.temperature, "summary": r.summary} for r in rs]
                for label, rs in results.items()},
    })
    return report


def write_grid_report(run_dir: Path, g: SSDGridConfig, matrix: list[list[float]],
                      fit: dict[str, Any], heat: Path) -> Path:
    """RUN/grid_report.md + .html: pass@1 over T_train x T_eval and the quadratic fit."""
    text = "\n\n".join([
        "# SSD temperature grid (no truncation)",
        markdown_table(["T_train \\ T_eval", *[f"{t:g}" for t in g.eval_temperatures]],
                       [[f"{tt:g}", *[fmt_pct(v) for v in row]]
                        for tt, row in zip(g.train_temperatures, matrix, strict=True)]),
        (f"No quadratic fit of pass@1 on T_eff: {fit['error']}." if "error" in fit else
         f"Quadratic fit of pass@1 on T_eff = T_train x T_eval over {fit['n_points']} sampled "
         f"points ({fit['greedy_left_out']} greedy left out): R^2 = {fit['r2']:.3f}, "
         f"best T_eff = {fit['best_t_eff']:.2f} (paper: best near 1.2 on large models)."),
        f"![heatmap]({heat.name})",
    ])
    report = run_dir / "grid_report.md"
    report.write_text(text + "\n")
    write_html_report(report)  # grid_report.html beside it (report_html.py)
    return report


def _data_line(stats: dict[str, Any]) -> str:
    """One sentence: the training data's truncation/no-code rates and what the policy dropped."""
    if not stats:
        return ""
    pol = stats.get("policy", {})
    why = ", ".join(f"{v} {k}" for k, v in sorted(stats.get("dropped", {}).items())) or "none"
    return (f"Of the sampled answers {fmt_pct(stats['truncation_rate'])} hit the token limit "
            f"and {fmt_pct(stats['no_code_rate'])} held no code; dropped: {why} (truncated "
            f"answers: {pol.get('truncated', '?')}, stub rule: {pol.get('stub_rule', '?')}).")


def _reading_note(paired: dict[str, Any], base_best: Any, n_problems: int) -> str:
    """Two sentences: what this evaluation's size can and cannot show."""
    half = 50 * (paired["ci"][1] - paired["ci"][0])
    n = base_best.n
    k = paired.get("differing")
    split = (f"; {paired['better']} better, {paired['worse']} worse, exact sign test "
             f"p = {paired['sign_p']:.2f}" if "sign_p" in paired else "")
    rests = (f" and rests on the {k} problem(s) where the two models' pass rates differ (a "
             f"bootstrap over so few is optimistic{split})" if k is not None and k < 10 else "")
    return (f"With {n_problems} problems and {n} sample(s) per problem and temperature, the "
            f"paired 95% CI of the gain is about ±{half:.1f} points wide{rests}: it can show that "
            "this regime trains without breaking the model (pass@1, truncation and no-code "
            "rates stay in range) and would catch a large change, but not a gain of a few "
            "points. A smaller gain needs more problems or more samples per problem "
            "(evaluation/power.py gives the minimum detectable effect of a planned size).")
