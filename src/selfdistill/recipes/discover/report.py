"""RUN/report.md, RUN/discovery_at_k.png and RUN/summary.json of a discovery run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from selfdistill.analysis.credit_view import append_credit_section
from selfdistill.core.records import write_json_atomic
from selfdistill.evaluation.report import markdown_table, plot_curves_with_ci
from selfdistill.evaluation.report_html import write_html_report
from selfdistill.recipes.discover.config import DiscoverConfig


def _fmt_att(e: dict[str, Any] | None) -> str:
    if not e:
        return "n/a"
    lo, hi = e["ci"]
    return f"{e['mean']:.1f} [{lo:.1f}, {hi:.1f}]"


def write_report(run_dir: str | Path, summary: dict[str, Any], cfg: DiscoverConfig,
                 n_problems: int, title: str) -> Path:
    """RUN/report.md + RUN/discovery_at_k.png + RUN/summary.json from summarize_results."""
    run_dir = Path(run_dir)
    write_json_atomic(run_dir / "summary.json", summary)
    ms = summary["methods"]
    pct = int(round(100 * summary["conf"]))
    plot = plot_curves_with_ci(
        {m: [tuple(p) for p in v["plot_curve"]] for m, v in ms.items()},
        run_dir / "discovery_at_k.png", xlabel="attempts k", ylabel="discovery@k (%)",
        title=f"{n_problems} problem(s) x {cfg.seeds} seed(s), B={cfg.sampling.batch} "
              f"({pct}% bootstrap CI)")
    splot = plot_curves_with_ci(
        {m: [tuple(p) for p in v["plot_seconds_curve"]] for m, v in ms.items()},
        run_dir / "discovery_vs_seconds.png", xlabel="wall-clock seconds (sample + grade + "
        "update)", ylabel="discovered (%)",
        title=f"equal compute: {n_problems} problem(s) x {cfg.seeds} seed(s) ({pct}% CI)")
    curve_rows, att_rows, prob_headers, prob_rows = _tables(summary)
    s = cfg.sampling
    text = "\n\n".join([
        f"# {title}",
        f"Model `{cfg.model.spec}`; {n_problems} problem(s); {cfg.seeds} seed(s); budget "
        f"K = {cfg.budget} attempts; batch B = {s.batch}; sampler T = {s.temperature:g}, "
        f"top-k {s.top_k}, top-p {s.top_p:g}, max {s.max_new_tokens} new tokens. SDPO: "
        f"{cfg.optim.method} lr {cfg.optim.lr:g}, teacher {cfg.teacher.kind} "
        f"{cfg.teacher.rate:g}, {cfg.loss.divergence} on top-{cfg.loss.support_size}. "
        f"Multi-turn window: {cfg.multiturn.max_context_tokens or 'model context'} tokens.",
        "## discovery@k",
        f"Fraction of (problem, seed) runs whose first accepted attempt came within k "
        f"attempts; best_of_k: the unbiased pass@k estimator over all of a problem's samples "
        f"(every seed spends the full budget), averaged over problems. {pct}% percentile "
        "bootstrap CIs over runs.",
        markdown_table(["k", *ms], curve_rows),
        f"![discovery@k]({plot.name})",
        *_seconds_sections(summary, pct),
        f"![discovery vs seconds]({splot.name})",
        *_selection_sections(summary, pct),
        "## Attempts to first success",
        "Mean attempt index of the first success among solved runs, and the mean with "
        "unsolved runs counted as the budget (a lower bound on the true mean). best_of_k: "
        "the position of the first accepted sample in each seed's i.i.d. sequence.",
        markdown_table(["method", "solved runs", f"mean attempts, solved [{pct}% CI]",
                        f"mean attempts, censored at K [{pct}% CI]", "wall s / attempt"],
                       att_rows),
        "## Per problem",
        "Per method: solved seeds, mean attempts censored at K, and each seed's attempt "
        "index (- = not solved). Speed-up = best_of_k's censored mean / the method's "
        "(> 1: faster than best-of-k; - where neither solved).",
        markdown_table(prob_headers, prob_rows),
    ])
    path = run_dir / "report.md"
    path.write_text(text + "\n")
    append_credit_section(path)  # links to saved token credit (analysis/credit_view.py)
    write_html_report(path)  # report.html beside it (report_html.py)
    return path


def _curve_cell(mean: float, lo: float, hi: float) -> str:
    return "n/a" if math.isnan(mean) else f"{100 * mean:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"


def _seconds_sections(summary: dict[str, Any], pct: int) -> list[str]:
    """Equal compute: discovered within t seconds, and where each method's time goes."""
    ms = summary["methods"]
    rows = [[f"{t:.3g}", *[_curve_cell(*v["seconds_curve"][i][1:]) for v in ms.values()]]
            for i, t in enumerate(summary["seconds_ts"])]
    split = [[m, f"{v['seconds_per_attempt']:.2f}",
              *[f"{v['seconds_split'][k]:.2f}" for k in ("sample", "grade", "update")]]
             for m, v in ms.items()]
    return [
        "## Equal compute: discovered within t seconds",
        "Fraction of (problem, seed) runs whose first accepted attempt came within t seconds "
        "of sample + grade + update time (the whole step holding the success counts; model "
        "loading excluded); every method by its runs' measured times, best_of_k included. "
        f"t runs up to the equal-compute horizon {summary['seconds_horizon']:.0f} s: the "
        "shortest of the methods' times to spend the budget K (past it a cheaper method "
        f"would have had attempts left). {pct}% percentile bootstrap CIs over runs.",
        markdown_table(["t (s)", *ms], rows),
        "Where the time goes (seconds per attempt):",
        markdown_table(["method", "total", "sample", "grade", "update"], split),
    ]


