"""Workspace tools: the path guard, exact-replacement edits, snapshots and file undo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdistill.agent.calls import ToolCall
from selfdistill.agent.tools import execute
from selfdistill.agent.workspace import Changes, OutsideWorkspace, ToolError, Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "a.py").write_text("x = 1\ny = 2\nx = 1\n")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref")
    (tmp_path / "outside.txt").write_text("secret")
    os.symlink(tmp_path / "outside.txt", root / "link.txt")
    return Workspace(root)


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd", "link.txt", "pkg/../../x",
                                  "~/x"])
def test_paths_leaving_the_workspace_are_refused(ws: Workspace, path: str) -> None:
    with pytest.raises(OutsideWorkspace, match="outside the workspace"):
        ws.resolve(path)
    res = execute(ws, ToolCall("write", {"path": path, "content": "x"}))
    assert not res.ok and res.refused and "outside the workspace" in res.text
    assert (ws.root.parent / "outside.txt").read_text() == "secret"


def test_absolute_path_inside_is_fine(ws: Workspace) -> None:
    assert ws.resolve(str(ws.root / "pkg" / "a.py")) == ws.root / "pkg" / "a.py"


def test_read_list_grep(ws: Workspace) -> None:
    assert ws.read("pkg/a.py", offset=1, limit=1) == "y = 2\n"
    assert ws.list("*.py") == "pkg/a.py"  # .git is skipped
    assert ws.grep(r"^x", ".") == "pkg/a.py:1:x = 1\npkg/a.py:3:x = 1"
    with pytest.raises(ToolError, match="invalid regular expression"):
        ws.grep("(")


def test_edit_needs_a_unique_exact_match(ws: Workspace) -> None:
    ch = Changes()
    with pytest.raises(ToolError, match="occurs 2 times"):
        ws.edit("pkg/a.py", "x = 1", "x = 3", ch)
    with pytest.raises(ToolError, match="not found"):
        ws.edit("pkg/a.py", "z = 1", "x = 3", ch)
    assert not ch
    ws.edit("pkg/a.py", "x = 1", "x = 3", ch, all=True)
    assert ws.read("pkg/a.py") == "x = 3\ny = 2\nx = 3\n"
    ws.restore(ch)
    assert ws.read("pkg/a.py") == "x = 1\ny = 2\nx = 1\n"


def test_tool_errors_become_results(ws: Workspace) -> None:
    res = execute(ws, ToolCall("read", {"path": "missing.py"}))
    assert not res.ok and "no such file" in res.text and not res.refused


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.sampled_from(["a.txt", "d/b.txt", "pkg/a.py", "d/e/c.bin"]),
                       st.one_of(st.none(), st.binary(max_size=64)), max_size=4))
def test_snapshot_diff_restore_roundtrip(tmp_path_factory: pytest.TempPathFactory,
                                         edits: dict[str, bytes | None]) -> None:
    root = tmp_path_factory.mktemp("w")
    (root / "pkg").mkdir()
    (root / "pkg" / "a.py").write_bytes(b"orig")
    (root / "a.txt").write_bytes(b"A")
    ws = Workspace(root)
    before = ws.snapshot()
    for rel, data in edits.items():  # what a shell command might do
        p = root / rel
        if data is None:
            if p.exists():
                p.unlink()
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
    ch = Changes()
    ws.diff_into(before, ch)
    ws.restore(ch)
    assert ws.snapshot() == before
    assert not (root / "d").exists()  # directories the command created are gone too
