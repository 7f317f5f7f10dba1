"""Report building blocks: markdown tables, CI formatting, matplotlib plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


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


def _plt() -> Any:
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
    plt = _plt()
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
    plt = _plt()
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
