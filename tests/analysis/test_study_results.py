"""Compact per-problem study results (analysis/study_results.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfdistill.analysis.study_results import (
    compact_row,
    paired,
    pass_k,
    rates,
    read_rows,
    write_rows,
)


def _tdir(tmp_path: Path, passes: dict[str, list[bool]], t: float = 0.6) -> Path:
    d = tmp_path / f"T{t:.2f}"
    d.mkdir(parents=True)
    samples, verdicts = [], []
    for pid, ps in passes.items():
        for i, ok in enumerate(ps):
            samples.append({"problem_id": pid, "sample_idx": i, "temperature": t,
                            "finish_reason": "length" if i == 0 and not ok else "stop",
                            "code": None if pid == "c" else "x = 1", "n_tokens": 10})
            verdicts.append({"problem_id": pid, "sample_idx": i, "passed": ok})
    (d / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    (d / "verdicts.jsonl").write_text("".join(json.dumps(v) + "\n" for v in verdicts))
    return d


def test_compact_row_counts_passes_cuts_and_no_code(tmp_path):
    d = _tdir(tmp_path, {"a": [True, True], "b": [False, True], "c": [False, False]})
    row = compact_row(d, exp="e", model="base", benchmark="humaneval", harness="selfdistill",
                      difficulty={"a": "easy"})
    assert row["counts"] == {"a": [2, 2], "b": [1, 2], "c": [0, 2]}
    assert row["t_eval"] == 0.6 and row["truncated"] == 2 and row["no_code"] == 2
    assert row["difficulty"] == {"a": "easy", "b": "unknown", "c": "unknown"}
    write_rows(tmp_path / "out.jsonl", [row])
    assert read_rows(tmp_path / "out.jsonl") == [row]
    assert read_rows(tmp_path / "absent.jsonl") == []


def test_pass_at_k_and_per_difficulty_from_a_compact_row():
    row = {"counts": {"a": [2, 2], "b": [1, 2], "c": [0, 2]},
           "difficulty": {"a": "easy", "b": "easy", "c": "hard"}}
    assert pass_k(row)["mean"] == pytest.approx(0.5)
    assert pass_k(row, k=2)["mean"] == pytest.approx(2 / 3)  # b: one of two passes
    assert pass_k(row, group="easy")["mean"] == pytest.approx(0.75)
    assert pass_k(row, group="easy")["n_problems"] == 2
    assert pass_k(row, k=3) is None  # k above the samples: not estimable


def test_paired_difference_counts_problems_that_moved():
    base = {"counts": {"a": [1, 2], "b": [0, 2], "c": [2, 2], "d": [1, 2]}}
    other = {"counts": {"a": [2, 2], "b": [1, 2], "c": [2, 2], "d": [0, 2], "e": [2, 2]}}
    res = paired(base, other)
    assert res["problems"] == 4  # only the shared problems
    assert res["diff"] == pytest.approx((0.5 + 0.5 + 0 - 0.5) / 4)
    assert (res["better"], res["worse"]) == (2, 1)
    assert res["ci"][0] <= res["diff"] <= res["ci"][1]
    assert rates(other, ["e", "a"]) == [1.0, 1.0]


def test_merge_rows_replaces_rows_measured_again_and_keeps_the_rest():
    from selfdistill.analysis.study_results import merge_rows

    old = [{"model": "a", "t": 0.4, "v": 1}, {"model": "b", "t": 0.4, "v": 2}]
    new = [{"model": "b", "t": 0.4, "v": 3}, {"model": "c", "t": 0.4, "v": 4}]
    got = merge_rows(old, new, ("model", "t"))
    assert got == [{"model": "a", "t": 0.4, "v": 1}, {"model": "b", "t": 0.4, "v": 3},
                   {"model": "c", "t": 0.4, "v": 4}]
    # a key field absent from an old row counts as its own value (None), not a wildcard
    assert len(merge_rows([{"model": "a"}], [{"model": "a", "set": "x"}], ("model", "set"))) == 2


def test_sample_set_id_is_order_free_and_sees_one_changed_answer():
    from selfdistill.analysis.study_results import sample_set_id

    recs = [{"problem_id": f"p{i}", "sample_idx": 0, "text": f"def f(): return {i}"}
            for i in range(5)]
    assert sample_set_id(recs) == sample_set_id(list(reversed(recs)))
    changed = [*recs[:4], {**recs[4], "text": "def f(): return 5"}]
    assert sample_set_id(changed) != sample_set_id(recs)
    assert len(sample_set_id(recs)) == 12
