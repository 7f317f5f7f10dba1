"""The one console of the package: where output goes (`console` for progress and
status, `result_console` for a command's results, `err_console` for errors), the
progress bars (`progress_bar` for the stages, `Progress` for the decode loop), one way for
every command to fail on bad input (`friendly`: one readable line and a non-zero exit) and
to keep library noise out of the output (`quiet_hf`)."""

from __future__ import annotations

import errno
import functools
import os
import sys
import time
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
            except (OSError, RuntimeError) as e:
                line = disk_error_line(e)
                if line is None:
                    raise
                err_console.print(f"[bold red]error:[/] {line}", highlight=False)
                raise typer.Exit(1) from None

        return wrapper

    return deco(fn) if fn is not None else deco


_DISK = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
         errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied"}


def disk_error_line(e: BaseException) -> str | None:
    """One line for a full disk / read-only / unwritable run directory, else None.

    torch and safetensors raise RuntimeError with the OS message inside, hence the text match.
    """
    code = getattr(e, "errno", None)
    if code not in _DISK:
        text = str(e)
        code = next((c for c, msg in ((errno.ENOSPC, "No space left"),
                                      (errno.EROFS, "Read-only file system"),
                                      (errno.EDQUOT, "Disk quota exceeded")) if msg in text),
                    None)
        if code is None:
            return None
    where = getattr(e, "filename", None)
    return (f"{_DISK[code]}{f' writing {where}' if where else ''}: finished records are "
            "kept; make room (or make it writable) and re-run the same command to resume.")


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


def _clock(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}"


class ProgressLog:
    """Progress as plain lines, for output that is not a terminal (a log file, a pipe).

    A rich bar draws nothing into a log until it ends, so a slow run and a hung one look
    alike. This prints `desc: done/total (pct), rate/s, elapsed, eta` at most every
    `every_s` seconds and at every `every_frac` of the total, and once at the end.
    """

    def __init__(self, description: str, total: float | None, *, every_s: float = 30.0,
                 every_frac: float = 0.1, unit: str = "", file: Any = None) -> None:
        self.description, self.total, self.unit = description, total, unit
        self.every_s, self.every_frac = every_s, every_frac
        self.file = file
        self.start = time.monotonic()
        self.completed = 0.0
        self._base: float | None = None  # the count at the first update (a resumed stage)
        self._last_t = self.start
        self._last_bucket = 0
        self._done = False

    def update(self, completed: float, info: str = "", force: bool = False) -> None:
        """The stage's count is now `completed`; print a line when one is due."""
        self.completed = completed
        if self._base is None:
            self._base = completed
        now = time.monotonic()
        total = self.total or 0
        steps = max(1, round(1 / self.every_frac))
        bucket = int(completed * steps / total + 1e-9) if total > 0 else 0
        finished = total > 0 and completed >= total
        if self._done or not (force or finished or bucket > self._last_bucket
                              or now - self._last_t >= self.every_s):
            return
        self._last_t, self._last_bucket, self._done = now, bucket, finished
        print(self.line(info, now), file=self.file or sys.stderr, flush=True)

    def line(self, info: str = "", now: float | None = None) -> str:
        """The progress line as printed."""
        elapsed = (now if now is not None else time.monotonic()) - self.start
        rate = (self.completed - (self._base or 0.0)) / elapsed if elapsed > 0 else 0.0
        unit = f" {self.unit}" if self.unit else ""
        if self.total:
            left = self.total - self.completed
            eta = _clock(left / rate) if rate > 0 else "?"
            head = (f"{self.description}: {self.completed:g}/{self.total:g}{unit} "
                    f"({100 * self.completed / self.total:.0f}%)")
        else:
            eta, head = "?", f"{self.description}: {self.completed:g}{unit}"
        tail = f", {info}" if info else ""
        return f"{head}, {rate:.2f}/s, elapsed {_clock(elapsed)}, eta {eta}{tail}"


class StageProgress(RichProgress):
    """rich's progress bar on a terminal; plain ProgressLog lines when the output is not one."""

    def __init__(self, *columns: Any, every_s: float = 30.0, **kwargs: Any) -> None:
        out = kwargs.get("console") or console
        self.plain = not out.is_terminal and not out.quiet
        self._file = out.file
        if not out.is_terminal:
            kwargs["disable"] = True  # tasks are still tracked; only the drawing is off
        super().__init__(*columns, **kwargs)
        self._every_s = every_s
        self._logs: dict[Any, ProgressLog] = {}

    def _log(self, task_id: Any, force: bool = False) -> None:
        if not self.plain:
            return
        task = self._tasks[task_id]
        log = self._logs.get(task_id)
        if log is None:
            log = self._logs[task_id] = ProgressLog(task.description, task.total,
                                                    every_s=self._every_s, file=self._file)
        log.total = task.total
        info = " ".join(f"{v}" for k, v in task.fields.items() if k == "info" and v)
        if "tps" in task.fields:
            info = f"{task.fields['tps']:.1f} tok/s"
        log.update(task.completed, info, force=force)

    def add_task(self, description: str, *args: Any, **kwargs: Any) -> Any:
        """Add a task (and, in a log, say that it started)."""
        task_id = super().add_task(description, *args, **kwargs)
        self._log(task_id, force=True)
        return task_id

    def advance(self, task_id: Any, advance: float = 1) -> None:
        """Advance a task (a plain line when one is due)."""
        super().advance(task_id, advance)
        self._log(task_id)

    def update(self, task_id: Any, **kwargs: Any) -> None:
        """Update a task (a plain line when one is due)."""
        super().update(task_id, **kwargs)
        self._log(task_id)

    def stop(self) -> None:
        """Stop; in a log, a last line for every task that did not reach its total."""
        if self.plain:
            for task_id, log in self._logs.items():
                if not log._done:
                    self._log(task_id, force=True)
        super().stop()


def progress_bar(transient: bool = False) -> RichProgress:
    """The progress bar every long stage uses (count, rate, ETA); plain lines in a log."""
    return StageProgress(TextColumn("[bold]{task.description}"), BarColumn(),
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
            self._p = StageProgress(TextColumn("generating"), BarColumn(),
                                    MofNCompleteColumn(),
                                    TextColumn("{task.fields[tps]:>7.1f} tok/s"),
                                    TimeElapsedColumn(), console=console, transient=False)
            self._p.__enter__()
            self._task = self._p.add_task("generating", total=self.total, tps=0.0)
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
