"""Evaluate a model on a benchmark over a temperature sweep: samples, verdicts, pass@k + CIs.

Run directory layout (all plain files, resumable):
    RUN/LABEL/T0.70/samples.jsonl    one record per (problem_id, sample_idx)
    RUN/LABEL/T0.70/verdicts.jsonl   the sandbox's verdict for each sample
    RUN/LABEL/summary.json           pass@k per temperature, overall and per difficulty
    RUN/report.md, RUN/pass1_vs_temperature.png
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfdistill.config import EvalConfig
from selfdistill.generation import Generator, SamplingParams
from selfdistill.metrics import summarize
from selfdistill.problems import Problem
from selfdistill.records import write_json_atomic
from selfdistill.report import fmt_ci, fmt_pct, markdown_table, plot_curves_with_ci
from selfdistill.report_html import write_html_report
from selfdistill.stages import console, grade_stage, per_problem_counts, sample_stage


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


def evaluate_at_temperatures(
    generator: Generator,
    problems: list[Problem],
    cfg: EvalConfig,
    out_dir: str | Path,
    label: str = "model",
) -> list[TemperatureResult]:
    """Sample, grade and score one model at every temperature of cfg (resumable)."""
    out_dir = Path(out_dir)
    results = []
    for t in cfg.temperatures:
        n = 1 if t == 0 else cfg.n  # greedy samples are identical: one is enough
        params = SamplingParams(temperature=t, top_k=cfg.top_k if t > 0 else 0,
                                top_p=cfg.top_p if t > 0 else 1.0,
                                max_new_tokens=cfg.max_new_tokens, n=n, seed=cfg.seed)
        tdir = out_dir / temp_dirname(t)
        samples = sample_stage(generator, problems, params, tdir / "samples.jsonl",
                               chunk_size=cfg.batch_size, extra={"temperature": t},
                               description=f"{label} T={t:g} sample")
        from selfdistill.execution import SandboxConfig

        verdicts = grade_stage(samples, problems, tdir / "verdicts.jsonl",
                               sandbox_config=SandboxConfig(timeout_s=cfg.timeout_s),
                               description=f"{label} T={t:g} grade")
        counts = per_problem_counts(problems, verdicts)
        ks = [k for k in cfg.k_values if k <= n] or [1]
        res = TemperatureResult(
            temperature=t, n=n, summary=summarize(counts, ks=ks, seed=cfg.seed),
            no_code_rate=sum(s["code"] is None for s in samples) / max(len(samples), 1),
            truncation_rate=sum(s["finish_reason"] == "length" for s in samples)
            / max(len(samples), 1),
            status_counts=dict(Counter(v["status"] for v in verdicts)),
            per_problem=counts,
        )
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
            row = [label, f"{r.temperature:g}", r.n]
            row += [fmt_ci(r.summary["overall"].get(f"pass@{k}")) for k in ks]
            row += [fmt_pct(r.no_code_rate), fmt_pct(r.truncation_rate)]
            rows.append(row)
    headers = ["model", "T_eval", "n", *[f"pass@{k} [95% CI]" for k in ks], "no code",
               "truncated"]
    return markdown_table(headers, rows)


def difficulty_table(results_by_label: dict[str, TemperatureResult]) -> str:
    """Markdown: pass@1 per difficulty for each labelled result."""
    groups = sorted({g for r in results_by_label.values() for g in r.summary if g != "overall"})
    rows = []
    for g in ["overall", *groups]:
        row = [g, next(iter(results_by_label.values())).summary.get(g, {}).get("n_problems", 0)]
        row += [fmt_ci(r.summary.get(g, {}).get("pass@1")) for r in results_by_label.values()]
        rows.append(row)
    return markdown_table(["difficulty", "problems", *results_by_label], rows)


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


def write_eval_report(run_dir: Path, model_spec: str, benchmark: str, n_problems: int,
                      results: list[TemperatureResult], cfg: EvalConfig) -> Path:
    """report.md + plot for a single-model evaluation."""
    label = "model"
    plot = plot_temperature_sweep({label: results}, run_dir / "pass1_vs_temperature.png",
                                  f"{model_spec} on {benchmark}")
    best = best_temperature(results)
    ks = sorted({k for r in results for k in cfg.k_values if k <= r.n}) or [1]
    text = "\n\n".join([
        f"# Evaluation: {model_spec} on {benchmark}",
        f"{n_problems} problems; top-k {cfg.top_k}, top-p {cfg.top_p} at T > 0; greedy at T = 0; "
        f"max {cfg.max_new_tokens} new tokens. CIs: 95% percentile bootstrap over problems.",
        results_table({label: results}, ks),
        f"Best temperature: **{best.temperature:g}** with pass@1 {fmt_ci(best.pass1())}.",
        "## Per difficulty (best temperature)",
        difficulty_table({f"T={best.temperature:g}": best}),
        f"![pass@1 vs temperature]({plot.name})",
        "## Verdicts\n\n" + markdown_table(
            ["T_eval", *sorted({s for r in results for s in r.status_counts})],
            [[f"{r.temperature:g}", *[r.status_counts.get(s, 0) for s in
                                      sorted({s for x in results for s in x.status_counts})]]
             for r in results]),
    ])
    path = run_dir / "report.md"
    path.write_text(text + "\n")
    write_html_report(path)  # report.html beside it (report_html.py)
    return path


def make_generator(model: Any, tok: Any, backend: str = "hf", batch_size: int = 32,
                   spec: str | None = None, dtype: str = "float32") -> Generator:
    """The configured generation backend: HF around a loaded model, vLLM from the spec."""
    from selfdistill.generation import make_generator as _make

    if backend == "vllm":  # from the spec, or from the loaded model's checkpoint + weights
        return _make("vllm", model=spec or model, dtype=dtype, progress=False)
    return _make(backend, model=model, tokenizer=tok, batch_size=batch_size, progress=False)


def run_evaluate(model_spec: str, cfg: EvalConfig, run_dir: str | Path, dtype: str = "float32"
                 ) -> tuple[Path, list[TemperatureResult]]:
    """`selfdistill evaluate`: load, sweep temperatures, write samples/verdicts/report."""
    from selfdistill.models import load_model

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    problems = load_benchmark(cfg.benchmark, cfg.limit)
    model, tok = load_model(model_spec, dtype=dtype)
    gen = make_generator(model, tok, cfg.backend, cfg.batch_size)
    results = evaluate_at_temperatures(gen, problems, cfg, run_dir / "model", label=model_spec)
    report = write_eval_report(run_dir, model_spec, cfg.benchmark, len(problems), results, cfg)
    (run_dir / "results.json").write_text(json.dumps(
        {"model": model_spec, "benchmark": cfg.benchmark, "n_problems": len(problems),
         "temperatures": [{"temperature": r.temperature, "n": r.n, "summary": r.summary}
                          for r in results]}, indent=2))
    return report, results
