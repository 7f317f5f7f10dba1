"""Typed configs: dataclasses loaded from YAML recipe files plus dotted key=value overrides.

Every recipe has one top-level dataclass (registered in RECIPES). Unknown keys and values
of the wrong type are UserErrors naming the valid keys, so a typo never silently falls
back to a default.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import re
import types
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from selfdistill.core.models import DEFAULT_MODEL
from selfdistill.errors import UserError

# Every attention and MLP projection of Llama/Qwen-style blocks (the LoRA default).
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class OptimConfig:
    """What an online recipe trains (LoRA adapter or full model) and its AdamW settings."""

    method: str = "lora"  # lora | full
    lr: float = 1e-6
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_targets: list[str] = field(default_factory=lambda: list(LORA_TARGETS))
    gradient_checkpointing: bool = False  # activation checkpointing (also under FSDP)
    # Forward/backward dtype: float32, or bfloat16 with fp32 master weights, fp32 AdamW
    # state and fp32 gradient reduction (training/fsdp.py; needs model.dtype float32).
    compute_dtype: str = "float32"


@dataclass
class ModelConfig:
    """Which model to load and how.

    chat_template_kwargs: extra arguments of the tokenizer's chat template wherever a chat
    is rendered (generation.chat.set_chat_template_kwargs), e.g. {enable_thinking: false}
    for Qwen3's non-thinking mode.
    """

    spec: str = DEFAULT_MODEL
    # auto: bfloat16 where the machine runs it natively and the checkpoint is stored in bf16,
    # else float32; training under auto keeps fp32 master weights (core.models.resolve_dtype,
    # training_dtype).
    dtype: str = "auto"
    # Sampling/evaluation dtype (training keeps `dtype`): unset = dtype, auto = bfloat16
    # where the machine computes it natively (core.models.inference_dtype).
    infer_dtype: str | None = None
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)


RECIPES: dict[str, type] = {}  # filled by each recipe's config.py (register_recipe)


def register_recipe(name: str, cls: type) -> None:
    """Let a recipe's config module add its config class (evaluate, ssd, sdpo, discover)."""
    RECIPES[name] = cls


