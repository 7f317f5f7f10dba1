"""SDPO training (Hübotter et al. 2026): sample G answers per prompt, grade, self-distil.

Each step: this process's share of the step's prompts -> G rollouts each (hf or vllm)
-> sandbox verdicts + judge feedback (rollouts.sample_and_grade) -> teacher contexts
(successful sibling / feedback) -> distill.step.sdpo_step (student + teacher scoring,
loss, backward, all-reduce, clip, optimiser, teacher update). algorithm = sdpo | grpo |
hybrid; LoRA or full fine-tuning.

Multi-process: `torchrun --nproc-per-node N -m selfdistill.cli sdpo train ...` (gloo on
CPU, NCCL on GPUs; `accelerate launch --multi_gpu` works too). The model is sharded with
torch FSDP2 (training/fsdp.py; also for one process when optim.compute_dtype is bfloat16):
each rank holds 1/N of the fp32 weights, gradients, AdamW state and teacher, samples its
shard of the step's prompts, and writes its shards of each checkpoint (DCP); rank 0
writes the logs and exports RUN/final as a plain HF directory or PEFT adapter.

Run directory:
    RUN/config.yaml
    RUN/metrics.jsonl          one row per step (+ eval rows), see distill.step.StepMetrics
    RUN/rollouts.jsonl         every rollout: text, verdict, reward, feedback, context kind
    RUN/tb/                    TensorBoard scalars
    RUN/checkpoints/step-N/    adapter or full model, optimizer, scheduler, teacher, RNG, step
    RUN/eval/step-N/           periodic dev evaluation (recipes/evaluate layout)
    RUN/final/                 the trained model (loadable by models.load_model)
"""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from selfdistill.core.checkpoint import (
    checkpoint_step,
    export_sharded,
    is_sharded_checkpoint,
    latest_checkpoint,
    load_sharded_checkpoint,
    load_trainer_state,
    save_checkpoint,
    save_final,
    save_sharded_checkpoint,
)
from selfdistill.core.config import write_run_config
from selfdistill.core.tracking import MetricsLogger, drop_rows_after
from selfdistill.errors import UserError
from selfdistill.recipes.sdpo.config import SDPOConfig, validate
from selfdistill.training.fsdp import full_state_dict


def step_prompt_indices(n_problems: int, step: int, per_step: int, seed: int,
                        shuffle: bool = True) -> list[int]:
    """The problem indices of a (0-based) step: epochs of seeded permutations, no repeats within one."""
    out = []
    for j in range(per_step):
        g = step * per_step + j
        epoch, pos = divmod(g, n_problems)
        order = list(range(n_problems))
        if shuffle:
            random.Random(seed * 1_000_003 + epoch).shuffle(order)
        out.append(order[pos])
    return out


@dataclass
class _Trainer:
    """What the loop drives: model, tokenizer, teacher, optimiser, schedule and generator."""

    model: Any
    tok: Any
    teacher: Any
    optimizer: Any
    scheduler: Any
    gen: Any
    credit: Any = None  # rank 0: a CreditRecorder saving some rollouts' token credit


def _build_trainer(cfg: SDPOConfig, resume: Path | None, device: Any, world: int) -> _Trainer:
    """The trainable model (from the checkpoint when resuming), teacher, AdamW, LR schedule
    and the rollout generator."""
    import torch

    from selfdistill.core.lora import make_trainable
    from selfdistill.core.models import load_model, training_dtype
    from selfdistill.core.optim import lr_lambda, make_optimizer
    from selfdistill.distill.teacher_weights import Teacher
    from selfdistill.generation.chat import set_chat_template_kwargs
    from selfdistill.training.fsdp import prepare_model, wants_sharding

    o = cfg.optim
    sharded = wants_sharding(o.compute_dtype)
    if resume is not None and is_sharded_checkpoint(resume) != sharded:
        raise UserError(f"{resume} was written by a {'sharded' if not sharded else 'plain'} "
                        "run; resume it with the same launcher and optim.compute_dtype.")
    # A sharded checkpoint restores the weights itself (DCP) over the base model.
    full_resume = resume is not None and o.method == "full" and not sharded
    model, tok = load_model(str(resume / "model") if full_resume else cfg.model.spec,
                            dtype=training_dtype(cfg.model.dtype))
    # Sampling, teacher re-prompts and evaluation all render chats with this tokenizer.
    set_chat_template_kwargs(tok, cfg.model.chat_template_kwargs)
    adapter = (str(resume / "model") if resume is not None and o.method == "lora"
               and not sharded else None)
    model = make_trainable(model, o, adapter_dir=adapter)
    model.to(device)
    model = prepare_model(model, o)  # FSDP2 when several processes or bf16 compute
    teacher = (Teacher(model, cfg.teacher.kind, cfg.teacher.rate)  # type: ignore[arg-type]
               if cfg.loss.needs_teacher else None)
    optimizer = make_optimizer(model, o)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(o.lr_schedule, o.warmup_steps, cfg.steps))
    if resume is not None and sharded:  # every rank's RNG streams too: bit-exact resume
        load_sharded_checkpoint(resume, model, optimizer, scheduler, teacher)
    elif resume is not None:  # per-rank streams are re-seeded from (seed, step, rank) anyway
        load_trainer_state(resume, optimizer, scheduler, teacher, restore_rng=world == 1)
    return _Trainer(model, tok, teacher, optimizer, scheduler, _make_generator(cfg, model, tok))