def _selection_sections(summary: dict[str, Any], pct: int) -> list[str]:
    """The --select-hard estimates and the very-hard subset's curve (when there is one)."""
    sel = summary.get("selection")
    if sel is None:
        return []
    k = sel["k"]
    chosen, very = set(sel["chosen"]), set(sel["very_hard"])
    rows = [[e["problem_id"], f"{e['c']}/{e['n']}", f"{e['pass_at_k']:.3f}",
             "very hard" if e["problem_id"] in very else
             "hard" if e["problem_id"] in chosen else "-"] for e in sel["estimates"]]
    out = ["## Selection: hard for this model",
           f"pass@{k} of each pool problem from its selection samples (unbiased estimator); "
           f"hard: pass@{k} < {sel['threshold']:g}, very hard: < {sel['very_hard_threshold']:g}. "
           f"{len(chosen)} chosen ({len(very)} very hard) of {len(sel['estimates'])}.",
           markdown_table(["problem", "passed", f"pass@{k}", "chosen"], rows)]
    vh = summary.get("very_hard")
    if vh:
        vms = vh["methods"]
        vrows = [[kk, *[_curve_cell(*v["curve"][i][1:]) for v in vms.values()]]
                 for i, kk in enumerate(vh["ks"])]
        out += [f"### discovery@k on the very-hard subset ({len(very)} problems, {pct}% CI)",
                markdown_table(["k", *vms], vrows)]
    return out


def _tables(summary: dict[str, Any]) -> tuple[list[list[Any]], list[list[Any]], list[str],
                                             list[list[Any]]]:
    """Rows of the report's three tables: curve, attempts, per problem (with its headers)."""
    ms = summary["methods"]
    ks = summary["ks"]
    curve_rows = []
    for k_i, k in enumerate(ks):
        row: list[Any] = [k]
        for v in ms.values():
            _, mean, lo, hi = v["curve"][k_i]
            row.append("n/a" if math.isnan(mean) else
                       f"{100 * mean:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]")
        curve_rows.append(row)
    att_rows = [[m, f"{v['attempts']['solved']}/{v['attempts']['runs']}",
                 _fmt_att(v["attempts"]["mean_solved"]),
                 _fmt_att(v["attempts"]["mean_censored"]),
                 f"{v['wall_seconds_per_attempt']:.2f}"] for m, v in ms.items()]
    prob_rows = []
    others = [m for m in ms if m != "best_of_k"]
    for pid, row in summary["problems"].items():
        cells: list[Any] = [pid]
        for m in ms:
            e = row.get(m)
            cells.append("-" if e is None else
                         f"{e['solved']}/{e['runs']}, {e['mean_censored']:.1f} "
                         f"({', '.join('-' if a is None else str(a) for a in e['attempt_indices'])})")
        if "best_of_k" in row:
            for m in others:
                e = row.get(m)
                both_unsolved = e is not None and e["solved"] == 0 and row["best_of_k"]["solved"] == 0
                cells.append("-" if e is None or both_unsolved else
                             f"{e['speedup_vs_best_of_k']:.2f}x")
        prob_rows.append(cells)
    prob_headers = ["problem", *[f"{m}: solved, mean att. (per seed)" for m in ms]]
    if "best_of_k" in ms:
        prob_headers += [f"{m} speed-up vs best_of_k" for m in others]
    return curve_rows, att_rows, prob_headers, prob_rows
