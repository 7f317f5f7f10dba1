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

import dataclasses
import math
import os
import shutil
from functools import partial
from pathlib import Path
from typing import Any

import torch

from selfdistill.analysis.t_eff import fit_t_eff
from selfdistill.core.checkpoint import latest_trainer_checkpoint
from selfdistill.core.console import console
from selfdistill.core.lora import lora_config
from selfdistill.core.models import inference_dtype, load_model, training_dtype
from selfdistill.core.records import read_jsonl, write_json_atomic
from selfdistill.errors import UserError
from selfdistill.evaluation.metrics import best_temperature, paired_gain
from selfdistill.evaluation.parallel import LazyGenerator, SampleJob, presample, resolve_workers
from selfdistill.evaluation.report import fmt_pct, plot_heatmap, plot_temperature_sweep
from selfdistill.evaluation.stages import rows_per_call, sample_stage
from selfdistill.evaluation.sweep import eval_sample_jobs, evaluate_at_temperatures, load_benchmark
from selfdistill.generation.factory import make_generator
from selfdistill.problems.registry import load_source
from selfdistill.recipes.ssd.config import SSDConfig
from selfdistill.recipes.ssd.data import (
    check_policy,
    sample_stats,
    select_samples,
    sft_examples,
    write_kept,
)
from selfdistill.recipes.ssd.report import write_grid_report, write_report
from selfdistill.training.config import TrainConfig
from selfdistill.training.sft import make_sft_trainer

# ---------------------------------------------------------------- sample


def run_sample(cfg: SSDConfig, run_dir: Path) -> dict[str, Any]:
    """`ssd sample`: the frozen base model answers each training prompt N times at T_train."""
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
    gen = LazyGenerator(partial(make_generator, s.backend, cfg.model.spec,
                                **_generator_options(cfg, s.batch_size)))
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


def train_sft(model_spec: str, dtype: str, records: list[dict[str, Any]], tc: TrainConfig,
              out_dir: Path, resume: bool = True) -> Path:
    """Fine-tune on (prompt, answer) records with TRL's SFTTrainer; save to out_dir/final."""
    if tc.method not in ("full", "lora"):
        raise UserError(f"train.method must be 'full' or 'lora', got '{tc.method}'.")
    model, tok = load_model(model_spec, dtype=training_dtype(dtype))
    examples = sft_examples(records, tok.eos_token_id, tc.max_seq_len)
    if not examples:
        raise UserError("No training examples left after filtering; sample more prompts.")
    torch.manual_seed(tc.seed)
    peft_config = None
    if tc.method == "lora":
        peft_config = lora_config(model, tc.lora_r, tc.lora_alpha, tc.lora_targets,
                                  tc.lora_dropout)
    os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(out_dir / "tb"))
    trainer = make_sft_trainer(model, tok, examples, tc, out_dir, peft_config=peft_config)
    ckpt = latest_trainer_checkpoint(out_dir) if resume else None
    if ckpt:
        console.print(f"resuming training from {ckpt}")
    trainer.train(resume_from_checkpoint=ckpt)
    final = out_dir / "final"
    if trainer.is_world_process_zero():
        tmp = out_dir / "final.tmp"
        trainer.save_model(str(tmp))
        tok.save_pretrained(str(tmp))
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


def run_compare(cfg: SSDConfig, run_dir: Path, ssd_model: str | None = None,
                only_ssd: bool = False) -> Path:
    """`ssd evaluate`: base vs SSD over the T_eval sweep; the gain over the best-tuned base.

    only_ssd: sweep the SSD model alone (the base model's sweep exists elsewhere, e.g. from
    another machine, and is compared outside); returns RUN/eval/ssd/summary.json, no report.
    """
    ssd_model = ssd_model or str(run_dir / "train" / "final")
    if not Path(ssd_model).exists() and "/" not in ssd_model:
        raise UserError(f"No SSD model at {ssd_model}: run `selfdistill ssd train` first.")
    problems = load_benchmark(cfg.eval.benchmark, cfg.eval.limit)
    if only_ssd:
        _sweep_models(cfg, problems, {"ssd": ssd_model}, run_dir)
        return run_dir / "eval" / "ssd" / "summary.json"
    results = _sweep_models(cfg, problems, {"base": cfg.model.spec, "ssd": ssd_model}, run_dir)
    base_best, ssd_best = best_temperature(results["base"]), best_temperature(results["ssd"])
    paired = paired_gain(base_best, ssd_best, seed=cfg.eval.seed)
    plot = plot_temperature_sweep(results, run_dir / "pass1_vs_temperature.png",
                                  f"SSD vs base on {cfg.eval.benchmark}")
    ks = sorted({k for rs in results.values() for r in rs for k in cfg.eval.k_values
                 if k <= r.n}) or [1]
    return write_report(cfg, run_dir, problems, results, paired, plot, ks)