def _make_generator(cfg: SDPOConfig, model: Any, tok: Any) -> Any:
    """The rollout generator: HF on the live model, or vLLM fed the merged weights."""
    from selfdistill.core.lora import base_model, iter_merged_weights
    from selfdistill.generation import make_generator
    from selfdistill.generation.chat import set_chat_template_kwargs

    r = cfg.rollout
    if r.backend == "vllm":
        from selfdistill.core.models import inference_dtype

        gen = make_generator("vllm", model=cfg.model.spec,
                             dtype=inference_dtype(cfg.model.dtype, cfg.model.infer_dtype,
                                                   cfg.model.spec),
                             gpu_memory_utilization=r.vllm_gpu_memory_utilization,
                             enable_sleep_mode=r.vllm_sleep, progress=False)
        set_chat_template_kwargs(gen.tokenizer, cfg.model.chat_template_kwargs)
        gen.refresh_weights(iter_merged_weights(model))
        return gen
    return make_generator("hf", model=base_model(model), tokenizer=tok,
                          batch_size=r.batch_size, progress=False)


def _evaluate(cfg: SDPOConfig, model: Any, gen: Any, run_dir: Path, step: int,
              logger: MetricsLogger) -> None:
    """Dev evaluation (rank 0) through recipes/evaluate; pass@1 per temperature to the logs."""
    from selfdistill.evaluation.sweep import evaluate_at_temperatures, load_benchmark

    problems = load_benchmark(cfg.eval.benchmark, cfg.eval.limit)
    model.eval()
    results = evaluate_at_temperatures(gen, problems, cfg.eval, run_dir / "eval" / f"step-{step}",
                                       label=f"step {step}")
    row: dict[str, Any] = {}
    for r in results:
        p1 = r.pass1()
        if p1:
            row[f"pass@1_T{r.temperature:g}"] = p1["mean"]
        row[f"no_code_T{r.temperature:g}"] = r.no_code_rate
    logger.log(step, row, prefix="eval")


def _rollout_records(step: int, rank: int, groups: list[Any], kinds: list[str]
                     ) -> list[dict[str, Any]]:
    """One rollouts.jsonl row per rollout of this rank, with its teacher-context kind."""
    flat = [(g, j, ro) for g in groups for j, ro in enumerate(g.rollouts)]
    return [{"step": step + 1, "rank": rank, "problem_id": g.problem_id, "sample_idx": j,
             "text": ro.text, "n_tokens": len(ro.completion_ids),
             "finish_reason": ro.finish_reason, "passed": ro.passed, "status": ro.status,
             "reward": ro.reward, "feedback": ro.feedback, "teacher_context": kind}
            for (g, j, ro), kind in zip(flat, kinds, strict=True)]


