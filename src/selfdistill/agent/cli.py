"""`selfdistill agent`: the typer sub-app (mounted by selfdistill.cli) over agent/run.py.

    selfdistill agent [--workspace DIR] [--model SPEC] [--profile NAME] [--script FILE]
    selfdistill agent demo [--script examples/agent_demo_turns.yaml]

Also runnable on its own: ``python -m selfdistill.agent.cli ...``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from selfdistill.agent.demo import run_agent_demo
from selfdistill.agent.run import run_agent
from selfdistill.agent.session import AgentConfig
from selfdistill.assist.cli import (
    _BASELINE,
    _COMPUTE,
    _HOME,
    _LOSS,
    _LR,
    _MODEL,
    _STEPS,
    _THREADS,
)
from selfdistill.core.console import friendly, quiet_hf
from selfdistill.errors import UserError

agent_app = typer.Typer(
    help="A coding agent that acts in your workspace with your approval and updates its own "
         "LoRA adapter when you say no.",
    pretty_exceptions_enable=False,
    add_completion=False,
)
_friendly = friendly(interrupted="the profile keeps its last committed adapter.")


def mount(root: typer.Typer) -> None:
    """Add `agent` and its subcommands to the selfdistill app."""
    root.add_typer(agent_app, name="agent",
                   help="A coding agent in your workspace that learns when you say no (LoRA, local).")


_FIRST_CALL = typer.Option(False, "--first-call/--no-first-call", help="Free decoding (a "
                           "template with a tool format): the first reply of a task, and a "
                           "retry after a denial, must be a tool call.")
_WORKSPACE = typer.Option(None, "--workspace", "-w", help="The directory the agent works in "
                          "(default: the current directory).")


@agent_app.callback(invoke_without_command=True)
@_friendly
def agent(ctx: typer.Context, workspace: Path | None = _WORKSPACE, model: str | None = _MODEL,
          profile: str = typer.Option("agent", "--profile", help="Profile (adapter + log)."),
          script: Path | None = typer.Option(None, "--script", help="Replay a YAML session."),
          replay: Path | None = typer.Option(None, "--replay", help="YAML list of model "
                                             "replies to use before sampling (tests, demos)."),
          auto_read: bool = typer.Option(True, "--auto-read/--ask-read", help="Run read-only "
                                         "actions (read, list, grep) without asking."),
          max_actions: int = typer.Option(8, "--max-actions", help="Actions per task."),
          learn_errors: bool = typer.Option(True, "--learn-errors/--no-learn-errors",
                                            help="Update on failing commands and tool errors."),
          timeout: float = typer.Option(30.0, "--timeout", help="Shell command time limit (s)."),
          decode: str = typer.Option("auto", "--decode", help="constrained: choose call or "
                                     "answer and the tool by the model's scores and prefill "
                                     "the call; free: sample and parse; auto: constrained "
                                     "unless the chat template has a tool format."),
          max_new_tokens: int = typer.Option(256, "--max-new-tokens"),
          first_call: bool = _FIRST_CALL,
          lr: float = _LR, steps: int = _STEPS, threads: int | None = _THREADS,
          loss: str = _LOSS, baseline: str = _BASELINE, home: Path | None = _HOME,
          compute_dtype: str = _COMPUTE) -> None:
    """Give the agent tasks; approve, deny (it learns and retries) or edit each action."""
    if ctx.invoked_subcommand is not None:
        return
    if max_actions < 1 or timeout <= 0:
        raise UserError("--max-actions must be >= 1 and --timeout > 0.")
    if decode not in ("auto", "constrained", "free"):
        raise UserError(f"--decode must be auto, constrained or free, not {decode!r}.")
    acfg = AgentConfig(max_actions=max_actions, auto_approve_reads=auto_read,
                       learn_from_errors=learn_errors, shell_timeout_s=timeout,
                       decode=decode, first_call=first_call)  # type: ignore[arg-type]
    run_agent(workspace, model, profile, script, replay=replay, agent=acfg,
              max_new_tokens=max_new_tokens, lr=lr, steps=steps, threads=threads, loss=loss,
              baseline=baseline, home=home, compute_dtype=compute_dtype)


@agent_app.command("demo")
@_friendly
def demo(script: Path | None = typer.Option(None, "--script", help="Demo YAML (turns + heldout)."),
         model: str | None = _MODEL, lr: float = _LR, steps: int = _STEPS,
         threads: int | None = _THREADS, loss: str = _LOSS, baseline: str = _BASELINE,
         home: Path | None = typer.Option(None, "--home", help="Where the demo profiles go."),
         control: bool = typer.Option(True, "--control/--no-control")) -> None:
    """Measure the denied kind of action's probability on held-out tasks, before and after."""
    run_agent_demo(script, model, lr=lr, steps=steps, threads=threads, loss=loss,
                   baseline=baseline, home=home, control=control)


@agent_app.command("bench")
@_friendly
def bench(model: list[str] = typer.Option(None, "--model", help="Model spec; repeat for "
                                          "several (default: the embedded model)."),
          out: Path = typer.Option(Path("runs/agent-bench"), "--out", help="Results directory "
                                   "(resumable: recorded tasks are skipped)."),
          tasks: str | None = typer.Option(None, "--tasks", help="Comma-separated task ids "
                                           "(default: all)."),
          max_actions: int = typer.Option(8, "--max-actions", help="Step limit per task."),
          decode: str = typer.Option("auto", "--decode", help="auto / constrained / free."),
          max_new_tokens: int = typer.Option(256, "--max-new-tokens"),
          budget_min: float | None = typer.Option(None, "--budget-min", help="Start no new "
                                                  "task after this many minutes (resume later)."),
          threads: int | None = _THREADS, first_call: bool = _FIRST_CALL,
          report_only: bool = typer.Option(False, "--report-only", help="Only write the "
                                           "summary and the HTML report.")) -> None:
    """Run the agent on the bench's repository tasks; hidden checks decide success."""
    from selfdistill.agent.bench import run_bench_model, select_tasks, summary_table, write_report

    quiet_hf(all_warnings=True)
    if max_actions < 1 or max_new_tokens < 1:
        raise UserError("--max-actions and --max-new-tokens must be >= 1.")
    if decode not in ("auto", "constrained", "free"):
        raise UserError(f"--decode must be auto, constrained or free, not {decode!r}.")
    chosen = select_tasks([t.strip() for t in tasks.split(",") if t.strip()] if tasks else None)
    if not report_only:
        for spec in model or [None]:
            run_bench_model(spec, out, chosen, max_actions=max_actions, decode=decode,
                            max_new_tokens=max_new_tokens, threads=threads,
                            first_call=first_call, budget_s=None if budget_min is None else 60 * budget_min)
    print(summary_table(out), flush=True)
    print(f"report: {write_report(out)}", flush=True)


if __name__ == "__main__":
    agent_app()
