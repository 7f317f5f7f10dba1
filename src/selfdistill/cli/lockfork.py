"""`selfdistill ssd analyze`: the lock/fork analysis of an SSD run (analysis/lockfork.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from selfdistill.errors import UserError


def resolve_run(target: str | None, overrides: list[str]) -> tuple[Any, Path]:
    """An SSD run directory (its config.yaml) or a recipe file (its run_dir), plus overrides."""
    from selfdistill.core.config import check_run_config, load_config

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
    from rich.console import Console

    from selfdistill.analysis.lockfork import rich_table, run_analyze
    from selfdistill.cli.errors import quiet_hf

    quiet_hf()
    cfg, run_dir = resolve_run(target, list(overrides or []))
    if batch_size < 1:
        raise UserError("--batch-size must be >= 1.")
    summary, paths = run_analyze(cfg, run_dir, benchmark=benchmark, limit=limit,
                                 ssd_model=ssd_model, lock_by=lock_by,
                                 lock_threshold=lock_threshold, batch_size=batch_size)
    console = Console()
    console.print(rich_table(summary))
    lr = summary["lock_rate"]
    console.print(f"locks by the same rule: base {100 * lr['base']:.1f}%, "
                  f"SSD {100 * lr['ssd']:.1f}%")
    console.print(f"[green]report:[/] {paths['markdown'].resolve()}")