def run_sdpo_train(cfg: SDPOConfig, run_dir: str | Path) -> Path:
    """`selfdistill sdpo train`: the SDPO loop; resumes from RUN/checkpoints; returns RUN/final.

    Long: the recipe's top-down script (set-up, resume, the step loop with its checkpoints,
    the sharded or plain export, the report), kept in one place to read in order.
    """
    import torch
    from accelerate import Accelerator

    from selfdistill.core.console import console
    from selfdistill.distill.objective import resolve_scoring_temperature
    from selfdistill.problems.registry import load_source

    validate(cfg)
    resolve_scoring_temperature(cfg.loss, cfg.rollout.temperature)  # the reference's default
    run_dir = Path(run_dir)
    acc = Accelerator(cpu=not torch.cuda.is_available())
    rank, world, main = acc.process_index, acc.num_processes, acc.is_main_process
    if main:
        write_run_config(run_dir, cfg, "sdpo")
    final = run_dir / "final"
    problems = load_source(cfg.data.source)[: cfg.data.limit or None]
    if not problems:
        raise UserError(f"No training prompts in '{cfg.data.source}'.")

    resume = latest_checkpoint(run_dir / "checkpoints")
    start = checkpoint_step(resume) if resume is not None else 0
    if resume is not None and main:
        console.print(f"resuming SDPO from {resume} (step {start})")
    if start >= cfg.steps and final.exists():
        if main:
            console.print(f"SDPO already trained to step {start}: {final}")
        return final

    if main:  # steps after the checkpoint run again: their old log rows go first
        drop_rows_after(run_dir, start)
    random.seed(cfg.seed + rank)
    torch.manual_seed(cfg.seed + rank)
    tr = _build_trainer(cfg, resume, acc.device, world)
    logger = MetricsLogger(run_dir, main)
    if main:
        from selfdistill.analysis.credit import CreditRecorder

        tr.credit = CreditRecorder(run_dir / "credit.jsonl", cfg.credit, cfg.model.spec)
    if main:
        console.print(f"SDPO ({cfg.loss.algorithm}, {cfg.optim.method}, teacher "
                      f"{cfg.teacher.kind}) on {len(problems)} prompts from {cfg.data.source}: "
                      f"{cfg.steps} steps x {cfg.data.prompts_per_step} prompts x "
                      f"G={cfg.rollout.n}; {world} process(es)")
    from selfdistill.training.fsdp import gathered, is_sharded

    sharded = is_sharded(tr.model)
    try:
        if cfg.eval_every and start == 0:
            with gathered(tr.model):  # every rank joins the gather; rank 0 evaluates
                if main:
                    _evaluate(cfg, tr.model, tr.gen, run_dir, 0, logger)
        acc.wait_for_everyone()
        for step in range(start, cfg.steps):
            _train_step(cfg, tr, problems, step, rank, world, logger)
            done = step + 1
            if cfg.eval_every and done % cfg.eval_every == 0:
                with gathered(tr.model):
                    if main:
                        _evaluate(cfg, tr.model, tr.gen, run_dir, done, logger)
            if (cfg.save_every and done % cfg.save_every == 0) or done == cfg.steps:
                if sharded:
                    save_sharded_checkpoint(run_dir, done, tr.model, tr.optimizer,
                                            tr.scheduler, tr.teacher, cfg.keep_checkpoints)
                elif main:
                    save_checkpoint(run_dir, done, tr.model, tr.tok, tr.optimizer,
                                    tr.scheduler, tr.teacher, cfg.model.spec,
                                    cfg.keep_checkpoints)
            acc.wait_for_everyone()
        if sharded:
            _export_final_sharded(cfg, tr, final, main)
        elif main:
            save_final(tr.model, tr.tok, final, cfg.model.spec,
                       {"steps": cfg.steps, "config": asdict(cfg)}, "sdpo_state.json")
        if main:
            from selfdistill.recipes.sdpo.report import write_sdpo_report

            write_sdpo_report(run_dir)  # report.md + report.html (recipes/sdpo/report.py)
        acc.wait_for_everyone()
    finally:
        logger.close()
    return final


KILL_ENV = "SELFDISTILL_KILL_AT"


def _kill_point(step: int, rank: int) -> None:
    """Test hook: $SELFDISTILL_KILL_AT = "STEP:RANK" kill -9s that rank as the step begins."""
    import os
    import signal

    if os.environ.get(KILL_ENV) == f"{step}:{rank}":
        os.kill(os.getpid(), signal.SIGKILL)


def _export_final_sharded(cfg: SDPOConfig, tr: _Trainer, final: Path, main: bool) -> None:
    """RUN/final from a sharded run: a plain HF directory or PEFT adapter (via final.tmp)."""
    import json
    import shutil

    tmp = final.with_name(final.name + ".tmp")
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    export_sharded(tr.model, tr.tok, tmp, cfg.model.spec, full_state_dict(tr.model))
    if main:
        (tmp / "sdpo_state.json").write_text(json.dumps({"steps": cfg.steps,
                                                         "config": asdict(cfg)}))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)


