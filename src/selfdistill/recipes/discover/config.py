"""`selfdistill discover` / `discover-bench` configuration, its checks and the seed rule."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from selfdistill.analysis.credit import CreditLogConfig
from selfdistill.core.config import ModelConfig, OptimConfig, register_recipe
from selfdistill.distill.objective import SDPOLossConfig
from selfdistill.distill.teacher_context import TeacherConfig
from selfdistill.distill.teacher_weights import validate_teacher_and_optim
from selfdistill.errors import UserError
from selfdistill.generation.params import SamplerConfig

METHODS: tuple[str, ...] = ("sdpo", "best_of_k", "multiturn")
SEED_STRIDE = 1_000_003

# ------------------------------------------------------------------------------ config


@dataclass
class DiscoverSamplingConfig(SamplerConfig):
    """The sampler every method shares (SamplerConfig's knobs) and B attempts per step."""

    max_new_tokens: int = 1024
    batch: int = 16  # B: attempts per step
    gen_batch_size: int = 16  # rows decoded at once by the HF backend
    # hf: the live model decodes; vllm: a colocated engine, fed the current weights (LoRA
    # merged) before each sample after an update (generation/colocate.py).
    backend: str = "hf"
    vllm_gpu_memory_utilization: float = 0.3
    vllm_sleep: bool = False  # CUDA: the engine sleeps during each update (no-op on CPU)
    # Stop strings (cut from the text; e.g. "\n```\n" ends an answer at its closing code
    # fence and skips the prose after it -- a CPU speed knob, off in the paper's setting).
    stop: list[str] = field(default_factory=list)


@dataclass
class DiscoverOptimConfig(OptimConfig):
    """What the SDPO step trains (a fresh adapter per run; full: initial weights restored)."""


@dataclass
class DiscoverMultiturnConfig:
    """The in-context baseline's window."""

    max_context_tokens: int | None = None  # None: the model's max_position_embeddings


@dataclass
class DiscoverSelectConfig:
    """`--select-hard POOL`: the problems that are hard *for this model* (select.py).

    pass@k is estimated with the unbiased estimator from n >= k samples per pool problem
    (with n == k it is binary: any success or none, so n should exceed k; its resolution
    is set by n: see docs/discover.md).
    """

    pool: list[str] = field(default_factory=list)  # problem specs; empty: use `problems`
    n: int = 256  # samples per pool problem
    k: int = 64  # the paper: pass@64
    threshold: float = 0.5  # keep pass@k < threshold (the paper's hard subset)
    very_hard: float = 0.03  # reported separately: pass@k < very_hard
    max_problems: int | None = None  # cap on the chosen problems (order below)
    order: str = "pool"  # pool: pool order; estimate: highest estimate under the threshold first
    seed: int = 12345  # sampling seed of the selection samples (not the runs' seeds)


@dataclass
class DiscoverReportConfig:
    """discovery@k curves: which k, bootstrap confidence level and resamples."""

    ks: list[int] = field(default_factory=list)  # empty: powers of 2, multiples of B, K
    conf: float = 0.90
    n_boot: int = 2000


@dataclass
class DiscoverConfig:
    """`selfdistill discover` / `discover-bench`: test-time self-distillation vs baselines."""

    run_dir: str = "runs/discover"
    problem: str = ""  # discover: one problem id
    source: str | None = None  # where `problem` lives (default: inferred from the id)
    problems: str = "builtin:hard"  # discover-bench: a problem set spec
    limit: int | None = None  # discover-bench: first N problems of the set
    methods: list[str] = field(default_factory=lambda: ["sdpo", "best_of_k", "multiturn"])
    budget: int = 64  # K: attempts per (method, problem, seed)
    seeds: int = 3
    first_seed: int = 0
    stop_at_success: bool = True  # sdpo/multiturn; best_of_k always spends the budget
    timeout_s: float = 4.0  # sandbox wall-clock limit per test
    model: ModelConfig = field(default_factory=ModelConfig)
    sampling: DiscoverSamplingConfig = field(default_factory=DiscoverSamplingConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    loss: SDPOLossConfig = field(default_factory=SDPOLossConfig)
    optim: DiscoverOptimConfig = field(default_factory=DiscoverOptimConfig)
    multiturn: DiscoverMultiturnConfig = field(default_factory=DiscoverMultiturnConfig)
    report: DiscoverReportConfig = field(default_factory=DiscoverReportConfig)
    select: DiscoverSelectConfig = field(default_factory=DiscoverSelectConfig)
    stop_after_minutes: float | None = None  # start no new run after this (resume later)
    credit: CreditLogConfig = field(default_factory=CreditLogConfig)  # analysis/credit.py


register_recipe("discover", DiscoverConfig)


def validate(cfg: DiscoverConfig) -> None:
    """Reject inconsistent settings with one readable sentence."""
    bad = [m for m in cfg.methods if m not in METHODS]
    if bad or not cfg.methods:
        raise UserError(f"unknown method {', '.join(bad) or '(none)'}: use "
                        f"{', '.join(METHODS)} (comma-separated).")
    if len(set(cfg.methods)) != len(cfg.methods):
        raise UserError("a method is listed twice in methods.")
    if cfg.budget < 1 or cfg.sampling.batch < 1 or cfg.seeds < 1:
        raise UserError("budget, batch and seeds must be >= 1.")
    if cfg.first_seed < 0:
        raise UserError("first_seed must be >= 0.")
    s = cfg.sampling
    if s.temperature <= 0:
        raise UserError("discovery samples: sampling.temperature must be > 0.")
    if s.top_k < 0 or not 0 < s.top_p <= 1 or s.max_new_tokens < 1 or s.gen_batch_size < 1:
        raise UserError("need top_k >= 0, 0 < top_p <= 1, max_new_tokens >= 1, "
                        "gen_batch_size >= 1.")
    if s.backend not in ("hf", "vllm"):
        raise UserError("sampling.backend must be 'hf' or 'vllm'.")
    validate_teacher_and_optim(cfg.teacher, cfg.optim)
    if cfg.loss.algorithm != "sdpo":
        raise UserError("discovery uses loss.algorithm=sdpo (GRPO has no signal without a "
                        "success in the batch).")
    if not 0 < cfg.report.conf < 1 or cfg.report.n_boot < 1:
        raise UserError("report.conf must lie in (0, 1) and report.n_boot be >= 1.")
    if any(k < 1 or k > cfg.budget for k in cfg.report.ks):
        raise UserError("every report.ks value must lie in 1..budget.")
    _validate_select(cfg.select)
    if cfg.stop_after_minutes is not None and cfg.stop_after_minutes <= 0:
        raise UserError("stop_after_minutes must be > 0.")
    mt = cfg.multiturn.max_context_tokens
    if mt is not None and mt <= s.max_new_tokens:
        raise UserError("multiturn.max_context_tokens must exceed sampling.max_new_tokens.")


def _validate_select(sel: DiscoverSelectConfig) -> None:
    """The selection's sample count, k and thresholds make sense."""
    if sel.k < 1 or sel.n < sel.k:
        raise UserError(f"select: need 1 <= k <= n (pass@{sel.k} from {sel.n} samples is not "
                        "estimable); use n > k for a non-binary estimate.")
    if not 0 < sel.very_hard <= sel.threshold <= 1:
        raise UserError("select: need 0 < very_hard <= threshold <= 1.")
    if sel.order not in ("pool", "estimate"):
        raise UserError("select.order must be pool or estimate.")
    if sel.max_problems is not None and sel.max_problems < 1:
        raise UserError("select.max_problems must be >= 1.")


def step_seed(seed: int, step: int) -> int:
    """Sampling seed of a step (same for every method: the first batches coincide)."""
    return seed * SEED_STRIDE + step


def slug(problem_id: str) -> str:
    """A file-system-safe name for a problem id."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", problem_id).strip("_") or "problem"
