"""One model over a temperature sweep: sample, grade and score each T_eval (resumable).

Directory layout under OUT (all plain files):
    OUT/T0.70/samples.jsonl    one record per (problem_id, sample_idx)
    OUT/T0.70/verdicts.jsonl   the sandbox's verdict for each sample
    OUT/summary.json           pass@k per temperature, overall and per difficulty
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from selfdistill.core.console import console
from selfdistill.core.records import iter_jsonl, write_json_atomic
from selfdistill.errors import UserError
from selfdistill.evaluation.config import EvalConfig
from selfdistill.evaluation.harness import OFFICIAL_VERSION, get_harness
from selfdistill.evaluation.metrics import TemperatureResult, summarize
from selfdistill.evaluation.parallel import SampleJob
from selfdistill.evaluation.report import fmt_ci, fmt_pct
from selfdistill.evaluation.stages import (
    grade_stage,
    per_problem_counts,
    rows_per_call,
    sample_stage,
)
from selfdistill.execution import SandboxConfig
from selfdistill.generation import Generator, SamplingParams
from selfdistill.problems import Problem
from selfdistill.problems.registry import load_source


def load_benchmark(spec: str, limit: int | None = None) -> list[Problem]:
    """Problems of a benchmark spec (humaneval, builtin:dev, lcb:FILE, mbpp:FILE, jsonl:FILE)."""
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


