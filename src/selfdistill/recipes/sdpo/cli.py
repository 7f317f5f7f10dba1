"""`selfdistill sdpo train` over recipes/sdpo/run.py."""

from __future__ import annotations

import typer

from selfdistill.core.config import load_run_config
from selfdistill.core.console import friendly, quiet_hf, result_console
from selfdistill.recipes.sdpo.run import run_sdpo_train

app = typer.Typer(help="SDPO: self-distillation from execution feedback.", no_args_is_help=True)


def mount(root: typer.Typer) -> None:
    """Add `sdpo` and its subcommands to the selfdistill app."""
    root.add_typer(app, name="sdpo")


@app.command("train")
@friendly
def sdpo_train(recipe: str = typer.Argument(None, help="An SDPO recipe YAML."),
               overrides: list[str] = typer.Argument(
                   None, help="key=value overrides, e.g. train.lr=2e-5.")) -> None:
    """Rollouts, sandbox grading, teacher re-prompts, distillation steps (resumable)."""
    quiet_hf()
    cfg, run_dir = load_run_config("sdpo", recipe, overrides)
    final = run_sdpo_train(cfg, run_dir)
    result_console.print(f"[green]SDPO model:[/] {final}  metrics: {run_dir / 'metrics.jsonl'}")
