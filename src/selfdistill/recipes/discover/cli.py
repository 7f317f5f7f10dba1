"""Typer command functions for `selfdistill discover` and `selfdistill discover-bench`.

`mount` registers them on the selfdistill app, wrapped with the one-line UserError
handling. Flags override the recipe file, which
overrides the built-in defaults; `key=value` arguments override everything.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from selfdistill.core.config import load_config
from selfdistill.core.console import console, friendly, quiet_hf
from selfdistill.errors import UserError
from selfdistill.recipes.discover import METHODS, run_discover, run_discover_bench, slug
from selfdistill.recipes.discover.select import parse_pool

_RECIPE = typer.Option(None, "--recipe", "-r", help="A discover recipe YAML "
                       "(e.g. recipes/discover_cpu.yaml).")
_OVERRIDES = typer.Argument(None, help="key=value overrides, e.g. optim.lr=1e-4 "
                            "teacher.kind=frozen.")
_MODEL = typer.Option(None, "--model", help="Model alias, directory or hub id "
                      "(default: the recipe's, else smollm2-135m-instruct).")
_BUDGET = typer.Option(None, "--budget", help="K: attempts per (method, problem, seed).")
_BATCH = typer.Option(None, "--batch", help="B: attempts sampled per step (default 16).")
_SEEDS = typer.Option(None, "--seeds", help="Number of seeds (seeds first_seed .. +S-1).")
_RUN_DIR = typer.Option(None, "--run-dir", help="Where results go; re-run to resume.")
_LR = typer.Option(None, "--lr", help="SDPO learning rate.")
_TEMP = typer.Option(None, "--temperature", help="Sampling temperature (> 0).")
_MAXTOK = typer.Option(None, "--max-new-tokens", help="Answer length cap in tokens.")


def _build_cfg(recipe: str | None, overrides: list[str] | None, flags: dict[str, Any]) -> Any:
    """Load the recipe (or defaults), apply flags, then key=value overrides."""
    keys = {"model": "model.spec", "problem": "problem", "source": "source",
            "problems": "problems", "limit": "limit", "budget": "budget",
            "batch": "sampling.batch", "seeds": "seeds", "run_dir": "run_dir",
            "lr": "optim.lr", "temperature": "sampling.temperature",
            "max_new_tokens": "sampling.max_new_tokens"}
    ov: list[str] = []
    for name, value in flags.items():
        if value is None:
            continue
        if name == "methods":
            ms = [m.strip() for m in str(value).split(",") if m.strip()]
            bad = [m for m in ms if m not in METHODS]
            if bad or not ms:
                raise UserError(f"unknown method {', '.join(bad) or '(none)'}: use "
                                f"{', '.join(METHODS)}.")
            ov.append(f"methods={','.join(ms)}")
        else:
            ov.append(f"{keys[name]}={value}")
    for o in overrides or []:
        if "=" not in o:
            raise UserError(f"'{o}' is not a key=value override (e.g. optim.lr=1e-4).")
    if recipe is not None and not Path(recipe).is_file():
        raise UserError(f"Recipe file not found: {recipe}")
    _, cfg = load_config(recipe, ov + list(overrides or []), recipe="discover")
    return cfg


def discover_cmd(
    overrides: list[str] = _OVERRIDES,
    problem: str = typer.Option(None, "--problem", help="Problem id, e.g. "
                                "builtin/easy-count-vowels or HumanEval/3."),
    source: str = typer.Option(None, "--source", help="Where the problem lives (builtin:all, "
                               "humaneval, lcb:FILE, mbpp:FILE, jsonl:FILE); default: "
                               "inferred from the id."),
    model: str = _MODEL,
    budget: int = _BUDGET,
    batch: int = _BATCH,
    seeds: int = _SEEDS,
    method: str = typer.Option(None, "--method", help="sdpo (default), best_of_k, multiturn, "
                               "or a comma-separated list."),
    run_dir: str = _RUN_DIR,
    lr: float = _LR,
    temperature: float = _TEMP,
    max_new_tokens: int = _MAXTOK,
    recipe: str = _RECIPE,
) -> None:
    """Solve one problem by test-time self-distillation: sample, grade, SDPO step, repeat."""
    cfg = _build_cfg(recipe, overrides, {
        "problem": problem, "source": source, "model": model, "budget": budget,
        "batch": batch, "seeds": seeds, "run_dir": run_dir, "lr": lr,
        "temperature": temperature, "max_new_tokens": max_new_tokens,
        "methods": method or ("sdpo" if recipe is None else None)})
    if not cfg.problem:
        raise UserError("no problem given: pass --problem ID (see `selfdistill problems list`).")
    if run_dir is None and cfg.run_dir == "runs/discover":
        cfg.run_dir = f"runs/discover-{slug(cfg.problem)}"
    results = run_discover(cfg)
    solved = [r for r in results if r.solved]
    console.print(f"[bold]{cfg.problem}[/]: solved in {len(solved)} of {len(results)} run(s); "
                  f"report: {Path(cfg.run_dir) / 'report.md'}")


def discover_bench_cmd(
    overrides: list[str] = _OVERRIDES,
    problems: str = typer.Option(None, "--problems", help="Problem set spec, e.g. builtin:hard, "
                                 "'builtin:all?difficulty=easy&limit=3', lcb:FILE."),
    limit: int = typer.Option(None, "--limit", help="Only the first N problems."),
    methods: str = typer.Option(None, "--methods", help="Comma-separated: sdpo,best_of_k,"
                                "multiturn (default all three)."),
    model: str = _MODEL,
    budget: int = _BUDGET,
    batch: int = _BATCH,
    seeds: int = _SEEDS,
    run_dir: str = _RUN_DIR,
    lr: float = _LR,
    temperature: float = _TEMP,
    max_new_tokens: int = _MAXTOK,
    recipe: str = _RECIPE,
    report_only: bool = typer.Option(False, "--report-only", help="Sample nothing: write "
                                     "the report from the runs already finished."),
    select_hard: str = typer.Option(None, "--select-hard", help="Run on the problems of "
                                    "this pool that are hard for the model (pass@k < "
                                    "threshold, select.* settings), e.g. "
                                    "'builtin:dev+humaneval?limit=20+mbpp:FILE?limit=20'."),
    stop_after: float = typer.Option(None, "--stop-after-minutes", help="Start no new run "
                                     "after this many minutes (re-run to continue)."),
) -> None:
    """Compare sdpo, best-of-k and multi-turn discovery: curves vs attempts and seconds, CIs."""
    cfg = _build_cfg(recipe, overrides, {
        "problems": problems, "limit": limit, "methods": methods, "model": model,
        "budget": budget, "batch": batch, "seeds": seeds, "run_dir": run_dir, "lr": lr,
        "temperature": temperature, "max_new_tokens": max_new_tokens})
    if select_hard is not None:  # set directly: pool specs may hold commas and '='
        cfg.select.pool = parse_pool(select_hard)
    if stop_after is not None:
        cfg.stop_after_minutes = stop_after
    if run_dir is None and cfg.run_dir == "runs/discover":
        cfg.run_dir = "runs/discover-bench"
    report, summary = run_discover_bench(cfg, report_only=report_only)
    for m, v in summary["methods"].items():
        k, mean, lo, hi = v["curve"][-1]
        t, tm, tlo, thi = v["seconds_curve"][-1]
        a = v["attempts"]
        console.print(f"{m}: discovery@{k} {100 * mean:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]; "
                      f"within {t:.0f}s {100 * tm:.1f}% [{100 * tlo:.1f}, {100 * thi:.1f}]; "
                      f"solved {a['solved']}/{a['runs']} runs")
    console.print(f"[green]report:[/] {report.resolve()}")


def mount(root: typer.Typer) -> None:
    """Add `discover` and `discover-bench` to the selfdistill app (one-line errors, quiet HF)."""

    def quiet(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            quiet_hf()
            return fn(*args, **kwargs)

        return wrapper

    root.command("discover")(friendly(quiet(discover_cmd)))
    root.command("discover-bench")(friendly(quiet(discover_bench_cmd)))
