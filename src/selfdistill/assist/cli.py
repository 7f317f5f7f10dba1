"""`selfdistill assist`: the typer sub-app (mounted by selfdistill.cli) and its run_* functions.

    selfdistill assist [--model SPEC] [--profile NAME] [--script turns.yaml]
    selfdistill assist learn --profile NAME --log conversations.jsonl
    selfdistill assist demo [--script examples/assist_demo_turns.yaml]

Also runnable on its own: ``python -m selfdistill.assist.cli ...``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from selfdistill.assist.session import SessionConfig
from selfdistill.assist.update import UpdateConfig
from selfdistill.cli.errors import friendly, quiet_hf
from selfdistill.errors import UserError

_err = Console(stderr=True, soft_wrap=True)

assist_app = typer.Typer(
    help="A coding assistant that learns from your corrections by updating its own LoRA "
         "adapter, locally.",
    pretty_exceptions_enable=False,
    add_completion=False,
)


_friendly = friendly(interrupted="the profile keeps its last committed adapter.")


def _config(max_new_tokens: int, lr: float, steps: int, threads: int | None,
            loss: str = "topk_kl", baseline: str = "none") -> SessionConfig:
    if max_new_tokens < 1 or steps < 1 or lr <= 0:
        raise UserError("--max-new-tokens and --steps must be >= 1 and --lr > 0.")
    if loss not in ("topk_kl", "advantage"):
        raise UserError(f"--loss must be topk_kl or advantage, got '{loss}'.")
    if baseline not in ("none", "neutral"):
        raise UserError(f"--baseline must be none or neutral, got '{baseline}'.")
    if threads is not None:
        if threads < 1:
            raise UserError("--threads must be >= 1.")
        import torch

        torch.set_num_threads(threads)
    return SessionConfig(max_new_tokens=max_new_tokens,
                         update=UpdateConfig(lr=lr, steps=steps, loss=loss,  # type: ignore[arg-type]
                                             baseline=baseline))  # type: ignore[arg-type]


def run_assist(model_spec: str | None, profile: str, script: str | Path | None = None, *,
               max_new_tokens: int = 256, lr: float = 1e-4, steps: int = 4,
               threads: int | None = None, loss: str = "topk_kl",
               baseline: str = "none", home: Path | None = None) -> None:
    """Start the chat: the TUI on a terminal, plain lines otherwise, or replay a script."""
    from selfdistill.assist.output import PlainOutput
    from selfdistill.assist.script import load_script, play_script
    from selfdistill.assist.session import Session

    quiet_hf(all_warnings=True)
    cfg = _config(max_new_tokens, lr, steps, threads, loss, baseline)
    turns: list[Any] | None = None
    if script is not None:
        settings, turns = load_script(script)
        model_spec = model_spec or settings.get("model")
    interactive = script is None and sys.stdin.isatty() and sys.stdout.isatty()
    if interactive:
        from selfdistill.assist.tui import RichOutput, run_tui

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
                     baseline: str = "none", home: Path | None = None) -> list[Any]:
    """Offline hindsight self-distillation over logged turns; one committed version per batch."""
    from selfdistill.assist.offline import learn_from_log
    from selfdistill.assist.output import PlainOutput
    from selfdistill.assist.session import Session

    quiet_hf(all_warnings=True)
    cfg = _config(256, lr, steps, threads, loss, baseline)
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
    from selfdistill.assist.demo import run_demo
    from selfdistill.assist.output import PlainOutput

    quiet_hf(all_warnings=True)
    cfg = _config(max_new_tokens, lr, steps, threads, loss, baseline)
    return run_demo(script, model_spec, cfg, PlainOutput(), home=home, control=control,
                    show=show)


_MODEL = typer.Option(None, "--model", help="Model spec (alias, dir, .gguf, hub id); "
                      "default: the profile's model, or the embedded SmolLM2-135M-Instruct.")
_PROFILE = typer.Option("default", "--profile", help="Profile name (adapter + update log).")
_LR = typer.Option(1e-4, "--lr", help="Learning rate of each update.")
_STEPS = typer.Option(4, "--steps", help="Optimiser steps per correction.")
_THREADS = typer.Option(None, "--threads", help="torch CPU threads (1 is faster on a busy box).")
_LOSS = typer.Option("topk_kl", "--loss", help="topk_kl (top-K + tail reverse KL) or advantage.")
_BASELINE = typer.Option("none", "--baseline", help="none (the paper's advantage) or neutral "
                         "(contrast with a neutral follow-up; see docs/assist.md).")
_HOME = typer.Option(None, "--home", help="Profiles root (default $SELFDISTILL_HOME/profiles "
                     "or ~/.local/share/selfdistill/profiles).")


@assist_app.callback(invoke_without_command=True)
@_friendly
def assist(ctx: typer.Context, model: str | None = _MODEL, profile: str = _PROFILE,
           script: Path | None = typer.Option(None, "--script", help="Replay turns from YAML."),
           max_new_tokens: int = typer.Option(256, "--max-new-tokens"),
           lr: float = _LR, steps: int = _STEPS, threads: int | None = _THREADS,
           loss: str = _LOSS, baseline: str = _BASELINE, home: Path | None = _HOME) -> None:
    """Chat with the assistant; correct it and it updates its adapter (see /help)."""
    if ctx.invoked_subcommand is not None:
        return
    run_assist(model, profile, script, max_new_tokens=max_new_tokens, lr=lr, steps=steps,
               threads=threads, loss=loss, baseline=baseline, home=home)


@assist_app.command("learn")
@_friendly
def learn(profile: str = _PROFILE, log: Path = typer.Option(..., "--log", help="JSONL of "
          "{prompt, answer, followup} or {messages: [..., user, assistant, user]}."),
          model: str | None = _MODEL, batch_size: int = typer.Option(4, "--batch-size"),
          lr: float = _LR, steps: int = _STEPS, threads: int | None = _THREADS,
          loss: str = _LOSS, baseline: str = _BASELINE, home: Path | None = _HOME) -> None:
    """Learn offline from logged (prompt, answer, follow-up) turns by hindsight self-distillation."""
    run_assist_learn(profile, log, model_spec=model, batch_size=batch_size, lr=lr, steps=steps,
                     threads=threads, loss=loss, baseline=baseline, home=home)


@assist_app.command("demo")
@_friendly
def demo(script: Path | None = typer.Option(None, "--script", help="Demo YAML (turns + heldout)."),
         model: str | None = _MODEL, lr: float = _LR, steps: int = _STEPS,
         threads: int | None = _THREADS, loss: str = _LOSS, baseline: str = _BASELINE,
         home: Path | None = typer.Option(None, "--home", help="Where the demo profile goes "
                                          "(default: a new temp dir)."),
         control: bool = typer.Option(True, "--control/--no-control", help="Also replay the "
                                      "script's control_feedback into a second profile."),
         show: int = typer.Option(0, "--show", help="Print greedy answers to this many "
                                  "held-out prompts after the updates."),
         max_new_tokens: int = typer.Option(160, "--max-new-tokens")) -> None:
    """Show the held-out preference margin before and after a run of corrections."""
    run_assist_demo(script, model, lr=lr, steps=steps, threads=threads, loss=loss,
                    baseline=baseline, home=home, control=control, show=show,
                    max_new_tokens=max_new_tokens)


if __name__ == "__main__":
    assist_app()
