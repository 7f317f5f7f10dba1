"""The HF decode loop's progress bar (rich, on stderr): sequences done and tokens/s."""

from __future__ import annotations

from typing import Any


class Progress:
    """A rich progress bar (sequences done, tokens/s), or nothing when disabled."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total
        self._p: Any = None
        self._last = 0.0

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._p = Progress(TextColumn("generating"), BarColumn(), MofNCompleteColumn(),
                               TextColumn("{task.fields[tps]:>7.1f} tok/s"), TimeElapsedColumn(),
                               console=Console(stderr=True), transient=False)
            self._p.__enter__()
            self._task = self._p.add_task("gen", total=self.total, tps=0.0)
        return self

    def advance(self) -> None:
        if self._p is not None:
            self._p.advance(self._task)

    def tokens(self, n: int, seconds: float) -> None:
        if self._p is not None and seconds - self._last > 0.5:
            self._last = seconds
            self._p.update(self._task, tps=n / max(seconds, 1e-9))

    def __exit__(self, *exc: Any) -> None:
        if self._p is not None:
            self._p.__exit__(*exc)
