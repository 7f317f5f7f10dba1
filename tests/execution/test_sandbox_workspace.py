"""The sandbox's workspace mount (the agent's shell commands): the workspace is the one
writable host directory; nothing else of the host is visible; no network; limits hold."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from selfdistill.agent.tools import run_shell
from selfdistill.agent.workspace import Workspace
from selfdistill.execution import SandboxConfig, SandboxError
from selfdistill.execution.sandbox import workspace_mount

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "in.txt").write_text("inside\n")
    (tmp_path / "sibling.txt").write_text("host secret\n")
    os.symlink(tmp_path / "sibling.txt", root / "escape")
    return Workspace(root)


def test_commands_write_the_workspace_only(ws: Workspace) -> None:
    ok, text = run_shell(ws, "cat in.txt && echo made > new.txt && pwd", 20)
    assert ok and "inside" in text and "/workspace" in text
    assert (ws.root / "new.txt").read_text() == "made\n"
    for target in ("/etc/x", "/usr/x", "/x", "/workspace/../x"):
        ok, text = run_shell(ws, f"echo x > {target}", 20)
        assert not ok and ("Read-only" in text or "Permission denied" in text), text


def test_host_is_invisible(ws: Workspace) -> None:
    probes = [str(ws.root.parent / "sibling.txt"), str(REPO / "pyproject.toml"), "escape",
              str(Path.home() / ".cache"), "/work", "/home", "/run", "/var"]
    ok, text = run_shell(ws, "; ".join(f"test -e {p} && echo SEEN {p}" for p in probes)
                         + "; true", 20)
    assert ok and "SEEN" not in text, text
    assert run_shell(ws, "cat escape", 20)[0] is False


def test_no_network_and_time_limit(ws: Workspace) -> None:
    code = ("python3 -c \"import socket; socket.create_connection(('1.1.1.1', 53), timeout=2)\""
            " 2>&1 | tail -1")
    ok, text = run_shell(ws, code, 20)
    assert "unreachable" in text.lower() or "error" in text.lower(), text
    ok, text = run_shell(ws, "sleep 30", 1)
    assert not ok and "time limit" in text


def test_python_is_python3(ws: Workspace) -> None:
    """`python` works in a command (the root has only python3; models write `python`)."""
    (ws.root / "t.py").write_text("import sys\nprint(sys.version_info[0])\n")
    ok, text = run_shell(ws, "python t.py && python -c 'print(40 + 2)'", 20)
    assert ok and "3\n42" in text, text


def test_exit_status_and_stderr_come_back(ws: Workspace) -> None:
    ok, text = run_shell(ws, "echo oops >&2; exit 7", 20)
    assert not ok and "exit code 7" in text and "oops" in text


def test_workspace_config_is_checked(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="not a directory"):
        workspace_mount(SandboxConfig(workspace=str(tmp_path / "nope")))
    with pytest.raises(SandboxError, match="needs the jail"):
        workspace_mount(SandboxConfig(workspace=str(tmp_path), namespaces=False))
    assert workspace_mount(SandboxConfig()) is None
