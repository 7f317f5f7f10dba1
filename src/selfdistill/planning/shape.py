"""A model's shape for memory planning, from its config.json on the meta device (no weights).

Parameter counts per decoder layer, outside the layers, and of a LoRA adapter come from the
real module tree that transformers builds from the config; a hub id fetches config.json only.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfdistill.errors import UserError

# ------------------------------------------------------------------------ model shape


@dataclass(frozen=True)
class ModelShape:
    """What the planner needs of a model, read from its config on the meta device."""

    name: str
    n_params: int  # all parameters (tied embeddings counted once)
    layer_params: int  # one decoder layer's parameters (the largest)
    root_params: int  # parameters outside the decoder layers (embeddings, final norm, head)
    n_layers: int
    hidden: int
    intermediate: int
    q_dim: int  # num_attention_heads * head_dim
    kv_dim: int  # num_key_value_heads * head_dim
    vocab: int
    lora_params: int = 0  # trainable LoRA parameters at the recipe's r and targets
    lora_base_params: int = 0  # weights of the Linear layers LoRA targets (merged copies)

    def with_lora(self, lora_params: int, lora_base_params: int = 0) -> ModelShape:
        """The same shape with other LoRA parameter counts."""
        return dataclasses.replace(self, lora_params=lora_params,
                                   lora_base_params=lora_base_params)


def _config_path(spec: str, config: str | None) -> tuple[str, str]:
    """(config.json path or hub id, display name) of a model spec (no weights touched)."""
    if config:
        p = Path(config).expanduser()
        if p.is_dir():
            p = p / "config.json"
        if not p.is_file():
            raise UserError(f"Model config not found: {config}")
        return str(p), f"{spec} (config {config})"
    from selfdistill.core.models import EMBEDDED, _cached_dir, _is_complete, resolve_spec

    if spec in EMBEDDED and _is_complete(_cached_dir(spec)):
        return str(_cached_dir(spec) / "config.json"), spec
    try:  # alias (fetched once), local dir, hub id (checked reachable)
        path, kw = resolve_spec(spec)
    except UserError as e:
        raise UserError(f"{e} Or pass --model-config PATH/config.json.") from e
    if "gguf_file" in kw:
        raise UserError("plan reads a model's config.json: pass the model directory or hub id, "
                        "or --model-config PATH, not a .gguf file.")
    local = Path(path) / "config.json"
    return (str(local) if local.is_file() else path), spec


def load_model_config(spec: str, config: str | None = None) -> Any:
    """The transformers config of a spec: a local config.json, or config.json alone from the hub."""
    from transformers import AutoConfig

    where, _ = _config_path(spec, config)
    try:
        if where.endswith(".json"):
            data = json.loads(Path(where).read_text())
            model_type = data.pop("model_type", None)
            if model_type is None:
                raise UserError(f"{where} has no model_type: not a transformers config.json.")
            return AutoConfig.for_model(model_type, **data)
        return AutoConfig.from_pretrained(where)  # hub id: fetches config.json only
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - one sentence for any loader failure
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"Could not read the config of '{spec}': {msg[:200]} (pass "
                        "--model-config PATH/config.json).") from e


def model_shape(spec: str, *, config: str | None = None, lora_r: int = 16,
                lora_targets: list[str] | None = None) -> ModelShape:
    """Parameter counts and dimensions of a model, built on the meta device from its config."""
    import torch
    from transformers import AutoModelForCausalLM

    cfg = load_model_config(spec, config)
    with torch.device("meta"):
        try:
            model = AutoModelForCausalLM.from_config(cfg)
        except Exception as e:  # noqa: BLE001
            raise UserError(f"transformers cannot build '{spec}' from its config: "
                            f"{str(e).splitlines()[0][:200]}") from e
    n_params = sum(p.numel() for p in model.parameters())  # tied weights appear once
    layers = _decoder_layers(model)
    per_layer = [sum(p.numel() for p in layer.parameters()) for layer in layers]
    text = getattr(cfg, "text_config", None) or cfg
    hidden = int(text.hidden_size)
    heads = int(text.num_attention_heads)
    head_dim = int(getattr(text, "head_dim", None) or hidden // heads)
    kv_heads = int(getattr(text, "num_key_value_heads", None) or heads)
    inter = int(getattr(text, "intermediate_size", None) or 4 * hidden)
    shape = ModelShape(
        name=_config_path(spec, config)[1], n_params=n_params,
        layer_params=max(per_layer, default=0), root_params=n_params - sum(per_layer),
        n_layers=len(layers), hidden=hidden, intermediate=inter, q_dim=heads * head_dim,
        kv_dim=kv_heads * head_dim, vocab=int(text.vocab_size))
    return shape.with_lora(lora_param_count(model, lora_r, lora_targets),
                           lora_param_count(model, 0, lora_targets, base=True))


def _decoder_layers(model: Any) -> list[Any]:
    """The decoder's layer list (model.model.layers for Llama/Qwen/Mistral-style models)."""
    import torch

    best: list[Any] = []
    for _, m in model.named_modules():
        if isinstance(m, torch.nn.ModuleList) and len(m) > len(best):
            best = list(m)
    return best


def lora_param_count(model: Any, r: int, targets: list[str] | None, base: bool = False) -> int:
    """Parameters of a LoRA adapter of rank r on the targeted Linear layers: r * (in + out)
    each (base=True: the targeted layers' own in * out weights)."""
    import torch

    from selfdistill.core.config import LORA_TARGETS

    wanted = set(targets or LORA_TARGETS)
    return sum((m.in_features * m.out_features) if base else r * (m.in_features + m.out_features)
               for name, m in model.named_modules()
               if isinstance(m, torch.nn.Linear) and name.rsplit(".", 1)[-1] in wanted)
