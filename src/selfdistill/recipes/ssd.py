"""SSD (Zhang et al. 2026): sample the frozen model hot, fine-tune on its own answers, evaluate.

Run directory:
    RUN/config.yaml
    RUN/sample/samples.jsonl      the frozen model's answers (exact token ids kept)
    RUN/sample/stats.json         kept/dropped counts, no-code rate, length distribution
    RUN/train/checkpoint-*/       Trainer checkpoints (resume)
    RUN/train/final/              the SSD model (HF dir, or a LoRA adapter dir)
    RUN/eval/{base,ssd}/T*/       samples + verdicts per evaluation temperature
    RUN/report.md, RUN/*.png      the final report
"""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path
from typing import Any

from selfdistill.analysis.t_eff import fit_t_eff
from selfdistill.core.config import SSDConfig, TrainConfig
from selfdistill.core.lora import merge_for_inference
from selfdistill.core.records import read_jsonl, write_json_atomic
from selfdistill.errors import UserError
from selfdistill.evaluation.parallel import LazyGenerator, SampleJob, presample, resolve_workers
from selfdistill.evaluation.report import fmt_ci, fmt_pct, markdown_table, plot_heatmap
from selfdistill.evaluation.report_html import write_html_report
from selfdistill.evaluation.stages import console, rows_per_call, sample_stage
from selfdistill.recipes.ssd_data import (
    check_policy,
    sample_stats,
    select_samples,
    sft_examples,
    write_kept,
)

# ---------------------------------------------------------------- sample


def run_sample(cfg: SSDConfig, run_dir: Path) -> dict[str, Any]:
    """`ssd sample`: the frozen base model answers each training prompt N times at T_train."""
    from selfdistill.problems.registry import load_source

    s = cfg.sample
    check_policy(s.truncated, s.stub_rule)
    problems = load_source(s.source)
    if s.limit:
        problems = problems[: s.limit]
    if not problems:
        raise UserError(f"No training prompts in '{s.source}'.")
    _check_clean(problems, cfg)
    params = s.sampling_params(s.n, s.seed)
    out = run_dir / "sample"
    job = SampleJob(spec=cfg.model.spec, dtype=sampling_dtype(cfg), problems=problems,
                    params=params, out_path=out / "samples.jsonl", batch_size=s.batch_size,
                    chunk_size=rows_per_call(s.batch_size), keep_token_ids=True,
                    chat_template_kwargs=cfg.model.chat_template_kwargs)
    presample([job], resolve_workers(s.workers, s.backend))  # several processes on CPU
    gen = LazyGenerator(partial(load_generator, cfg, cfg.model.spec, s.backend, s.batch_size))
    records = sample_stage(gen, problems, params, job.out_path,
                           chunk_size=job.chunk_size, keep_token_ids=True,
                           description=f"ssd sample T={s.temperature:g}")
    kept, dropped = select_samples(records, s.truncated, s.stub_rule)
    stats = sample_stats(records, kept, dropped, s.truncated, s.stub_rule)
    write_json_atomic(out / "stats.json", stats)
    write_kept(out / "kept.jsonl", kept)
    why = ", ".join(f"{v} {k}" for k, v in sorted(dropped.items())) or "none"
    console.print(f"sampled {stats['samples']} answers; kept {stats['kept']} (dropped: {why}; "
                  f"truncated answers: {s.truncated}); no code {fmt_pct(stats['no_code_rate'])}, "
                  f"truncated {fmt_pct(stats['truncation_rate'])}")
    return stats


def _check_clean(problems: list[Any], cfg: SSDConfig) -> None:
    """Refuse training prompts that are problems of the run's evaluation benchmark."""
    from selfdistill.problems.registry import load_source
    from selfdistill.problems.splits import check_disjoint

    check_disjoint(problems, load_source(cfg.eval.benchmark), cfg.sample.source,
                   cfg.eval.benchmark)


# ---------------------------------------------------------------- train


