"""What a Session needs from its front end (Output), and the plain-text one (script mode)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Protocol


class Output(Protocol):
    """What a Session needs from its front end."""

    def answer(self, text: str) -> None:
        """Show the assistant's answer."""

    def info(self, text: str) -> None:
        """Show a status line."""

    def error(self, text: str) -> None:
        """Show a problem with the user's input (the session goes on)."""

    def busy(self, what: str) -> contextlib.AbstractContextManager[Any]:
        """A context shown while something slow runs (generation)."""

    def update_progress(self, total: int) -> contextlib.AbstractContextManager[Any]:
        """A context yielding a callback(step, total, loss) while an update runs."""


class PlainOutput:
    """Plain-text front end (script mode, logs): everything goes to stdout, line by line."""

    def __init__(self, echo: bool = True) -> None:
        """echo: print progress lines too."""
        self.echo = echo

    def answer(self, text: str) -> None:
        """Print the answer between markers."""
        print(f"assistant> {text}\n<<<", flush=True)

    def info(self, text: str) -> None:
        """Print a status line."""
        print(text, flush=True)

    def error(self, text: str) -> None:
        """Print an error line."""
        print(f"error: {text}", flush=True)

    @contextlib.contextmanager
    def busy(self, what: str) -> Iterator[None]:
        """Nothing to animate in plain mode."""
        yield

    @contextlib.contextmanager
    def update_progress(self, total: int) -> Iterator[Any]:
        """Print one line per optimiser step."""
        def cb(step: int, n: int, loss: float) -> None:
            if self.echo:
                print(f"  update step {step}/{n} loss {loss:.4f}", flush=True)

        yield cb