# ---------------------------------------------------------------- typing helpers


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check/convert a YAML value to the annotated type, or raise UserError."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except UserError as e:
                errors.append(str(e))
        raise UserError(f"{key}: expected {_type_name(tp)}, got {value!r}.")
    if origin is list:
        (inner,) = typing.get_args(tp) or (Any,)
        if isinstance(value, str):  # CLI form: a,b,c
            value = [yaml.safe_load(v) for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            value = [value]
        return [_coerce(v, inner, key) for v in value]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise UserError(f"{key}: expected a mapping, got {value!r}.")
        return _build(tp, value, prefix=key + ".")
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise UserError(f"{key}: expected true/false, got {value!r}.")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise UserError(f"{key}: expected an integer, got {value!r}.")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "3e-5" (no dot) as text
            try:
                return float(value)
            except ValueError:
                pass
        raise UserError(f"{key}: expected a number, got {value!r}.")
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise UserError(f"{key}: expected a string, got {value!r}.")
    return value


def _renamed(cls: type, key: str, prefix: str) -> str:
    """The current name of a config key a class has renamed (warns once per use), else key.

    A config class lists its renamed keys as RENAMED = {old: new}; old names are read for
    one release so that existing recipe files keep working.
    """
    new = getattr(cls, "RENAMED", {}).get(key)
    if new is None:
        return key
    warnings.warn(f"config key '{prefix}{key}' is now '{prefix}{new}'; the old name will stop "
                  "working in the next release.", FutureWarning, stacklevel=3)
    return new


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    types_ = _field_types(cls)
    old = getattr(cls, "RENAMED", {})
    if any(k in old for k in data):  # a value under the current name wins (e.g. an override)
        data = {**{_renamed(cls, k, prefix): v for k, v in data.items() if k in old},
                **{k: v for k, v in data.items() if k not in old}}
    unknown = sorted(set(data) - set(types_))
    if unknown:
        raise UserError(
            f"Unknown config key '{prefix}{unknown[0]}'; valid keys here: "
            f"{', '.join(prefix + k for k in types_)}."
        )
    kwargs = {k: _coerce(v, types_[k], prefix + k) for k, v in data.items()}
    return cls(**kwargs)


def _set_dotted(tree: dict[str, Any], cls: type, dotted: str, raw: str) -> None:
    """Apply one key=value override to a raw dict tree, validating the path against cls."""
    parts = dotted.split(".")
    node, cur_cls = tree, cls
    for i, part in enumerate(parts):
        types_ = _field_types(cur_cls)
        where = ".".join(parts[:i])
        part = _renamed(cur_cls, part, where + "." if where else "")
        if part not in types_:
            valid = ", ".join((where + "." if where else "") + k for k in types_)
            raise UserError(f"Unknown config key '{dotted}'; valid keys here: {valid}.")
        tp = types_[part]
        if i == len(parts) - 1:
            node[part] = yaml.safe_load(raw) if raw != "" else ""
            if tp is str or (typing.get_origin(tp) in (Union, types.UnionType)
                             and str in typing.get_args(tp)):
                parsed = node[part]
                # keep strings literally (e.g. "1e-5" stays text only if the field is str)
                if not isinstance(parsed, (str, type(None))):
                    node[part] = raw
            return
        if not dataclasses.is_dataclass(tp):
            raise UserError(f"'{'.'.join(parts[:i + 1])}' is a value, not a section.")
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UserError(f"'{'.'.join(parts[:i + 1])}' must be a mapping.")
        cur_cls = tp


def parse_override(text: str) -> tuple[str, str]:
    """Split 'a.b=value' into ('a.b', 'value'); reject anything else."""
    if "=" not in text:
        raise UserError(f"Override '{text}' must look like key=value (e.g. train.lr=1e-5).")
    key, value = text.split("=", 1)
    key = key.strip()
    if not key:
        raise UserError(f"Override '{text}' has an empty key.")
    return key, value.strip()


def recipe_names() -> list[str]:
    """The recipes a file can name: every recipes/<method>/ with a config.py, and the registered."""
    spec = importlib.util.find_spec("selfdistill.recipes")  # located, not imported (a layer up)
    found = {d.name for loc in (spec.submodule_search_locations if spec else [])
             for d in Path(loc).iterdir() if (d / "config.py").is_file()}
    return sorted(found | set(RECIPES))


def _import_recipe(name: str | None) -> None:
    """A recipe's config module registers its config class on import; import the one named."""
    if not name or name in RECIPES or not str(name).isidentifier():
        return
    module = f"selfdistill.recipes.{name}.config"
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as e:
        if not module.startswith(str(e.name)):  # a dependency missing inside the recipe: a bug
            raise


def load_config(path: str | Path | None, overrides: list[str] | None = None,
                recipe: str | None = None) -> tuple[str, Any]:
    """Load a recipe YAML (its `recipe:` key names the config class) and apply overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise UserError(f"Recipe file not found: {path}")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
            what = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise UserError(f"{where}: not valid YAML ({what})") from None
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"cannot read {path}: {e}") from None
        if not isinstance(data, dict):
            raise UserError(f"{path} must hold a mapping at the top level.")
    name = data.pop("recipe", None) or recipe
    _import_recipe(name)
    if recipe is not None and name != recipe:
        raise UserError(f"{path} is a '{name}' recipe, but this command runs '{recipe}'.")
    if name not in RECIPES:
        raise UserError(f"Recipe '{name}' is unknown; a recipe file starts with `recipe: NAME`, "
                        f"NAME one of {', '.join(recipe_names())}.")
    cls = RECIPES[name]
    overridden = set()
    for ov in overrides or []:
        key, value = parse_override(ov)
        _set_dotted(data, cls, key, value)
        overridden.add(key)
    try:
        return name, _build(cls, data)
    except UserError as e:
        key = str(e).split(":", 1)[0].strip()
        quoted = re.search(r"key '([\w.-]+)'", str(e))
        key = quoted.group(1) if quoted else key
        if path is None or key in overridden:
            raise
        lines = Path(path).read_text().splitlines()
        keys = _dotted_keys(lines)
        line = keys.index(key) + 1 if key in keys else None
        raise UserError(f"{path}{f':{line}' if line else ''}: {e}") from None


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain dict of a config (for YAML dumps and run directories)."""
    return dataclasses.asdict(cfg)


def dump_yaml(cfg: Any, recipe: str | None = None,
              comments: dict[str, str] | None = None) -> str:
    """The resolved config as YAML, with its recipe name first; comments (dotted key ->
    text, e.g. yaml_comments of the recipe file) are appended to their keys' lines."""
    d = to_dict(cfg)
    if recipe:
        d = {"recipe": recipe, **d}
    text = yaml.safe_dump(d, sort_keys=False)
    if not comments:
        return text
    out = []
    for line, key in zip(text.splitlines(), _dotted_keys(text.splitlines()), strict=True):
        out.append(f"{line}  # {comments[key]}" if key in comments else line)
    return "\n".join(out) + "\n"


def _dotted_keys(lines: list[str]) -> list[str | None]:
    """The dotted key each YAML line defines (None for list items, blanks, comments)."""
    stack: list[tuple[int, str]] = []
    keys: list[str | None] = []
    for line in lines:
        body = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
        m = re.match(r"^(\s*)([A-Za-z_][\w.-]*):(\s|$)", body)
        if not m:
            keys.append(None)
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, m.group(2)))
        keys.append(".".join(k for _, k in stack))
    return keys


