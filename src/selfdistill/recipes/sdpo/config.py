"""`selfdistill sdpo train`'s configuration: the recipe's YAML sections and their checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from selfdistill.analysis.credit import CreditLogConfig
from selfdistill.core.config import ModelConfig, OptimConfig, register_recipe
from selfdistill.distill.objective import ALGORITHMS, SDPOLossConfig
from selfdistill.distill.teacher_context import TeacherConfig
from selfdistill.distill.teacher_weights import validate_teacher_and_optim
from selfdistill.errors import UserError
from selfdistill.evaluation.config import EvalConfig
from selfdistill.execution.feedback import FeedbackConfig
from selfdistill.generation.params import SamplerConfig


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

    max_new_tokens: int = 1024
    n: int = 8  # G: rollouts per prompt
    backend: str = "hf"  # hf | vllm
    batch_size: int = 64
    timeout_s: float = 6.0  # sandbox wall-clock limit per test
    reward: str = "binary"  # binary (all tests pass) | fraction (tests passed / total)
    vllm_gpu_memory_utilization: float = 0.3
    vllm_sleep: bool = False  # CUDA: the engine sleeps during each update (no-op on CPU)


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
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)  # execution/feedback.py
    loss: SDPOLossConfig = field(default_factory=SDPOLossConfig)
    optim: SDPOOptimConfig = field(default_factory=SDPOOptimConfig)
    eval: EvalConfig = field(default_factory=lambda: EvalConfig(benchmark="builtin:dev"))
    credit: CreditLogConfig = field(default_factory=CreditLogConfig)  # analysis/credit.py


register_recipe("sdpo", SDPOConfig)


def validate(cfg: SDPOConfig) -> None:
    """Reject inconsistent settings with one readable sentence."""
    if cfg.loss.algorithm not in ALGORITHMS:
        raise UserError(f"loss.algorithm must be one of {', '.join(ALGORITHMS)}.")
    if cfg.loss.divergence not in ("reverse_kl", "forward_kl", "jsd"):
        raise UserError("loss.divergence must be reverse_kl, forward_kl or jsd.")
    validate_teacher_and_optim(cfg.teacher, cfg.optim)
    if cfg.optim.lr_schedule not in ("constant", "cosine"):
        raise UserError("optim.lr_schedule must be 'constant' or 'cosine'.")
    if cfg.rollout.backend not in ("hf", "vllm"):
        raise UserError("rollout.backend must be 'hf' or 'vllm'.")
    if cfg.rollout.reward not in ("binary", "fraction"):
        raise UserError("rollout.reward must be 'binary' or 'fraction'.")
    if cfg.feedback.style not in ("reference", "judge"):
        raise UserError("feedback.style must be 'reference' or 'judge'.")
    if cfg.rollout.n < 1 or cfg.data.prompts_per_step < 1 or cfg.steps < 1:
        raise UserError("rollout.n, data.prompts_per_step and steps must be >= 1.")
