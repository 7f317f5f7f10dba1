"""`selfdistill assist`: the typer sub-app (mounted by selfdistill.cli) over assist/run.py.

    selfdistill assist [--model SPEC] [--profile NAME] [--script turns.yaml]
    selfdistill assist learn --profile NAME --log conversations.jsonl
    selfdistill assist demo [--script examples/assist_demo_turns.yaml]

Also runnable on its own: ``python -m selfdistill.assist.cli ...``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from selfdistill.assist.run import run_assist, run_assist_demo, run_assist_learn
from selfdistill.core.console import friendly

assist_app = typer.Typer(
    help="A coding assistant that learns from your corrections by updating its own LoRA "
         "adapter, locally.",
    pretty_exceptions_enable=False,
    add_completion=False,
)


_friendly = friendly(interrupted="the profile keeps its last committed adapter.")


def mount(root: typer.Typer) -> None:
    """Add `assist` and its subcommands to the selfdistill app."""
    root.add_typer(assist_app, name="assist",
                   help="A coding assistant that learns from your corrections (LoRA, local).")


_MODEL = typer.Option(None, "--model", help="Model spec (alias, dir, .gguf, hub id); "
                      "default: the profile's model, or the embedded SmolLM2-135M-Instruct.")
_PROFILE = typer.Option("default", "--profile", help="Profile name (adapter + update log).")
_LR = typer.Option(1e-4, "--lr", help="Learning rate of each update.")
_STEPS = typer.Option(4, "--steps", help="Optimiser steps per correction.")
_THREADS = typer.Option(None, "--threads", help="torch CPU threads (1 is faster on a busy box).")
_LOSS = typer.Option("topk_kl", "--loss", help="topk_kl (top-K + tail reverse KL) or advantage.")
_BASELINE = typer.Option("none", "--baseline", help="none (the paper's advantage) or neutral "
                         "(contrast with a neutral follow-up; see docs/assist.md).")
_COMPUTE = typer.Option("float32", "--compute-dtype", help="Updates compute in float32, or in "
                        "bfloat16 with fp32 master weights and AdamW state (faster where the "
                        "CPU has native bf16).")
_HOME = typer.Option(None, "--home", help="Profiles root (default $SELFDISTILL_HOME/profiles "
                     "or ~/.local/share/selfdistill/profiles).")


@assist_app.callback(invoke_without_command=True)
@_friendly
def assist(ctx: typer.Context, model: str | None = _MODEL, profile: str = _PROFILE,
           script: Path | None = typer.Option(None, "--script", help="Replay turns from YAML."),
           max_new_tokens: int = typer.Option(256, "--max-new-tokens"),
           lr: float = _LR, steps: int = _STEPS, threads: int | None = _THREADS,
           loss: str = _LOSS, baseline: str = _BASELINE, home: Path | None = _HOME,
           compute_dtype: str = _COMPUTE) -> None:
    """Chat with the assistant; correct it and it updates its adapter (see /help)."""
    if ctx.invoked_subcommand is not None:
        return
    run_assist(model, profile, script, max_new_tokens=max_new_tokens, lr=lr, steps=steps,
               threads=threads, loss=loss, baseline=baseline, home=home,
               compute_dtype=compute_dtype)


@assist_app.command("learn")
@_friendly
def learn(profile: str = _PROFILE, log: Path = typer.Option(..., "--log", help="JSONL of "
          "{prompt, answer, followup} or {messages: [..., user, assistant, user]}."),
          model: str | None = _MODEL, batch_size: int = typer.Option(4, "--batch-size"),
          lr: float = _LR, steps: int = _STEPS, threads: int | None = _THREADS,
          loss: str = _LOSS, baseline: str = _BASELINE, home: Path | None = _HOME,
          compute_dtype: str = _COMPUTE) -> None:
    """Learn offline from logged (prompt, answer, follow-up) turns by hindsight self-distillation."""
    run_assist_learn(profile, log, model_spec=model, batch_size=batch_size, lr=lr, steps=steps,
                     threads=threads, loss=loss, baseline=baseline, home=home,
                     compute_dtype=compute_dtype)


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
