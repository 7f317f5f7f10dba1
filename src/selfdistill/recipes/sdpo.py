"""SDPO training (Hübotter et al. 2026): sample G answers per prompt, grade, self-distil.

Each step: this process's share of the step's prompts -> G rollouts each (hf or vllm)
-> sandbox verdicts + judge feedback -> teacher contexts (successful sibling / feedback)
-> sdpo.sdpo_step (student + teacher scoring, loss, backward, all-reduce, clip, optimiser,
teacher update). algorithm = sdpo | grpo | hybrid; LoRA or full fine-tuning.

Multi-process: `accelerate launch --multi_gpu --num_processes N -m selfdistill.cli sdpo
train ...` (on CPU too, over gloo; `--cpu` alone starts one process) or torchrun. Each
rank samples its shard of the step's prompts, gradients are summed across ranks inside
sdpo_step, only rank 0 writes files.

Run directory:
    RUN/config.yaml
    RUN/metrics.jsonl          one row per step (+ eval rows), see sdpo.StepMetrics
    RUN/rollouts.jsonl         every rollout: text, verdict, reward, feedback, context kind
    RUN/tb/                    TensorBoard scalars
    RUN/checkpoints/step-N/    adapter or full model, optimizer, scheduler, teacher, RNG, step
    RUN/eval/step-N/           periodic dev evaluation (recipes/evaluate layout)
    RUN/final/                 the trained model (loadable by models.load_model)
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from selfdistill.analysis.credit import CreditLogConfig, CreditRecorder
from selfdistill.config import (
    EvalConfig,
    ModelConfig,
    OptimConfig,
    SamplerConfig,
    register_recipe,
    write_run_config,
)
from selfdistill.errors import UserError
from selfdistill.sdpo import SDPOLossConfig

# ------------------------------------------------------------------------------ config


@dataclass
class SDPODataConfig:
    """Which prompts to train on and how many per step (global, split across processes)."""

    source: str = "builtin:train"
    limit: int | None = None
    prompts_per_step: int = 8
    shuffle: bool = True


@dataclass
class SDPORolloutConfig(SamplerConfig):
    """How the G answers per prompt are sampled (SamplerConfig's knobs) and graded."""

    n: int = 8  # G: rollouts per prompt
    backend: str = "hf"  # hf | vllm
    batch_size: int = 64
    timeout_s: float = 6.0  # sandbox wall-clock limit per test
    reward: str = "binary"  # binary (all tests pass) | fraction (tests passed / total)
    vllm_gpu_memory_utilization: float = 0.3


@dataclass
class SDPOTeacherConfig:
    """Teacher weights and what its re-prompt contains (teacher.RepromptConfig)."""

    kind: str = "ema"  # ema | trust_region | frozen | live
    rate: float = 0.01
    use_solution: bool = True
    use_feedback: bool = True
    feedback_only_without_solution: bool = True
    dont_reprompt_on_self_success: bool = True
    sibling_choice: str = "first"  # first | random
    max_prompt_tokens: int | None = 4096  # templated teacher prompt; hindsight is truncated


@dataclass
class SDPOOptimConfig(OptimConfig):
    """Parameters trained and the optimiser (AdamW), plus the learning-rate schedule."""

    lr_schedule: str = "constant"  # constant | cosine
    warmup_steps: int = 0


@dataclass
class SDPOConfig:
    """`selfdistill sdpo train`: online RL by self-distillation on graded rollouts."""

    run_dir: str = "runs/sdpo"
    seed: int = 0
    steps: int = 100
    save_every: int = 10  # checkpoint every N steps (and at the end); 0 = only at the end
    keep_checkpoints: int = 2
    eval_every: int = 0  # dev evaluation every N steps (0 = never); also before step 1 if > 0
    model: ModelConfig = field(default_factory=ModelConfig)
    data: SDPODataConfig = field(default_factory=SDPODataConfig)
    rollout: SDPORolloutConfig = field(default_factory=SDPORolloutConfig)
    teacher: SDPOTeacherConfig = field(default_factory=SDPOTeacherConfig)
    loss: SDPOLossConfig = field(default_factory=SDPOLossConfig)
    optim: SDPOOptimConfig = field(default_factory=SDPOOptimConfig)
    eval: EvalConfig = field(default_factory=lambda: EvalConfig(benchmark="builtin:dev"))
    credit: CreditLogConfig = field(default_factory=CreditLogConfig)  # analysis/credit.py


register_recipe("sdpo", SDPOConfig)


# ----------------------------------------------------------------------------- helpers


def validate(cfg: SDPOConfig) -> None:
    """Reject inconsistent settings with one readable sentence."""
    from selfdistill.sdpo import ALGORITHMS
    from selfdistill.teacher import TEACHER_KINDS

    if cfg.loss.algorithm not in ALGORITHMS:
        raise UserError(f"loss.algorithm must be one of {', '.join(ALGORITHMS)}.")
    if cfg.loss.divergence not in ("reverse_kl", "forward_kl", "jsd"):
        raise UserError("loss.divergence must be reverse_kl, forward_kl or jsd.")
    if cfg.teacher.kind not in TEACHER_KINDS:
        raise UserError(f"teacher.kind must be one of {', '.join(TEACHER_KINDS)}.")
    if cfg.optim.method not in ("lora", "full"):
        raise UserError("optim.method must be 'lora' or 'full'.")
    if cfg.optim.lr_schedule not in ("constant", "cosine"):
        raise UserError("optim.lr_schedule must be 'constant' or 'cosine'.")
    if cfg.rollout.backend not in ("hf", "vllm"):
        raise UserError("rollout.backend must be 'hf' or 'vllm'.")
    if cfg.rollout.reward not in ("binary", "fraction"):
        raise UserError("rollout.reward must be 'binary' or 'fraction'.")
    if cfg.rollout.n < 1 or cfg.data.prompts_per_step < 1 or cfg.steps < 1:
        raise UserError("rollout.n, data.prompts_per_step and steps must be >= 1.")


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


def _lr_lambda(cfg: SDPOConfig) -> Any:
    o = cfg.optim

    def f(step: int) -> float:
        if o.warmup_steps and step < o.warmup_steps:
            return (step + 1) / o.warmup_steps
        if o.lr_schedule == "cosine":
            t = (step - o.warmup_steps) / max(1, cfg.steps - o.warmup_steps)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
        return 1.0

    return f


def _latest_checkpoint(ckpt_dir: Path) -> Path | None:
    done = [p for p in ckpt_dir.glob("step-*") if (p / "state.json").is_file()
            and not p.name.endswith(".tmp")]
    return max(done, key=lambda p: int(p.name.split("-")[1]), default=None)


def _build_model(cfg: SDPOConfig, resume: Path | None) -> tuple[Any, Any]:
    """The trainable model (LoRA-wrapped or full) and tokenizer, from a checkpoint if resuming."""
    from selfdistill.models import load_model

    o = cfg.optim
    if o.method == "full":
        model, tok = load_model(str(resume / "model") if resume else cfg.model.spec,
                                dtype=cfg.model.dtype)
    else:
        from peft import LoraConfig, PeftModel, get_peft_model

        model, tok = load_model(cfg.model.spec, dtype=cfg.model.dtype)
        if resume:
            model = PeftModel.from_pretrained(model, str(resume / "model"), is_trainable=True)
        else:
            model = get_peft_model(model, LoraConfig(
                r=o.lora_r, lora_alpha=o.lora_alpha, lora_dropout=o.lora_dropout,
                target_modules=o.lora_targets, task_type="CAUSAL_LM"))
    if o.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()
    if o.method == "full":
        for p in model.parameters():
            p.requires_grad_(True)
    return model, tok


def _save_model(model: Any, tok: Any, out: Path, spec: str) -> None:
    """Adapter (with a portable base spec) or full model + tokenizer into out."""
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    cfg_path = out / "adapter_config.json"
    if cfg_path.is_file():  # point the adapter at the spec, not this machine's cache path
        data = json.loads(cfg_path.read_text())
        data["base_model_name_or_path"] = spec
        cfg_path.write_text(json.dumps(data, indent=2))


def _rng_state() -> dict[str, Any]:
    import numpy as np
    import torch

    return {"python": random.getstate(), "numpy": np.random.get_state(),
            "torch": torch.get_rng_state()}


def _set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def save_checkpoint(run_dir: Path, step: int, model: Any, tok: Any, optimizer: Any,
                    scheduler: Any, teacher: Any, spec: str, keep: int = 2) -> Path:
    """RUN/checkpoints/step-N written to step-N.tmp then renamed (a kill never leaves half)."""
    import torch

    ckpt_dir = run_dir / "checkpoints"
    final = ckpt_dir / f"step-{step}"
    tmp = ckpt_dir / f"step-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _save_model(model, tok, tmp / "model", spec)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "teacher": teacher.state_dict() if teacher is not None else None,
                "rng": _rng_state()}, tmp / "trainer_state.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step, "time": time.time()}))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    olds = sorted((p for p in ckpt_dir.glob("step-*") if not p.name.endswith(".tmp")),
                  key=lambda p: int(p.name.split("-")[1]))
    for p in olds[:-keep] if keep > 0 else []:
        shutil.rmtree(p, ignore_errors=True)
    return final


