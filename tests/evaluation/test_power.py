"""The minimum detectable effect of a paired pass@1 comparison (evaluation/power.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdistill.evaluation.power import (
    bernoulli_variances,
    paired_mde,
    paired_se,
    samples_for_mde,
)

rates = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=60)


def test_mde_matches_the_hand_formula():
    # 100 problems at p = 0.5, 4 samples: var(d_i) = 2 * 0.25 / 4 = 0.125
    se = math.sqrt(100 * 0.125) / 100
    assert paired_se([0.5] * 100, 4) == pytest.approx(se)
    assert paired_mde([0.5] * 100, 4) == pytest.approx((1.959964 + 0.841621) * se, rel=1e-5)
    assert paired_mde([0.5] * 100, 4, power=0.5) == pytest.approx(1.959964 * se, rel=1e-5)


def test_simulated_power_at_the_mde_is_the_promised_power():
    """A user's check: a true effect of exactly the MDE is found about 80% of the time."""
    rng = np.random.default_rng(0)
    p = rng.uniform(0.25, 0.65, size=164)
    n = 4
    mde = paired_mde(p.tolist(), n)
    reps = 4000
    base = rng.binomial(n, p, size=(reps, p.size)) / n
    ssd = rng.binomial(n, p + mde, size=(reps, p.size)) / n
    d = ssd - base
    t = d.mean(1) / (d.std(1, ddof=1) / math.sqrt(p.size))
    power = float((np.abs(t) > 1.96).mean())
    assert 0.76 < power < 0.84
    null = rng.binomial(n, p, size=(reps, p.size)) / n - base
    t0 = null.mean(1) / (null.std(1, ddof=1) / math.sqrt(p.size))
    assert float((np.abs(t0) > 1.96).mean()) < 0.07  # the level holds under no effect


@settings(max_examples=60, deadline=None)
@given(rates, st.integers(1, 30))
def test_more_samples_never_raise_the_mde(ps, n):
    assert paired_mde(ps, n + 1) <= paired_mde(ps, n) + 1e-12


@settings(max_examples=60, deadline=None)
@given(rates, st.integers(1, 16))
def test_four_times_the_problems_halve_the_mde(ps, n):
    assert paired_mde(ps * 4, n) == pytest.approx(paired_mde(ps, n) / 2, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(rates, st.floats(0.0, 0.5))
def test_effect_heterogeneity_only_raises_the_mde(ps, tau):
    assert paired_mde(ps, 4, tau=tau) >= paired_mde(ps, 4) - 1e-12


def test_solved_or_hopeless_problems_carry_no_sampling_noise():
    assert paired_se([0.0, 1.0, 1.0], 8) == 0.0
    assert bernoulli_variances([0.5], n_measured=2) == [0.25]  # capped at p(1-p)'s maximum
    assert bernoulli_variances([0.25], n_measured=4) == [pytest.approx(0.25 * 0.75 * 4 / 3)]


def test_samples_for_mde_is_the_first_n_that_reaches_the_target():
    ps = [0.3, 0.5, 0.7] * 50
    n = samples_for_mde(ps, 0.05)
    assert n is not None and paired_mde(ps, n) <= 0.05 < paired_mde(ps, n - 1)
    # a floor from heterogeneity: z * tau / sqrt(N) can exceed any target
    assert samples_for_mde(ps, 0.01, tau=0.5, max_n=64) is None


def test_rates_from_one_sample_per_problem_are_refused():
    """One sample per problem gives rates of 0 or 1, whose p(1-p) is 0: an MDE of 0 would be
    a false claim of precision, so the variance estimate is refused."""
    with pytest.raises(ValueError, match="at least 2"):
        paired_mde([0.0, 1.0, 1.0, 0.0], 5, n_measured=1)
    assert paired_mde([0.0, 1.0, 0.5, 0.5], 5, n_measured=2) > 0


@pytest.mark.parametrize("bad", [{"n_samples": 0}, {"rates": [1.5]}, {"rates": []}])
def test_bad_input_is_refused(bad):
    with pytest.raises(ValueError):
        paired_mde(bad.get("rates", [0.5]), bad.get("n_samples", 4))
