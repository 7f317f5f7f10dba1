"""The assistant's commands as functions: chat (`run_assist`), learn from a log, the demo."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from selfdistill.assist.config import session_config
from selfdistill.assist.demo import run_demo
from selfdistill.assist.offline import learn_from_log
from selfdistill.assist.output import PlainOutput
from selfdistill.assist.script import load_script, play_script
from selfdistill.assist.session import Session
from selfdistill.assist.tui import RichOutput, run_tui
from selfdistill.core.console import quiet_hf


def run_assist(model_spec: str | None, profile: str, script: str | Path | None = None, *,
               max_new_tokens: int = 256, lr: float = 1e-4, steps: int = 4,
               threads: int | None = None, loss: str = "topk_kl",
               baseline: str = "none", home: Path | None = None,
               compute_dtype: str = "float32") -> None:
    """Start the chat: the TUI on a terminal, plain lines otherwise, or replay a script."""
    quiet_hf(all_warnings=True)
    cfg = session_config(max_new_tokens, lr, steps, threads, loss, baseline, compute_dtype)
    turns: list[Any] | None = None
    if script is not None:
        settings, turns = load_script(script)
        model_spec = model_spec or settings.get("model")
    interactive = script is None and sys.stdin.isatty() and sys.stdout.isatty()
    if interactive:
        out: Any = RichOutput()
    else:
        out = PlainOutput()
    with Session(profile, model_spec, cfg, out, root=home) as session:
        if turns is not None:
            print(f"profile {profile}: adapter v{session.profile.current} "
                  f"({session.profile.dir})", flush=True)
            play_script(session, turns)
            print(f"done: adapter v{session.profile.current}", flush=True)
        elif interactive:
            run_tui(session)
        else:  # piped stdin: one input line per command
            for line in sys.stdin:
                if not session.handle(line):
                    break


def run_assist_learn(profile: str, log_path: str | Path, *, model_spec: str | None = None,
                     batch_size: int = 4, lr: float = 1e-4, steps: int = 4,
                     threads: int | None = None, loss: str = "topk_kl",
                     baseline: str = "none", home: Path | None = None,
                     compute_dtype: str = "float32") -> list[Any]:
    """Offline hindsight self-distillation over logged turns; one committed version per batch."""
    quiet_hf(all_warnings=True)
    cfg = session_config(256, lr, steps, threads, loss, baseline, compute_dtype)
    with Session(profile, model_spec, cfg, PlainOutput(), root=home) as session:
        results = learn_from_log(session, log_path, batch_size=batch_size)
        print(f"done: {len(results)} updates, adapter v{session.profile.current}", flush=True)
    return results


def run_assist_demo(script: str | Path | None = None, model_spec: str | None = None, *,
                    lr: float = 1e-4, steps: int = 4, threads: int | None = None,
                    loss: str = "topk_kl", baseline: str = "none",
                    home: Path | None = None, control: bool = True, show: int = 0,
                    max_new_tokens: int = 160) -> dict[str, Any]:
    """The measurable demo: held-out preference margins before/after the script's corrections."""
    quiet_hf(all_warnings=True)
    cfg = session_config(max_new_tokens, lr, steps, threads, loss, baseline)
    return run_demo(script, model_spec, cfg, PlainOutput(), home=home, control=control,
                    show=show)