def yaml_comments(path: str | Path) -> dict[str, str]:
    """End-of-line comments of a YAML recipe file by dotted key (e.g. loss.is_clip)."""
    lines = Path(path).read_text().splitlines()
    out = {}
    for line, key in zip(lines, _dotted_keys(lines), strict=True):
        if key is not None and " #" in line:
            out[key] = line.split(" #", 1)[1].strip().lstrip("#").strip()
    return out


def load_run_config(name: str, recipe: str | None, overrides: list[str] | None
                    ) -> tuple[Any, Path]:
    """A command's config: the recipe file (optional; a lone key=value is an override) plus
    overrides, recorded as RUN/config.yaml; returns (config, run directory)."""
    overrides = list(overrides or [])
    if recipe and "=" in recipe and not Path(recipe).exists():
        recipe, overrides = None, [recipe, *overrides]  # no recipe file, only overrides
    _, cfg = load_config(recipe, overrides, recipe=name)
    run_dir = Path(cfg.run_dir)
    write_run_config(run_dir, cfg, name)
    return cfg, run_dir


CONFIG_STAMP = ".config.sha256"  # the hash of the config.yaml the run itself wrote


def check_run_config(run_dir: str | Path) -> None:
    """UserError when RUN/config.yaml is not the file the run wrote (edited by hand): the
    records were made with the config it replaced, so resuming or analysing would mix them."""
    import hashlib

    path, stamp = Path(run_dir) / "config.yaml", Path(run_dir) / CONFIG_STAMP
    if not (path.is_file() and stamp.is_file()):
        return  # a new run, or one from before the stamp: nothing to compare
    if hashlib.sha256(path.read_bytes()).hexdigest() != stamp.read_text().strip():
        raise UserError(f"{path} was edited after the run wrote it, so it no longer describes "
                        "the run's records: restore it, or start a new run_dir.")


def write_run_config(run_dir: str | Path, cfg: Any, recipe: str) -> Path:
    """Write config.yaml into a run directory (the record of what was run), with its stamp."""
    import hashlib

    from selfdistill.core.records import write_text_atomic

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    check_run_config(run_dir)
    path = run_dir / "config.yaml"
    text = dump_yaml(cfg, recipe)
    write_text_atomic(path, text)
    write_text_atomic(run_dir / CONFIG_STAMP, hashlib.sha256(text.encode()).hexdigest() + "\n")
    return path
