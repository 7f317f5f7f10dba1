"""The learning study's rule-user and one condition end to end on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selfdistill.agent.calls import ToolCall, format_call
from selfdistill.agent.learning import NO_REASON, RULES, RuleUser, learning_study
from selfdistill.agent.study import study_table


def test_rule_user_denies_breaking_calls_and_counts_repeats(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    rule = RULES["edit-not-write"]
    u = RuleUser(rule, lambda: tmp_path, deny=True)
    over = ToolCall("write", {"path": "a.py", "content": "x = 2\n"})
    new = ToolCall("write", {"path": "b.py", "content": "y = 1\n"})
    d = u.decide(over)
    assert d.verdict == "deny" and d.reason == rule.text
    assert u.decide(over).verdict == "deny"  # the same call again, unchanged
    assert u.decide(new).verdict == "approve"  # a new file breaks nothing
    assert (u.proposals, u.violations, u.denials, u.repeats) == (3, 2, 2, 1)
    assert RuleUser(rule, lambda: tmp_path, deny=True, reason=NO_REASON).decide(over).reason \
        == NO_REASON
    watch = RuleUser(rule, lambda: tmp_path, deny=False)
    assert watch.decide(over).verdict == "approve" and watch.violations == 1
    cat = RULES["read-not-cat"]
    assert cat.broken_by(ToolCall("bash", {"command": "cat a.py"}), tmp_path)
    assert not cat.broken_by(ToolCall("bash", {"command": "python3 -m unittest"}), tmp_path)


def test_base_condition_records_and_resumes(tmp_path: Path, tiny_model_dir: Path) -> None:
    out = tmp_path / "study"
    for _ in range(2):  # the second call finds every held-out task done
        learning_study(str(tiny_model_dir), out, "edit-not-write", "base", max_actions=1,
                       max_new_tokens=4, test_n=2)
    recs = [json.loads(x) for x in
            (out / "edit-not-write" / "base" / "heldout.jsonl").read_text().splitlines()]
    assert len(recs) == 2 and all(r["success"] is False for r in recs)
    assert "base" in study_table(out, "edit-not-write")


def test_base_from_bench_counts_violations_on_trajectories(tmp_path: Path) -> None:
    from selfdistill.agent.learning import _split, base_from_bench

    _, test = _split(12)
    bench = tmp_path / "bench" / "m"
    bench.mkdir(parents=True)
    lines = []
    for i, t in enumerate(test):
        existing = next(p for p in t.files if p.endswith(".py"))
        traj = [{"event": "agent_task"},
                {"event": "agent_action", "tool": "read", "args": {"path": existing}},
                {"event": "agent_action", "tool": "write", "args": {"path": "new.py",
                                                                      "content": ""}},
                {"event": "agent_action", "tool": "write", "args": {"path": "new.py",
                                                                      "content": "x"}}]
        if i == 0:
            traj.append({"event": "agent_action", "tool": "write",
                         "args": {"path": existing, "content": ""}})
        lines.append(json.dumps({"task": t.id, "success": i == 1, "seconds": 1.0,
                                 "error": None, "trajectory": traj}))
    (bench / "results.jsonl").write_text("\n".join(lines) + "\n")
    f = base_from_bench(tmp_path / "bench", "m", tmp_path / "study", "edit-not-write")
    recs = [json.loads(x) for x in f.read_text().splitlines()]
    # the second write of new.py rewrites a file the agent made; the first task also
    # rewrites a file of the repository
    assert [r["violations"] for r in recs] == [2] + [1] * (len(test) - 1)
    assert all(r["proposals"] == (3 if i == 0 else 2) for i, r in enumerate(recs))
    assert [r["success"] for r in recs][:2] == [False, True]


def _write(path: str, content: str = "x = 1\n") -> str:
    return format_call(ToolCall("write", {"path": path, "content": content}))


def test_rule_user_counts_repeats_within_a_task_and_stops_at_the_cap(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    u = RuleUser(RULES["edit-not-write"], lambda: tmp_path, deny=True, cap=3)
    over = ToolCall("write", {"path": "a.py", "content": "x = 2\n"})
    other = ToolCall("bash", {"command": "python3 -m unittest"})
    assert u.decide(over).verdict == "deny"
    assert u.decide(other).verdict == "approve"
    assert u.decide(over).verdict == "deny"  # again later in the same task: a repeat
    assert (u.repeats, u.repeats_next) == (1, 0)
    u.new_task()
    assert u.decide(over).verdict == "deny"  # a new task: not a repeat
    assert (u.denials, u.repeats) == (3, 1)
    assert u.decide(over).verdict == "stop" and u.proposals == 4  # capped: N denials exactly


def test_learned_condition_with_scripted_replies(tmp_path: Path, tiny_model_dir: Path) -> None:
    """Training until N denials (the denied call proposed again unchanged counted), then
    held-out tasks with learning off; the table pairs the conditions with base."""
    out = tmp_path / "study"
    kw: dict[str, Any] = {"max_actions": 4, "max_new_tokens": 4, "steps": 1, "test_n": 2}
    held = {"fix-clamp": [_write("util.py"), "Done."], "fix-fizzbuzz": ["Done."]}
    train = {"fix-mean": [_write("mathx.py"), _write("mathx.py"),
                          format_call(ToolCall("bash", {"command": "ls"}))]}
    learning_study(str(tiny_model_dir), out, "edit-not-write", "learned", n_denials=2,
                   scripted={**train, **held}, **kw)
    t = json.loads((out / "edit-not-write" / "learned" / "train.json").read_text())
    assert t["tasks"] == ["fix-mean"] and t["denials"] == 2 and t["version"] == 2
    assert (t["repeats_after_denial"], t["repeats_next"], t["violations"]) == (1, 1, 2)
    assert len(t["update_seconds"]) == 2
    recs = [json.loads(x) for x in
            (out / "edit-not-write" / "learned" / "heldout.jsonl").read_text().splitlines()]
    assert [(r["task"], r["violations"], r["proposals"], r["version"]) for r in recs] == \
        [("fix-clamp", 1, 1, 2), ("fix-fizzbuzz", 0, 0, 2)]
    learning_study(str(tiny_model_dir), out, "edit-not-write", "base", scripted=held, **kw)
    table = study_table(out, "edit-not-write")
    assert "learned" in table and "denied call proposed again unchanged in the same task: 1" \
        in table and "+0.0 [+0.0, +0.0] p=1.00" in table


def test_training_resumes_from_the_last_finished_task(tmp_path: Path,
                                                      tiny_model_dir: Path) -> None:
    out = tmp_path / "study"
    cdir = out / "edit-not-write" / "no_reason"
    kw: dict[str, Any] = {"max_actions": 3, "max_new_tokens": 4, "steps": 1, "test_n": 1,
                          "n_denials": 2}
    script = {"fix-mean": [_write("mathx.py"), "I give up."],
              "fix-palindrome": [_write("text.py"), "Done."], "fix-clamp": ["Done."]}
    # No time left: nothing runs, nothing is recorded.
    learning_study(str(tiny_model_dir), out, "edit-not-write", "no_reason", budget_s=0.0,
                   scripted=script, **kw)
    assert not (cdir / "train_progress.jsonl").exists()
    learning_study(str(tiny_model_dir), out, "edit-not-write", "no_reason", scripted=script,
                   **kw)
    lines = (cdir / "train_progress.jsonl").read_text().splitlines()
    assert [json.loads(x)["version"] for x in lines] == [1, 2]
    # As if killed during the second training task: its line and train.json never written,
    # its update (v2) already committed.
    (cdir / "train_progress.jsonl").write_text(lines[0] + "\n")
    (cdir / "train.json").unlink()
    (cdir / "heldout.jsonl").unlink()
    learning_study(str(tiny_model_dir), out, "edit-not-write", "no_reason", scripted=script,
                   **kw)
    t = json.loads((cdir / "train.json").read_text())
    assert t["tasks"] == ["fix-mean", "fix-palindrome"] and t["denials"] == 2
    state = json.loads((cdir / "home" / "no_reason" / "state.json").read_text())
    assert state["stack"] == [0, 1, 3] and state["current"] == 3  # v2 rewound, not built on
    log = [json.loads(x) for x in (cdir / "home" / "no_reason" / "updates.jsonl")
           .read_text().splitlines()]
    assert [r["followup"] for r in log if r.get("event") == "update"][-1].endswith(NO_REASON)


OS_ANSWER = "```python\nimport os\n\ndef f(d):\n    return os.listdir(d)\n```"
PL_ANSWER = "```python\nfrom pathlib import Path\n\ndef f(d):\n    return list(Path(d).iterdir())\n```"


def test_assist_rule_study_with_scripted_answers(tmp_path: Path, tiny_model_dir: Path) -> None:
    from selfdistill.agent.study import (
        ASSIST,
        ASSIST_RULE,
        ASSIST_TRAIN_N,
        PATH_REQUESTS,
        answer_compiles,
        assist_rule_study,
        assist_violates,
    )

    assert assist_violates(OS_ANSWER) and not assist_violates(PL_ANSWER)
    assert answer_compiles(PL_ANSWER) and not answer_compiles("```python\ndef f(:\n```")
    train, test = PATH_REQUESTS[:ASSIST_TRAIN_N], PATH_REQUESTS[ASSIST_TRAIN_N:]
    script = {train[0]: OS_ANSWER, train[1]: PL_ANSWER, train[2]: OS_ANSWER,
              **{r: (OS_ANSWER if i % 2 else PL_ANSWER) for i, r in enumerate(test)}}
    out = tmp_path / "study"
    kw: dict[str, Any] = {"max_new_tokens": 4, "steps": 1, "scripted": script}
    assist_rule_study(str(tiny_model_dir), out, "learned", n_corrections=2, **kw)
    t = json.loads((out / ASSIST / "learned" / "train.json").read_text())
    assert t["tasks"] == list(train[:3]) and t["denials"] == 2 and t["violations"] == 2
    assert len(t["update_seconds"]) == 2 and t["version"] == 2
    log = [json.loads(x) for x in (out / ASSIST / "learned" / "home" / "learned" /
                                   "updates.jsonl").read_text().splitlines()]
    assert [r["followup"] for r in log if r.get("event") == "update"] == [ASSIST_RULE] * 2
    recs = [json.loads(x) for x in
            (out / ASSIST / "learned" / "heldout.jsonl").read_text().splitlines()]
    assert [r["violations"] for r in recs] == [i % 2 for i in range(len(test))]
    assert all(r["success"] == (not r["violations"]) for r in recs)
    assist_rule_study(str(tiny_model_dir), out, "base", **kw)
    table = study_table(out, ASSIST)
    assert ASSIST_RULE in table and "learned" in table and "s/update" in table


def test_study_cli_table_and_bad_combination(tmp_path: Path, capsys: Any) -> None:
    import pytest

    from selfdistill.agent.study import main

    main(["learn", "--model", "x", "--out", str(tmp_path), "--table"])
    assert "no base condition yet" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["learn", "--model", "x", "--out", str(tmp_path), "--rule", "assist-pathlib",
              "--base-from-bench", str(tmp_path)])
    assert e.value.code == 2 and "--base-from-bench" in capsys.readouterr().err
