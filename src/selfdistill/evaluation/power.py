"""Power of a paired pass@1 comparison: the smallest difference an experiment can detect.

Two models are evaluated on the same N problems with n samples each. Per problem the
difference of their pass rates d_i = s_i - b_i has, with both models near the base rate
p_i, the sampling variance 2 p_i (1 - p_i) / n, plus tau^2 if the true effect itself varies
across problems (some problems get better, some worse). The mean difference then has
variance sum_i (2 p_i (1 - p_i) / n + tau^2) / N^2, and a two-sided test at level alpha
detects a true mean difference of

    MDE = (z_{1 - alpha/2} + z_{power}) * sqrt(Var(mean d))

with the given power. With power 0.5 the MDE equals the half-width of the paired CI.
tau = 0 is the optimistic case (the effect is the same on every problem). Greedy decoding
has no sampling variance: its differences are all model change, i.e. tau; plan with
sampled evaluations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist


def _z(q: float) -> float:
    return NormalDist().inv_cdf(q)


def bernoulli_variances(rates: Sequence[float], n_measured: int | None = None) -> list[float]:
    """p (1 - p) per problem; unbiased (x m / (m - 1)) when rates came from m samples each."""
    if n_measured is not None and n_measured < 2:  # each rate is 0 or 1: variance 0, falsely
        raise ValueError(f"rates measured from {n_measured} sample(s) per problem cannot "
                         "estimate a variance; measure at least 2 per problem")
    scale = n_measured / (n_measured - 1) if n_measured else 1.0
    out = []
    for p in rates:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"a pass rate must be in [0, 1], got {p}")
        out.append(min(0.25, p * (1.0 - p) * scale))
    return out


def paired_se(base_rates: Sequence[float], n_samples: int, tau: float = 0.0,
              n_measured: int | None = None) -> float:
    """Standard error of the mean paired pass@1 difference over the problems (see module doc)."""
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    if not base_rates:
        raise ValueError("no problems")
    v = bernoulli_variances(base_rates, n_measured)
    total = sum(2.0 * x / n_samples + tau * tau for x in v)
    return math.sqrt(total) / len(v)


def paired_mde(base_rates: Sequence[float], n_samples: int, *, alpha: float = 0.05,
               power: float = 0.8, tau: float = 0.0, n_measured: int | None = None) -> float:
    """Smallest true mean pass@1 difference detected with `power` by a two-sided paired test."""
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise ValueError("alpha and power must be in (0, 1)")
    se = paired_se(base_rates, n_samples, tau, n_measured)
    return (_z(1.0 - alpha / 2.0) + _z(power)) * se


def samples_for_mde(base_rates: Sequence[float], target: float, *, alpha: float = 0.05,
                    power: float = 0.8, tau: float = 0.0, n_measured: int | None = None,
                    max_n: int = 4096) -> int | None:
    """The fewest samples per problem whose MDE is at most target (None: not within max_n)."""
    for n in range(1, max_n + 1):
        if paired_mde(base_rates, n, alpha=alpha, power=power, tau=tau,
                      n_measured=n_measured) <= target:
            return n
    return None
