"""pass@k, discovery@k and bootstrap confidence intervals.

pass@k uses the unbiased estimator of Chen et al. (2021): with n samples of which c are
correct, pass@k = 1 - C(n-c, k) / C(n, k), computed as a product so no huge binomials
appear. Confidence intervals are percentile bootstraps over problems (or seeds).

discovery@k (test-time discovery): for each seed/problem, the 1-based number of attempts
spent up to and including the first success (None if none within the budget);
discovery@k is the fraction with that number <= k. The best-of-k baseline's expected
discovery@k curve is pass@k of its independent samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Stat = Callable[[np.ndarray], float]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct: 1 - C(n-c,k)/C(n,k)."""
    if not (0 <= c <= n) or k < 1:
        raise ValueError(f"need 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}")
    if k > n:
        raise ValueError(f"pass@{k} needs at least k samples, got n={n}")
    if n - c < k:
        return 1.0
    # C(n-c,k)/C(n,k) = prod_{i=n-c+1}^{n} (1 - k/i); summed in log space for large c
    log_fail = math.fsum(math.log1p(-k / i) for i in range(n - c + 1, n + 1))
    return float(1.0 - math.exp(log_fail))


def pass_at_k_array(
    n: Sequence[int] | np.ndarray | int, c: Sequence[int] | np.ndarray, k: int
) -> np.ndarray:
    """Vectorised pass@k for per-problem sample counts n (or one shared n) and correct counts c."""
    n_arr, c_arr = np.broadcast_arrays(np.asarray(n, dtype=np.int64), np.asarray(c, dtype=np.int64))
    if n_arr.size == 0:
        return np.zeros(n_arr.shape)
    if k < 1 or np.any(c_arr < 0) or np.any(c_arr > n_arr):
        raise ValueError("need 0 <= c <= n and k >= 1")
    if np.any(n_arr < k):
        raise ValueError(f"pass@{k} needs at least k samples for every problem")
    # S[m] = sum_{i=k+1}^{m} log(1 - k/i); log C(n-c,k)/C(n,k) = S[n] - S[n-c] when n-c >= k
    i = np.arange(1, int(n_arr.max()) + 1, dtype=float)
    terms = np.where(i > k, np.log1p(-k / np.maximum(i, k + 1)), 0.0)
    s_cum = np.concatenate([[0.0], np.cumsum(terms)])
    fail_possible = (n_arr - c_arr) >= k
    log_fail = s_cum[n_arr] - s_cum[np.where(fail_possible, n_arr - c_arr, 0)]
    return np.where(fail_possible, 1.0 - np.exp(log_fail), 1.0)


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    stat: Stat = np.mean,
    n_boot: int = 2000,
    conf: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap (lo, hi) of stat over the values (resampled with replacement)."""
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError("bootstrap_ci needs a non-empty 1-D sequence of values")
    if not 0 < conf < 1:
        raise ValueError(f"conf must be in (0, 1), got {conf}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    if stat is np.mean:
        stats = x[idx].mean(axis=1)
    else:
        stats = np.array([stat(x[row]) for row in idx])
    alpha = 1.0 - conf
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def sign_test_p(better: int, worse: int) -> float:
    """Exact two-sided sign test: P(a split at least this uneven | no effect), ties left out.

    A paired bootstrap over problems that rests on a handful of problems that differ is
    optimistic; this p-value asks only "how often would a fair coin split the differing
    problems this unevenly", which is honest at any count.
    """
    if better < 0 or worse < 0:
        raise ValueError(f"counts must be >= 0, got {better}, {worse}")
    n = better + worse
    if n == 0:
        return 1.0
    tail = math.fsum(math.comb(n, i) for i in range(min(better, worse) + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


@dataclass
class ProblemResult:
    """Graded samples of one problem: n samples, c of them correct."""

    problem_id: str
    n: int
    c: int
    difficulty: str = "unknown"


def _as_result(r: ProblemResult | Mapping[str, Any]) -> ProblemResult:
    if isinstance(r, ProblemResult):
        return r
    if "passed" in r and ("n" not in r or "c" not in r):
        passed = list(r["passed"])
        return ProblemResult(
            str(r.get("problem_id", "")),
            len(passed),
            int(sum(map(bool, passed))),
            r.get("difficulty", "unknown"),
        )
    return ProblemResult(
        str(r.get("problem_id", "")),
        int(r["n"]),
        int(r["c"]),
        r.get("difficulty", "unknown") or "unknown",
    )


def summarize(
    results: Iterable[ProblemResult | Mapping[str, Any]],
    ks: Sequence[int] = (1,),
    n_boot: int = 2000,
    conf: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """pass@k with bootstrap CIs, overall and per difficulty.

    results: ProblemResults or dicts with n and c (or a `passed` list of bools) and
    difficulty. Returns {"overall": {...}, "easy": {...}, ...}, each
    {"n_problems": int, "pass@k": {"mean": float, "ci": [lo, hi]}, ...}; a k larger than
    some problem's n is left out of that group. Problems without a difficulty ("unknown",
    e.g. all of HumanEval) count in "overall" only: no "unknown" group is reported.
    """
    rs = [_as_result(r) for r in results]
    groups: dict[str, list[ProblemResult]] = {"overall": rs}
    for r in rs:
        if r.difficulty and r.difficulty != "unknown":
            groups.setdefault(r.difficulty, []).append(r)
    out: dict[str, dict[str, Any]] = {}
    for name in ["overall", *sorted(g for g in groups if g != "overall")]:
        members = groups[name]
        entry: dict[str, Any] = {"n_problems": len(members)}
        for k in ks:
            if not members or any(r.n < k for r in members):
                continue
            vals = pass_at_k_array([r.n for r in members], [r.c for r in members], k)
            lo, hi = bootstrap_ci(vals, n_boot=n_boot, conf=conf, seed=seed)
            entry[f"pass@{k}"] = {"mean": float(vals.mean()), "ci": [lo, hi]}
        out[name] = entry
    return out


def _first_success_array(first_success_attempts: Sequence[int | None]) -> np.ndarray:
    return np.array([np.inf if a is None else float(a) for a in first_success_attempts])


def discovery_at_k(first_success_attempts: Sequence[int | None], ks: Sequence[int]) -> list[float]:
    """For each k, the fraction of seeds whose first success came within k attempts."""
    t = _first_success_array(first_success_attempts)
    if t.size == 0:
        raise ValueError("discovery_at_k needs at least one seed")
    return [float(np.mean(t <= k)) for k in ks]


def discovery_at_k_ci(
    first_success_attempts: Sequence[int | None],
    ks: Sequence[int],
    n_boot: int = 2000,
    conf: float = 0.95,
    seed: int = 0,
) -> list[tuple[float, float]]:
    """Bootstrap (lo, hi) over seeds of discovery@k for each k."""
    t = _first_success_array(first_success_attempts)
    return [bootstrap_ci((t <= k).astype(float), n_boot=n_boot, conf=conf, seed=seed) for k in ks]


def best_of_k_discovery(n: int, c: int, ks: Sequence[int]) -> list[float]:
    """Expected discovery@k of best-of-k sampling from n independent samples (c correct).

    This is the unbiased pass@k for each k; NaN where k > n (not estimable).
    """
    return [pass_at_k(n, c, k) if k <= n else float("nan") for k in ks]


def best_of_k_discovery_mean(
    ns: Sequence[int], cs: Sequence[int], ks: Sequence[int]
) -> list[float]:
    """best_of_k_discovery averaged over problems (NaN where any problem has n < k)."""
    curves = np.array([best_of_k_discovery(n, c, ks) for n, c in zip(ns, cs, strict=True)])
    return [float(v) for v in curves.mean(axis=0)]


@dataclass
class TemperatureResult:
    """pass@k of one model at one evaluation temperature."""

    temperature: float
    n: int
    summary: dict[str, dict[str, Any]]
    no_code_rate: float
    truncation_rate: float
    status_counts: dict[str, int]
    per_problem: list[dict[str, Any]] = field(default_factory=list)

    def pass1(self, group: str = "overall") -> dict[str, Any] | None:
        """{'mean', 'ci'} of pass@1 in a group, if measured."""
        return self.summary.get(group, {}).get("pass@1")


def best_temperature(results: list[TemperatureResult]) -> TemperatureResult:
    """The temperature with the highest overall pass@1 (the fair, tuned baseline)."""
    return max(results, key=lambda r: (r.pass1() or {"mean": -1})["mean"])


def result_ks(results: list[TemperatureResult], k_values: list[int]) -> list[int]:
    """The k values measured in every result (k <= n), at least [1]."""
    return sorted({k for r in results for k in k_values
                   if f"pass@{k}" in r.summary.get("overall", {})}) or [1]


def paired_gain(base: TemperatureResult, ssd: TemperatureResult, seed: int = 0
                ) -> dict[str, Any]:
    """Mean per-problem pass@1 difference with a paired bootstrap CI over problems."""
    b = {r["problem_id"]: r["c"] / r["n"] for r in base.per_problem}
    s = {r["problem_id"]: r["c"] / r["n"] for r in ssd.per_problem}
    common = sorted(set(b) & set(s))
    diffs = np.array([s[p] - b[p] for p in common])
    if diffs.size == 0:
        return {"gain": 0.0, "ci": [0.0, 0.0], "problems": 0, "differing": 0,
                "better": 0, "worse": 0, "sign_p": 1.0}
    lo, hi = bootstrap_ci(diffs, seed=seed)
    better, worse = int(np.count_nonzero(diffs > 0)), int(np.count_nonzero(diffs < 0))
    return {"gain": float(diffs.mean()), "ci": [lo, hi], "problems": len(common),
            "differing": better + worse, "better": better, "worse": worse,
            "sign_p": sign_test_p(better, worse)}
