"""The learning study's rule-user and one condition end to end on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

from selfdistill.agent.calls import ToolCall
from selfdistill.agent.study import NO_REASON, RULES, RuleUser, learning_study, study_table


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
    from selfdistill.agent.study import _split, base_from_bench

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
