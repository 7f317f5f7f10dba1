"""What a coding-agent user expects beside the loop (issue 34 item 5): a unified diff before
a write or edit is approved, results and long files cut with a marker, the chat compacted
before the context limit, the undo stack surviving a restart, the reply streamed in the
TUI, and Ctrl-C stopping a generation with the session still usable."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest

from selfdistill.agent.calls import ToolCall
from selfdistill.agent.decode import CUT_RESULT
from selfdistill.agent.script import ScriptDriver, play_agent_script
from selfdistill.agent.session import AgentConfig, AgentSession
from selfdistill.agent.tools import execute, preview_diff
from selfdistill.agent.workspace import Workspace
from selfdistill.assist.config import SessionConfig
from selfdistill.assist.output import PlainOutput
from selfdistill.assist.update import UpdateConfig
from selfdistill.core.records import read_jsonl

sys.path.insert(0, str(Path(__file__).parent))
from test_agent_session import APP, OLD, adapter_bytes, call, git_repo  # noqa: E402

NEW = 'return str(Path("data") / name)'


def _cfg() -> SessionConfig:
    return SessionConfig(max_new_tokens=8, update=UpdateConfig(steps=1, lr=1e-3))


def test_unified_diff_shown_before_write_and_edit_are_approved(
        tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = git_repo(tmp_path)
    driver = ScriptDriver([{"user": "pathlib"},
                           {"model": call("edit", path="app.py", old=OLD, new=NEW)}, "approve",
                           {"model": call("write", path="n.txt", content="a\nb\n")}, "approve",
                           {"model": "done"}], echo=True)
    with AgentSession("diff", repo, driver, str(tiny_model_dir), _cfg(), AgentConfig(),
                      PlainOutput(), root=tmp_path / "home") as s:
        play_agent_script(s, driver)
    out = capsys.readouterr().out
    edit_diff = ("--- a/app.py\n+++ b/app.py\n@@ -2,4 +2,4 @@\n \n \n def data_path(name):\n"
                 f"-    {OLD}\n+    {NEW}\n")
    assert edit_diff in out
    assert out.index(edit_diff) < out.index("decision> y") < out.index("[ok] edit")
    assert "--- /dev/null\n+++ b/n.txt\n@@ -0,0 +1,2 @@\n+a\n+b\n" in out
    ws = Workspace(repo)  # reads, bash and calls that would fail show no diff
    assert preview_diff(ws, ToolCall("read", {"path": "app.py"})) is None
    assert preview_diff(ws, ToolCall("edit", {"path": "app.py", "old": "nope", "new": "x"})) is None
    assert preview_diff(ws, ToolCall("write", {"path": "../x", "content": "x"})) is None


def test_long_results_are_cut_with_a_marker(tmp_path: Path) -> None:
    (tmp_path / "big.py").write_text("x = 1\n" * 5000)
    ws = Workspace(tmp_path)
    res = execute(ws, ToolCall("read", {"path": "big.py"}))
    assert res.ok and "[... truncated at" in res.text and len(res.text) < 4000
    res = execute(ws, ToolCall("grep", {"pattern": "x"}))
    assert "[... stopped at 100 matches]" in res.text or "characters cut" in res.text


def test_chat_is_compacted_before_the_context_limit(tmp_path: Path,
                                                     tiny_model_dir: Path) -> None:
    repo = git_repo(tmp_path)
    (repo / "big.txt").write_text("".join(f"line {i} of a long file\n" for i in range(800)))
    reads = [{"model": call("read", path="big.txt")} for _ in range(3)]
    driver = ScriptDriver([*reads, {"model": "done"}], echo=False)
    acfg = AgentConfig(context_tokens=1200)
    with AgentSession("ctx", repo, driver, str(tiny_model_dir), _cfg(), acfg,
                      PlainOutput(echo=False), root=tmp_path / "home") as s:
        from selfdistill.generation.chat import chat_token_ids

        seen: list[tuple[int, list[dict[str, Any]]]] = []
        fit = s.fit_context

        def spy(chat: list[dict[str, Any]]) -> list[dict[str, Any]]:
            out = fit(chat)
            seen.append((len(chat_token_ids(s.tokenizer, out)), out))
            return out

        s.fit_context = spy  # type: ignore[method-assign]
        assert s.run_task("read big.txt three times") == "done"
        limit = s.context_limit()
    assert len(seen) == 4 and all(n <= limit for n, _ in seen)
    last = seen[-1][1]
    assert CUT_RESULT in [m["content"] for m in last] or "dropped to fit" in last[1]["content"]
    log = list(read_jsonl(tmp_path / "home" / "ctx" / "updates.jsonl"))
    assert any(r["event"] == "agent_compact" for r in log)


def test_undo_stack_survives_a_restart(tmp_path: Path, tiny_model_dir: Path) -> None:
    repo = git_repo(tmp_path)
    items = [{"user": "pathlib"}, {"model": call("write", path="new/f.txt", content="x")},
             "approve", {"model": call("edit", path="app.py", old=OLD, new=NEW)}, "approve",
             {"model": call("bash", command="echo a > a.txt")}, {"deny": "no shell"},
             {"model": "done"}]
    driver = ScriptDriver(items, echo=False)
    with AgentSession("disk", repo, driver, str(tiny_model_dir), _cfg(), AgentConfig(),
                      PlainOutput(echo=False), root=tmp_path / "home") as s:
        v0 = adapter_bytes(s)
        play_agent_script(s, driver)
        assert s.profile.current == 1 and len(s.steps) == 3
    # A new process: the stack comes back from the profile directory.
    with AgentSession("disk", repo, ScriptDriver([], echo=False), None, _cfg(), AgentConfig(),
                      PlainOutput(echo=False), root=tmp_path / "home") as s:
        assert [st.updates for st in s.steps] == [0, 0, 1]
        s.handle("/undo")  # the denial's update
        assert s.profile.current == 0 and adapter_bytes(s) == v0
        s.handle("/undo")  # the edit
        assert (repo / "app.py").read_bytes() == APP.encode()
    with AgentSession("disk", repo, ScriptDriver([], echo=False), None, _cfg(), AgentConfig(),
                      PlainOutput(echo=False), root=tmp_path / "home") as s:
        assert len(s.steps) == 1
        s.handle("/undo")  # the write: created file and directory removed
        assert not (repo / "new").exists() and not s.steps
    assert not (repo / "a.txt").exists()


class _Collect(PlainOutput):
    def __init__(self) -> None:
        super().__init__(echo=False)
        self.pieces: list[str] = []
        self.ends = 0

    def stream(self, text: str) -> None:
        self.pieces.append(text)

    def stream_end(self) -> None:
        self.ends += 1


def test_reply_is_streamed_as_it_is_generated(tmp_path: Path, tiny_model_dir: Path) -> None:
    repo = git_repo(tmp_path)
    out = _Collect()
    cfg = SessionConfig(max_new_tokens=12)
    with AgentSession("stream", repo, ScriptDriver([], echo=False), str(tiny_model_dir), cfg,
                      AgentConfig(decode="free"), out, root=tmp_path / "home") as s:
        text, _ = s.next_action("t", [{"role": "user", "content": "hi"}])
    assert out.ends == 1 and len(out.pieces) >= 2  # piece by piece, not at the end
    assert "".join(out.pieces).strip() == text


def test_ctrl_c_stops_generation_and_the_session_goes_on(tmp_path: Path,
                                                         tiny_model_dir: Path) -> None:
    import torch
    from rich.console import Console

    from selfdistill.agent.tui import PromptDriver, run_agent_tui
    from selfdistill.assist.tui import RichOutput

    repo = git_repo(tmp_path)
    buf = io.StringIO()
    out = RichOutput(Console(file=buf, width=120))
    driver = PromptDriver(lambda m, d: "y", lambda c: None)
    cfg = SessionConfig(max_new_tokens=16)
    with AgentSession("ctrlc", repo, driver, str(tiny_model_dir), cfg,
                      AgentConfig(decode="free", max_actions=1), out,
                      root=tmp_path / "home") as s:
        with torch.no_grad():  # a non-zero adapter, so a merge left behind would show
            for name, p in s.model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.02)
        weights = {k: v.clone() for k, v in s.model.state_dict().items()}
        gen = s.generator()
        real, calls = gen._decode_step, [0]

        def interrupted(*a: Any, **k: Any) -> Any:
            calls[0] += 1
            if calls[0] == 3:
                raise KeyboardInterrupt
            return real(*a, **k)

        gen._decode_step = interrupted

        class Prompt:
            lines = iter(["first task", "second task", "/quit"])

            def prompt(self, message: str, **kw: Any) -> str:
                return next(self.lines)

        run_agent_tui(s, driver, Prompt())
        after = s.model.state_dict()
        assert all(torch.equal(weights[k], after[k]) for k in weights)  # nothing left merged
    text = buf.getvalue()
    assert "interrupted" in text and "bye" in text
    tasks = [r for r in read_jsonl(tmp_path / "home" / "ctrlc" / "updates.jsonl")
             if r["event"] == "agent_task"]
    assert [t["task"] for t in tasks] == ["first task", "second task"]
    assert calls[0] > 3  # the second task generated after the interrupt
