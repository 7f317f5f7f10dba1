"""make_generator: one entry point for the "hf" and "vllm" backends."""

from __future__ import annotations

from typing import Any

from selfdistill.generation.base import Generator


def make_generator(backend: str = "hf", model: Any = "smollm2-135m-instruct",
                   tokenizer: Any = None, *, dtype: str = "auto", batch_size: int = 64,
                   progress: bool = True, device: str | None = None,
                   **backend_kwargs: Any) -> Generator:
    """Build a Generator: backend "hf" or "vllm"; model is a spec string or a loaded HF model."""
    if backend == "hf":
        from selfdistill.generation.hf import HFGenerator

        if isinstance(model, str):
            from selfdistill.core.models import load_model

            model, loaded_tok = load_model(model, dtype=dtype, device=device)
            tokenizer = tokenizer or loaded_tok
        if tokenizer is None:
            raise ValueError("make_generator('hf', model=<loaded model>) also needs tokenizer=")
        return HFGenerator(model, tokenizer, batch_size=batch_size, progress=progress,
                           **backend_kwargs)
    if backend == "vllm":
        from selfdistill.generation.vllm_backend import VLLMGenerator

        if isinstance(model, str):
            return VLLMGenerator(model, dtype=dtype, progress=progress, **backend_kwargs)
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
    raise ValueError(f"unknown generation backend '{backend}'; use 'hf' or 'vllm'")
