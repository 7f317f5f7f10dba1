"""The real model behind the discovery loop: sampler, grader and SDPO update per run.

The base model is loaded once. Under LoRA it is wrapped once; each sdpo run re-seeds and
re-initialises the adapter (B = 0, so the run starts from the base model) and builds a
fresh optimiser and teacher. Full fine-tuning restores a snapshot instead. Baselines
sample with the adapter disabled (the plain base model).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import random
from collections.abc import Callable
from typing import Any

from selfdistill.generation.base import Chat, Completion
from selfdistill.generation.colocate import EngineSync, model_weights
from selfdistill.recipes.discover.config import DiscoverConfig
from selfdistill.recipes.discover.loop import RunResult, SampleFn, run_discovery
from selfdistill.recipes.discover.multiturn import (
    MultiturnContext,
    PastAttempt,
    build_multiturn_chat,
    token_length_fn,
)
from selfdistill.training.fsdp import compute_dtype_of, gathered


class Discoverer:
    """The loaded model, its generator and per-run SDPO state; runs one unit at a time."""

    def __init__(self, cfg: DiscoverConfig, model: Any = None, tokenizer: Any = None):
        from selfdistill.core.lora import base_model, make_trainable
        from selfdistill.distill.objective import resolve_scoring_temperature
        from selfdistill.execution import SandboxConfig
        from selfdistill.generation import make_generator
        from selfdistill.generation.chat import set_chat_template_kwargs

        # A copy: resolving the scoring temperature must not change the caller's config, whose
        # fingerprint guards the run directory (a resumed run would look like other settings).
        cfg = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss))
        self.cfg = cfg
        resolve_scoring_temperature(cfg.loss, cfg.sampling.temperature)
        if model is None:
            from selfdistill.core.models import load_model, training_dtype

            model, tokenizer = load_model(cfg.model.spec, dtype=training_dtype(cfg.model.dtype))
        # Sampling, multi-turn chats and teacher re-prompts render with these arguments.
        self.tok = set_chat_template_kwargs(tokenizer, cfg.model.chat_template_kwargs)
        from selfdistill.training.fsdp import prepare_model

        # optim.compute_dtype bfloat16: FSDP2 on one process (fp32 masters, bf16 compute).
        self.model = prepare_model(make_trainable(model, cfg.optim), cfg.optim)
        self._snapshot = None if cfg.optim.method == "lora" else {
            n: p.detach().to("cpu", copy=True) for n, p in self.model.named_parameters()}
        self.gen_model = base_model(self.model)
        sm = cfg.sampling
        if sm.backend == "vllm":  # a colocated engine, fed the weights before sampling
            self.gen = make_generator("vllm", model=cfg.model.spec, dtype=cfg.model.dtype,
                                      gpu_memory_utilization=sm.vllm_gpu_memory_utilization,
                                      enable_sleep_mode=sm.vllm_sleep, progress=False)
            set_chat_template_kwargs(self.gen.tokenizer, cfg.model.chat_template_kwargs)
        else:
            self.gen = make_generator("hf", model=self.gen_model, tokenizer=tokenizer,
                                      batch_size=sm.gen_batch_size, progress=False)
        self.sync = EngineSync(self.gen, sleep=sm.vllm_sleep)
        self._version = 0  # bumped whenever the trained weights change
        self.sandbox = SandboxConfig(timeout_s=cfg.timeout_s)
        self.reprompt = cfg.teacher.reprompt()
        window = cfg.multiturn.max_context_tokens
        if window is None:
            window = int(getattr(self.gen_model.config, "max_position_embeddings", 2048))
        self.window = window
        self.credit: Any = None  # a CreditRecorder set by run_units (analysis/credit.py)

    def restore_initial_weights(self, seed: int) -> None:
        """The weights every run starts from: a seeded fresh adapter (B = 0, i.e. the base
        model) under LoRA, the in-memory snapshot of the loaded weights under full FT."""
        import torch

        from selfdistill.core.lora import reset_lora

        self._version += 1
        if self._snapshot is None:
            reset_lora(self.model, seed)
        else:
            with torch.no_grad():
                for n, p in self.model.named_parameters():
                    p.copy_(self._snapshot[n].to(p.device, p.dtype))

    def reset(self, seed: int) -> tuple[Any, Any]:
        """Fresh trainable weights (seeded LoRA init or the snapshot), optimiser and teacher."""
        from selfdistill.core.optim import make_optimizer
        from selfdistill.distill.teacher_weights import Teacher

        self.restore_initial_weights(seed)
        opt = make_optimizer(self.model, self.cfg.optim)
        teacher = Teacher(self.model, self.cfg.teacher.kind, self.cfg.teacher.rate)  # type: ignore[arg-type]
        return opt, teacher

    def _sampler(self, adapter: bool) -> SampleFn:
        """Sampling with the live adapter (the generator folds it into the weights while
        decoding) or with the adapter disabled."""

        def sample(chat: Chat, n: int, seed: int) -> list[Completion]:
            return self._generate([chat], n, seed, adapter)[0]

        return sample

    def _sample_many(self, chats: list[Chat], seed: int) -> list[Completion]:
        """One answer for each chat (multi-turn conversations), adapter disabled."""
        return [c[0] for c in self._generate(chats, 1, seed, adapter=False)]

    def _generate(self, chats: list[Chat], n: int, seed: int, adapter: bool
                  ) -> list[list[Completion]]:
        """n samples per chat with the discovery sampler, with or without the adapter."""
        params = self.cfg.sampling.sampling_params(n, seed, self.cfg.sampling.stop)
        # sharded + HF: the compute copies, gathered once per batch; vLLM refreshed if
        # stale, streamed from the shards one tensor at a time (no whole-model gather)
        with self._gathered_for_sampling(), self._weights_for_sampling(adapter):
            return self.gen.generate(chats, params, progress=False)

    def _gathered_for_sampling(self) -> Any:
        """The whole-model gather the HF backend samples from (vLLM has its own weights)."""
        import contextlib

        return contextlib.nullcontext() if self.sync.engine else gathered(self.model)

    def _weights_for_sampling(self, adapter: bool) -> Any:
        """A context in which the generator samples the live weights (adapter) or the base:
        the engine refreshed if stale (vLLM), or the adapter disabled on the live model (HF)."""
        import contextlib

        self.model.eval()
        live = adapter or not hasattr(self.model, "disable_adapter")  # or full fine-tuning
        if self.sync.engine:
            key = ("live", self._version) if live else ("base", 0)
            self.sync.ready(key, model_weights(self.model, adapter=live))
            return contextlib.nullcontext()
        return contextlib.nullcontext() if live else self.model.disable_adapter()

    def base_generator(self) -> Any:
        """A Generator over the initial weights (adapter disabled), for --select-hard."""
        disc = self

        class _Base:
            def generate(self, chats: list[Chat], params: Any, *, progress: bool | None = None
                         ) -> list[list[Completion]]:
                with disc._gathered_for_sampling(), disc._weights_for_sampling(adapter=False):
                    return disc.gen.generate(chats, params, progress=False)

        return _Base()

    def _update_fn(self, problem: Any, seed: int) -> Callable[..., dict[str, float]]:
        """The sdpo method's update: one SDPO step on the batch just graded (fresh run state)."""
        from selfdistill.distill.step import sdpo_step
        from selfdistill.distill.teacher_context import build_teacher_batch
        from selfdistill.rollouts import make_group

        opt, teacher = self.reset(seed)
        rng = random.Random(seed)
        n_step = itertools.count(1)

        def update(chat: Chat, comps: list[Completion], verdicts: list[Any],
                   fbs: list[str]) -> dict[str, float]:
            groups = [make_group(chat, comps, verdicts, fbs, problem_id=problem.id)]
            tb = build_teacher_batch(groups, self.tok, self.reprompt,
                                     max_prompt_tokens=self.cfg.teacher.max_prompt_tokens,
                                     rng=rng)
            if self.credit is not None:  # per-token credit, before the step (credit.py)
                with gathered(self.model), teacher.gathered(compute_dtype_of(self.model)):
                    self.credit.record(self.model, teacher, self.tok, groups, tb,
                                       step=next(n_step),
                                       temperature=self.cfg.loss.score_temperature,
                                       method="sdpo", seed=seed)
            self.sync.release()  # CUDA + vllm_sleep: the engine's memory goes to the update
            m = sdpo_step(self.model, teacher, opt, groups, self.tok, self.cfg.loss,
                          teacher_batch=tb)
            self._version += 1  # the engine (vLLM) is refreshed before the next sample
            self.model.eval()
            return m.as_dict()

        return update

    def run(self, method: str, problem: Any, seed: int,
            on_step: Callable[[dict[str, Any]], None] | None = None) -> RunResult:
        """One (method, problem, seed) unit on the real model and sandbox."""
        from selfdistill.execution import format_feedback
        from selfdistill.prompts.task import build_chat, extract_code
        from selfdistill.rollouts import grade_answers

        cfg = self.cfg
        chat = build_chat(problem)
        # Every method starts from the initial weights: after a full-fine-tuning sdpo run
        # the baselines would otherwise sample from weights trained on this problem.
        self.restore_initial_weights(seed)
        update = self._update_fn(problem, seed) if method == "sdpo" else None
        context = None
        if method == "multiturn":
            length_fn = token_length_fn(self.tok)
            limit = self.window - cfg.sampling.max_new_tokens

            def context(history: list[PastAttempt]) -> MultiturnContext:
                return build_multiturn_chat(chat, history, max_prompt_length=limit,
                                            length_fn=length_fn)

        return run_discovery(
            method, chat, budget=cfg.budget, batch=cfg.sampling.batch, seed=seed,
            sample=self._sampler(adapter=method == "sdpo"),
            grade=functools.partial(grade_answers, problem, sandbox_config=self.sandbox),
            feedback=format_feedback, update=update, context=context,
            sample_many=self._sample_many,
            stop_at_success=cfg.stop_at_success, problem_id=problem.id,
            code_of=functools.partial(extract_code, entry_point=problem.entry_point),
            on_step=on_step)
