"""discovery@k curves with bootstrap CIs, attempts to first success, per-problem speed-ups.

discovery@k itself is metrics.discovery_at_k (runs) and metrics.best_of_k_discovery_mean
(the best-of-k baseline); this module pools a recipe's RunResults into them and adds the
joint bootstrap over (problem, seed) runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from selfdistill.evaluation.metrics import best_of_k_discovery_mean, bootstrap_ci, discovery_at_k
from selfdistill.recipes.discover.loop import RunResult


def default_ks(budget: int, batch: int) -> list[int]:
    """Curve points: powers of two, multiples of the batch (at most ~24) and the budget."""
    ks = {1, budget}
    k = 1
    while k <= budget:
        ks.add(k)
        k *= 2
    step = batch * max(1, math.ceil(budget / batch / 24))
    ks.update(range(step, budget + 1, step))
    return sorted(ks)


def _times(results: Sequence[RunResult]) -> np.ndarray:
    return np.array([np.inf if r.attempt_index is None else float(r.attempt_index)
                     for r in results])


def _seconds(results: Sequence[RunResult]) -> np.ndarray:
    """Seconds to the first success (inf if unsolved); rows written before the field
    existed fall back to the run's whole time (sdpo/multiturn stop at the success)."""
    return np.array([np.inf if not r.solved else
                     float(r.seconds if r.seconds_to_success is None else r.seconds_to_success)
                     for r in results])


def seconds_per_attempt(results: Sequence[RunResult]) -> float:
    """Sample + grade + update seconds per attempt over a method's runs."""
    spent = sum(r.seconds_sample + r.seconds_grade + r.seconds_update for r in results)
    return spent / max(1, sum(r.attempts_used for r in results))


def seconds_horizon(by_method: dict[str, Sequence[RunResult]], budget: int) -> float:
    """Equal-compute horizon: the shortest of the methods' times to spend the budget K
    (seconds per attempt x K). Past it a cheaper method had budget left unused."""
    return min(seconds_per_attempt(rs) * budget for rs in by_method.values())


def seconds_curve_with_ci(results: Sequence[RunResult], ts: Sequence[float],
                          conf: float = 0.90, n_boot: int = 2000, seed: int = 0
                          ) -> list[tuple[float, float, float, float]]:
    """(t, mean, lo, hi): the fraction of runs solved within t seconds (metrics.discovery_at_k
    on seconds), percentile bootstrap over runs. Every method, best_of_k included, is
    counted by its runs' measured times (no estimator exists for seconds)."""
    t = _seconds(results)
    mean = discovery_at_k(list(t), ts)
    ind = np.stack([t <= x for x in ts], axis=1).astype(float)
    boots = ind[np.random.default_rng(seed).integers(0, len(t), size=(n_boot, len(t)))
                ].mean(axis=1)
    lo = np.quantile(boots, (1 - conf) / 2, axis=0)
    hi = np.quantile(boots, 1 - (1 - conf) / 2, axis=0)
    return [(float(x), float(m), float(a), float(b)) for x, m, a, b in zip(ts, mean, lo, hi,
                                                                           strict=True)]


def best_of_k_curve(results: Sequence[RunResult], ks: Sequence[int]) -> np.ndarray:
    """Mean over problems of the unbiased pass@k of each problem's pooled samples (all seeds)."""
    pooled: dict[str, list[int]] = {}
    for r in results:
        n, c = pooled.setdefault(r.problem_id, [0, 0])
        pooled[r.problem_id] = [n + r.attempts_used, c + r.n_correct]
    ns = [v[0] for v in pooled.values()]
    cs = [v[1] for v in pooled.values()]
    return np.array(best_of_k_discovery_mean(ns, cs, ks))


def method_curve(method: str, results: Sequence[RunResult], ks: Sequence[int]) -> np.ndarray:
    """discovery@k of one method (metrics.py): unbiased best-of-k estimator, or the fraction
    of runs whose first success came within k attempts."""
    if method == "best_of_k":
        return best_of_k_curve(results, ks)
    return np.array(discovery_at_k([r.attempt_index for r in results], ks))