def _latest_checkpoint(train_dir: Path) -> str | None:
    ckpts = sorted(train_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return str(ckpts[-1]) if ckpts else None


def train_sft(model_spec: str, dtype: str, records: list[dict[str, Any]], tc: TrainConfig,
              out_dir: Path, resume: bool = True) -> Path:
    """Fine-tune on (prompt, answer) records with TRL's SFTTrainer; save to out_dir/final."""
    import torch

    from selfdistill.core.models import load_model

    if tc.method not in ("full", "lora"):
        raise UserError(f"train.method must be 'full' or 'lora', got '{tc.method}'.")
    model, tok = load_model(model_spec, dtype=dtype)
    examples = sft_examples(records, tok.eos_token_id, tc.max_seq_len)
    if not examples:
        raise UserError("No training examples left after filtering; sample more prompts.")
    torch.manual_seed(tc.seed)
    peft_config = None
    if tc.method == "lora":
        from selfdistill.core.lora import lora_config

        peft_config = lora_config(model, tc.lora_r, tc.lora_alpha, tc.lora_targets,
                                  tc.lora_dropout)
    import os

    from selfdistill.training.sft import make_sft_trainer

    os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(out_dir / "tb"))
    trainer = make_sft_trainer(model, tok, examples, tc, out_dir, peft_config=peft_config)
    ckpt = _latest_checkpoint(out_dir) if resume else None
    if ckpt:
        console.print(f"resuming training from {ckpt}")
    trainer.train(resume_from_checkpoint=ckpt)
    final = out_dir / "final"
    if trainer.is_world_process_zero():
        tmp = out_dir / "final.tmp"
        trainer.save_model(str(tmp))
        tok.save_pretrained(str(tmp))
        import shutil

        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        write_json_atomic(out_dir / "train_log.json", trainer.state.log_history)
    trainer.accelerator.wait_for_everyone()
    return final


def run_train(cfg: SSDConfig, run_dir: Path) -> Path:
    """`ssd train`: SFT on the kept samples of `ssd sample`."""
    check_policy(cfg.sample.truncated, cfg.sample.stub_rule)
    samples_path = run_dir / "sample" / "samples.jsonl"
    records = read_jsonl(samples_path)
    if not records:
        raise UserError(f"No samples at {samples_path}: run `selfdistill ssd sample` first.")
    kept, _ = select_samples(records, cfg.sample.truncated, cfg.sample.stub_rule)
    return train_sft(cfg.model.spec, cfg.model.dtype, kept, cfg.train, run_dir / "train")


# ---------------------------------------------------------------- evaluate


