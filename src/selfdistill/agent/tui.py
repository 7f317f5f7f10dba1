"""The agent's terminal front end: approvals typed at a prompt (prompt_toolkit in the TUI,
plain lines when stdin is piped), output through assist's RichOutput or PlainOutput."""

from __future__ import annotations

import collections
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from selfdistill.agent.calls import ToolCall, format_call
from selfdistill.agent.session import Decision, parse_decision

if TYPE_CHECKING:
    from selfdistill.agent.session import AgentSession

ReadLine = Callable[[str, str], "str | None"]  # (prompt, default text) -> line, None = EOF


class PromptDriver:
    """Decisions typed by the user; model replies sampled (or replayed from a list first)."""

    def __init__(self, read_line: ReadLine, show: Callable[[ToolCall], None],
                 replay: list[str] | None = None) -> None:
        """read_line: how a line is read; show: how a proposed call is displayed."""
        self.read_line = read_line
        self.show = show
        self.replay: collections.deque[str] = collections.deque(replay or [])

    def model_output(self) -> str | None:
        """The next replayed model reply (tests, demos), else None: sample the model."""
        return self.replay.popleft() if self.replay else None

    def decide(self, call: ToolCall) -> Decision:
        """Ask until the answer is a valid decision (EOF = stop)."""
        self.show(call)
        while True:
            line = self.read_line("approve? y / a(lways) / n <reason> / e(dit) / q > ", "")
            if line is None:
                return Decision("stop")
            word = line.strip().lower()
            if word in ("n", "no", "deny"):
                reason = self.read_line("reason> ", "")
                line = f"n {reason or ''}"
            elif word in ("e", "edit"):
                edited = self.read_line("edit> ", format_call(call))
                line = f"e {edited or ''}"
            d = parse_decision(line)
            if isinstance(d, Decision):
                return d
            print(f"error: {d}", flush=True)


def show_plain(call: ToolCall) -> None:
    """Print a proposed call as text."""
    print(f"action> {call.name} {json.dumps(call.args, ensure_ascii=False)}", flush=True)


def rich_show(console: Any) -> Callable[[ToolCall], None]:
    """A shower that draws the proposed call as a rich panel (edits as old/new)."""
    from rich.panel import Panel
    from rich.syntax import Syntax

    def show(call: ToolCall) -> None:
        a = call.args
        if call.name == "edit":
            body: Any = Syntax(f"--- {a['path']}\n" + "".join(
                f"-{ln}\n" for ln in str(a["old"]).splitlines()) + "".join(
                f"+{ln}\n" for ln in str(a["new"]).splitlines()), "diff")
        elif call.name == "bash":
            body = Syntax(str(a["command"]), "bash")
        else:
            body = json.dumps(a, ensure_ascii=False, indent=1)
        console.print(Panel(body, title=f"proposed: {call.name}", title_align="left",
                            border_style="yellow"))
    return show


def run_agent_tui(session: AgentSession, driver: PromptDriver, prompt: Any) -> None:
    """Read tasks and commands until /quit or Ctrl-D; approvals go through the driver."""
    con = session.out.console  # type: ignore[attr-defined]
    con.print(f"[bold]selfdistill agent[/] in [green]{session.ws.root}[/] - profile "
              f"[green]{session.profile.name}[/] (adapter v{session.profile.current}, "
              f"model {session.model_spec})")
    con.print("Give a task; approve each action (y/a/n <reason>/e/q). /undo, /help, /quit.",
              markup=False, highlight=False)
    while True:
        try:
            line = prompt.prompt(f"task (v{session.profile.current})> ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        try:
            if not session.handle(line):
                break
        except KeyboardInterrupt:
            session.out.error("interrupted; the live adapter is unchanged")
    con.print("bye", markup=False, highlight=False)


def prompt_toolkit_reader(prompt: Any) -> ReadLine:
    """read_line over a prompt_toolkit PromptSession (default text pre-filled, editable)."""
    def read(message: str, default: str) -> str | None:
        try:
            return prompt.prompt(message, default=default)
        except (EOFError, KeyboardInterrupt):
            return None
    return read


def stdin_reader(message: str, default: str) -> str | None:
    """read_line over plain stdin (piped sessions): the default is used for an empty line."""
    print(message, end="", flush=True)
    try:
        line = input()
    except EOFError:
        return None
    return line or default
