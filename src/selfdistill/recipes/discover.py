"""Test-time self-distillation ("discovery"): solve one hard problem from its own failures.

Methods, all with the same sampler, batch B and attempt budget K:

- sdpo: sample B attempts, grade them in the sandbox, stop at the first accepted one;
  otherwise take one SDPO step (sdpo.sdpo_step) on this problem alone -- the teacher is
  the model re-prompted with the judge's feedback (or a successful sibling, which only
  happens with stop_at_success=false) -- and repeat until K attempts are spent. A fresh
  LoRA adapter (seeded init) per (problem, seed) on the frozen base, reset in memory.
- best_of_k: B independent samples per step from the base model, never stopping early,
  so that discovery@k can use the unbiased pass@k estimator over all K samples.
- multiturn: one conversation; each step samples B attempts from the prompt followed by
  past (answer, judge feedback) turns, oldest dropped first to fit the context window
  minus max_new_tokens (multiturn.build_multiturn_chat); stops at the first success.

Attempt index: the 1-based count of attempts consumed up to and including the first
success (within a batch, the position of the first accepted sample). Sampling seed of
step s of seed r is r * 1_000_003 + s for every method, so the first batch of the three
methods is the same draw (common random numbers).

Run directory (plain files, resumable):
    RUN/config.yaml
    RUN/results.jsonl                         one row per finished (method, problem, seed)
    RUN/runs/METHOD/PROBLEM/seed-S.jsonl      one row per step (attempts, verdicts,
                                              feedback, SDPO metrics), then a "done" row
    RUN/solutions/METHOD/PROBLEM/seed-S.py    the first accepted program, attempt in header
    RUN/summary.json, RUN/report.md, RUN/discovery_at_k.png

Resume: finished runs (a row in results.jsonl) are replayed from disk; an unfinished run
is restarted from its beginning (its step log is truncated), for every method -- there is
no adapter checkpoint. Seeds are deterministic, so a restarted run redraws the same first
batch.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from selfdistill.analysis.credit import CreditLogConfig
from selfdistill.config import (
    ModelConfig,
    OptimConfig,
    SamplerConfig,
    register_recipe,
    write_run_config,
)
from selfdistill.errors import UserError
from selfdistill.generation.base import Chat, Completion
from selfdistill.multiturn import MultiturnContext, PastAttempt, build_multiturn_chat
from selfdistill.recipes.sdpo import SDPOTeacherConfig
from selfdistill.sdpo import SDPOLossConfig

METHODS: tuple[str, ...] = ("sdpo", "best_of_k", "multiturn")
SEED_STRIDE = 1_000_003

# ------------------------------------------------------------------------------ config


@dataclass
class DiscoverSamplingConfig(SamplerConfig):
    """The sampler every method shares (SamplerConfig's knobs) and B attempts per step."""

    batch: int = 16  # B: attempts per step
    gen_batch_size: int = 16  # rows decoded at once by the HF backend
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
    teacher: SDPOTeacherConfig = field(default_factory=SDPOTeacherConfig)
    loss: SDPOLossConfig = field(default_factory=SDPOLossConfig)
    optim: DiscoverOptimConfig = field(default_factory=DiscoverOptimConfig)
    multiturn: DiscoverMultiturnConfig = field(default_factory=DiscoverMultiturnConfig)
    report: DiscoverReportConfig = field(default_factory=DiscoverReportConfig)
    credit: CreditLogConfig = field(default_factory=CreditLogConfig)  # analysis/credit.py


register_recipe("discover", DiscoverConfig)


def validate(cfg: DiscoverConfig) -> None:
    """Reject inconsistent settings with one readable sentence."""
    from selfdistill.teacher import TEACHER_KINDS

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
    if cfg.optim.method not in ("lora", "full"):
        raise UserError("optim.method must be 'lora' or 'full'.")
    if cfg.teacher.kind not in TEACHER_KINDS:
        raise UserError(f"teacher.kind must be one of {', '.join(TEACHER_KINDS)}.")
    if cfg.loss.algorithm != "sdpo":
        raise UserError("discovery uses loss.algorithm=sdpo (GRPO has no signal without a "
                        "success in the batch).")
    if not 0 < cfg.report.conf < 1 or cfg.report.n_boot < 1:
        raise UserError("report.conf must lie in (0, 1) and report.n_boot be >= 1.")
    if any(k < 1 or k > cfg.budget for k in cfg.report.ks):
        raise UserError("every report.ks value must lie in 1..budget.")
    mt = cfg.multiturn.max_context_tokens
    if mt is not None and mt <= s.max_new_tokens:
        raise UserError("multiturn.max_context_tokens must exceed sampling.max_new_tokens.")


def step_seed(seed: int, step: int) -> int:
    """Sampling seed of a step (same for every method: the first batches coincide)."""
    return seed * SEED_STRIDE + step


def slug(problem_id: str) -> str:
    """A file-system-safe name for a problem id."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", problem_id).strip("_") or "problem"


# ------------------------------------------------------------------------------ records


@dataclass
class RunResult:
    """One finished (method, problem, seed) run: the row written to RUN/results.jsonl."""

    method: str
    problem_id: str
    seed: int
    budget: int
    batch: int
    solved: bool
    attempt_index: int | None  # 1-based attempts up to and including the first success
    attempts_used: int
    n_correct: int  # accepted attempts among attempts_used
    steps: int  # sampling steps
    updates: int = 0  # SDPO steps taken
    seconds: float = 0.0
    seconds_sample: float = 0.0
    seconds_grade: float = 0.0
    seconds_update: float = 0.0
    solution: str | None = None  # the first accepted program

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunResult:
        """Inverse of to_dict (unknown keys ignored)."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in names})


# ---------------------------------------------------------------------------- the loop

SampleFn = Callable[[Chat, int, int], list[Completion]]  # (chat, n, seed) -> completions
GradeFn = Callable[[list[str]], list[Any]]  # answer texts -> Verdicts (passed, status)
FeedbackFn = Callable[[Any], str]
UpdateFn = Callable[[Chat, list[Completion], list[Any], list[str]], dict[str, float]]
ContextFn = Callable[[list[PastAttempt]], MultiturnContext]


def run_discovery(
    method: str,
    prompt_chat: Chat,
    *,
    budget: int,
    batch: int,
    seed: int,
    sample: SampleFn,
    grade: GradeFn,
    feedback: FeedbackFn,
    update: UpdateFn | None = None,
    context: ContextFn | None = None,
    stop_at_success: bool = True,
    problem_id: str = "",
    code_of: Callable[[str], str | None] | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> RunResult:
    """One run of a method on one problem: sample B, grade, stop or update, until the budget.

    update (sdpo) is called after a batch without a stopping success while budget remains;
    context (multiturn) builds each step's chat from the past attempts. on_step receives
    each step's record (for the JSONL log).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}")
    if method == "sdpo" and update is None:
        raise ValueError("sdpo needs an update function")
    if method == "multiturn" and context is None:
        raise ValueError("multiturn needs a context function")
    stops = stop_at_success and method != "best_of_k"
    t_run = time.perf_counter()
    used = n_correct = steps = updates = 0
    first: int | None = None
    solution: str | None = None
    history: list[PastAttempt] = []
    secs = {"sample": 0.0, "grade": 0.0, "update": 0.0}
    while used < budget:
        b = min(batch, budget - used)
        chat, ctx_info = prompt_chat, {}
        if method == "multiturn":
            mc = context(history)  # type: ignore[misc]
            chat = mc.chat
            ctx_info = {"context_kept": mc.kept, "context_dropped": mc.dropped,
                        "context_length": mc.length}
        t0 = time.perf_counter()
        comps = sample(chat, b, step_seed(seed, steps))
        t1 = time.perf_counter()
        texts = [c.text for c in comps]
        verdicts = grade(texts)
        t2 = time.perf_counter()
        fbs = [feedback(v) for v in verdicts]
        passed = [bool(v.passed) for v in verdicts]
        j = next((i for i, p in enumerate(passed) if p), None)
        if j is not None and first is None:
            first = used + j + 1
            solution = code_of(texts[j]) if code_of else texts[j]
        n_correct += sum(passed)
        used += b
        steps += 1
        secs["sample"] += t1 - t0
        secs["grade"] += t2 - t1
        rec: dict[str, Any] = {
            "kind": "step", "method": method, "problem_id": problem_id, "seed": seed,
            "step": steps, "attempts_before": used - b, "n": b,
            "first_success_in_batch": None if j is None else j + 1,
            "attempt_index": first, "n_correct": sum(passed),
            "statuses": dict(Counter(v.status for v in verdicts)),
            "seconds_sample": t1 - t0, "seconds_grade": t2 - t1, **ctx_info,
            "attempts": [{"index": used - b + i + 1, "passed": p, "status": v.status,
                          "n_tokens": len(c.token_ids), "finish_reason": c.finish_reason,
                          "text": c.text, "feedback": fb}
                         for i, (c, v, p, fb) in enumerate(zip(comps, verdicts, passed, fbs,
                                                               strict=True))],
        }
        done = (stops and first is not None) or used >= budget
        if method == "sdpo" and not done:
            t3 = time.perf_counter()
            metrics = update(chat, comps, verdicts, fbs)  # type: ignore[misc]
            rec["seconds_update"] = time.perf_counter() - t3
            rec["metrics"] = metrics
            secs["update"] += rec["seconds_update"]
            updates += 1
        if method == "multiturn":
            history.extend(PastAttempt(t, fb) for t, fb in zip(texts, fbs, strict=True))
        if on_step is not None:
            on_step(rec)
        if done:
            break
    return RunResult(
        method=method, problem_id=problem_id, seed=seed, budget=budget, batch=batch,
        solved=first is not None, attempt_index=first, attempts_used=used, n_correct=n_correct,
        steps=steps, updates=updates, seconds=time.perf_counter() - t_run,
        seconds_sample=secs["sample"], seconds_grade=secs["grade"],
        seconds_update=secs["update"], solution=solution,
    )


# --------------------------------------------------------------------- model machinery


class Discoverer:
    """The loaded model, its generator and per-run SDPO state; runs one unit at a time.

    The base model is loaded once. Under LoRA it is wrapped once; each sdpo run re-seeds
    and re-initialises the adapter (B = 0, so the run starts from the base model) and
    builds a fresh optimiser and teacher. Full fine-tuning restores a snapshot instead.
    Baselines sample with the adapter disabled (the plain base model).
    """

    def __init__(self, cfg: DiscoverConfig, model: Any = None, tokenizer: Any = None):
        import torch

        from selfdistill.execution import SandboxConfig
        from selfdistill.generation import make_generator
        from selfdistill.teacher import RepromptConfig

        self.cfg = cfg
        if model is None:
            from selfdistill.models import load_model

            model, tokenizer = load_model(cfg.model.spec, dtype=cfg.model.dtype)
        self.tok = tokenizer
        o = cfg.optim
        if o.method == "lora":
            from peft import LoraConfig, get_peft_model

            model = get_peft_model(model, LoraConfig(
                r=o.lora_r, lora_alpha=o.lora_alpha, lora_dropout=o.lora_dropout,
                target_modules=o.lora_targets, task_type="CAUSAL_LM"))
            self._snapshot = None
        else:
            for p in model.parameters():
                p.requires_grad_(True)
            self._snapshot = {n: p.detach().to("cpu", copy=True)
                              for n, p in model.named_parameters()}
        if o.gradient_checkpointing:
            model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False})
            if hasattr(model, "enable_input_require_grads"):
                model.enable_input_require_grads()
        self.model = model
        get_base = getattr(model, "get_base_model", None)
        self.gen_model = get_base() if callable(get_base) else model
        self.gen = make_generator("hf", model=self.gen_model, tokenizer=tokenizer,
                                  batch_size=cfg.sampling.gen_batch_size, progress=False)
        self.sandbox = SandboxConfig(timeout_s=cfg.timeout_s)
        t = cfg.teacher
        self.reprompt = RepromptConfig(
            use_solution=t.use_solution, use_feedback=t.use_feedback,
            feedback_only_without_solution=t.feedback_only_without_solution,
            dont_reprompt_on_self_success=t.dont_reprompt_on_self_success,
            sibling_choice=t.sibling_choice)  # type: ignore[arg-type]
        window = cfg.multiturn.max_context_tokens
        if window is None:
            window = int(getattr(self.gen_model.config, "max_position_embeddings", 2048))
        self.window = window
        self._torch = torch
        self.credit: Any = None  # a CreditRecorder set by run_units (analysis/credit.py)

    # -- per-run state ---------------------------------------------------------------

    def reset(self, seed: int) -> tuple[Any, Any]:
        """Fresh trainable weights (seeded LoRA init or the snapshot), optimiser and teacher."""
        torch = self._torch
        from selfdistill.teacher import Teacher

        with torch.no_grad():
            if self._snapshot is None:
                from peft.tuners.lora import LoraLayer

                torch.manual_seed(seed)
                for m in self.model.modules():
                    if isinstance(m, LoraLayer):
                        for name in list(m.lora_A.keys()):
                            m.reset_lora_parameters(name, True)
            else:
                for n, p in self.model.named_parameters():
                    p.copy_(self._snapshot[n].to(p.device, p.dtype))
        o = self.cfg.optim
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=o.lr, betas=(o.adam_beta1, o.adam_beta2),
                                weight_decay=o.weight_decay)
        teacher = Teacher(self.model, self.cfg.teacher.kind, self.cfg.teacher.rate)  # type: ignore[arg-type]
        return opt, teacher

    def _params(self, n: int, seed: int) -> Any:
        return self.cfg.sampling.sampling_params(n, seed, self.cfg.sampling.stop)

    def _sampler(self, adapter: bool) -> SampleFn:
        """Sampling with the live adapter (the generator folds it into the weights while
        decoding) or with the adapter disabled."""

        def sample(chat: Chat, n: int, seed: int) -> list[Completion]:
            self.model.eval()
            params = self._params(n, seed)
            if adapter or not hasattr(self.model, "disable_adapter"):  # or full fine-tuning
                return self.gen.generate([chat], params, progress=False)[0]
            with self.model.disable_adapter():
                return self.gen.generate([chat], params, progress=False)[0]

        return sample

    def run(self, method: str, problem: Any, seed: int,
            on_step: Callable[[dict[str, Any]], None] | None = None) -> RunResult:
        """One (method, problem, seed) unit on the real model and sandbox."""
        import functools

        from selfdistill.execution import format_feedback, grade_many
        from selfdistill.multiturn import token_length_fn
        from selfdistill.prompts import build_chat, extract_code
        from selfdistill.sdpo import build_teacher_batch, make_groups, sdpo_step

        cfg = self.cfg
        chat = build_chat(problem)
        code_of = functools.partial(extract_code, entry_point=problem.entry_point)

        def grade(texts: list[str]) -> list[Any]:
            return grade_many([(problem, code_of(t)) for t in texts], config=self.sandbox)

        update = context = None
        if method == "sdpo":
            opt, teacher = self.reset(seed)
            rng = random.Random(seed)
            n_step = itertools.count(1)

            def update(chat_: Chat, comps: list[Completion], verdicts: list[Any],
                       fbs: list[str]) -> dict[str, float]:
                groups = make_groups([problem], [chat_], [comps], [verdicts],
                                     feedback_fn=format_feedback)
                tb = build_teacher_batch(groups, self.tok, self.reprompt,
                                         max_prompt_tokens=cfg.teacher.max_prompt_tokens,
                                         rng=rng)
                if self.credit is not None:  # per-token credit, before the step (credit.py)
                    self.credit.record(self.model, teacher, self.tok, groups, tb,
                                       step=next(n_step), temperature=cfg.loss.temperature,
                                       method=method, seed=seed)
                m = sdpo_step(self.model, teacher, opt, groups, self.tok, cfg.loss,
                              teacher_batch=tb)
                self.model.eval()
                return m.as_dict()
        elif method == "multiturn":
            length_fn = token_length_fn(self.tok)
            limit = self.window - cfg.sampling.max_new_tokens

            def context(history: list[PastAttempt]) -> MultiturnContext:
                return build_multiturn_chat(chat, history, max_prompt_length=limit,
                                            length_fn=length_fn)

        return run_discovery(
            method, chat, budget=cfg.budget, batch=cfg.sampling.batch, seed=seed,
            sample=self._sampler(adapter=method == "sdpo"), grade=grade,
            feedback=format_feedback, update=update, context=context,
            stop_at_success=cfg.stop_at_success, problem_id=problem.id, code_of=code_of,
            on_step=on_step)


# ------------------------------------------------------------------- resumable runner


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _fingerprint(cfg: DiscoverConfig) -> dict[str, Any]:
    """The settings a finished run's result depends on, flattened (checked on resume)."""
    d = asdict(cfg)
    return _flatten({k: d[k] for k in ("budget", "stop_at_success", "timeout_s", "model",
                                        "sampling", "teacher", "loss", "optim", "multiturn")})


def _check_fingerprint(run_dir: Path, cfg: DiscoverConfig) -> None:
    """Refuse to mix runs made with different settings in one directory.

    Keys present on only one side (a field added to a config class since) are ignored.
    """
    from selfdistill.records import write_json_atomic

    path = run_dir / "fingerprint.json"
    fp = _fingerprint(cfg)
    if path.is_file():
        old = json.loads(path.read_text())
        if "digest" in old:  # older layout: nested sections
            old = _flatten({k: v for k, v in old.items() if k != "digest"})
        diff = sorted(k for k in fp.keys() & old.keys()
                      if json.dumps(fp[k], sort_keys=True) != json.dumps(old[k], sort_keys=True))
        if diff:
            raise UserError(f"{run_dir} holds runs made with other settings ({', '.join(diff)}); "
                            "use a new run directory or the same settings.")
    else:
        write_json_atomic(path, fp)


Unit = tuple[str, str, int]  # (method, problem_id, seed)


def run_units(
    cfg: DiscoverConfig,
    problems: Sequence[Any],
    run_dir: str | Path,
    *,
    discoverer_factory: Callable[[], Any] | None = None,
    description: str = "discover",
    on_result: Callable[[RunResult], None] | None = None,
    report_only: bool = False,
) -> list[RunResult]:
    """Run every (method, problem, seed) not yet in RUN/results.jsonl; return all results.

    Finished units are replayed from results.jsonl; an unfinished one restarts from its
    first step (its step log is truncated). The model is loaded only if work remains.
    report_only: run nothing, return the finished units only (a partial report).
    """
    from selfdistill.analysis.credit import CreditRecorder
    from selfdistill.records import JsonlWriter, read_jsonl
    from selfdistill.stages import console, progress_bar

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _check_fingerprint(run_dir, cfg)
    seeds = list(range(cfg.first_seed, cfg.first_seed + cfg.seeds))
    units: list[Unit] = [(m, p.id, s) for p in problems for s in seeds for m in cfg.methods]
    by_id = {p.id: p for p in problems}
    done: dict[Unit, RunResult] = {}
    for row in read_jsonl(run_dir / "results.jsonl"):
        r = RunResult.from_dict(row)
        done[(r.method, r.problem_id, r.seed)] = r
    todo = [u for u in units if u not in done]
    if len(todo) < len(units):
        console.print(f"{description}: {len(units) - len(todo)} of {len(units)} runs already "
                      f"finished in {run_dir} (replayed from results.jsonl)")
    if report_only:
        return [done[u] for u in units if u in done]
    if todo:
        disc = (discoverer_factory or (lambda: Discoverer(cfg)))()
        disc.credit = CreditRecorder(run_dir / "credit.jsonl", cfg.credit, cfg.model.spec)
        writer = JsonlWriter(run_dir / "results.jsonl")
        try:
            with progress_bar() as bar:
                task = bar.add_task(description, total=len(units), info="",
                                    completed=len(units) - len(todo))
                for method, pid, seed in todo:
                    bar.update(task, info=f"{method} {pid} seed {seed}")
                    log_path = run_dir / "runs" / method / slug(pid) / f"seed-{seed}.jsonl"
                    log_path.parent.mkdir(parents=True, exist_ok=True)
                    log_path.unlink(missing_ok=True)  # an unfinished run restarts from step 1
                    with JsonlWriter(log_path) as log:
                        def on_step(rec: dict[str, Any], log: JsonlWriter = log,
                                    label: str = f"{method} {pid} seed {seed}") -> None:
                            log.write(rec)
                            bar.update(task, info=f"{label}: "
                                       f"{rec['attempts_before'] + rec['n']} attempts")

                        r = disc.run(method, by_id[pid], seed, on_step=on_step)
                        log.write({"kind": "done", **r.to_dict()})
                    if r.solution is not None:
                        sol = run_dir / "solutions" / method / slug(pid) / f"seed-{seed}.py"
                        sol.parent.mkdir(parents=True, exist_ok=True)
                        sol.write_text(f"# {pid}, {method}, seed {seed}: accepted at attempt "
                                       f"{r.attempt_index} of budget {r.budget}\n{r.solution}\n")
                    writer.write(r.to_dict())
                    done[(method, pid, seed)] = r
                    if on_result is not None:
                        on_result(r)
                    bar.advance(task)
        finally:
            writer.close()
    return [done[u] for u in units]


# ----------------------------------------------------------------------------- metrics


def default_ks(budget: int, batch: int) -> list[int]:
    """Curve points: powers of two, multiples of the batch (at most ~24) and the budget."""
    ks = {1, budget}
    k = 1
    while k <= budget:
        ks.add(k)
        k *= 2
    step = batch * max(1, math.ceil(budget / batch / 24))
    ks.update(range(step, budget + 1, step))
    return sorted(ks)


def _times(results: Sequence[RunResult]) -> np.ndarray:
    return np.array([np.inf if r.attempt_index is None else float(r.attempt_index)
                     for r in results])


def best_of_k_curve(results: Sequence[RunResult], ks: Sequence[int]) -> np.ndarray:
    """Mean over problems of the unbiased pass@k of each problem's pooled samples (all seeds)."""
    from selfdistill.metrics import pass_at_k_array

    pooled: dict[str, list[int]] = {}
    for r in results:
        n, c = pooled.setdefault(r.problem_id, [0, 0])
        pooled[r.problem_id] = [n + r.attempts_used, c + r.n_correct]
    ns = np.array([v[0] for v in pooled.values()])
    cs = np.array([v[1] for v in pooled.values()])
    out = []
    for k in ks:
        ok = ns >= k
        out.append(float(pass_at_k_array(ns[ok], cs[ok], k).mean()) if ok.all() else math.nan)
    return np.array(out)


def method_curve(method: str, results: Sequence[RunResult], ks: Sequence[int]) -> np.ndarray:
    """discovery@k of one method: unbiased best-of-k estimator, or the fraction of runs."""
    if method == "best_of_k":
        return best_of_k_curve(results, ks)
    t = _times(results)
    return np.array([float(np.mean(t <= k)) for k in ks])


def curve_with_ci(method: str, results: Sequence[RunResult], ks: Sequence[int],
                  conf: float = 0.90, n_boot: int = 2000, seed: int = 0
                  ) -> list[tuple[int, float, float, float]]:
    """(k, mean, lo, hi) with a percentile bootstrap over runs (problem x seed units)."""
    mean = method_curve(method, results, ks)
    rng = np.random.default_rng(seed)
    n = len(results)
    boots = np.empty((n_boot, len(ks)))
    if method == "best_of_k":
        for b in range(n_boot):
            idx = rng.integers(0, n, n)
            boots[b] = best_of_k_curve([results[i] for i in idx], ks)
    else:
        ind = np.stack([_times(results) <= k for k in ks], axis=1).astype(float)  # [n, K]
        boots = ind[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
    alpha = 1 - conf
    lo = np.nanquantile(boots, alpha / 2, axis=0)
    hi = np.nanquantile(boots, 1 - alpha / 2, axis=0)
    return [(int(k), float(m), float(a), float(b)) for k, m, a, b in zip(ks, mean, lo, hi,
                                                                          strict=True)]


def attempts_summary(results: Sequence[RunResult], budget: int, conf: float = 0.90,
                     n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Mean attempts to first success: among solved runs, and censored at the budget."""
    from selfdistill.metrics import bootstrap_ci

    t = _times(results)
    solved = t[np.isfinite(t)]
    cens = np.minimum(t, float(budget))
    out: dict[str, Any] = {"runs": int(t.size), "solved": int(solved.size)}
    out["mean_solved"] = ({"mean": float(solved.mean()),
                           "ci": list(bootstrap_ci(solved, n_boot=n_boot, conf=conf, seed=seed))}
                          if solved.size else None)
    out["mean_censored"] = {"mean": float(cens.mean()),
                            "ci": list(bootstrap_ci(cens, n_boot=n_boot, conf=conf, seed=seed))}
    return out


def summarize_results(results: Sequence[RunResult], methods: Sequence[str], budget: int,
                      batch: int, ks: Sequence[int] | None = None, conf: float = 0.90,
                      n_boot: int = 2000) -> dict[str, Any]:
    """Curves with CIs, attempts to first success, and per-problem speed-ups vs best-of-k."""
    ks = list(ks or default_ks(budget, batch))
    plot_ks = sorted(set(ks) | set(range(1, budget + 1, max(1, budget // 64))) | {budget})
    by_method = {m: [r for r in results if r.method == m] for m in methods}
    by_method = {m: rs for m, rs in by_method.items() if rs}
    out: dict[str, Any] = {"budget": budget, "batch": batch, "ks": ks, "conf": conf,
                           "methods": {}, "problems": {}}
    for m, rs in by_method.items():
        out["methods"][m] = {
            "curve": curve_with_ci(m, rs, ks, conf, n_boot),
            "plot_curve": curve_with_ci(m, rs, plot_ks, conf, min(n_boot, 500)),
            "attempts": attempts_summary(rs, budget, conf, n_boot),
            "wall_seconds_per_attempt": sum(r.seconds for r in rs)
            / max(1, sum(r.attempts_used for r in rs)),
        }
    pids = sorted({r.problem_id for r in results})
    for pid in pids:
        row: dict[str, Any] = {}
        for m, rs in by_method.items():
            mine = [r for r in rs if r.problem_id == pid]
            if not mine:
                continue
            t = _times(mine)
            row[m] = {"solved": int(np.isfinite(t).sum()), "runs": len(mine),
                      "mean_censored": float(np.minimum(t, budget).mean()),
                      "attempt_indices": [r.attempt_index for r in mine]}
        if "best_of_k" in row:
            base = row["best_of_k"]["mean_censored"]
            for m in row:
                if m != "best_of_k":
                    row[m]["speedup_vs_best_of_k"] = base / row[m]["mean_censored"]
        out["problems"][pid] = row
    return out


# ------------------------------------------------------------------------------ report


def _fmt_att(e: dict[str, Any] | None) -> str:
    if not e:
        return "n/a"
    lo, hi = e["ci"]
    return f"{e['mean']:.1f} [{lo:.1f}, {hi:.1f}]"


def write_report(run_dir: str | Path, summary: dict[str, Any], cfg: DiscoverConfig,
                 n_problems: int, title: str) -> Path:
    """RUN/report.md + RUN/discovery_at_k.png + RUN/summary.json from summarize_results."""
    from selfdistill.analysis.credit_view import append_credit_section
    from selfdistill.records import write_json_atomic
    from selfdistill.report import markdown_table, plot_curves_with_ci
    from selfdistill.report_html import write_html_report

    run_dir = Path(run_dir)
    write_json_atomic(run_dir / "summary.json", summary)
    ms = summary["methods"]
    pct = int(round(100 * summary["conf"]))
    plot = plot_curves_with_ci(
        {m: [tuple(p) for p in v["plot_curve"]] for m, v in ms.items()},
        run_dir / "discovery_at_k.png", xlabel="attempts k", ylabel="discovery@k (%)",
        title=f"{n_problems} problem(s) x {cfg.seeds} seed(s), B={cfg.sampling.batch} "
              f"({pct}% bootstrap CI)")
    ks = summary["ks"]
    curve_rows = []
    for k_i, k in enumerate(ks):
        row: list[Any] = [k]
        for v in ms.values():
            _, mean, lo, hi = v["curve"][k_i]
            row.append("n/a" if math.isnan(mean) else
                       f"{100 * mean:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]")
        curve_rows.append(row)
    att_rows = [[m, f"{v['attempts']['solved']}/{v['attempts']['runs']}",
                 _fmt_att(v["attempts"]["mean_solved"]),
                 _fmt_att(v["attempts"]["mean_censored"]),
                 f"{v['wall_seconds_per_attempt']:.2f}"] for m, v in ms.items()]
    prob_rows = []
    others = [m for m in ms if m != "best_of_k"]
    for pid, row in summary["problems"].items():
        cells: list[Any] = [pid]
        for m in ms:
            e = row.get(m)
            cells.append("-" if e is None else
                         f"{e['solved']}/{e['runs']}, {e['mean_censored']:.1f} "
                         f"({', '.join('-' if a is None else str(a) for a in e['attempt_indices'])})")
        if "best_of_k" in row:
            for m in others:
                e = row.get(m)
                both_unsolved = e is not None and e["solved"] == 0 and row["best_of_k"]["solved"] == 0
                cells.append("-" if e is None or both_unsolved else
                             f"{e['speedup_vs_best_of_k']:.2f}x")
        prob_rows.append(cells)
    prob_headers = ["problem", *[f"{m}: solved, mean att. (per seed)" for m in ms]]
    if "best_of_k" in ms:
        prob_headers += [f"{m} speed-up vs best_of_k" for m in others]
    s = cfg.sampling
    text = "\n\n".join([
        f"# {title}",
        f"Model `{cfg.model.spec}`; {n_problems} problem(s); {cfg.seeds} seed(s); budget "
        f"K = {cfg.budget} attempts; batch B = {s.batch}; sampler T = {s.temperature:g}, "
        f"top-k {s.top_k}, top-p {s.top_p:g}, max {s.max_new_tokens} new tokens. SDPO: "
        f"{cfg.optim.method} lr {cfg.optim.lr:g}, teacher {cfg.teacher.kind} "
        f"{cfg.teacher.rate:g}, {cfg.loss.divergence} on top-{cfg.loss.top_k}. "
        f"Multi-turn window: {cfg.multiturn.max_context_tokens or 'model context'} tokens.",
        "## discovery@k",
        f"Fraction of (problem, seed) runs whose first accepted attempt came within k "
        f"attempts; best_of_k: the unbiased pass@k estimator over all of a problem's samples "
        f"(every seed spends the full budget), averaged over problems. {pct}% percentile "
        "bootstrap CIs over runs.",
        markdown_table(["k", *ms], curve_rows),
        f"![discovery@k]({plot.name})",
        "## Attempts to first success",
        "Mean attempt index of the first success among solved runs, and the mean with "
        "unsolved runs counted as the budget (a lower bound on the true mean). best_of_k: "
        "the position of the first accepted sample in each seed's i.i.d. sequence.",
        markdown_table(["method", "solved runs", f"mean attempts, solved [{pct}% CI]",
                        f"mean attempts, censored at K [{pct}% CI]", "wall s / attempt"],
                       att_rows),
        "## Per problem",
        "Per method: solved seeds, mean attempts censored at K, and each seed's attempt "
        "index (- = not solved). Speed-up = best_of_k's censored mean / the method's "
        "(> 1: faster than best-of-k; - where neither solved).",
        markdown_table(prob_headers, prob_rows),
    ])
    path = run_dir / "report.md"
    path.write_text(text + "\n")
    append_credit_section(path)  # links to saved token credit (analysis/credit_view.py)
    write_html_report(path)  # report.html beside it (report_html.py)
    return path


# ----------------------------------------------------------------------------- recipes


def _load_problem(cfg: DiscoverConfig) -> Any:
    from selfdistill.problems.registry import find_problem

    if not cfg.problem:
        raise UserError("no problem given: pass --problem ID (see `selfdistill problems list`).")
    return find_problem(cfg.problem, cfg.source)


def run_discover(cfg: DiscoverConfig, run_dir: str | Path | None = None,
                 *, discoverer_factory: Callable[[], Any] | None = None) -> list[RunResult]:
    """`selfdistill discover`: the configured methods on one problem, every seed; resumable."""
    from selfdistill.stages import console

    validate(cfg)
    run_dir = Path(run_dir or cfg.run_dir)
    problem = _load_problem(cfg)
    write_run_config(run_dir, cfg, "discover")

    def say(r: RunResult) -> None:
        console.print(_result_line(r))

    results = run_units(cfg, [problem], run_dir, discoverer_factory=discoverer_factory,
                        description=f"discover {problem.id}", on_result=say)
    summary = summarize_results(results, cfg.methods, cfg.budget, cfg.sampling.batch,
                                cfg.report.ks, cfg.report.conf, cfg.report.n_boot)
    write_report(run_dir, summary, cfg, 1, f"Discovery on {problem.id}")
    return results


def _result_line(r: RunResult) -> str:
    if r.solved:
        return (f"{r.method} seed {r.seed}: SOLVED {r.problem_id} at attempt {r.attempt_index} "
                f"of {r.budget} (step {math.ceil(r.attempt_index / r.batch)}, "
                f"{r.updates} SDPO updates, {r.seconds:.0f}s)")
    return (f"{r.method} seed {r.seed}: budget spent on {r.problem_id}: no accepted attempt "
            f"in {r.attempts_used} attempts ({r.updates} SDPO updates, {r.seconds:.0f}s)")


def run_discover_bench(cfg: DiscoverConfig, run_dir: str | Path | None = None,
                       *, discoverer_factory: Callable[[], Any] | None = None,
                       report_only: bool = False) -> tuple[Path, dict[str, Any]]:
    """`selfdistill discover-bench`: all methods x problems x seeds; report + plot; resumable.

    report_only: no sampling; the report covers the runs already finished (partial).
    """
    from selfdistill.problems.registry import load_source

    validate(cfg)
    run_dir = Path(run_dir or cfg.run_dir)
    problems = load_source(cfg.problems)
    if cfg.limit:
        problems = problems[: cfg.limit]
    if not problems:
        raise UserError(f"no problems in {cfg.problems!r}.")
    if not report_only:
        write_run_config(run_dir, cfg, "discover")
    results = run_units(cfg, problems, run_dir, discoverer_factory=discoverer_factory,
                        description="discover-bench", report_only=report_only)
    if not results:
        raise UserError(f"no finished runs in {run_dir} to report on.")
    summary = summarize_results(results, cfg.methods, cfg.budget, cfg.sampling.batch,
                                cfg.report.ks, cfg.report.conf, cfg.report.n_boot)
    expected = len(problems) * cfg.seeds * len(cfg.methods)
    title = f"Test-time discovery on {cfg.problems}"
    if len(results) < expected:
        title += f" (partial: {len(results)} of {expected} runs)"
    n_probs = len({r.problem_id for r in results})
    report = write_report(run_dir, summary, cfg, n_probs, title)
    return report, summary
