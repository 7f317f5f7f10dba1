"""The agent bench: every hidden check fails on the untouched workspace and passes on the
reference solution (run in the sandbox, as the bench does); the runner records, resumes and
reports on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfdistill.agent.bench import (
    apply_reference,
    load_results,
    make_workspace,
    run_bench_model,
    run_check,
    select_tasks,
    summarize,
    wilson_ci,
    write_report,
)
from selfdistill.agent.bench_tasks import TASKS
from selfdistill.errors import UserError

KINDS = {"fix_bug", "add_function", "rename", "cli_flag", "import_error", "doctest", "question"}


def test_suite_shape() -> None:
    assert len(TASKS) >= 24 and {t.kind for t in TASKS} == KINDS
    assert len({t.id for t in TASKS}) == len(TASKS)
    for t in TASKS:
        assert "README.md" in t.files, t.id
        assert bool(t.pattern) != bool(t.check), t.id  # a pattern or a program, not both
        assert t.reference or t.reference_answer, t.id


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.id)
def test_hidden_check_fails_untouched_and_passes_reference(task, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = make_workspace(task, tmp_path / task.id)
    before = {p: p.read_bytes() for p in ws.rglob("*")  if p.is_file()}
    res = run_check(task, ws, "I could not find out." if task.pattern else None)
    assert not res.passed, res.detail
    assert {p: p.read_bytes() for p in ws.rglob("*") if p.is_file()} == before  # check ran on a copy
    answer = apply_reference(task, ws)
    res = run_check(task, ws, answer or None)
    assert res.passed, res.detail


def test_select_tasks() -> None:
    assert [t.id for t in select_tasks(["fix-mean", "ask-port"])] == ["fix-mean", "ask-port"]
    with pytest.raises(UserError, match="unknown bench task"):
        select_tasks(["nope"])


@given(st.integers(0, 60), st.integers(1, 60))
def test_wilson_interval_holds_the_rate(k: int, n: int) -> None:
    k = min(k, n)
    lo, hi = wilson_ci(k, n)
    assert 0 <= lo <= k / n <= hi <= 1


def test_runner_records_resumes_and_reports(tmp_path: Path, tiny_model_dir: Path) -> None:
    tasks = select_tasks(["fix-mean", "ask-port"])
    out = tmp_path / "bench"
    res = run_bench_model(str(tiny_model_dir), out, tasks[:1], max_actions=2, max_new_tokens=6,
                          label="tiny", echo=False)
    recs = [json.loads(line) for line in res.read_text().splitlines()]
    assert [r["task"] for r in recs] == ["fix-mean"]
    r = recs[0]
    assert r["success"] is False and r["error"] is None  # a random model does not fix it
    assert 1 <= r["actions"] + r["malformed"] <= 2 or r["answered"]
    assert r["trajectory"][0]["event"] == "agent_task" and r["seconds"] > 0
    # Resume: the recorded task is skipped, the new one runs.
    run_bench_model(str(tiny_model_dir), out, tasks, max_actions=1, max_new_tokens=6,
                    label="tiny", echo=False)
    assert [r["task"] for r in load_results(out)["tiny"]] == ["fix-mean", "ask-port"]
    s = summarize(load_results(out)["tiny"])
    assert s["tasks"] == 2 and s["ci"][0] == 0.0
    page = write_report(out)
    text = page.read_text()
    assert "fix-mean" in text and "trajectories/tiny--fix-mean.html" in text
    assert "agent_task" in (out / "trajectories" / "tiny--fix-mean.html").read_text()
