"""`selfdistill evaluate`'s report: report.md (+ plot, report.html) and results.json."""

from __future__ import annotations

import json
import math
from pathlib import Path

from selfdistill.evaluation.config import EvalConfig
from selfdistill.evaluation.metrics import TemperatureResult, best_temperature, result_ks
from selfdistill.evaluation.report import (
    contest_window,
    difficulty_table,
    fmt_ci,
    markdown_table,
    plot_temperature_sweep,
    results_table,
)
from selfdistill.evaluation.report_html import write_html_report
from selfdistill.problems import Problem


def write_eval_report(run_dir: Path, model_spec: str, benchmark: str,
                      problems: list[Problem], results: list[TemperatureResult],
                      cfg: EvalConfig, note: str | None = None) -> tuple[Path, str]:
    """report.md + plot for a single-model evaluation; returns (path, per-difficulty table)."""
    label = "model"
    plot = None
    if any(not math.isnan(r.temperature) for r in results):  # graded files may have no T
        plot = plot_temperature_sweep({label: results}, run_dir / "pass1_vs_temperature.png",
                                      f"{model_spec} on {benchmark}")
    best = best_temperature(results)
    ks = result_ks(results, cfg.k_values)
    best_ks = result_ks([best], cfg.k_values)
    window = contest_window(problems)
    graded_file = math.isnan(best.temperature)  # `--samples` rows without one temperature
    where = "graded file" if graded_file else f"T={best.temperature:g}"
    by_difficulty = difficulty_table({where: best}, tuple(best_ks))
    text = "\n\n".join(x for x in [
        f"# Evaluation: {model_spec} on {benchmark}",
        note or (f"{len(problems)} problems; top-k {cfg.top_k}, top-p {cfg.top_p} at T > 0; "
                 f"greedy at T = 0; max {cfg.max_new_tokens} new tokens."),
        f"Harness: {getattr(cfg, 'harness', 'official')} (docs/evaluation.md)."
        + (f" LiveCodeBench window: {window}." if window else "")
        + " pass@k: the unbiased estimator over n samples per problem; CIs: 95% percentile "
        "bootstrap over problems.",
        results_table({label: results}, ks),
        (f"Graded file: `{model_spec}`, pass@1 {fmt_ci(best.pass1())} (its rows name no "
         "single temperature)." if graded_file else
         f"Best temperature: **{best.temperature:g}** with pass@1 {fmt_ci(best.pass1())}."),
        f"## Per difficulty ({where}, n={best.n})",
        by_difficulty,
        f"![pass@1 vs temperature]({plot.name})" if plot else "",
        "## Verdicts\n\n" + markdown_table(
            ["T_eval", *sorted({s for r in results for s in r.status_counts})],
            [["file" if math.isnan(r.temperature) else f"{r.temperature:g}",
              *[r.status_counts.get(s, 0) for s in
                                      sorted({s for x in results for s in x.status_counts})]]
             for r in results]),
    ] if x)
    path = run_dir / "report.md"
    path.write_text(text + "\n")
    write_html_report(path)  # report.html beside it (report_html.py)
    return path, by_difficulty


def write_results(run_dir: Path, model_spec: str, benchmark: str, n_problems: int,
                  results: list[TemperatureResult], harness: str) -> None:
    """RUN/results.json: the evaluation's numbers for scripts (model, benchmark, pass@k per T)."""
    (run_dir / "results.json").write_text(json.dumps(
        {"model": model_spec, "benchmark": benchmark, "n_problems": n_problems,
         "harness": harness,
         "temperatures": [{"temperature": r.temperature, "n": r.n, "summary": r.summary}
                          for r in results]}, indent=2))
