"""Report building blocks: markdown tables, CI formatting, matplotlib plots, and the
temperature-sweep tables and plot every evaluation report shows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from selfdistill.evaluation.metrics import TemperatureResult
from selfdistill.problems import Problem


def fmt_pct(x: float | None) -> str:
    """0.1234 -> '12.3%'."""
    return "n/a" if x is None else f"{100 * x:.1f}%"


def fmt_ci(entry: dict[str, Any] | None) -> str:
    """{'mean': m, 'ci': [lo, hi]} -> '12.3% [8.0, 17.1]'."""
    if not entry:
        return "n/a"
    lo, hi = entry["ci"]
    return f"{100 * entry['mean']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(map(str, headers)) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


def pyplot() -> Any:
    """matplotlib.pyplot on the headless Agg backend (imported on first use: slow to import)."""
    import matplotlib

    matplotlib.use("Agg")  # no display here or in CI
    import matplotlib.pyplot as plt

    return plt


def plot_curves_with_ci(
    curves: dict[str, list[tuple[float, float, float, float]]],
    path: str | Path,
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    logx: bool = False,
) -> Path:
    """Plot labelled (x, mean, lo, hi) curves with shaded CIs; return the PNG path."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for label, pts in curves.items():
        pts = sorted(pts)
        xs = [p[0] for p in pts]
        ax.plot(xs, [100 * p[1] for p in pts], marker="o", label=label)
        ax.fill_between(xs, [100 * p[2] for p in pts], [100 * p[3] for p in pts], alpha=0.2)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_heatmap(values: Sequence[Sequence[float]], rows: Sequence[float], cols: Sequence[float],
                 path: str | Path, *, xlabel: str, ylabel: str, title: str) -> Path:
    """A labelled heatmap (values in [0, 1] shown as percentages)."""
    plt = pyplot()
    import numpy as np

    arr = 100 * np.asarray(values, dtype=float)
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=120)
    im = ax.imshow(arr, cmap="viridis", origin="lower", aspect="auto")
    ax.set_xticks(range(len(cols)), [f"{c:g}" for c in cols])
    ax.set_yticks(range(len(rows)), [f"{r:g}" for r in rows])
    for i in range(arr.shape[0]):
        for j in range(arr.shape[1]):
            ax.text(j, i, f"{arr[i, j]:.1f}", ha="center", va="center", color="white",
                    fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="pass@1 (%)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


# ---------------------------------------------------------------- temperature sweeps


def results_table(results_by_label: dict[str, list[TemperatureResult]], ks: list[int]) -> str:
    """Markdown: one row per (model, temperature) with pass@k and CIs."""
    rows = []
    for label, results in results_by_label.items():
        for r in results:
            row = [label, "file" if math.isnan(r.temperature) else f"{r.temperature:g}", r.n]
            row += [fmt_ci(r.summary["overall"].get(f"pass@{k}")) for k in ks]
            row += [fmt_pct(r.no_code_rate), fmt_pct(r.truncation_rate)]
            rows.append(row)
    headers = ["model", "T_eval", "n", *[f"pass@{k} [95% CI]" for k in ks], "no code",
               "truncated"]
    return markdown_table(headers, rows)


def difficulty_groups(results: list[TemperatureResult]) -> list[str]:
    """'overall' then the difficulties that have problems (never an empty/unknown row)."""
    order = {"easy": 0, "medium": 1, "hard": 2}
    found = {g for r in results for g, e in r.summary.items()
             if g not in ("overall", "unknown") and e.get("n_problems")}
    return ["overall", *sorted(found, key=lambda g: (order.get(g, 9), g))]


def difficulty_table(results_by_label: dict[str, TemperatureResult],
                     ks: list[int] | tuple[int, ...] = (1,)) -> str:
    """Markdown: pass@k (95% CI) per difficulty for each labelled result and each k."""
    results = list(results_by_label.values())
    rows = []
    for g in difficulty_groups(results):
        row: list[Any] = [g, results[0].summary.get(g, {}).get("n_problems", 0)]
        for r in results:
            row += [fmt_ci(r.summary.get(g, {}).get(f"pass@{k}")) for k in ks]
        rows.append(row)
    if len(ks) == 1:
        heads = list(results_by_label)
    elif len(results_by_label) == 1:
        heads = [f"pass@{k} [95% CI]" for k in ks]
    else:
        heads = [f"{label} pass@{k}" for label in results_by_label for k in ks]
    return markdown_table(["difficulty", "problems", *heads], rows)


def contest_window(problems: list[Problem]) -> str | None:
    """'contest dates A .. B (N problems)' for dated problems (LiveCodeBench), else None."""
    days = sorted(str(p.contest_date)[:10] for p in problems if p.contest_date)
    if not days:
        return None
    return f"contest dates {days[0]} .. {days[-1]} ({len(days)} problems)"


def plot_temperature_sweep(results_by_label: dict[str, list[TemperatureResult]],
                           path: str | Path, title: str) -> Path:
    """pass@1 (95% CI) against T_eval, one curve per model."""
    curves = {}
    for label, results in results_by_label.items():
        pts = []
        for r in results:
            e = r.pass1()
            if e:
                pts.append((r.temperature, e["mean"], e["ci"][0], e["ci"][1]))
        curves[label] = pts
    return plot_curves_with_ci(curves, path, xlabel="evaluation temperature T_eval",
                               ylabel="pass@1 (%)", title=title)
