"""The one console of the package: where output goes (`console` for progress and
status, `result_console` for a command's results, `err_console` for errors), the
progress bars (`progress_bar` for the stages, `Progress` for the decode loop), one way for
every command to fail on bad input (`friendly`: one readable line and a non-zero exit) and
to keep library noise out of the output (`quiet_hf`)."""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress

from selfdistill.errors import UserError

console = Console(stderr=True)  # progress and status lines of every recipe (stdout stays data)
result_console = Console()  # what a command reports when it is done (stdout)
err_console = Console(stderr=True, soft_wrap=True)

INTERRUPTED = "finished records are kept; re-run the same command to resume."


def friendly(fn: Callable[..., Any] | None = None, *, interrupted: str = INTERRUPTED
             ) -> Any:
    """Decorator: UserError -> 'error: ...' + exit 2; Ctrl-C -> one line + exit 130."""

    def deco(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return f(*args, **kwargs)
            except UserError as e:
                err_console.print(f"[bold red]error:[/] {e}", highlight=False)
                raise typer.Exit(e.exit_code) from None
            except KeyboardInterrupt:
                err_console.print(f"[yellow]interrupted[/]: {interrupted}")
                raise typer.Exit(130) from None

        return wrapper

    return deco(fn) if fn is not None else deco


def quiet_hf(all_warnings: bool = False) -> None:
    """Keep transformers' progress bars and log lines (and, if asked, warnings) out of a command's output."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # A library deprecation inside peft/transformers, printed on every model wrap: it does
    # not concern the user's inputs.
    warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*",
                            category=FutureWarning)
    if all_warnings:  # the interactive assistant: a chat screen, not a log
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=UserWarning)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except Exception:  # noqa: BLE001 - cosmetics only
        pass


def progress_bar(transient: bool = False) -> RichProgress:
    """The rich progress bar every long stage uses (count, rate, ETA)."""
    return RichProgress(TextColumn("[bold]{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                        console=console, transient=transient)


class Progress:
    """The decode loop's progress bar (sequences done, tokens/s), or nothing when disabled."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total
        self._p: Any = None
        self._last = 0.0

    def __enter__(self) -> Progress:
        if self.enabled:
            self._p = RichProgress(TextColumn("generating"), BarColumn(), MofNCompleteColumn(),
                                   TextColumn("{task.fields[tps]:>7.1f} tok/s"),
                                   TimeElapsedColumn(), console=Console(stderr=True),
                                   transient=False)
            self._p.__enter__()
            self._task = self._p.add_task("gen", total=self.total, tps=0.0)
        return self

    def advance(self) -> None:
        """One sequence finished."""
        if self._p is not None:
            self._p.advance(self._task)

    def tokens(self, n: int, seconds: float) -> None:
        """n tokens generated in seconds so far (the rate shown, at most twice a second)."""
        if self._p is not None and seconds - self._last > 0.5:
            self._last = seconds
            self._p.update(self._task, tps=n / max(seconds, 1e-9))

    def __exit__(self, *exc: Any) -> None:
        if self._p is not None:
            self._p.__exit__(*exc)
