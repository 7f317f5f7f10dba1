"""Test-time self-distillation ("discovery"): solve one hard problem from its own failures.

Methods, all with the same sampler, batch B and attempt budget K:

- sdpo: sample B attempts, grade them in the sandbox, stop at the first accepted one;
  otherwise take one SDPO step (sdpo.sdpo_step) on this problem alone -- the teacher is
  the model re-prompted with the judge's feedback (or a successful sibling, which only
  happens with stop_at_success=false) -- and repeat until K attempts are spent. A fresh
  LoRA adapter (seeded init) per (problem, seed) on the frozen base, reset in memory.
- best_of_k: B independent samples per step from the base model, never stopping early,
  so that discovery@k can use the unbiased pass@k estimator over all K samples.
- multiturn: one conversation; each step samples B attempts from the prompt followed by
  past (answer, judge feedback) turns, oldest dropped first to fit the context window
  minus max_new_tokens (multiturn.build_multiturn_chat); stops at the first success.

Attempt index: the 1-based count of attempts consumed up to and including the first
success (within a batch, the position of the first accepted sample). Sampling seed of
step s of seed r is r * 1_000_003 + s for every method, so the first batch of the three
methods is the same draw (common random numbers).

Run directory (plain files, resumable):
    RUN/config.yaml
    RUN/results.jsonl                         one row per finished (method, problem, seed)
    RUN/runs/METHOD/PROBLEM/seed-S.jsonl      one row per step (attempts, verdicts,
                                              feedback, SDPO metrics), then a "done" row
    RUN/solutions/METHOD/PROBLEM/seed-S.py    the first accepted program, attempt in header
    RUN/summary.json, RUN/report.md, RUN/discovery_at_k.png

Resume: finished runs (a row in results.jsonl) are replayed from disk; an unfinished run
is restarted from its beginning (its step log is truncated), for every method -- there is
no adapter checkpoint. Seeds are deterministic, so a restarted run redraws the same first
batch.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from selfdistill.core.config import write_run_config
from selfdistill.distill.objective import SDPOLossConfig
from selfdistill.errors import UserError
from selfdistill.recipes.discover.config import DiscoverConfig, slug, validate
from selfdistill.recipes.discover.curves import summarize_results
from selfdistill.recipes.discover.loop import RunResult
from selfdistill.recipes.discover.report import write_report


def _load_problem(cfg: DiscoverConfig) -> Any:
    from selfdistill.problems.registry import find_problem

    if not cfg.problem:
        raise UserError("no problem given: pass --problem ID (see `selfdistill problems list`).")
    return find_problem(cfg.problem, cfg.source)


def run_discover(cfg: DiscoverConfig, run_dir: str | Path | None = None,
                 *, discoverer_factory: Callable[[], Any] | None = None) -> list[RunResult]:
    """`selfdistill discover`: the configured methods on one problem, every seed; resumable."""
    from selfdistill.core.console import console

    validate(cfg)
    run_dir = Path(run_dir or cfg.run_dir)
    problem = _load_problem(cfg)
    write_run_config(run_dir, cfg, "discover")

    def say(r: RunResult) -> None:
        console.print(_result_line(r))

    results = run_units(cfg, [problem], run_dir, discoverer_factory=discoverer_factory,
                        description=f"discover {problem.id}", on_result=say)
    summary = summarize_results(results, cfg.methods, cfg.budget, cfg.sampling.batch,
                                cfg.report.ks, cfg.report.conf, cfg.report.n_boot)
    write_report(run_dir, summary, cfg, 1, f"Discovery on {problem.id}")
    return results


def _result_line(r: RunResult) -> str:
    if r.solved:
        return (f"{r.method} seed {r.seed}: SOLVED {r.problem_id} at attempt {r.attempt_index} "
                f"of {r.budget} (step {math.ceil(r.attempt_index / r.batch)}, "
                f"{r.updates} SDPO updates, {r.seconds:.0f}s)")
    return (f"{r.method} seed {r.seed}: budget spent on {r.problem_id}: no accepted attempt "
            f"in {r.attempts_used} attempts ({r.updates} SDPO updates, {r.seconds:.0f}s)")


def run_discover_bench(cfg: DiscoverConfig, run_dir: str | Path | None = None,
                       *, discoverer_factory: Callable[[], Any] | None = None,
                       report_only: bool = False) -> tuple[Path, dict[str, Any]]:
    """`selfdistill discover-bench`: all methods x problems x seeds; report + plot; resumable.

    report_only: no sampling; the report covers the runs already finished (partial).
    """
    validate(cfg)
    run_dir = Path(run_dir or cfg.run_dir)
    started = time.monotonic()
    lazy = _LazyDiscoverer(discoverer_factory or (lambda: _discoverer(cfg)))
    if not report_only:
        write_run_config(run_dir, cfg, "discover")
    problems, selection = _bench_problems(cfg, run_dir, lazy, report_only)
    results = run_units(cfg, problems, run_dir, discoverer_factory=lazy.get,
                        description="discover-bench", report_only=report_only,
                        started=started)
    if not results:
        raise UserError(f"no finished runs in {run_dir} to report on.")
    summary = summarize_results(results, cfg.methods, cfg.budget, cfg.sampling.batch,
                                cfg.report.ks, cfg.report.conf, cfg.report.n_boot)
    if selection is not None:
        summary["selection"] = selection.to_dict()
        very = [r for r in results if r.problem_id in set(selection.very_hard)]
        if very and len(very) < len(results):
            summary["very_hard"] = summarize_results(
                very, cfg.methods, cfg.budget, cfg.sampling.batch, cfg.report.ks,
                cfg.report.conf, cfg.report.n_boot)
    expected = len(problems) * cfg.seeds * len(cfg.methods)
    pool = " + ".join(cfg.select.pool)
    title = (f"Test-time discovery on the hard subset of {pool}" if selection is not None
             else f"Test-time discovery on {cfg.problems}")
    if len(results) < expected:
        title += f" (partial: {len(results)} of {expected} runs)"
    n_probs = len({r.problem_id for r in results})
    report = write_report(run_dir, summary, cfg, n_probs, title)
    return report, summary


class _LazyDiscoverer:
    """One Discoverer for selection and runs, built the first time something needs it."""

    def __init__(self, factory: Callable[[], Any]):
        self.factory, self.disc = factory, None

    def get(self) -> Any:
        """The Discoverer (built on first use)."""
        if self.disc is None:
            self.disc = self.factory()
        return self.disc

    def generate(self, chats: list[Any], params: Any, *, progress: bool | None = None) -> Any:
        """Selection sampling from the initial weights (loads the model on first use)."""
        return self.get().base_generator().generate(chats, params, progress=progress)


def _bench_problems(cfg: DiscoverConfig, run_dir: Path, lazy: _LazyDiscoverer,
                    report_only: bool) -> tuple[list[Any], Any]:
    """The problems to run: the hard subset of select.pool (printed), else cfg.problems."""
    from selfdistill.core.console import console
    from selfdistill.problems.registry import load_source

    if not cfg.select.pool:
        problems = load_source(cfg.problems)
        problems = problems[: cfg.limit] if cfg.limit else problems
        if not problems:
            raise UserError(f"no problems in {cfg.problems!r}.")
        return problems, None
    from selfdistill.recipes.discover.select import select_hard, selection_lines

    if report_only and not (run_dir / "select" / "selection.json").is_file():
        raise UserError(f"no selection in {run_dir}/select to report on.")
    selection, problems = select_hard(lazy, cfg, run_dir)
    for line in selection_lines(selection):
        console.print(line)
    if not problems:
        raise UserError(f"no pool problem has pass@{cfg.select.k} < {cfg.select.threshold:g} "
                        f"for {cfg.model.spec}: nothing is hard for this model.")
    return problems, selection


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _fingerprint(cfg: DiscoverConfig) -> dict[str, Any]:
    """The settings a finished run's result depends on, flattened (checked on resume)."""
    d = asdict(cfg)
    return _flatten({k: d[k] for k in ("budget", "stop_at_success", "timeout_s", "model",
                                        "sampling", "teacher", "loss", "optim", "multiturn")})


