"""Trainable-model set-up shared by every recipe: one LoRA construction, one unwrap.

- lora_config: the peft LoraConfig every recipe uses. Target modules are filtered to the
  ones the model has (a UserError when none is there), so one target list serves Llama-,
  Qwen- and GPT-style blocks; dropout is the configured value (0 by default everywhere:
  the teacher is the same network, and dropout noise in the student's scores would turn
  into spurious advantages).
- add_lora / load_lora / reset_lora: wrap a base model, reopen a saved adapter, or
  re-initialise the adapter in place (B = 0, so the model equals its base again).
- make_trainable: a model loaded for training (LoRA-wrapped or full) as online recipes use it.
- base_model: the transformers model under DDP / peft wrappers (LoRA layers stay injected),
  which generators drive and chunked scoring calls into.
- merge_for_inference / merged_weights: the adapter merged in for evaluation, or as
  HF-named weights (pushing into vLLM).

Inference-only folding of an adapter into the weights lives in merged_lora.py (the
generation backends import it).
"""

from __future__ import annotations

from typing import Any

from selfdistill.errors import UserError


def lora_targets(model: Any, wanted: list[str]) -> list[str]:
    """The wanted module names the model has (in the given order); UserError if none."""
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    found = [t for t in wanted if t in names]
    if not found:
        raise UserError(f"The model has none of the LoRA target modules {wanted}.")
    return found


def lora_config(model: Any, r: int, alpha: int, targets: list[str], dropout: float = 0.0) -> Any:
    """peft's LoraConfig for a causal LM, with targets filtered to the model's modules."""
    from peft import LoraConfig

    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout,
                      target_modules=lora_targets(model, targets), task_type="CAUSAL_LM")


def add_lora(model: Any, r: int, alpha: int, targets: list[str], dropout: float = 0.0,
             base_spec: str | None = None) -> Any:
    """model wrapped with a fresh trainable LoRA adapter (peft initialises B = 0).

    base_spec: recorded as the adapter's base model, so a saved adapter names a portable
    model spec rather than this machine's cache path.
    """
    from peft import get_peft_model

    wrapped = get_peft_model(model, lora_config(model, r, alpha, targets, dropout))
    if base_spec is not None:
        wrapped.peft_config["default"].base_model_name_or_path = base_spec
    return wrapped


def load_lora(model: Any, adapter_dir: str, trainable: bool = True) -> Any:
    """model wrapped with the adapter saved in adapter_dir."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, adapter_dir, is_trainable=trainable)


def reset_lora(model: Any, seed: int) -> None:
    """Re-initialise every LoRA adapter in place from `seed` (B = 0: the base model again)."""
    import torch
    from peft.tuners.lora import LoraLayer

    with torch.no_grad():
        torch.manual_seed(seed)
        for m in model.modules():
            if isinstance(m, LoraLayer):
                for name in list(m.lora_A.keys()):
                    m.reset_lora_parameters(name, True)


def make_trainable(model: Any, optim: Any, adapter_dir: str | None = None) -> Any:
    """The model as an online recipe trains it, from OptimConfig-like settings.

    lora: a fresh adapter (or the one in adapter_dir, when resuming); full: every parameter
    trainable. gradient_checkpointing is switched on when asked.
    """
    if optim.method == "lora":
        if adapter_dir is not None:
            model = load_lora(model, adapter_dir)
        else:
            model = add_lora(model, optim.lora_r, optim.lora_alpha, optim.lora_targets,
                             optim.lora_dropout)
    if optim.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()
    if optim.method == "full":
        for p in model.parameters():
            p.requires_grad_(True)
    return model


def base_model(model: Any) -> Any:
    """The transformers model under a DDP / peft wrapper (injected LoRA layers stay live)."""
    model = getattr(model, "module", model)  # DDP
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def merge_for_inference(model: Any) -> Any:
    """A peft model with its adapter merged in and unloaded (faster decoding), else the model."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def iter_merged_weights(model: Any, merge: bool = True) -> Any:
    """HF-named weights with the LoRA adapter merged in (merge=False: the base weights
    alone), streamed one tensor at a time."""
    from selfdistill.core.merged_lora import iter_merged_state

    return iter_merged_state(getattr(model, "module", model), merge=merge)  # DDP unwrapped


def merged_weights(model: Any) -> list[tuple[str, Any]]:
    """HF-named weights with the LoRA adapter merged in, as a list (the base weights are not
    touched: peft's merge/unmerge would leave them off by rounding after every refresh)."""
    return list(iter_merged_weights(model))
