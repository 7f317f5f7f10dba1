"""pass@k, bootstrap CIs, summaries and discovery@k."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdistill.evaluation.metrics import (
    ProblemResult,
    best_of_k_discovery,
    best_of_k_discovery_mean,
    bootstrap_ci,
    discovery_at_k,
    discovery_at_k_ci,
    pass_at_k,
    pass_at_k_array,
    sign_test_p,
    summarize,
)


@st.composite
def nck(draw, max_n=9):
    n = draw(st.integers(1, max_n))
    c = draw(st.integers(0, n))
    k = draw(st.integers(1, n))
    return n, c, k


def brute_force_pass_at_k(n: int, c: int, k: int) -> float:
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(samples, k))
    return sum(any(s) for s in subsets) / len(subsets)


@given(nck())
def test_pass_at_k_matches_enumeration_of_all_k_subsets(args):
    n, c, k = args
    assert pass_at_k(n, c, k) == pytest.approx(brute_force_pass_at_k(n, c, k), abs=1e-12)


@given(nck(max_n=60))
def test_pass_at_k_bounds_and_vectorised_agrees(args):
    n, c, k = args
    v = pass_at_k(n, c, k)
    assert 0.0 <= v <= 1.0
    assert pass_at_k_array([n], [c], k)[0] == pytest.approx(v, abs=1e-12)


@given(nck(max_n=40))
def test_pass_at_k_monotone_in_k_and_c(args):
    n, c, k = args
    v = pass_at_k(n, c, k)
    if k < n:
        assert pass_at_k(n, c, k + 1) >= v - 1e-12
    if c < n:
        assert pass_at_k(n, c + 1, k) >= v - 1e-12


def test_pass_at_k_known_values_and_edges():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(10, 6, 5) == 1.0  # n - c < k: every 5-subset holds a success
    assert pass_at_k(5, 1, 5) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(5, 6, 1)
    with pytest.raises(ValueError):
        pass_at_k(5, 1, 6)


def test_pass_at_k_is_stable_for_large_n():
    v = pass_at_k(200_000, 3, 1000)
    expected = 1 - math.comb(200_000 - 3, 1000) / math.comb(200_000, 1000)
    assert v == pytest.approx(expected, rel=1e-9)
    assert pass_at_k_array([200_000], [3], 1000)[0] == pytest.approx(expected, rel=1e-9)


def test_pass_at_k_array_broadcasts_a_shared_n():
    np.testing.assert_allclose(pass_at_k_array(10, [0, 1, 10], 5), [0.0, 0.5, 1.0])
    assert pass_at_k_array([], [], 1).shape == (0,)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=40), st.integers(0, 10_000))
def test_bootstrap_ci_contains_the_mean(values, seed):
    lo, hi = bootstrap_ci(values, n_boot=500, seed=seed)
    m = float(np.mean(values))
    assert lo - 1e-9 <= m <= hi + 1e-9
    assert 0.0 - 1e-12 <= lo <= hi <= 1.0 + 1e-12


def test_bootstrap_ci_is_seeded_and_accepts_other_stats():
    vals = np.random.default_rng(1).random(50)
    assert bootstrap_ci(vals, seed=3) == bootstrap_ci(vals, seed=3)
    lo, hi = bootstrap_ci(vals, stat=np.median, n_boot=300, conf=0.9)
    assert lo <= np.median(vals) <= hi
    with pytest.raises(ValueError):
        bootstrap_ci([])


def test_summarize_breaks_down_by_difficulty():
    results = [
        ProblemResult("a", 10, 3, "easy"),
        {"problem_id": "b", "n": 10, "c": 0, "difficulty": "hard"},
        {"problem_id": "c", "passed": [True] * 10, "difficulty": "hard"},
    ]
    s = summarize(results, ks=(1, 5, 20), n_boot=200)
    assert set(s) == {"overall", "easy", "hard"}
    assert s["overall"]["n_problems"] == 3
    assert s["overall"]["pass@1"]["mean"] == pytest.approx((0.3 + 0 + 1) / 3)
    assert s["hard"]["pass@5"]["mean"] == pytest.approx(0.5)
    assert "pass@20" not in s["overall"]  # k > n is not estimable
    lo, hi = s["overall"]["pass@1"]["ci"]
    assert lo <= s["overall"]["pass@1"]["mean"] <= hi


def test_discovery_at_k_curve_and_ci():
    firsts = [1, 5, None, 20]
    assert discovery_at_k(firsts, [1, 4, 5, 19, 20, 10_000]) == [0.25, 0.25, 0.5, 0.5, 0.75, 0.75]
    cis = discovery_at_k_ci(firsts, [1, 20], n_boot=300)
    for (lo, hi), v in zip(cis, discovery_at_k(firsts, [1, 20]), strict=True):
        assert lo <= v <= hi


@given(st.lists(st.one_of(st.none(), st.integers(1, 50)), min_size=1, max_size=30))
def test_discovery_curve_is_monotone_and_bounded(firsts):
    ks = list(range(1, 60, 3))
    curve = discovery_at_k(firsts, ks)
    assert all(0 <= v <= 1 for v in curve)
    assert all(a <= b for a, b in itertools.pairwise(curve))


def test_best_of_k_curve_is_pass_at_k():
    curve = best_of_k_discovery(64, 1, [1, 16, 64, 65])
    assert curve[:3] == pytest.approx([1 / 64, 16 / 64, 1.0])
    assert math.isnan(curve[3])
    mean = best_of_k_discovery_mean([64, 64], [1, 0], [1, 16])
    assert mean == pytest.approx([0.5 / 64, 0.125])


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 12), st.integers(0, 12))
def test_sign_test_matches_enumeration_of_fair_coin_splits(better, worse):
    """p = share of the 2^n fair-coin splits at least as uneven as the observed one."""
    n = better + worse
    observed = abs(better - worse)
    splits = [sum(bits) for bits in itertools.product((0, 1), repeat=n)]
    expected = sum(abs(2 * b - n) >= observed for b in splits) / len(splits)
    assert math.isclose(sign_test_p(better, worse), expected, rel_tol=1e-12)
    assert sign_test_p(better, worse) == sign_test_p(worse, better)


def test_sign_test_known_values_and_bad_input():
    assert sign_test_p(0, 0) == 1.0
    assert sign_test_p(4, 2) == pytest.approx(0.6875)  # the study's T_train 0.8 split
    assert sign_test_p(6, 0) == pytest.approx(2 / 64)
    assert sign_test_p(20, 5) < 0.01
    with pytest.raises(ValueError):
        sign_test_p(-1, 3)