# Fingerprint keys of runs made before a config key was renamed.
_RENAMED_KEYS = {f"loss.{old}": f"loss.{new}" for old, new in SDPOLossConfig.RENAMED.items()}


def _check_fingerprint(run_dir: Path, cfg: DiscoverConfig) -> None:
    """Refuse to mix runs made with different settings in one directory.

    Keys present on only one side (a field added to a config class since) are ignored.
    """
    from selfdistill.core.records import write_json_atomic

    path = run_dir / "fingerprint.json"
    fp = _fingerprint(cfg)
    if path.is_file():
        old = json.loads(path.read_text())
        if "digest" in old:  # older layout: nested sections
            old = _flatten({k: v for k, v in old.items() if k != "digest"})
        old = {_RENAMED_KEYS.get(k, k): v for k, v in old.items()}
        diff = sorted(k for k in fp.keys() & old.keys()
                      if json.dumps(fp[k], sort_keys=True) != json.dumps(old[k], sort_keys=True))
        if diff:
            raise UserError(f"{run_dir} holds runs made with other settings ({', '.join(diff)}); "
                            "use a new run directory or the same settings.")
    else:
        write_json_atomic(path, fp)


Unit = tuple[str, str, int]  # (method, problem_id, seed)


def run_units(
    cfg: DiscoverConfig,
    problems: Sequence[Any],
    run_dir: str | Path,
    *,
    discoverer_factory: Callable[[], Any] | None = None,
    description: str = "discover",
    on_result: Callable[[RunResult], None] | None = None,
    report_only: bool = False,
    started: float | None = None,
) -> list[RunResult]:
    """Run every (method, problem, seed) not yet in RUN/results.jsonl; return the finished.

    Finished units are replayed from results.jsonl; an unfinished one restarts from its
    first step (its step log is truncated). The model is loaded only if work remains.
    report_only: run nothing, return the finished units only (a partial report).
    cfg.stop_after_minutes (from `started`, a time.monotonic()): start no unit after it.
    """
    from selfdistill.core.console import console, progress_bar
    from selfdistill.core.records import JsonlWriter, read_jsonl

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _check_fingerprint(run_dir, cfg)
    seeds = list(range(cfg.first_seed, cfg.first_seed + cfg.seeds))
    units: list[Unit] = [(m, p.id, s) for p in problems for s in seeds for m in cfg.methods]
    by_id = {p.id: p for p in problems}
    done: dict[Unit, RunResult] = {}
    for row in read_jsonl(run_dir / "results.jsonl"):
        r = RunResult.from_dict(row)
        done[(r.method, r.problem_id, r.seed)] = r
    todo = [u for u in units if u not in done]
    if len(todo) < len(units):
        console.print(f"{description}: {len(units) - len(todo)} of {len(units)} runs already "
                      f"finished in {run_dir} (replayed from results.jsonl)")
    if report_only:
        return [done[u] for u in units if u in done]
    started = time.monotonic() if started is None else started
    if todo:
        from selfdistill.analysis.credit import CreditRecorder

        disc = (discoverer_factory or (lambda: _discoverer(cfg)))()
        disc.credit = CreditRecorder(run_dir / "credit.jsonl", cfg.credit, cfg.model.spec)
        writer = JsonlWriter(run_dir / "results.jsonl")
        try:
            with progress_bar() as bar:
                task = bar.add_task(description, total=len(units), info="",
                                    completed=len(units) - len(todo))
                for method, pid, seed in todo:
                    if _out_of_time(cfg, started, len(done), len(units)):
                        break
                    bar.update(task, info=f"{method} {pid} seed {seed}")
                    r = _run_unit(disc, run_dir, method, by_id[pid], seed, bar, task)
                    writer.write(r.to_dict())
                    done[(method, pid, seed)] = r
                    if on_result is not None:
                        on_result(r)
                    bar.advance(task)
        finally:
            writer.close()
    return [done[u] for u in units if u in done]


