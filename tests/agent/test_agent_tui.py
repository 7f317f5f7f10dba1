"""The real agent TUI in a pseudo-terminal (pexpect): approve, deny with a reason, edit."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from selfdistill.assist.profile import Profile
from selfdistill.core.records import read_jsonl

sys.path.insert(0, str(Path(__file__).parent))
from test_agent_session import APP, OLD, call, git_repo  # noqa: E402

DENIED = call("edit", path="app.py", old=OLD, new='return os.path.join("data", name, "")')
PROPOSED = call("write", path="notes.txt", content="os.path")
EDITED = call("write", path="notes.txt", content="pathlib")


def _spawn(args: list[str], tmp: Path):
    pexpect = pytest.importorskip("pexpect")
    env = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm", "COLUMNS": "200"}
    child = pexpect.spawn(sys.executable, ["-m", "selfdistill.agent.cli", *args], env=env,
                          encoding="utf-8", dimensions=(50, 200), timeout=180)
    child.logfile_read = (tmp / "tty.log").open("w")
    return child


def _drive(child, timeout: float = 180) -> None:
    import pexpect

    child.expect(r"task \(v0\)>")
    child.sendline("make data_path use pathlib")
    child.expect("approve\\?")
    child.sendline("n")
    child.expect("reason>")
    child.sendline("use pathlib, not os.path")
    child.expect("v1: feedback update: loss", timeout=timeout)
    child.expect("approve\\?")
    child.sendline("e")
    child.expect("edit>")
    child.send("\x15")  # Ctrl-U: clear the pre-filled call, type the edited one
    child.sendline(EDITED)
    child.expect("v2: demonstration update", timeout=timeout)
    child.expect(r"\[ok\] write")
    child.expect("approve\\?")
    child.sendline("y")
    child.expect(r"\[ok\] bash")
    child.expect("all done")
    child.expect(r"task \(v2\)>")
    child.sendline("/undo")
    child.expect("undone")
    child.expect(r"task \(v2\)>")
    child.sendline("/undo")
    child.expect(r"live adapter is v1")
    child.expect(r"task \(v1\)>")
    child.sendline("/quit")
    child.expect("bye")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def _run(tmp_path: Path, model: list[str], timeout: float = 180) -> Path:
    repo = git_repo(tmp_path)
    replies = tmp_path / "replies.yaml"
    replies.write_text(yaml.safe_dump([DENIED, PROPOSED, call("bash", command="ls > ls.txt"),
                                       "all done"]))
    child = _spawn(["--workspace", str(repo), "--profile", "tty", "--home",
                    str(tmp_path / "home"), "--replay", str(replies), "--steps", "1",
                    "--max-new-tokens", "8", *model], tmp_path)
    _drive(child, timeout)
    prof = Profile("tty", tmp_path / "home")
    assert prof.current == 1  # the edit's demonstration was undone with its file
    assert not (repo / "notes.txt").exists() and not (repo / "ls.txt").exists()
    assert (repo / "app.py").read_text() == APP
    log = list(read_jsonl(prof.log_path))
    verdicts = [r["verdict"] for r in log if r["event"] == "agent_decision"]
    assert verdicts == ["deny", "edit", "approve"]
    assert json.dumps([r["event"] for r in log]).count("agent_undo") == 2
    return repo


def test_tui_approve_deny_edit(tmp_path: Path, tiny_model_dir: Path) -> None:
    _run(tmp_path, ["--model", str(tiny_model_dir)])


@pytest.mark.slow
def test_tui_real_model(tmp_path: Path) -> None:
    _run(tmp_path, ["--threads", "1"], timeout=400)