def sampling_dtype(cfg: SSDConfig) -> str:
    """The dtype SSD samples and evaluates in (model.infer_dtype; training keeps model.dtype)."""
    return inference_dtype(cfg.model.dtype, cfg.model.infer_dtype, cfg.model.spec)


def _generator_options(cfg: SSDConfig, batch_size: int) -> dict[str, Any]:
    """make_generator's options for a model SSD samples from: the sampling dtype, any LoRA
    adapter merged, the chat-template arguments."""
    return dict(dtype=sampling_dtype(cfg), batch_size=batch_size, progress=False,
                chat_template_kwargs=cfg.model.chat_template_kwargs, merge_lora=True,
                load_with_hf=True)


def _sweep_models(cfg: SSDConfig, problems: list[Any], specs: dict[str, str], run_dir: Path
                  ) -> dict[str, Any]:
    """Every model (label -> spec) over the T_eval sweep, one model in memory at a time.

    With eval.workers > 1 every (model, T_eval) sample file is filled first by one-thread
    processes side by side (evaluation.parallel); grading then runs here.
    """
    e = cfg.eval
    jobs = [job for label, spec in specs.items()
            for job in eval_sample_jobs(spec, sampling_dtype(cfg), problems, e,
                                        run_dir / "eval" / label, cfg.model.chat_template_kwargs)]
    presample(jobs, resolve_workers(e.workers, e.backend))
    results = {}
    for label, spec in specs.items():
        gen = LazyGenerator(partial(make_generator, e.backend, spec,
                                    **_generator_options(cfg, e.batch_size)))
        results[label] = evaluate_at_temperatures(gen, problems, e, run_dir / "eval" / label,
                                                  label=label)
        del gen
    return results


# ---------------------------------------------------------------- grid


def run_grid(cfg: SSDConfig, run_dir: Path) -> Path:
    """`ssd grid`: T_train x T_eval without truncation; pass@1 against T_eff = T_train*T_eval."""
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
        gen = make_generator(ecfg.backend, str(sub_dir / "train" / "final"),
                             **_generator_options(cfg, ecfg.batch_size))
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
    try:  # greedy points (T_eval 0) are left out of the law
        fit: dict[str, Any] = fit_t_eff(points, n_boot=1000)
    except ValueError as e:  # a grid too small for a quadratic: the table still stands
        fit = {"error": str(e)}
    heat = plot_heatmap(matrix, g.train_temperatures, g.eval_temperatures,
                        run_dir / "grid_heatmap.png", xlabel="T_eval", ylabel="T_train",
                        title="pass@1 without truncation")
    write_json_atomic(run_dir / "grid.json", {"points": points, "fit": fit})
    report = write_grid_report(run_dir, g, matrix, fit, heat)
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
    return run_compare(cfg, run_dir)


def estimate_minutes(cfg: SSDConfig, n_train: int, n_eval: int, tok_per_s: float = 300.0
                     ) -> float:
    """Rough wall-clock estimate for a CPU run (printed before starting)."""
    sample_tok = n_train * cfg.sample.n * cfg.sample.max_new_tokens * 0.7
    eval_tok = 2 * sum(1 if t == 0 else cfg.eval.n for t in cfg.eval.temperatures) * n_eval \
        * cfg.eval.max_new_tokens * 0.7
    return math.ceil((sample_tok + eval_tok) / tok_per_s / 60)
