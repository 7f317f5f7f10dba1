"""`discover-bench --select-hard POOL`: the problems that are hard *for this model*.

The SDPO paper runs test-time discovery on the questions the model itself rarely solves
(pass@64 < 0.5; "very hard": pass@64 < 0.03). Here: sample n answers per pool problem
with the discovery sampler and prompt, grade them, estimate pass@k with the unbiased
estimator (evaluation/metrics.pass_at_k), keep the problems under the threshold.

Sampling and grading are `evaluate`'s resumable stages (evaluation/stages.py), so a
killed selection resumes where it stopped:

    RUN/select/samples.jsonl    one record per (problem_id, sample_idx)
    RUN/select/verdicts.jsonl   the sandbox's verdict for each
    RUN/select/selection.json   every pool problem's (n, c, pass@k) and the chosen ids

Resolution: with n samples, pass@k = 1 - C(n-c, k) / C(n, k); with n == k it is 0 or 1.
n = 4k keeps c <= 2 successes under 0.5 (n=256, k=64) and only c = 0 under 0.03, so the
"very hard" subset is, in practice, "no success in n samples".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfdistill.core.records import write_json_atomic
from selfdistill.errors import UserError
from selfdistill.evaluation.metrics import pass_at_k
from selfdistill.evaluation.stages import (
    grade_stage,
    per_problem_counts,
    rows_per_call,
    sample_stage,
)
from selfdistill.execution import SandboxConfig
from selfdistill.problems.registry import load_source
from selfdistill.recipes.discover.config import DiscoverConfig

_SPLIT = re.compile(r"\+(?=(?:builtin|humaneval|lcb|mbpp|evalplus|jsonl)\b)")


@dataclass
class Estimate:
    """One pool problem's graded selection samples and its pass@k estimate."""

    problem_id: str
    n: int
    c: int
    pass_at_k: float


@dataclass
class Selection:
    """The chosen (hard) problems, the very-hard subset and every estimate."""

    k: int
    threshold: float
    very_hard_threshold: float
    estimates: list[Estimate]
    chosen: list[str]  # problem ids, in run order
    very_hard: list[str]  # chosen ids with pass@k < very_hard_threshold

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (selection.json)."""
        return {"k": self.k, "threshold": self.threshold,
                "very_hard_threshold": self.very_hard_threshold,
                "estimates": [e.__dict__ for e in self.estimates],
                "chosen": self.chosen, "very_hard": self.very_hard}


def parse_pool(pool: str | Sequence[str]) -> list[str]:
    """Problem specs of a pool: a list, or one string joined by '+' (builtin:dev+humaneval)."""
    items = [pool] if isinstance(pool, str) else list(pool)
    specs = [s.strip() for item in items for s in _SPLIT.split(item) if s.strip()]
    if not specs:
        raise UserError("--select-hard needs a pool, e.g. builtin:dev+humaneval?limit=20.")
    return specs


def load_pool(specs: Sequence[str]) -> list[Any]:
    """The pool's problems, in spec order, each id once."""
    seen: dict[str, Any] = {}
    for spec in specs:
        for p in load_source(spec):
            seen.setdefault(p.id, p)
    if not seen:
        raise UserError(f"the pool {' + '.join(specs)} holds no problems.")
    return list(seen.values())


def choose(estimates: Sequence[Estimate], k: int, threshold: float, very_hard: float,
           max_problems: int | None = None, order: str = "pool") -> Selection:
    """Keep pass@k < threshold; order (pool, or highest estimate first) and cap them."""
    hard = [e for e in estimates if e.pass_at_k < threshold]
    if order == "estimate":  # stable: ties keep pool order
        hard = sorted(hard, key=lambda e: -e.pass_at_k)
    hard = hard[:max_problems] if max_problems else hard
    return Selection(k, threshold, very_hard, list(estimates), [e.problem_id for e in hard],
                     [e.problem_id for e in hard if e.pass_at_k < very_hard])


def estimate_pool(generator: Any, problems: Sequence[Any], cfg: DiscoverConfig,
                  out_dir: str | Path) -> list[Estimate]:
    """Sample select.n answers per problem with the discovery sampler, grade, pass@k each.

    The prompt and code extraction are the discovery loop's (prompts.build_chat,
    extract_code: the stages' defaults), so the estimate is of the same task the methods see.
    """
    sel, s = cfg.select, cfg.sampling
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = s.sampling_params(sel.n, sel.seed, s.stop)
    samples = sample_stage(generator, problems, params, out_dir / "samples.jsonl",
                           chunk_size=rows_per_call(s.gen_batch_size), description="select: sample")
    verdicts = grade_stage(samples, problems, out_dir / "verdicts.jsonl",
                           sandbox_config=SandboxConfig(timeout_s=cfg.timeout_s),
                           description="select: grade")
    counts = {r["problem_id"]: r for r in per_problem_counts(problems, verdicts)}
    return [Estimate(p.id, counts[p.id]["n"], counts[p.id]["c"],
                     pass_at_k(counts[p.id]["n"], counts[p.id]["c"], sel.k)) for p in problems]


def select_hard(generator: Any, cfg: DiscoverConfig, run_dir: str | Path
                ) -> tuple[Selection, list[Any]]:
    """Estimate the pool's pass@k, choose the hard subset, write selection.json; resumable."""
    sel = cfg.select
    problems = load_pool(parse_pool(sel.pool))
    out_dir = Path(run_dir) / "select"
    _check_same_selection(out_dir, cfg)
    estimates = estimate_pool(generator, problems, cfg, out_dir)
    selection = choose(estimates, sel.k, sel.threshold, sel.very_hard, sel.max_problems,
                       sel.order)
    write_json_atomic(out_dir / "selection.json", selection.to_dict())
    by_id = {p.id: p for p in problems}
    return selection, [by_id[i] for i in selection.chosen]


def _check_same_selection(out_dir: Path, cfg: DiscoverConfig) -> None:
    """Refuse to resume selection samples drawn with another sampler or seed."""
    import json

    s = cfg.sampling
    key = {"model": cfg.model.spec, "seed": cfg.select.seed, "temperature": s.temperature,
           "top_k": s.top_k, "top_p": s.top_p, "max_new_tokens": s.max_new_tokens,
           "stop": list(s.stop), "timeout_s": cfg.timeout_s}
    path = out_dir / "sampler.json"
    if path.is_file():
        old = json.loads(path.read_text())
        diff = sorted(k for k in key if old.get(k) != key[k])
        if diff:
            raise UserError(f"{out_dir} holds selection samples made with other settings "
                            f"({', '.join(diff)}); use a new run directory.")
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, key)


def selection_lines(selection: Selection) -> list[str]:
    """One line per chosen problem (its estimate) and a summary line, for the console."""
    by_id = {e.problem_id: e for e in selection.estimates}
    k = selection.k
    lines = [f"hard subset: {len(selection.chosen)} of {len(selection.estimates)} pool problems "
             f"with pass@{k} < {selection.threshold:g}; very hard (< "
             f"{selection.very_hard_threshold:g}): {len(selection.very_hard)}"]
    for pid in selection.chosen:
        e = by_id[pid]
        tag = " (very hard)" if pid in selection.very_hard else ""
        lines.append(f"  {pid}: pass@{k} = {e.pass_at_k:.3f} ({e.c}/{e.n} samples passed){tag}")
    return lines
