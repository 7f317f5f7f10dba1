"""Joined training sources and the held-out LiveCodeBench slice (problems/splits.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_loaders import lcb_row, write_jsonl

from selfdistill.errors import UserError
from selfdistill.problems.registry import load_source
from selfdistill.problems.schema import Problem, TestCase
from selfdistill.problems.splits import (
    check_disjoint,
    lcb_heldout_spec,
    lcb_train_spec,
    overlap,
)


def _lcb_file(tmp_path: Path) -> Path:
    rows = [lcb_row(question_id=f"q{i}", question_content=f"Problem {i}: print {i}.",
                    contest_date=date)
            for i, date in enumerate(["2024-11-02T00:00:00", "2024-12-31T00:00:00",
                                      "2025-01-01T00:00:00", "2025-01-26T00:00:00"])]
    return write_jsonl(tmp_path / "lcb.jsonl", rows)


def _p(pid: str, text: str) -> Problem:
    return Problem(id=pid, statement=text, tests=[TestCase(kind="assert", input="assert f() == 1")])


def test_heldout_slice_is_the_newest_rows_and_training_gets_the_rest(tmp_path):
    f = str(_lcb_file(tmp_path))
    held = load_source(lcb_heldout_spec(f))
    train = load_source(lcb_train_spec(f))
    assert sorted(p.contest_date[:10] for p in held) == ["2025-01-01", "2025-01-26"]
    assert sorted(p.contest_date[:10] for p in train) == ["2024-11-02", "2024-12-31"]
    assert overlap(train, held) == []


def test_joined_spec_loads_every_part_in_order_with_its_own_filters(tmp_path):
    f = str(_lcb_file(tmp_path))
    joined = load_source(f"{lcb_train_spec(f)}&limit=1 + builtin:train?kind=assert&limit=2")
    assert len(joined) == 3
    assert joined[0].source == "livecodebench" and joined[0].contest_date.startswith("2024-11")
    assert all(p.test_kind == "assert" for p in joined[1:])


def test_a_problem_in_two_parts_is_refused(tmp_path):
    f = str(_lcb_file(tmp_path))
    with pytest.raises(UserError, match="is in both"):
        load_source(f"lcb:{f} + {lcb_heldout_spec(f)}")


def test_overlap_finds_shared_ids_and_restated_statements():
    train = [_p("a", "Sum two  numbers."), _p("b", "Reverse a string")]
    evaluation = [_p("x", "sum two numbers."), _p("b", "other"), _p("y", "new")]
    assert overlap(train, evaluation) == ["x", "b"]
    with pytest.raises(UserError, match="2 problem\\(s\\) of the evaluation set 'E'"):
        check_disjoint(train, evaluation, "T", "E")
    check_disjoint(train, [_p("y", "new")], "T", "E")  # disjoint: no error


def test_ssd_sample_refuses_training_on_its_own_evaluation_set(tmp_path):
    from selfdistill.recipes.ssd.config import SSDConfig
    from selfdistill.recipes.ssd.run import run_sample

    cfg = SSDConfig()
    cfg.sample.source = "builtin:dev"
    cfg.eval.benchmark = "builtin:all"
    with pytest.raises(UserError, match="training source 'builtin:dev' holds"):
        run_sample(cfg, tmp_path)
    assert not (tmp_path / "sample").exists()


def test_plus_inside_a_path_or_filter_is_not_a_join(tmp_path):
    from selfdistill.problems.splits import split_spec

    assert split_spec("lcb:a+b.jsonl?start=2025-01-01") == ["lcb:a+b.jsonl?start=2025-01-01"]
    assert split_spec("builtin:dev+humaneval?limit=2") == ["builtin:dev", "humaneval?limit=2"]
    assert split_spec("mbpp:F?split=train + lcb:G") == ["mbpp:F?split=train", "lcb:G"]
