"""`selfdistill evaluate` over recipes/evaluate/run.py."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import typer

from selfdistill.core.config import ModelConfig, write_run_config
from selfdistill.core.console import friendly, quiet_hf, result_console
from selfdistill.core.models import DEFAULT_MODEL, DTYPE_HELP, resolve_dtype
from selfdistill.errors import UserError
from selfdistill.evaluation.config import EvalConfig
from selfdistill.evaluation.external import EXTRACT_MODES
from selfdistill.evaluation.harness import MLSSD_K, MLSSD_SAMPLING, get_harness
from selfdistill.recipes.evaluate.config import EvaluateConfig
from selfdistill.recipes.evaluate.run import run_evaluate, run_evaluate_samples


def mount(root: typer.Typer) -> None:
    """Add `evaluate` to the selfdistill app."""
    root.command("evaluate")(evaluate_cmd)


def _floats(text: str | None) -> list[float] | None:
    """Comma-separated numbers (None when absent); one-line error otherwise."""
    if text is None:
        return None
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"Expected comma-separated numbers, got '{text}'.") from None


def _json_object(text: str | None, option: str) -> dict[str, Any]:
    """A JSON object given on the command line ({} when absent); one-line error otherwise."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{option} must be a JSON object, e.g. '{{\"enable_thinking\": false}}' "
                        f"({e.msg}).") from None
    if not isinstance(value, dict):
        raise UserError(f"{option} must be a JSON object, got {type(value).__name__}.")
    return value


def _sampling_defaults(harness: str, n: int | None, temperature: float | None,
                       top_k: int | None, top_p: float | None, k: str | None
                       ) -> tuple[int, float, int, float, str | None]:
    """Unset sampling options: the ml-ssd harness's (the paper script's), else ours."""
    if harness.strip().lower() == "ml-ssd":
        n = MLSSD_SAMPLING["n"] if n is None else n
        temperature = MLSSD_SAMPLING["temperature"] if temperature is None else temperature
        top_k = MLSSD_SAMPLING["top_k"] if top_k is None else top_k
        top_p = MLSSD_SAMPLING["top_p"] if top_p is None else top_p
        k = k or ",".join(str(x) for x in MLSSD_K if x <= n)
    n = 1 if n is None else n
    if temperature is None:  # greedy gives one distinct sample: pass@k for k > 1 needs T > 0
        temperature = 0.0 if n == 1 else 0.2
    return (n, temperature, 20 if top_k is None else top_k, 0.8 if top_p is None else top_p, k)


@friendly
def evaluate_cmd(
    model: str = typer.Option(DEFAULT_MODEL, help="Model spec."),
    benchmark: str = typer.Option("humaneval", help="humaneval | builtin:dev | lcb:FILE | "
                                  "mbpp:FILE | evalplus:FILE | jsonl:FILE"),
    samples: str = typer.Option(None, help="Grade this JSONL of completions made elsewhere "
                                "(human-eval {task_id, completion} rows or selfdistill samples) "
                                "instead of sampling a model."),
    harness: str = typer.Option("official", help="official (each benchmark's own prompt, "
                                "extraction and program; docs/evaluation.md) | selfdistill | "
                                "ml-ssd (the SSD paper's LiveCodeBench script: its prompts, "
                                "last fenced block, T 0.6 / top-p 0.95 / top-k 20, n 20)"),
    extract: str = typer.Option(None, help="With --samples: none (verbatim; the default for "
                                "human-eval/EvalPlus rows) | official (the harness's "
                                "extraction; the default for selfdistill text) | sanitize "
                                "(EvalPlus's sanitizer)."),
    n: int = typer.Option(None, help="Samples per problem (default 1; ml-ssd: 20)."),
    temperature: float = typer.Option(None, help="One evaluation temperature (0 = greedy). "
                                      "Default: 0 with --n 1, else 0.2 (lcb_runner's default); "
                                      "ml-ssd: 0.6."),
    temperatures: str = typer.Option(None, help="A sweep, e.g. 0.5,0.7,0.9,1.1."),
    top_k: int = typer.Option(None, help="Default 20 (ml-ssd: 20)."),
    top_p: float = typer.Option(None, help="Default 0.8 (ml-ssd: 0.95)."),
    max_new_tokens: int = typer.Option(384),
    k: str = typer.Option(None, help="pass@k values, e.g. 1,5,10 (default 1; ml-ssd: 1,5,10)."),
    limit: int = typer.Option(None, help="Only the first N problems."),
    seed: int = typer.Option(0),
    batch_size: int = typer.Option(32),
    backend: str = typer.Option("hf", help="hf | vllm"),
    dtype: str = typer.Option("auto", help=DTYPE_HELP),
    workers: int = typer.Option(1, help="CPU sampling processes of one thread; 0 = per core."),
    run_dir: str = typer.Option(None, help="Default: runs/eval-<model>-<benchmark>."),
    chat_template_kwargs: str = typer.Option(
        None, help='Chat-template arguments as JSON, e.g. \'{"enable_thinking": false}\'.'),
) -> None:
    """Sample, grade in the sandbox and report pass@k with CIs (resumes where it stopped)."""
    quiet_hf()
    n, temperature, top_k, top_p, k = _sampling_defaults(harness, n, temperature, top_k, top_p,
                                                         k)
    temps = _floats(temperatures) or [temperature]
    ks = [int(x) for x in _floats(k) or [1]]
    get_harness(harness)  # one clear error for a bad name, before anything loads
    if extract is not None:
        if samples is None:
            raise UserError("--extract applies to --samples files only (a live run uses "
                            "the harness's extraction).")
        if extract not in EXTRACT_MODES:
            raise UserError(f"unknown --extract {extract!r}: use {', '.join(EXTRACT_MODES)}")
    cfg = EvalConfig(benchmark=benchmark, limit=limit, n=n, temperatures=temps, top_k=top_k,
                     top_p=top_p, max_new_tokens=max_new_tokens, k_values=ks, seed=seed,
                     batch_size=batch_size, backend=backend, harness=harness, workers=workers)
    template_kwargs = _json_object(chat_template_kwargs, "--chat-template-kwargs")
    if samples is None and (any(t < 0 for t in temps) or n < 1
                            or any(x < 1 or x > n for x in ks)):
        raise UserError("Temperatures must be >= 0, n >= 1 and every k in 1..n.")
    if any(x < 1 for x in ks):
        raise UserError("Every k must be >= 1.")
    if samples is not None:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"samples-{Path(samples).stem}-{benchmark}")
        run = run_dir or f"runs/eval-{slug[-80:]}"
        report, _, table = run_evaluate_samples(samples, cfg, run, extract=extract)
    else:
        dtype = resolve_dtype(dtype, model)
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{model}-{benchmark}")[-80:]
        run = run_dir or f"runs/eval-{slug}"
        write_run_config(run, EvaluateConfig(run_dir=run, eval=cfg, model=ModelConfig(
            model, dtype, chat_template_kwargs=template_kwargs)), "evaluate")
        report, _, table = run_evaluate(model, cfg, run, dtype=dtype,
                                        chat_template_kwargs=template_kwargs)
    sys.stdout.write(table + "\n")
    result_console.print(f"[green]report:[/] {report}")
