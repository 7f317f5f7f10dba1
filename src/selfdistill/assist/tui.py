"""The interactive terminal UI: prompt_toolkit for input, rich for output, Session for logic."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from selfdistill.assist.session import Session


class RichOutput:
    """Session output rendered with rich: answers as Markdown panels, progress bars for updates."""

    def __init__(self, console: Console | None = None) -> None:
        """console: where to print (default: a new rich Console on stdout)."""
        self.console = console or Console()

    def answer(self, text: str) -> None:
        """The answer as Markdown in a panel."""
        self.console.print(Panel(Markdown(text or "(empty answer)"), title="assistant",
                                 title_align="left", border_style="blue"))

    def info(self, text: str) -> None:
        """A status line (no markup interpretation: answers may contain brackets)."""
        self.console.print(text, markup=False, highlight=False, style="cyan")

    def stream(self, text: str) -> None:
        """A piece of the reply being generated, shown as it arrives."""
        self.console.print(text, end="", markup=False, highlight=False, soft_wrap=True,
                           style="dim")

    def stream_end(self) -> None:
        """The streamed reply is complete: end its line."""
        self.console.print()

    def error(self, text: str) -> None:
        """A one-line problem with the input."""
        self.console.print(f"error: {text}", markup=False, highlight=False, style="bold red")

    @contextlib.contextmanager
    def busy(self, what: str) -> Iterator[None]:
        """A spinner while the model generates or the sandbox runs."""
        with self.console.status(f"{what}..."):
            yield

    @contextlib.contextmanager
    def update_progress(self, total: int) -> Iterator[Any]:
        """A progress bar over the optimiser steps of one update, with the current loss."""
        with Progress(TextColumn("updating adapter"), BarColumn(), TextColumn("{task.completed}/"
                      "{task.total} steps"), TextColumn("loss {task.fields[loss]}"),
                      TimeElapsedColumn(), console=self.console, transient=True) as prog:
            task = prog.add_task("update", total=total, loss="...")

            def cb(step: int, n: int, loss: float) -> None:
                prog.update(task, completed=step, loss=f"{loss:.4f}")

            yield cb


def _read_multiline(prompt_session: Any) -> str | None:
    """Lines until one that is exactly /end (None on Ctrl-C / Ctrl-D)."""
    lines: list[str] = []
    while True:
        try:
            line = prompt_session.prompt("demo> ")
        except (EOFError, KeyboardInterrupt):
            return None
        if line.strip() == "/end":
            return "\n".join(lines)
        lines.append(line)


def run_tui(session: Session, console: Console | None = None) -> None:
    """Read-eval-print loop: one input line at a time until /quit or Ctrl-D."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    out = session.out
    con = out.console if isinstance(out, RichOutput) else (console or Console())
    prompt = PromptSession(history=FileHistory(str(session.profile.dir / "input_history")))
    con.print(f"[bold]selfdistill assist[/] - profile [green]{session.profile.name}[/] "
              f"(adapter v{session.profile.current}, model {session.model_spec})")
    con.print("Ask for code; then /accept, /fb <feedback>, /demo, /run, /undo, /help, /quit.",
              markup=False, highlight=False)
    while True:
        try:
            line = prompt.prompt(f"you (v{session.profile.current})> ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        if line.strip() == "/demo":
            con.print("Paste the better answer; finish with a line /end", markup=False,
                      highlight=False)
            text = _read_multiline(prompt)
            if text is None:
                continue
            line = "/demo " + text
        try:
            if not session.handle(line):
                break
        except KeyboardInterrupt:
            out.error("interrupted; the live adapter is unchanged")
    con.print("bye", markup=False, highlight=False)