def _train_step(cfg: SDPOConfig, tr: _Trainer, problems: list[Any], step: int, rank: int,
                world: int, logger: MetricsLogger) -> None:
    """One step: this rank's prompts -> graded rollouts -> teacher contexts -> sdpo_step -> logs."""
    from accelerate.utils import gather_object

    from selfdistill.core.console import console
    from selfdistill.distill.step import sdpo_step
    from selfdistill.distill.teacher_context import build_teacher_batch
    from selfdistill.execution import SandboxConfig
    from selfdistill.generation.colocate import EngineSync, model_weights
    from selfdistill.rollouts import sample_and_grade

    _kill_point(step + 1, rank)
    t_step = time.perf_counter()
    r = cfg.rollout
    idx = step_prompt_indices(len(problems), step, cfg.data.prompts_per_step, cfg.seed,
                              cfg.data.shuffle)[rank::world]
    mine = [problems[i] for i in idx]
    params = r.sampling_params(r.n, (cfg.seed * 1_000_003 + step) * 1009 + rank)
    tr.model.eval()
    if rank == 0:
        console.print(f"step {step + 1}/{cfg.steps}: sampling {len(mine)} x {r.n} "
                      f"answers (rank 0 shard)", style="dim")
    from selfdistill.training.fsdp import gathered

    # Sharded + HF backend: the compute copies, gathered once for the sampling (vLLM
    # samples from its own engine, refreshed from the shards layer by layer after a step).
    with gathered(tr.model) if not hasattr(tr.gen, "refresh_weights") else \
            contextlib.nullcontext():
        batch = sample_and_grade(tr.gen, mine, params, reward=r.reward,
                                 sandbox_config=SandboxConfig(timeout_s=r.timeout_s),
                                 feedback_cfg=cfg.feedback)
    tb = build_teacher_batch(batch.groups, tr.tok, cfg.teacher.reprompt(),
                             max_prompt_tokens=cfg.teacher.max_prompt_tokens,
                             rng=random.Random(cfg.seed * 7919 + step * 31 + rank))
    from selfdistill.training.fsdp import compute_dtype_of

    with gathered(tr.model), (tr.teacher.gathered(compute_dtype_of(tr.model))
                              if tr.teacher is not None else contextlib.nullcontext()):
        if tr.credit is not None:  # a few rollouts' per-token credit, before the step
            tr.credit.record(tr.model, tr.teacher, tr.tok, batch.groups, tb, step=step + 1,
                             temperature=cfg.loss.score_temperature)
    sync = EngineSync(tr.gen, sleep=r.vllm_sleep)  # vLLM only; the HF backend samples live
    sync.release()  # CUDA + rollout.vllm_sleep: the engine sleeps through the update
    m = sdpo_step(tr.model, tr.teacher, tr.optimizer, batch.groups, tr.tok, cfg.loss,
                  teacher_batch=tb, scheduler=tr.scheduler)
    sync.ready(step + 1, model_weights(tr.model))  # wake, stream the new weights in

    recs = _rollout_records(step, rank, batch.groups, tb.kinds)  # every rank's, written by 0
    all_recs = gather_object([recs]) if world > 1 else [recs]
    row = m.as_dict()
    row.update({"seconds_generate": batch.seconds_generate,
                "seconds_grade": batch.seconds_grade,
                "seconds_total": time.perf_counter() - t_step,
                "epoch": (step + 1) * cfg.data.prompts_per_step / len(problems)})
    if rank == 0:
        logger.log_rollouts([x for part in all_recs for x in part])
        logger.log(step + 1, row)
        console.print(
            f"step {step + 1}/{cfg.steps}: reward {m.reward_mean:.3f} pass "
            f"{m.pass_rate:.3f} loss {m.loss:.4g} KL {m.teacher_student_kl:.4g} "
            f"ctx sol/fb/none {m.with_solution}/{m.feedback_only}/{m.no_context} "
            f"len {m.response_length_mean:.0f} ({row['seconds_total']:.0f}s: gen "
            f"{batch.seconds_generate:.0f}, grade {batch.seconds_grade:.0f}, "
            f"step {m.seconds:.0f})")