def _generator_model(model: Any) -> Any:
    """The HF model the generator drives: under peft the base model with live LoRA layers."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def _merged_weights(model: Any) -> list[tuple[str, Any]]:
    """HF-named weights with the LoRA adapter merged in (for pushing into vLLM)."""
    if not hasattr(model, "merge_adapter"):
        return [(n, t.detach()) for n, t in model.state_dict().items()]
    model.merge_adapter()
    try:
        out = []
        for n, t in model.state_dict().items():
            if "lora_" in n:
                continue
            n = n.removeprefix("base_model.model.").replace(".base_layer.", ".")
            out.append((n, t.detach().clone()))
        return out
    finally:
        model.unmerge_adapter()


def _reward(verdict: Any, kind: str) -> float:
    if kind == "fraction":
        return verdict.tests_passed / max(verdict.tests_total, 1)
    return float(verdict.passed)


class _Logger:
    """metrics.jsonl + TensorBoard on rank 0; a no-op elsewhere."""

    def __init__(self, run_dir: Path, enabled: bool):
        from selfdistill.records import JsonlWriter

        self.enabled = enabled
        self.metrics = JsonlWriter(run_dir / "metrics.jsonl") if enabled else None
        self.rollouts = JsonlWriter(run_dir / "rollouts.jsonl") if enabled else None
        self.tb = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tb"))
            except ImportError:  # tensorboard is optional: JSONL always has everything
                self.tb = None

    def log(self, step: int, row: dict[str, Any], prefix: str = "train") -> None:
        if not self.enabled:
            return
        self.metrics.write({"step": step, "kind": prefix, **row})
        if self.tb is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    self.tb.add_scalar(f"{prefix}/{k}", v, step)
            self.tb.flush()

    def log_rollouts(self, records: list[dict[str, Any]]) -> None:
        if self.enabled and records:
            self.rollouts.write_many(records)

    def close(self) -> None:
        if self.enabled:
            self.metrics.close()
            self.rollouts.close()
            if self.tb is not None:
                self.tb.close()


# -------------------------------------------------------------------------------- run


def _evaluate(cfg: SDPOConfig, model: Any, tok: Any, gen: Any, run_dir: Path, step: int,
              logger: _Logger) -> None:
    """Dev evaluation (rank 0) through recipes/evaluate; pass@1 per temperature to the logs."""
    from selfdistill.recipes.evaluate import evaluate_at_temperatures, load_benchmark

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


def run_sdpo_train(cfg: SDPOConfig, run_dir: str | Path) -> Path:
    """`selfdistill sdpo train`: the SDPO loop; resumes from RUN/checkpoints; returns RUN/final."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import gather_object

    from selfdistill.analysis.run_reports import write_sdpo_report
    from selfdistill.execution import SandboxConfig, format_feedback, grade_many
    from selfdistill.problems.registry import load_source
    from selfdistill.prompts import build_chat, extract_code
    from selfdistill.sdpo import build_teacher_batch, make_groups, sdpo_step
    from selfdistill.stages import console
    from selfdistill.teacher import RepromptConfig, Teacher

    validate(cfg)
    run_dir = Path(run_dir)
    acc = Accelerator(cpu=not torch.cuda.is_available())
    rank, world, main = acc.process_index, acc.num_processes, acc.is_main_process
    if main:
        write_run_config(run_dir, cfg, "sdpo")
    final = run_dir / "final"

    problems = load_source(cfg.data.source)
    if cfg.data.limit:
        problems = problems[: cfg.data.limit]
    if not problems:
        raise UserError(f"No training prompts in '{cfg.data.source}'.")

    resume = _latest_checkpoint(run_dir / "checkpoints")
    start = 0
    if resume is not None:
        start = json.loads((resume / "state.json").read_text())["step"]
        if main:
            console.print(f"resuming SDPO from {resume} (step {start})")
    if start >= cfg.steps and final.exists():
        if main:
            console.print(f"SDPO already trained to step {start}: {final}")
        return final

    random.seed(cfg.seed + rank)
    torch.manual_seed(cfg.seed + rank)
    model, tok = _build_model(cfg, resume)
    model.to(acc.device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    teacher = (Teacher(model, cfg.teacher.kind, cfg.teacher.rate)  # type: ignore[arg-type]
               if cfg.loss.needs_teacher else None)
    o = cfg.optim
    optimizer = torch.optim.AdamW(trainable, lr=o.lr, betas=(o.adam_beta1, o.adam_beta2),
                                  weight_decay=o.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(cfg))
    if resume is not None:
        state = torch.load(resume / "trainer_state.pt", weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if teacher is not None and state["teacher"] is not None:
            teacher.load_state_dict(state["teacher"])
        if world == 1:  # per-rank streams are re-seeded from (seed, step, rank) anyway
            _set_rng_state(state["rng"])

    from selfdistill.recipes.evaluate import make_generator

    r = cfg.rollout
    if r.backend == "vllm":
        from selfdistill.generation import make_generator as _make

        gen = _make("vllm", model=cfg.model.spec, dtype=cfg.model.dtype,
                    gpu_memory_utilization=r.vllm_gpu_memory_utilization, progress=False)
        gen.refresh_weights(_merged_weights(model))
    else:
        gen = make_generator(_generator_model(model), tok, "hf", r.batch_size)
    sandbox = SandboxConfig(timeout_s=r.timeout_s)
    t = cfg.teacher
    reprompt = RepromptConfig(
        use_solution=t.use_solution, use_feedback=t.use_feedback,
        feedback_only_without_solution=t.feedback_only_without_solution,
        dont_reprompt_on_self_success=t.dont_reprompt_on_self_success,
        sibling_choice=t.sibling_choice)  # type: ignore[arg-type]
    logger = _Logger(run_dir, main)
    credit = CreditRecorder(run_dir / "credit.jsonl", cfg.credit, cfg.model.spec) if main else None
    if main:
        console.print(f"SDPO ({cfg.loss.algorithm}, {o.method}, teacher {t.kind}) on "
                      f"{len(problems)} prompts from {cfg.data.source}: {cfg.steps} steps x "
                      f"{cfg.data.prompts_per_step} prompts x G={r.n}; {world} process(es)")

    try:
        if cfg.eval_every and start == 0 and main:
            _evaluate(cfg, model, tok, gen, run_dir, 0, logger)
        acc.wait_for_everyone()
        for step in range(start, cfg.steps):
            t_step = time.perf_counter()
            idx = step_prompt_indices(len(problems), step, cfg.data.prompts_per_step, cfg.seed,
                                      cfg.data.shuffle)[rank::world]
            mine = [problems[i] for i in idx]
            chats = [build_chat(p) for p in mine]
            params = r.sampling_params(r.n, (cfg.seed * 1_000_003 + step) * 1009 + rank)
            model.eval()
            if main:
                console.print(f"step {step + 1}/{cfg.steps}: sampling {len(mine)} x {r.n} "
                              f"answers (rank 0 shard)", style="dim")
            t0 = time.perf_counter()
            comps = gen.generate(chats, params, progress=False) if mine else []
            t_gen = time.perf_counter() - t0
            items = [(p, extract_code(c.text, p.entry_point))
                     for p, cs in zip(mine, comps, strict=True) for c in cs]
            t0 = time.perf_counter()
            flat_v = grade_many(items, config=sandbox)
            t_grade = time.perf_counter() - t0
            verdicts = [flat_v[i * r.n:(i + 1) * r.n] for i in range(len(mine))]
            groups = make_groups(mine, chats, comps, verdicts, feedback_fn=format_feedback,
                                 reward_fn=lambda v: _reward(v, r.reward))
            tb = build_teacher_batch(groups, tok, reprompt,
                                     max_prompt_tokens=t.max_prompt_tokens,
                                     rng=random.Random(cfg.seed * 7919 + step * 31 + rank))
            if credit is not None:  # a few rollouts' per-token credit, before the step
                credit.record(model, teacher, tok, groups, tb, step=step + 1,
                              temperature=cfg.loss.temperature)
            m = sdpo_step(model, teacher, optimizer, groups, tok, cfg.loss,
                          teacher_batch=tb, scheduler=scheduler)
            if r.backend == "vllm":
                gen.refresh_weights(_merged_weights(model))

            # Rollout records from every rank, written by rank 0.
            recs, k = [], 0
            for g, p in zip(groups, mine, strict=True):
                for j, ro in enumerate(g.rollouts):
                    recs.append({
                        "step": step + 1, "rank": rank, "problem_id": p.id, "sample_idx": j,
                        "text": ro.text, "n_tokens": len(ro.completion_ids),
                        "finish_reason": ro.finish_reason, "passed": ro.passed,
                        "status": ro.status, "reward": ro.reward, "feedback": ro.feedback,
                        "teacher_context": tb.kinds[k],
                    })
                    k += 1
            all_recs = gather_object([recs]) if world > 1 else [recs]
            row = m.as_dict()
            row.update({"seconds_generate": t_gen, "seconds_grade": t_grade,
                        "seconds_total": time.perf_counter() - t_step,
                        "epoch": (step + 1) * cfg.data.prompts_per_step / len(problems)})
            if main:
                logger.log_rollouts([x for part in all_recs for x in part])
                logger.log(step + 1, row)
                console.print(
                    f"step {step + 1}/{cfg.steps}: reward {m.reward_mean:.3f} pass "
                    f"{m.pass_rate:.3f} loss {m.loss:.4g} KL {m.teacher_student_kl:.4g} "
                    f"ctx sol/fb/none {m.with_solution}/{m.feedback_only}/{m.no_context} "
                    f"len {m.response_length_mean:.0f} ({row['seconds_total']:.0f}s: gen "
                    f"{t_gen:.0f}, grade {t_grade:.0f}, step {m.seconds:.0f})")
            done = step + 1
            if cfg.eval_every and done % cfg.eval_every == 0 and main:
                _evaluate(cfg, model, tok, gen, run_dir, done, logger)
            if (cfg.save_every and done % cfg.save_every == 0) or done == cfg.steps:
                if main:
                    save_checkpoint(run_dir, done, model, tok, optimizer, scheduler, teacher,
                                    cfg.model.spec, cfg.keep_checkpoints)
            acc.wait_for_everyone()
        if main:
            tmp = run_dir / "final.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            _save_model(model, tok, tmp, cfg.model.spec)
            (tmp / "sdpo_state.json").write_text(json.dumps({"steps": cfg.steps,
                                                             "config": asdict(cfg)}))
            shutil.rmtree(final, ignore_errors=True)
            tmp.rename(final)
            write_sdpo_report(run_dir)  # report.md + report.html (analysis/run_reports.py)
        acc.wait_for_everyone()
    finally:
        logger.close()
    return final