def curve_with_ci(method: str, results: Sequence[RunResult], ks: Sequence[int],
                  conf: float = 0.90, n_boot: int = 2000, seed: int = 0
                  ) -> list[tuple[int, float, float, float]]:
    """(k, mean, lo, hi) with a percentile bootstrap over runs (problem x seed units)."""
    mean = method_curve(method, results, ks)
    rng = np.random.default_rng(seed)
    n = len(results)
    boots = np.empty((n_boot, len(ks)))
    if method == "best_of_k":
        for b in range(n_boot):
            idx = rng.integers(0, n, n)
            boots[b] = best_of_k_curve([results[i] for i in idx], ks)
    else:
        ind = np.stack([_times(results) <= k for k in ks], axis=1).astype(float)  # [n, K]
        boots = ind[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
    alpha = 1 - conf
    lo = np.nanquantile(boots, alpha / 2, axis=0)
    hi = np.nanquantile(boots, 1 - alpha / 2, axis=0)
    return [(int(k), float(m), float(a), float(b)) for k, m, a, b in zip(ks, mean, lo, hi,
                                                                          strict=True)]


def attempts_summary(results: Sequence[RunResult], budget: int, conf: float = 0.90,
                     n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Mean attempts to first success: among solved runs, and censored at the budget."""
    t = _times(results)
    solved = t[np.isfinite(t)]
    cens = np.minimum(t, float(budget))
    out: dict[str, Any] = {"runs": int(t.size), "solved": int(solved.size)}
    out["mean_solved"] = ({"mean": float(solved.mean()),
                           "ci": list(bootstrap_ci(solved, n_boot=n_boot, conf=conf, seed=seed))}
                          if solved.size else None)
    out["mean_censored"] = {"mean": float(cens.mean()),
                            "ci": list(bootstrap_ci(cens, n_boot=n_boot, conf=conf, seed=seed))}
    return out


def summarize_results(results: Sequence[RunResult], methods: Sequence[str], budget: int,
                      batch: int, ks: Sequence[int] | None = None, conf: float = 0.90,
                      n_boot: int = 2000) -> dict[str, Any]:
    """Curves with CIs, attempts to first success, and per-problem speed-ups vs best-of-k."""
    ks = list(ks or default_ks(budget, batch))
    plot_ks = sorted(set(ks) | set(range(1, budget + 1, max(1, budget // 64))) | {budget})
    by_method = {m: [r for r in results if r.method == m] for m in methods}
    by_method = {m: rs for m, rs in by_method.items() if rs}
    out: dict[str, Any] = {"budget": budget, "batch": batch, "ks": ks, "conf": conf,
                           "methods": {}, "problems": {}}
    horizon = seconds_horizon(by_method, budget) if by_method else 0.0
    out["seconds_horizon"] = horizon
    out["seconds_ts"] = [round(horizon * i / 8, 3) for i in range(1, 9)]
    for m, rs in by_method.items():
        full = seconds_per_attempt(rs) * budget  # this method's time for the whole budget
        plot_ts = [full * i / 48 for i in range(1, 49)]
        out["methods"][m] = {
            "curve": curve_with_ci(m, rs, ks, conf, n_boot),
            "plot_curve": curve_with_ci(m, rs, plot_ks, conf, min(n_boot, 500)),
            "seconds_curve": seconds_curve_with_ci(rs, out["seconds_ts"], conf, n_boot),
            "plot_seconds_curve": seconds_curve_with_ci(rs, plot_ts, conf, min(n_boot, 500)),
            "attempts": attempts_summary(rs, budget, conf, n_boot),
            "wall_seconds_per_attempt": sum(r.seconds for r in rs)
            / max(1, sum(r.attempts_used for r in rs)),
            "seconds_per_attempt": seconds_per_attempt(rs),
            "seconds_split": {k: sum(getattr(r, f"seconds_{k}") for r in rs)
                              / max(1, sum(r.attempts_used for r in rs))
                              for k in ("sample", "grade", "update")},
        }
    pids = sorted({r.problem_id for r in results})
    for pid in pids:
        row: dict[str, Any] = {}
        for m, rs in by_method.items():
            mine = [r for r in rs if r.problem_id == pid]
            if not mine:
                continue
            t = _times(mine)
            row[m] = {"solved": int(np.isfinite(t).sum()), "runs": len(mine),
                      "mean_censored": float(np.minimum(t, budget).mean()),
                      "attempt_indices": [r.attempt_index for r in mine]}
        if "best_of_k" in row:
            base = row["best_of_k"]["mean_censored"]
            for m in row:
                if m != "best_of_k":
                    row[m]["speedup_vs_best_of_k"] = base / row[m]["mean_censored"]
        out["problems"][pid] = row
    return out
