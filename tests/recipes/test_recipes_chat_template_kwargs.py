"""model.chat_template_kwargs reaches the tokenizer every recipe samples with (ssd, evaluate, discover)."""

from __future__ import annotations

from typing import Any

import pytest

import selfdistill.generation.factory as factory
import selfdistill.generation.hf as hf
from selfdistill.core.config import ModelConfig
from selfdistill.evaluation.config import EvalConfig
from selfdistill.generation.chat import chat_template_kwargs, render_chat
from selfdistill.recipes.evaluate.run import run_evaluate
from selfdistill.recipes.ssd.config import SSDConfig

KW = {"enable_thinking": False}


class _Tok:
    chat_template = "x"

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def apply_chat_template(self, chat: Any, **kw: Any) -> str:
        self.calls.append(kw)
        return "rendered"


class _Stop(Exception):
    pass


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The generator factory loads a fake tokenizer; the HF backend stops the recipe and keeps it."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr(factory, "load_model", lambda *a, **k: (object(), _Tok()))

    def hf_generator(model: Any, tok: Any, *a: Any, **k: Any) -> Any:
        seen["tok"] = tok
        raise _Stop

    monkeypatch.setattr(hf, "HFGenerator", hf_generator)
    return seen


def test_ssd_sample_renders_with_the_model_sections_arguments(captured, tmp_path):
    from selfdistill.recipes.ssd.run import run_sample

    cfg = SSDConfig(model=ModelConfig(chat_template_kwargs=KW))
    with pytest.raises(_Stop):
        run_sample(cfg, tmp_path)
    tok = captured["tok"]
    assert chat_template_kwargs(tok) == KW
    render_chat(tok, [{"role": "user", "content": "hi"}])
    assert tok.calls[-1]["enable_thinking"] is False


def test_evaluate_renders_with_its_arguments(captured, tmp_path):
    cfg = EvalConfig(benchmark="builtin:dev", limit=1)
    with pytest.raises(_Stop):
        run_evaluate("any", cfg, tmp_path, chat_template_kwargs=KW)
    assert chat_template_kwargs(captured["tok"]) == KW


def test_without_arguments_nothing_extra_is_passed(captured, tmp_path):
    with pytest.raises(_Stop):
        run_evaluate("any", EvalConfig(benchmark="builtin:dev", limit=1), tmp_path)
    tok = captured["tok"]
    render_chat(tok, [{"role": "user", "content": "hi"}])
    assert "enable_thinking" not in tok.calls[-1]
