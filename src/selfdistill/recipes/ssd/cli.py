"""`selfdistill ssd {sample,train,evaluate,grid,run,analyze}` over recipes/ssd/run.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from selfdistill.core.config import check_run_config, load_config, load_run_config
from selfdistill.core.console import friendly, quiet_hf, result_console
from selfdistill.errors import UserError
from selfdistill.recipes.ssd.analyze import rich_table, run_analyze
from selfdistill.recipes.ssd.run import run_all, run_compare, run_grid, run_sample, run_train

app = typer.Typer(help="SSD: simple self-distillation (sample, train, evaluate).",
                  no_args_is_help=True)


def mount(root: typer.Typer) -> None:
    """Add `ssd` and its subcommands to the selfdistill app."""
    root.add_typer(app, name="ssd")


def _config(recipe: str | None, overrides: list[str] | None) -> tuple[Any, Path]:
    """The ssd config and run directory of a command (recorded in RUN/config.yaml)."""
    quiet_hf()
    return load_run_config("ssd", recipe, overrides)


_RECIPE_ARG = typer.Argument(None, help="An SSD recipe YAML (default: built-in CPU defaults).")
_OVERRIDES = typer.Argument(None, help="key=value overrides, e.g. train.lr=2e-5.")


@app.command("sample")
@friendly
def ssd_sample(recipe: str = _RECIPE_ARG, overrides: list[str] = _OVERRIDES) -> None:
    """The frozen model answers each training prompt at T_train (resumable, kill-safe)."""
    cfg, run_dir = _config(recipe, overrides)
    run_sample(cfg, run_dir)
    result_console.print(f"[green]samples:[/] {run_dir / 'sample' / 'samples.jsonl'}")


@app.command("train")
@friendly
def ssd_train(recipe: str = _RECIPE_ARG, overrides: list[str] = _OVERRIDES) -> None:
    """Fine-tune on the model's own answers (loss on answer tokens only; resumes)."""
    cfg, run_dir = _config(recipe, overrides)
    final = run_train(cfg, run_dir)
    result_console.print(f"[green]SSD model:[/] {final}")


@app.command("evaluate")
@friendly
def ssd_evaluate(recipe: str = _RECIPE_ARG, overrides: list[str] = _OVERRIDES,
                 ssd_model: str = typer.Option(None, help="Default: RUN/train/final."),
                 only_ssd: bool = typer.Option(
                     False, "--only-ssd", help="Sweep the SSD model alone (no base model, no "
                     "paired report): its base sweep is elsewhere.")) -> None:
    """Base vs SSD over the T_eval sweep; the gain over the best-tuned base temperature."""
    cfg, run_dir = _config(recipe, overrides)
    report = run_compare(cfg, run_dir, ssd_model, only_ssd=only_ssd)
    result_console.print(f"[green]{'results' if only_ssd else 'report'}:[/] {report.resolve()}")


@app.command("grid")
@friendly
def ssd_grid(recipe: str = _RECIPE_ARG, overrides: list[str] = _OVERRIDES) -> None:
    """T_train x T_eval grid without truncation; quadratic fit against T_eff."""
    cfg, run_dir = _config(recipe, overrides)
    report = run_grid(cfg, run_dir)
    result_console.print(f"[green]grid report:[/] {report.resolve()}")


@app.command("run")
@friendly
def ssd_run(recipe: str = _RECIPE_ARG, overrides: list[str] = _OVERRIDES) -> None:
    """sample -> train -> evaluate, then print the report's path."""
    cfg, run_dir = _config(recipe, overrides)
    result_console.print(f"[bold]SSD run[/] -> {run_dir.resolve()}")
    report = run_all(cfg, run_dir)
    result_console.print(report.read_text(), markup=False, highlight=False)
    result_console.print(f"[green]report:[/] {report.resolve()}")



def resolve_run(target: str | None, overrides: list[str]) -> tuple[Any, Path]:
    """An SSD run directory (its config.yaml) or a recipe file (its run_dir), plus overrides."""
    if target and "=" in target and not Path(target).exists():
        target, overrides = None, [target, *overrides]  # no recipe file, only overrides
    if target and Path(target).is_dir():
        run_dir = Path(target)
        if not (run_dir / "config.yaml").is_file():
            raise UserError(f"{run_dir} has no config.yaml: is it an SSD run directory?")
        check_run_config(run_dir)
        _, cfg = load_config(run_dir / "config.yaml", overrides, recipe="ssd")
        return cfg, run_dir
    _, cfg = load_config(target, overrides, recipe="ssd")
    return cfg, Path(cfg.run_dir)


@app.command("analyze")
@friendly
def analyze_cmd(
    target: str = typer.Argument(None, help="An SSD run directory or SSD recipe YAML."),
    overrides: list[str] = typer.Argument(None, help="key=value overrides, e.g. sample.top_p=0.9."),
    benchmark: str = typer.Option("humaneval", help="Held-out problems with reference solutions."),
    limit: int = typer.Option(None, help="Only the first N held-out problems."),
    ssd_model: str = typer.Option(None, help="Default: RUN/train/final."),
    lock_by: str = typer.Option("top1", help="Lock rule on the base model: top1 or support."),
    lock_threshold: float = typer.Option(
        None, help="top1: lock if top-1 mass >= this (0.9); support: if support <= this (1)."),
    batch_size: int = typer.Option(4, help="References per forward pass."),
) -> None:
    """Lock/fork analysis: base vs SSD token distributions on held-out reference solutions."""
    quiet_hf()
    cfg, run_dir = resolve_run(target, list(overrides or []))
    if batch_size < 1:
        raise UserError("--batch-size must be >= 1.")
    summary, paths = run_analyze(cfg, run_dir, benchmark=benchmark, limit=limit,
                                 ssd_model=ssd_model, lock_by=lock_by,
                                 lock_threshold=lock_threshold, batch_size=batch_size)
    result_console.print(rich_table(summary))
    lr = summary["lock_rate"]
    result_console.print(f"locks by the same rule: base {100 * lr['base']:.1f}%, "
                  f"SSD {100 * lr['ssd']:.1f}%")
    result_console.print(f"[green]report:[/] {paths['markdown'].resolve()}")
