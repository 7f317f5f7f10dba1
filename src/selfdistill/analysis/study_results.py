"""Compact per-problem results of a study, and the paired comparisons its tables print.

A run's evaluation directory (RUN/eval/<model>/T0.60/ or an `evaluate` run's
RUN/model/T0.60/) holds every sample and verdict; a study commits only what its tables
need: one JSON line per (experiment, model, benchmark, T_eval) with each problem's pass
count, sample count and difficulty, plus the cut/no-code counts. A few KB per line, so the
tables can be re-checked from the repository without re-running anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any


def compact_row(tdir: str | Path, *, exp: str, model: str, benchmark: str, harness: str,
                difficulty: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """One compact line from an evaluation temperature directory (samples + verdicts)."""
    tdir = Path(tdir)
    path = tdir / "samples.jsonl"  # absent for graded files (`evaluate --samples`)
    samples = [json.loads(x) for x in path.read_text().splitlines() if x] \
        if path.exists() else []
    verdicts = [json.loads(x) for x in (tdir / "verdicts.jsonl").read_text().splitlines() if x]
    counts: dict[str, list[int]] = {}
    for v in verdicts:
        c = counts.setdefault(v["problem_id"], [0, 0])
        c[0] += int(bool(v.get("passed")))
        c[1] += 1
    temps = {s.get("temperature") for s in samples} - {None}
    row: dict[str, Any] = {
        "exp": exp, "model": model, "benchmark": benchmark, "harness": harness,
        "t_eval": float(temps.pop()) if len(temps) == 1 else None,
        "samples": len(samples), "graded": len(verdicts),
        "truncated": sum(s.get("finish_reason") == "length" for s in samples) if samples
        else None,
        "no_code": sum(s.get("code") is None for s in samples) if samples else None,
        "new_tokens": sum(int(s.get("n_tokens", 0)) for s in samples),
        "counts": dict(sorted(counts.items())), **extra,
    }
    if difficulty:
        row["difficulty"] = {pid: difficulty.get(pid, "unknown") for pid in row["counts"]}
    return row


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The compact lines of a file (an absent file holds none)."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]


def write_rows(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    """Replace a compact file, one sorted-key JSON line per row (stable diffs)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def merge_rows(old: Iterable[dict[str, Any]], new: Iterable[dict[str, Any]],
               key: Sequence[str]) -> list[dict[str, Any]]:
    """old with every row whose key fields match a new row replaced by it; new rows after.

    A collect on another machine adds its rows without erasing the committed ones it no
    longer has the run directories of.
    """
    def k(r: dict[str, Any]) -> tuple:
        return tuple(json.dumps(r.get(f), sort_keys=True) for f in key)

    fresh = {k(r): r for r in new}
    out = [fresh.pop(k(r), r) for r in old]
    return out + list(fresh.values())


def sample_set_id(records: Iterable[dict[str, Any]]) -> str:
    """A short fingerprint of a set of sampled answers (order-free): two training sets with
    the same id hold the same answers to the same prompts."""
    import hashlib

    h = hashlib.sha256()
    for line in sorted(json.dumps([r["problem_id"], r.get("sample_idx", 0), r["text"]])
                       for r in records):
        h.update(line.encode() + b"\n")
    return h.hexdigest()[:12]


def rates(row: dict[str, Any], ids: Sequence[str] | None = None) -> list[float]:
    """Per-problem pass rates c/n in the order of ids (default: the row's own order)."""
    counts = row["counts"]
    return [counts[i][0] / counts[i][1] for i in (ids or list(counts))]


def pass_k(row: dict[str, Any], k: int = 1, group: str | None = None) -> dict[str, Any] | None:
    """pass@k with its 95% bootstrap CI over problems (of one difficulty when group is set)."""
    from selfdistill.evaluation.metrics import summarize

    diff = row.get("difficulty", {})
    res = [{"problem_id": pid, "c": c, "n": n, "difficulty": diff.get(pid, "unknown")}
           for pid, (c, n) in row["counts"].items()]
    if any(r["n"] < k for r in res):
        return None
    entry = summarize(res, ks=[k]).get(group or "overall", {})
    out = entry.get(f"pass@{k}")
    return None if out is None else {**out, "n_problems": entry["n_problems"]}


def paired(base: dict[str, Any], other: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """other minus base per problem: mean pass@1 difference, paired CI, sign test."""
    import numpy as np

    from selfdistill.evaluation.metrics import bootstrap_ci, sign_test_p

    ids = sorted(set(base["counts"]) & set(other["counts"]))
    d = np.asarray(rates(other, ids)) - np.asarray(rates(base, ids))
    if d.size == 0:
        return {"problems": 0}
    lo, hi = bootstrap_ci(d, seed=seed)
    better, worse = int((d > 0).sum()), int((d < 0).sum())
    return {"problems": len(ids), "diff": float(d.mean()), "ci": [lo, hi], "better": better,
            "worse": worse, "sign_p": sign_test_p(better, worse)}