def run_evaluate(cfg: SSDConfig, run_dir: Path, ssd_model: str | None = None) -> Path:
    """`ssd evaluate`: base vs SSD over the T_eval sweep; the gain over the best-tuned base."""
    from selfdistill.recipes.evaluate import (
        best_temperature,
        difficulty_table,
        load_benchmark,
        plot_temperature_sweep,
        results_table,
    )

    ssd_model = ssd_model or str(run_dir / "train" / "final")
    if not Path(ssd_model).exists() and "/" not in ssd_model:
        raise UserError(f"No SSD model at {ssd_model}: run `selfdistill ssd train` first.")
    problems = load_benchmark(cfg.eval.benchmark, cfg.eval.limit)
    results = _sweep_models(cfg, problems, {"base": cfg.model.spec, "ssd": ssd_model}, run_dir)
    base_best, ssd_best = best_temperature(results["base"]), best_temperature(results["ssd"])
    paired = _paired_gain(base_best, ssd_best, seed=cfg.eval.seed)
    plot = plot_temperature_sweep(results, run_dir / "pass1_vs_temperature.png",
                                  f"SSD vs base on {cfg.eval.benchmark}")
    ks = sorted({k for rs in results.values() for r in rs for k in cfg.eval.k_values
                 if k <= r.n}) or [1]
    stats_path = run_dir / "sample" / "stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    gain = paired["gain"]
    verdict = ("SSD is better" if paired["ci"][0] > 0 else
               "SSD is worse" if paired["ci"][1] < 0 else "no significant difference")
    text = "\n\n".join([
        "# SSD report",
        f"Model `{cfg.model.spec}`; training prompts `{cfg.sample.source}` sampled at "
        f"T_train={cfg.sample.temperature:g}, top-k {cfg.sample.top_k}, "
        f"top-p {cfg.sample.top_p}, at most {cfg.sample.max_new_tokens} tokens; "
        f"{stats.get('kept', '?')} of {stats.get('samples', '?')} answers kept (no correctness "
        f"filter). {_data_line(stats)} Fine-tuning: {cfg.train.method}, lr "
        f"{cfg.train.lr:g} -> {cfg.train.lr_end:g} cosine, {cfg.train.epochs:g} epoch(s).",
        f"Benchmark `{cfg.eval.benchmark}`, {len(problems)} problems; evaluation top-k "
        f"{cfg.eval.top_k}, top-p {cfg.eval.top_p} at T > 0, greedy at T = 0. "
        "CIs are 95% percentile bootstraps over problems.",
        "## Headline: SSD vs the best-tuned base temperature",
        markdown_table(
            ["", "best T_eval", "pass@1 [95% CI]"],
            [["base", f"{base_best.temperature:g}", fmt_ci(base_best.pass1())],
             ["SSD", f"{ssd_best.temperature:g}", fmt_ci(ssd_best.pass1())]]),
        f"Gain (SSD best minus base best, paired over problems): **{100 * gain:+.1f} points**, "
        f"95% CI [{100 * paired['ci'][0]:+.1f}, {100 * paired['ci'][1]:+.1f}] -> {verdict}. "
        f"Answers cut at the token limit: base {fmt_pct(base_best.truncation_rate)}, SSD "
        f"{fmt_pct(ssd_best.truncation_rate)} (at their best T_eval).",
        "**Reading it:** " + _reading_note(paired, base_best, len(problems)),
        "## All temperatures",
        results_table(results, ks),
        f"![pass@1 vs T_eval]({plot.name})",
        "## Per difficulty (each model at its best temperature)",
        difficulty_table({f"base T={base_best.temperature:g}": base_best,
                          f"SSD T={ssd_best.temperature:g}": ssd_best}),
    ])
    report = run_dir / "report.md"
    report.write_text(text + "\n")
    write_html_report(report)  # report.html beside it (report_html.py)
    write_json_atomic(run_dir / "results.json", {
        "base_best": {"temperature": base_best.temperature, "pass@1": base_best.pass1()},
        "ssd_best": {"temperature": ssd_best.temperature, "pass@1": ssd_best.pass1()},
        "paired_gain": paired,
        "all": {label: [{"temperature": r.temperature, "summary": r.summary} for r in rs]
                for label, rs in results.items()},
    })
    return report


def _data_line(stats: dict[str, Any]) -> str:
    """One sentence: the training data's truncation/no-code rates and what the policy dropped."""
    if not stats:
        return ""
    pol = stats.get("policy", {})
    why = ", ".join(f"{v} {k}" for k, v in sorted(stats.get("dropped", {}).items())) or "none"
    return (f"Of the sampled answers {fmt_pct(stats['truncation_rate'])} hit the token limit "
            f"and {fmt_pct(stats['no_code_rate'])} held no code; dropped: {why} (truncated "
            f"answers: {pol.get('truncated', '?')}, stub rule: {pol.get('stub_rule', '?')}).")


