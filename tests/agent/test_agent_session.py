"""The agent loop end to end on a tiny model: the scripted CI session of issue 18.

A temporary git repository; the script supplies the model's replies where the test needs a
specific action (the tiny model is random), and every approval. Checked: the adapter
version rises on a denial, the retry is a different action, the approved edit changes the
file, a failing command makes an environment-feedback update, /undo puts the files and the
adapter back bit-exactly, and the profile log records every action, decision and update.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from selfdistill.agent.calls import ToolCall, format_call
from selfdistill.agent.script import ScriptDriver, play_agent_script
from selfdistill.agent.session import AgentConfig, AgentSession
from selfdistill.assist.config import SessionConfig
from selfdistill.assist.output import PlainOutput
from selfdistill.assist.update import UpdateConfig
from selfdistill.core.records import read_jsonl

APP = 'import os\n\n\ndef data_path(name):\n    return os.path.join("data", name)\n'
OLD = 'return os.path.join("data", name)'


def git_repo(root: Path) -> Path:
    """A temporary git repository with one committed file, app.py."""
    repo = root / "repo"
    repo.mkdir()
    (repo / "app.py").write_text(APP)
    for cmd in (["git", "init", "-q"], ["git", "add", "app.py"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]):
        subprocess.run(cmd, cwd=repo, check=True)
    return repo


def call(name: str, **args: str) -> str:
    return format_call(ToolCall(name, args))


DENIED_EDIT = call("edit", path="app.py", old=OLD, new='return os.path.join("data", name, "")')
PATHLIB_EDIT = call("edit", path="app.py", old=OLD, new='return str(Path("data") / name)')
SCRIPT = [
    {"user": "make data_path use pathlib"},
    {"model": call("read", path="app.py")},              # read-only: auto-approved
    {"model": DENIED_EDIT},
    {"deny": "use pathlib, not os.path"},                # -> hindsight update, retry
    {"model": PATHLIB_EDIT},
    "approve",                                           # -> app.py changes
    {"model": call("bash", command="python3 -c 'import sys; sys.exit(2)'")},
    "approve",                                           # fails -> environment update
    {"model": "Done: data_path now builds the path with pathlib."},
]


def _cfg() -> SessionConfig:
    return SessionConfig(max_new_tokens=8, update=UpdateConfig(steps=1, lr=1e-3))


def adapter_bytes(session: AgentSession) -> dict[str, bytes]:
    from selfdistill.assist.model import adapter_state

    return {k: v.numpy().tobytes() for k, v in adapter_state(session.model).items()}


def test_scripted_session_in_git_repo(tmp_path: Path, tiny_model_dir: Path) -> None:
    repo = git_repo(tmp_path)
    driver = ScriptDriver(list(SCRIPT), echo=False)
    with AgentSession("ci", repo, driver, str(tiny_model_dir), _cfg(), AgentConfig(),
                      PlainOutput(echo=False), root=tmp_path / "home") as s:
        v0 = adapter_bytes(s)
        play_agent_script(s, driver)
        assert not driver.items
        assert s.profile.current == 2  # the denial, then the failing command
        assert (repo / "app.py").read_text() == APP.replace(OLD, 'return str(Path("data") / name)')
        changed = adapter_bytes(s)
        assert changed != v0
        log = list(read_jsonl(s.profile.log_path))
        events = [r["event"] for r in log]
        assert events.count("agent_action") == 4 and events.count("agent_decision") == 4
        updates = [r for r in log if r["event"] == "update"]
        assert [u["source"] for u in updates] == ["denial", "environment"]
        assert updates[0]["followup"] == ("The user denied the action you proposed. Reason: "
                                      "use pathlib, not os.path")
        assert updates[0]["answer"] == DENIED_EDIT
        assert "exit code 2" in updates[1]["followup"]
        verdicts = [r["verdict"] for r in log if r["event"] == "agent_decision"]
        assert verdicts == ["approve", "deny", "approve", "approve"]
        # Retry after the denial: a different action than the denied one.
        actions = [r["output"] for r in log if r["event"] == "agent_action"]
        assert actions[2] != actions[1] == DENIED_EDIT
        assert events[-1] == "agent_answer"

        s.handle("/undo")  # the failing command: its environment update
        assert s.profile.current == 1
        assert (repo / "app.py").read_text() != APP
        s.handle("/undo")  # the approved edit: the file comes back
        assert (repo / "app.py").read_bytes() == APP.encode() and s.profile.current == 1
        s.handle("/undo")  # the denial's update: the adapter comes back bit-exactly
        assert s.profile.current == 0
        assert adapter_bytes(s) == v0
        assert subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                              text=True, check=True).stdout == ""
        undos = [r for r in read_jsonl(s.profile.log_path) if r["event"] == "agent_undo"]
        assert [u["files"] for u in undos] == [[], ["app.py"], []]


def test_edit_is_a_demonstration_and_write_undo_deletes(tmp_path: Path,
                                                        tiny_model_dir: Path) -> None:
    repo = git_repo(tmp_path)
    edited = call("write", path="notes/todo.txt", content="use pathlib\n")
    driver = ScriptDriver([{"user": "note it"}, {"model": call("write", path="x.txt",
                                                              content="x")},
                           {"edit": edited}, {"model": "ok"}], echo=False)
    with AgentSession("edit", repo, driver, str(tiny_model_dir), _cfg(), AgentConfig(),
                      PlainOutput(echo=False), root=tmp_path / "home") as s:
        play_agent_script(s, driver)
        assert (repo / "notes" / "todo.txt").read_text() == "use pathlib\n"
        assert not (repo / "x.txt").exists() and s.profile.current == 1
        upd = [r for r in read_jsonl(s.profile.log_path) if r["event"] == "update"]
        assert upd[0]["kind"] == "demonstration" and upd[0]["demonstration"] == edited
        s.handle("/reset")  # adapter back to v0; the step's files are still undoable
        s.undo()
        assert not (repo / "notes").exists() and s.profile.current == 0
        assert s.profile.state()["stack"] == [0]


def test_refused_paths_and_always(tmp_path: Path, tiny_model_dir: Path) -> None:
    repo = git_repo(tmp_path)
    (tmp_path / "secret.txt").write_text("s")
    driver = ScriptDriver([
        {"user": "look around"},
        {"model": call("read", path="../secret.txt")},    # refused, tool error -> update
        {"model": call("bash", command="echo a > a.txt")}, "always",
        {"model": call("bash", command="echo b > b.txt")},  # same kind: no question
        {"model": "done"}], echo=False)
    acfg = AgentConfig(learn_from_errors=False)
    with AgentSession("ref", repo, driver, str(tiny_model_dir), _cfg(), acfg,
                      PlainOutput(echo=False), root=tmp_path / "home") as s:
        play_agent_script(s, driver)
        res = [r for r in read_jsonl(s.profile.log_path) if r["event"] == "agent_result"]
        assert res[0]["refused"] and "outside the workspace" in res[0]["result"]
        assert (repo / "a.txt").read_text() == "a\n" and (repo / "b.txt").read_text() == "b\n"
        assert s.profile.current == 0 and len(s.steps) == 2


def test_malformed_reply_is_feedback_not_a_crash(tmp_path: Path, tiny_model_dir: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    repo = git_repo(tmp_path)
    driver = ScriptDriver([{"model": '<tool_call>{"name": "read", '},
                           {"model": '{"name": "frobnicate", "arguments": {}}'},
                           {"model": "finished"}], echo=False)
    with AgentSession("mal", repo, driver, str(tiny_model_dir), _cfg(), AgentConfig(),
                      PlainOutput(), root=tmp_path / "home") as s:
        assert s.run_task("x") == "finished"
    out = capsys.readouterr().out
    assert "[unreadable tool call]" in out and "unknown tool 'frobnicate'" in out
    log = [json.dumps(r) for r in read_jsonl(Path(tmp_path / "home" / "mal" / "updates.jsonl"))]
    assert sum('"agent_malformed"' in r for r in log) == 2