def _out_of_time(cfg: DiscoverConfig, started: float, n_done: int, n_units: int) -> bool:
    """True (and says so) once cfg.stop_after_minutes have passed since `started`."""
    from selfdistill.core.console import console

    limit = cfg.stop_after_minutes
    if limit is None or time.monotonic() - started < 60 * limit:
        return False
    console.print(f"stop_after_minutes={limit:g} reached: {n_done} of {n_units} runs finished; "
                  "run the same command again to continue.")
    return True




def _run_unit(disc: Any, run_dir: Path, method: str, problem: Any, seed: int, bar: Any,
              task: Any) -> RunResult:
    """One unit with its step log (restarted from step 1) and, if solved, its solution file."""
    from selfdistill.core.records import JsonlWriter

    pid = problem.id
    log_path = run_dir / "runs" / method / slug(pid) / f"seed-{seed}.jsonl"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.unlink(missing_ok=True)  # an unfinished run restarts from step 1
    label = f"{method} {pid} seed {seed}"
    with JsonlWriter(log_path) as log:
        def on_step(rec: dict[str, Any]) -> None:
            log.write(rec)
            bar.update(task, info=f"{label}: {rec['attempts_before'] + rec['n']} attempts")

        r = disc.run(method, problem, seed, on_step=on_step)
        log.write({"kind": "done", **r.to_dict()})
    if r.solution is not None:
        sol = run_dir / "solutions" / method / slug(pid) / f"seed-{seed}.py"
        sol.parent.mkdir(parents=True, exist_ok=True)
        sol.write_text(f"# {pid}, {method}, seed {seed}: accepted at attempt "
                       f"{r.attempt_index} of budget {r.budget}\n{r.solution}\n")
    return r


def _discoverer(cfg: DiscoverConfig) -> Any:
    """The real Discoverer (imported only when a run needs the model)."""
    from selfdistill.recipes.discover.model import Discoverer

    return Discoverer(cfg)
