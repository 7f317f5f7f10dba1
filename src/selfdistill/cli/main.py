"""The `selfdistill` command: one typer app whose subcommands map 1:1 to recipes."""

from __future__ import annotations

import sys
from typing import Any

import typer

from selfdistill.agent import cli as agent_cli
from selfdistill.assist import cli as assist_cli
from selfdistill.cli.credit import credit_cmd
from selfdistill.cli.plan import plan_cmd
from selfdistill.core.config import dump_yaml, load_config, yaml_comments
from selfdistill.core.console import friendly, quiet_hf
from selfdistill.core.console import result_console as console
from selfdistill.core.models import (
    DEFAULT_MODEL,
    DTYPE_HELP,
    fetch_embedded,
    load_model,
    model_info,
)
from selfdistill.errors import UserError
from selfdistill.evaluation.harness import get_harness
from selfdistill.generation.params import sampling_params
from selfdistill.problems.registry import find_problem, load_source
from selfdistill.recipes.discover import cli as discover_cli
from selfdistill.recipes.evaluate import cli as evaluate_cli
from selfdistill.recipes.sdpo import cli as sdpo_cli
from selfdistill.recipes.ssd import cli as ssd_cli

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
    dtype: str = typer.Option("auto", help=DTYPE_HELP),
) -> None:
    """Stream one chat answer from a model (a quick smoke test)."""
    if temperature < 0 or top_k < 0 or not 0 < top_p <= 1 or max_new_tokens < 1:
        raise UserError("Need temperature >= 0, top-k >= 0, 0 < top-p <= 1, max-new-tokens >= 1.")
    quiet_hf()
    import threading

    import torch
    from transformers import TextIteratorStreamer

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


# ---------------------------------------------------------------- methods
# Each method's cli.py mounts its commands (recipes/<method>/cli.py, assist/cli.py, agent/cli.py).

for _method in (evaluate_cli, ssd_cli, sdpo_cli, discover_cli, assist_cli, agent_cli):
    _method.mount(app)
app.command("credit")(friendly(credit_cmd))  # cli/credit.py
app.command("plan")(friendly(plan_cmd))  # cli/plan.py


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
