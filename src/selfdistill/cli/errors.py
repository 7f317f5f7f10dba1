"""One way for every command to fail on bad input (one readable line and a non-zero exit),
and to keep library noise out of the output."""

from __future__ import annotations

import errno
import functools
import os
import warnings
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console

from selfdistill.errors import UserError

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
