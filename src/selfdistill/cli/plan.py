"""`selfdistill plan RECIPE`: per-rank memory, a verdict and the cheapest change that fits."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console

from selfdistill.core.console import quiet_hf

console = Console()


def plan_cmd(recipe: str = typer.Argument(..., help="An sdpo, discover or ssd recipe YAML."),
             overrides: list[str] = typer.Argument(None, help="key=value overrides."),
             gpus: int = typer.Option(1, help="Ranks (one GPU each)."),
             gpu_mem: float = typer.Option(None, help="GiB per GPU (default: this machine's "
                                                      "GPU, else its RAM / ranks)."),
             model_config: str = typer.Option(None, help="A config.json (or its directory) "
                                                         "used instead of the model spec's."),
             prompt_tokens: int = typer.Option(512, help="Student prompt length assumed."),
             strategy: str = typer.Option(None, help="fsdp (sharded) or replica (a full copy "
                                                     "per rank); default fsdp if --gpus > 1."),
             fsdp_gather: str = typer.Option("layer", help="fsdp: layer (per-layer, FSDP2's "
                                             "hooks: what training/fsdp.py runs) or update "
                                             "(the whole model gathered once per update)."),
             as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON.")
             ) -> None:
    """Per-rank memory of a recipe from the model's config alone (no weights read), a verdict
    (exit 0 fits, 1 does not), and the cheapest change that makes it fit."""
    quiet_hf()
    from rich.table import Table

    from selfdistill.planning.recipe import format_plan, plan_recipe, to_json, verdict_line

    plan = plan_recipe(recipe, gpus=gpus, gpu_mem=gpu_mem, overrides=overrides or [],
                       model_config=model_config, prompt_tokens=prompt_tokens,
                       strategy=strategy, fsdp_gather=fsdp_gather)
    if as_json:
        sys.stdout.write(json.dumps(to_json(plan), indent=1) + "\n")
    else:
        s, i = plan.shape, plan.inputs
        table = Table(title=f"plan: {s.name}, {s.n_params / 1e9:.3g}B params, {i.method}, "
                            f"{i.dtype}, {i.ranks} rank(s) {i.strategy}, {i.recipe}")
        for col in ("component", "phase", "GiB/rank", "how"):
            table.add_column(col, justify="right" if col == "GiB/rank" else "left")
        for row in format_plan(plan):
            table.add_row(*row)
        console.print(table)
        console.print(verdict_line(plan), style="green" if plan.fits else "red")
    raise typer.Exit(0 if plan.fits else 1)