def _reading_note(paired: dict[str, Any], base_best: Any, n_problems: int) -> str:
    """Two sentences: what this evaluation's size can and cannot show."""
    half = 50 * (paired["ci"][1] - paired["ci"][0])
    n = base_best.n
    k = paired.get("differing")
    split = (f"; {paired['better']} better, {paired['worse']} worse, exact sign test "
             f"p = {paired['sign_p']:.2f}" if "sign_p" in paired else "")
    rests = (f" and rests on the {k} problem(s) where the two models' pass rates differ (a "
             f"bootstrap over so few is optimistic{split})" if k is not None and k < 10 else "")
    return (f"With {n_problems} problems and {n} sample(s) per problem and temperature, the "
            f"paired 95% CI of the gain is about ±{half:.1f} points wide{rests}: it can show that "
            "this regime trains without breaking the model (pass@1, truncation and no-code "
            "rates stay in range) and would catch a large change, but not a gain of a few "
            "points. Whether SSD helps needs many more problems and samples (the study in "
            "docs/results.md) or a larger model; a 135M model fine-tuned for a few optimiser "
            "steps is expected to move little.")


def sampling_dtype(cfg: SSDConfig) -> str:
    """The dtype SSD samples and evaluates in (model.infer_dtype; training keeps model.dtype)."""
    from selfdistill.core.models import inference_dtype

    return inference_dtype(cfg.model.dtype, cfg.model.infer_dtype)


def load_generator(cfg: SSDConfig, spec: str, backend: str, batch_size: int) -> Any:
    """spec's model in the sampling dtype, any LoRA adapter merged, behind the backend."""
    from selfdistill.core.models import load_model
    from selfdistill.generation.chat import set_chat_template_kwargs
    from selfdistill.recipes.evaluate import make_generator

    model, tok = load_model(spec, dtype=sampling_dtype(cfg))
    set_chat_template_kwargs(tok, cfg.model.chat_template_kwargs)
    return make_generator(merge_for_inference(model), tok, backend, batch_size)


def _sweep_models(cfg: SSDConfig, problems: list[Any], specs: dict[str, str], run_dir: Path
                  ) -> dict[str, Any]:
    """Every model (label -> spec) over the T_eval sweep, one model in memory at a time.

    With eval.workers > 1 every (model, T_eval) sample file is filled first by one-thread
    processes side by side (evaluation.parallel); grading then runs here.
    """
    from selfdistill.recipes.evaluate import eval_sample_jobs, evaluate_at_temperatures

    e = cfg.eval
    jobs = [job for label, spec in specs.items()
            for job in eval_sample_jobs(spec, sampling_dtype(cfg), problems, e,
                                        run_dir / "eval" / label, cfg.model.chat_template_kwargs)]
    presample(jobs, resolve_workers(e.workers, e.backend))
    results = {}
    for label, spec in specs.items():
        gen = LazyGenerator(partial(load_generator, cfg, spec, e.backend, e.batch_size))
        results[label] = evaluate_at_temperatures(gen, problems, e, run_dir / "eval" / label,
                                                  label=label)
        del gen
    return results


def _paired_gain(base: Any, ssd: Any, seed: int = 0) -> dict[str, Any]:
    """Mean per-problem pass@1 difference with a paired bootstrap CI over problems."""
    import numpy as np

    from selfdistill.evaluation.metrics import bootstrap_ci, sign_test_p

    b = {r["problem_id"]: r["c"] / r["n"] for r in base.per_problem}
    s = {r["problem_id"]: r["c"] / r["n"] for r in ssd.per_problem}
    common = sorted(set(b) & set(s))
    diffs = np.array([s[p] - b[p] for p in common])
    if diffs.size == 0:
        return {"gain": 0.0, "ci": [0.0, 0.0], "problems": 0, "differing": 0,
                "better": 0, "worse": 0, "sign_p": 1.0}
    lo, hi = bootstrap_ci(diffs, seed=seed)
    better, worse = int(np.count_nonzero(diffs > 0)), int(np.count_nonzero(diffs < 0))
    return {"gain": float(diffs.mean()), "ci": [lo, hi], "problems": len(common),
            "differing": better + worse, "better": better, "worse": worse,
            "sign_p": sign_test_p(better, worse)}


# ---------------------------------------------------------------- grid


