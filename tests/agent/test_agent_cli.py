"""`selfdistill agent` from the command line: script mode, and one-line errors for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from selfdistill.agent.calls import ToolCall
from selfdistill.agent.session import AgentConfig, AgentSession, Decision
from selfdistill.assist.config import SessionConfig
from selfdistill.assist.output import PlainOutput
from selfdistill.assist.update import UpdateConfig
from selfdistill.core.records import read_jsonl

sys.path.insert(0, str(Path(__file__).parent))
from test_agent_session import APP, SCRIPT, adapter_bytes, git_repo  # noqa: E402


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-m", "selfdistill.cli", "agent", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_script_mode(tmp_path: Path, tiny_model_dir: Path) -> None:
    repo = git_repo(tmp_path)
    script = tmp_path / "s.yaml"
    script.write_text(yaml.safe_dump({"workspace": str(repo), "turns": [*SCRIPT, "/undo",
                                                                         "/history"]}))
    r = _cli("--script", str(script), "--model", str(tiny_model_dir), "--home",
             str(tmp_path / "h"), "--steps", "1", "--max-new-tokens", "8")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "v1: feedback update: loss" in r.stdout and "v2: feedback update" in r.stdout
    assert "decision> n use pathlib, not os.path" in r.stdout
    assert "undone:" in r.stdout and "done: adapter v1" in r.stdout
    assert (repo / "app.py").read_text() != APP


@pytest.mark.parametrize("args,msg", [
    (["--workspace", "/nonexistent/dir"], "is not a directory"),
    (["--script", "/nonexistent.yaml"], "Script not found"),
    (["--max-actions", "0"], "--max-actions must be >= 1"),
])
def test_bad_input_is_one_line(args: list[str], msg: str) -> None:
    r = _cli(*args)
    assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr


class _DenyFirstWrite:
    """A user who denies the first writing action with a reason and approves the rest."""

    def __init__(self) -> None:
        self.denied = False

    def model_output(self) -> str | None:
        return None  # always the real model

    def decide(self, call: ToolCall) -> Decision:
        if not self.denied:
            self.denied = True
            return Decision("deny", "use pathlib, not os.path")
        return Decision("approve")


@pytest.mark.slow
def test_real_model_end_to_end(tmp_path: Path) -> None:
    """The embedded model drives the loop itself; the machinery must hold whatever it says."""
    repo = git_repo(tmp_path)
    cfg = SessionConfig(max_new_tokens=64, update=UpdateConfig(steps=1))
    with AgentSession("real", repo, _DenyFirstWrite(), None, cfg,
                      AgentConfig(max_actions=2, auto_approve_reads=True),
                      PlainOutput(), root=tmp_path / "home") as s:
        v0 = adapter_bytes(s)
        s.run_task("Read app.py, then change data_path to use pathlib.")
        log = list(read_jsonl(s.profile.log_path))
        events = [r["event"] for r in log]
        assert events[0] == "agent_task"
        assert events.count("agent_action") == events.count("agent_decision")
        assert events.count("update") == s.profile.current
        while s.steps:
            s.undo()
        assert s.profile.current == 0 and adapter_bytes(s) == v0
        assert (repo / "app.py").read_text() == APP
