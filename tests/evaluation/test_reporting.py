"""Reporting as the papers do: pass@k per difficulty with CIs, no empty or unknown rows."""

from __future__ import annotations

import math

import pytest

from selfdistill.evaluation.metrics import summarize
from selfdistill.evaluation.report import contest_window, difficulty_table
from selfdistill.evaluation.sweep import score_samples
from selfdistill.problems.schema import Problem, TestCase


def _p(pid: str, difficulty: str = "unknown", date: str | None = None) -> Problem:
    return Problem(pid, "", [TestCase("stdio", "", "")], difficulty=difficulty,  # type: ignore[arg-type]
                   contest_date=date)


def _graded(problems: list[Problem], passed: dict[str, list[bool]]):
    samples = [{"problem_id": p.id, "sample_idx": i, "code": "x", "finish_reason": "stop"}
               for p in problems for i in range(len(passed[p.id]))]
    verdicts = [{"problem_id": s["problem_id"], "sample_idx": s["sample_idx"],
                 "passed": passed[s["problem_id"]][s["sample_idx"]],
                 "status": "accepted" if passed[s["problem_id"]][s["sample_idx"]] else "wrong_answer"}
                for s in samples]
    return samples, verdicts


def test_undated_difficulty_is_overall_only() -> None:
    s = summarize([{"n": 4, "c": 1}, {"n": 4, "c": 0, "difficulty": "unknown"}], ks=(1, 4))
    assert set(s) == {"overall"}
    assert s["overall"]["pass@1"]["mean"] == pytest.approx(0.125)
    assert s["overall"]["pass@4"]["mean"] == pytest.approx(0.5)


def test_per_difficulty_pass_at_k_table() -> None:
    problems = [_p("h", "hard", "2025-01-02"), _p("e", "easy", "2024-09-30"), _p("m", "medium")]
    passed = {"h": [False] * 4, "e": [True, False, False, False], "m": [True] * 4}
    samples, verdicts = _graded(problems, passed)
    res = score_samples(problems, samples, verdicts, 0.2, 4, [1, 2, 4, 8])
    assert sorted(k for k in res.summary["overall"] if k.startswith("pass@")) == \
        ["pass@1", "pass@2", "pass@4"]  # k=8 > n is left out
    table = difficulty_table({"T=0.2": res}, (1, 4)).splitlines()
    assert table[0] == "| difficulty | problems | pass@1 [95% CI] | pass@4 [95% CI] |"
    assert [row.split("|")[1].strip() for row in table[2:]] == ["overall", "easy", "medium", "hard"]
    assert "| easy | 1 | 25.0% [25.0, 25.0] | 100.0% [100.0, 100.0] |" in table
    assert contest_window(problems) == "contest dates 2024-09-30 .. 2025-01-02 (2 problems)"
    assert contest_window([_p("x")]) is None


def test_humaneval_like_report_has_one_row() -> None:
    problems = [_p("a"), _p("b")]
    samples, verdicts = _graded(problems, {"a": [True], "b": [False]})
    res = score_samples(problems, samples, verdicts, math.nan, 1, [1, 5])
    rows = difficulty_table({"file": res}).splitlines()[2:]
    assert rows == ["| overall | 2 | 50.0% [0.0, 100.0] |"]
