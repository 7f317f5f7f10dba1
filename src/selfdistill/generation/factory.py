"""make_generator: the one way to build a Generator, for the "hf" and "vllm" backends."""

from __future__ import annotations

from typing import Any

from selfdistill.core.lora import merge_for_inference
from selfdistill.core.models import load_model, resolve_dtype
from selfdistill.generation.base import Generator
from selfdistill.generation.chat import set_chat_template_kwargs


def make_generator(backend: str = "hf", model: Any = "smollm2-135m-instruct",
                   tokenizer: Any = None, *, dtype: str = "auto", batch_size: int = 64,
                   progress: bool = True, device: str | None = None,
                   chat_template_kwargs: dict[str, Any] | None = None,
                   merge_lora: bool = False, load_with_hf: bool = False,
                   **backend_kwargs: Any) -> Generator:
    """Build a Generator: backend "hf" or "vllm"; model is a spec string or a loaded HF model.

    A spec is loaded with transformers for "hf" (and for "vllm" with load_with_hf: adapter
    directories, .gguf files; the engine then gets the loaded weights). merge_lora folds a
    loaded LoRA adapter into the weights first (inference only: faster decoding).
    chat_template_kwargs, when given, go to the generator's tokenizer (generation.chat).
    """
    if isinstance(model, str) and (backend == "hf" or load_with_hf):
        model, loaded_tok = load_model(model, dtype=dtype, device=device)
        tokenizer = tokenizer or loaded_tok
    if merge_lora and not isinstance(model, str):
        model = merge_for_inference(model)
    if tokenizer is not None and chat_template_kwargs is not None:
        set_chat_template_kwargs(tokenizer, chat_template_kwargs)
    if backend == "hf":
        from selfdistill.generation.hf import HFGenerator  # torch: only when a model is built

        if tokenizer is None:
            raise ValueError("make_generator('hf', model=<loaded model>) also needs tokenizer=")
        return HFGenerator(model, tokenizer, batch_size=batch_size, progress=progress,
                           **backend_kwargs)
    if backend == "vllm":
        gen = _vllm(model, dtype, progress, backend_kwargs)
        if chat_template_kwargs is not None:
            set_chat_template_kwargs(gen.tokenizer, chat_template_kwargs)
        return gen
    raise ValueError(f"unknown generation backend '{backend}'; use 'hf' or 'vllm'")


def _vllm(model: Any, dtype: str, progress: bool, backend_kwargs: dict[str, Any]) -> Any:
    """A vLLM engine from a spec, or from a loaded model's checkpoint with its weights pushed in."""
    from selfdistill.generation.vllm_backend import VLLMGenerator  # vllm: only when used

    if isinstance(model, str):  # our auto, not vLLM's (which would run an fp32 checkpoint in 16 bits)
        return VLLMGenerator(model, dtype=resolve_dtype(dtype, model), progress=progress,
                             **backend_kwargs)
    # A loaded HF model (maybe with a LoRA adapter, maybe trained in memory): an engine
    # over its checkpoint in its dtype, then its current weights pushed in.
    spec = getattr(getattr(model, "config", None), "_name_or_path", None)
    if not spec:
        raise ValueError("the vllm backend needs a model spec, or a loaded model that "
                         "knows its checkpoint (config._name_or_path)")
    gen = VLLMGenerator(spec, dtype=str(model.dtype).removeprefix("torch."),
                        progress=progress, **backend_kwargs)
    gen.refresh_weights(model)
    return gen
