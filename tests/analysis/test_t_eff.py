"""The T_eff law's fit (analysis/t_eff.py): greedy points stay out, the optimum gets a CI."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdistill.analysis.t_eff import fit_t_eff


def _law(t_eff: float) -> float:
    return 0.5 - 0.2 * (t_eff - 1.2) ** 2  # peak 0.5 at T_eff 1.2


def _grid(greedy_pass: float | None = None) -> list[dict]:
    pts = [{"t_train": tt, "t_eval": te, "pass@1": _law(tt * te)}
           for tt in (0.6, 1.0, 1.4) for te in (0.4, 0.8, 1.2)]
    if greedy_pass is not None:  # greedy: T_eff 0 for every T_train, the models differ
        pts += [{"t_train": tt, "t_eval": 0.0, "pass@1": greedy_pass} for tt in (0.6, 1.0, 1.4)]
    return pts


def test_greedy_points_are_left_out_of_the_fit():
    clean = fit_t_eff(_grid())
    with_greedy = fit_t_eff(_grid(greedy_pass=0.55))  # greedy better than any sampled point
    assert clean["best_t_eff"] == pytest.approx(1.2, abs=1e-6)
    assert with_greedy["best_t_eff"] == pytest.approx(1.2, abs=1e-6)
    assert with_greedy["greedy_left_out"] == 3 and with_greedy["n_points"] == 9
    assert with_greedy["r2"] == pytest.approx(1.0)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.3, 2.5), st.floats(0.05, 1.0), st.floats(0.0, 1.0))
def test_any_law_with_greedy_noise_is_recovered(peak, curvature, greedy):
    pts = [{"t_train": tt, "t_eval": te, "pass@1": 0.6 - curvature * (tt * te - peak) ** 2}
           for tt in (0.5, 1.0, 1.5) for te in (0.3, 0.9, 1.5)]
    pts += [{"t_train": tt, "t_eval": 0.0, "pass@1": greedy} for tt in (0.5, 1.0, 1.5)]
    assert fit_t_eff(pts)["best_t_eff"] == pytest.approx(peak, rel=1e-4, abs=1e-4)


def test_too_few_sampled_points_is_a_clear_error():
    pts = [{"t_train": 1.0, "t_eval": t, "pass@1": 0.5} for t in (0.0, 0.4, 0.8)]
    with pytest.raises(ValueError, match="3 distinct T_eff.*1 greedy"):
        fit_t_eff(pts)


def test_bootstrap_ci_covers_the_true_optimum_of_simulated_problems():
    rng = np.random.default_rng(1)
    n_problems = 200
    skill = rng.uniform(0.2, 0.8, n_problems)
    pts = []
    for tt in (0.6, 1.0, 1.4):
        for te in (0.0, 0.4, 0.8, 1.2):
            p = np.clip(skill + _law(tt * te) - 0.5, 0, 1) if te else skill
            rates = rng.binomial(8, p) / 8
            pts.append({"t_train": tt, "t_eval": te, "pass@1": float(rates.mean()),
                        "rates": rates.tolist()})
    fit = fit_t_eff(pts, n_boot=300, seed=0)
    lo, hi = fit["best_t_eff_ci"]
    assert lo < 1.2 < hi and hi - lo < 0.6
    assert fit["concave_share"] > 0.95
