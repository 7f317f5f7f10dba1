"""The assistant's model: base model + the profile's LoRA adapter, and adapter tensor I/O."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selfdistill.assist.config import SessionConfig
from selfdistill.assist.profile import Profile
from selfdistill.core.lora import add_lora, load_lora
from selfdistill.core.models import DEFAULT_MODEL, load_model
from selfdistill.errors import UserError


def adapter_state(model: Any) -> dict[str, Any]:
    """The adapter's tensors (peft's saved-state naming), cloned."""
    from peft import get_peft_model_state_dict

    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}


def load_adapter_weights(model: Any, adapter_dir: Path) -> None:
    """Overwrite the live adapter with the tensors saved in adapter_dir (bit-exact)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    sd = load_file(str(adapter_dir / "adapter_model.safetensors"))
    result = set_peft_model_state_dict(model, sd)
    unexpected = getattr(result, "unexpected_keys", None)
    if unexpected:
        raise RuntimeError(f"adapter {adapter_dir} does not fit the model: {unexpected[:3]}")


def open_profile_model(profile: Profile, model_spec: str | None, cfg: SessionConfig
                       ) -> tuple[Any, Any, str]:
    """Load base model + the profile's live adapter (creating the profile if new)."""
    import torch

    if profile.exists():
        meta = profile.meta()
        spec = meta["model"]
        if model_spec is not None and _norm_spec(model_spec) != spec:
            raise UserError(f"Profile '{profile.name}' was created with model '{spec}', not "
                            f"'{model_spec}'; drop --model or use another --profile.")
        profile.recover()
        base, tok = load_model(spec)
        model = load_lora(base, str(profile.current_dir()))
    else:
        spec = _norm_spec(model_spec or DEFAULT_MODEL)
        base, tok = load_model(spec)
        torch.manual_seed(cfg.seed)
        lora = cfg.lora
        model = add_lora(base, lora.lora_r, lora.lora_alpha, lora.lora_targets, base_spec=spec)
        profile.create(spec, lora, lambda d: model.save_pretrained(str(d)))
    model.eval()
    return model, tok, spec


def _norm_spec(spec: str) -> str:
    p = Path(spec).expanduser()
    return str(p.resolve()) if p.exists() else spec
