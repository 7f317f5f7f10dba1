"""The SSD paper's temperature law: pass@1 against T_eff = T_train x T_eval.

The paper fits pass@1 of SSD models sampled without truncation against the effective
temperature T_eff = T_train * T_eval and finds one optimum (near 1.2) whatever the split.
Greedy evaluation (T_eval = 0) is not a point of that law: it gives T_eff = 0 for every
T_train while the models differ, so `fit_t_eff` keeps greedy points out of the fit (and
reports how many it left out). With per-problem pass rates the optimum gets a bootstrap CI
over problems (the same problems resampled for every point, as they are paired).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def fit_quadratic(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """Least-squares y = a x^2 + b x + c; R^2 and the vertex (best x) when concave."""
    import numpy as np

    xs, ys = np.asarray(x, float), np.asarray(y, float)
    a, b, c = np.polyfit(xs, ys, 2)
    pred = a * xs**2 + b * xs + c
    ss_res = float(((ys - pred) ** 2).sum())
    ss_tot = float(((ys - ys.mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    best = float(-b / (2 * a)) if a < 0 else float(xs[int(np.argmax(ys))])
    return {"a": float(a), "b": float(b), "c": float(c), "r2": r2, "best_t_eff": best,
            "concave": bool(a < 0)}


def fit_t_eff(points: Sequence[Mapping[str, Any]], n_boot: int = 0, seed: int = 0,
              conf: float = 0.95) -> dict[str, Any]:
    """Quadratic fit of pass@1 on T_eff over the sampled points; greedy points left out.

    points: {t_train, t_eval, pass@1} each, optionally "rates": per-problem pass rates in
    one problem order shared by all points (needed for the bootstrap, n_boot > 0). Returns
    the fit (fit_quadratic's keys), n_points, greedy_left_out, and with the bootstrap
    best_t_eff_ci (percentile CI of the vertex over concave resamples) and concave_share.
    """
    import numpy as np

    sampled = [p for p in points if float(p["t_eval"]) > 0]
    greedy = len(points) - len(sampled)
    x = [float(p["t_train"]) * float(p["t_eval"]) for p in sampled]
    if len(set(x)) < 3:
        raise ValueError(f"a quadratic needs 3 distinct T_eff values among the sampled points, "
                         f"got {len(set(x))} ({greedy} greedy point(s) left out)")
    fit: dict[str, Any] = fit_quadratic(x, [float(p["pass@1"]) for p in sampled])
    fit.update(n_points=len(sampled), greedy_left_out=greedy)
    if n_boot > 0:
        rates = np.asarray([p["rates"] for p in sampled], float)  # points x problems
        rng = np.random.default_rng(seed)
        xs, bests, concave = np.asarray(x), [], 0
        for _ in range(n_boot):
            idx = rng.integers(0, rates.shape[1], rates.shape[1])
            a, b, _c = np.polyfit(xs, rates[:, idx].mean(1), 2)
            if a < 0:
                concave += 1
                bests.append(-b / (2 * a))
        fit["concave_share"] = concave / n_boot
        if bests:
            lo, hi = np.quantile(bests, [(1 - conf) / 2, (1 + conf) / 2])
            fit["best_t_eff_ci"] = [float(lo), float(hi)]
    return fit