def run_grid(cfg: SSDConfig, run_dir: Path) -> Path:
    """`ssd grid`: T_train x T_eval without truncation; pass@1 against T_eff = T_train*T_eval."""
    import dataclasses

    from selfdistill.recipes.evaluate import evaluate_at_temperatures, load_benchmark

    g = cfg.grid
    problems = load_benchmark(cfg.eval.benchmark, cfg.eval.limit)
    matrix, points = [], []
    for t_train in g.train_temperatures:
        sub = dataclasses.replace(
            cfg, sample=dataclasses.replace(cfg.sample, temperature=t_train, top_k=0, top_p=1.0))
        sub_dir = run_dir / "grid" / f"Ttrain{t_train:.2f}"
        if not (sub_dir / "train" / "final").exists():
            run_sample(sub, sub_dir)
            run_train(sub, sub_dir)
        ecfg = dataclasses.replace(cfg.eval, temperatures=list(g.eval_temperatures), top_k=0,
                                   top_p=1.0, k_values=[1])
        gen = load_generator(cfg, str(sub_dir / "train" / "final"), ecfg.backend,
                             ecfg.batch_size)
        res = evaluate_at_temperatures(gen, problems, ecfg, sub_dir / "eval",
                                       label=f"T_train={t_train:g}")
        row = []
        for r in res:
            p1 = (r.pass1() or {"mean": 0.0})["mean"]
            row.append(p1)
            points.append({"t_train": t_train, "t_eval": r.temperature,
                           "t_eff": t_train * r.temperature, "pass@1": p1,
                           "rates": [x["c"] / x["n"] for x in r.per_problem]})
        matrix.append(row)
    fit = fit_t_eff(points, n_boot=1000)  # greedy points (T_eval 0) are left out of the law
    heat = plot_heatmap(matrix, g.train_temperatures, g.eval_temperatures,
                        run_dir / "grid_heatmap.png", xlabel="T_eval", ylabel="T_train",
                        title="pass@1 without truncation")
    write_json_atomic(run_dir / "grid.json", {"points": points, "fit": fit})
    text = "\n\n".join([
        "# SSD temperature grid (no truncation)",
        markdown_table(["T_train \\ T_eval", *[f"{t:g}" for t in g.eval_temperatures]],
                       [[f"{tt:g}", *[fmt_pct(v) for v in row]]
                        for tt, row in zip(g.train_temperatures, matrix, strict=True)]),
        f"Quadratic fit of pass@1 on T_eff = T_train x T_eval over {fit['n_points']} sampled "
        f"points ({fit['greedy_left_out']} greedy left out): R^2 = {fit['r2']:.3f}, "
        f"best T_eff = {fit['best_t_eff']:.2f} (paper: best near 1.2 on large models).",
        f"![heatmap]({heat.name})",
    ])
    report = run_dir / "grid_report.md"
    report.write_text(text + "\n")
    write_html_report(report)  # grid_report.html beside it (report_html.py)
    return report


# ---------------------------------------------------------------- run


def run_all(cfg: SSDConfig, run_dir: Path) -> Path:
    """`ssd run`: sample -> train -> evaluate, each stage resuming if already done."""
    final = run_dir / "train" / "final"
    run_sample(cfg, run_dir)
    if not final.exists():
        run_train(cfg, run_dir)
    else:
        console.print(f"SSD model already trained at {final}; skipping training")
    return run_evaluate(cfg, run_dir)


def estimate_minutes(cfg: SSDConfig, n_train: int, n_eval: int, tok_per_s: float = 300.0
                     ) -> float:
    """Rough wall-clock estimate for a CPU run (printed before starting)."""
    sample_tok = n_train * cfg.sample.n * cfg.sample.max_new_tokens * 0.7
    eval_tok = 2 * sum(1 if t == 0 else cfg.eval.n for t in cfg.eval.temperatures) * n_eval \
        * cfg.eval.max_new_tokens * 0.7
    return math.ceil((sample_tok + eval_tok) / tok_per_s / 60)
