"""Chat-template arguments from the model config reach every rendering of a chat."""

from __future__ import annotations

import copy
from pathlib import Path

from transformers import AutoTokenizer

from selfdistill.core.config import load_config
from selfdistill.distill.objective import SDPOLossConfig, prepare_samples
from selfdistill.generation.chat import (
    chat_template_kwargs,
    chat_token_ids,
    render_chat,
    set_chat_template_kwargs,
)
from selfdistill.rollouts import Group, Rollout

TEMPLATE = ("{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
            "{% if enable_thinking is defined and not enable_thinking %}<no-think>{% endif %}"
            "<assistant>")
CHAT = [{"role": "user", "content": "hi"}]


def _tok(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.chat_template = TEMPLATE
    return tok


def test_kwargs_reach_the_template_and_the_token_ids(tiny_model_dir):
    tok = _tok(tiny_model_dir)
    plain = chat_token_ids(tok, CHAT)
    assert render_chat(tok, CHAT) == "<user>hi<assistant>" and chat_template_kwargs(tok) == {}
    set_chat_template_kwargs(tok, {"enable_thinking": False})
    assert render_chat(tok, CHAT) == "<user>hi<no-think><assistant>"
    assert chat_token_ids(tok, CHAT) != plain
    set_chat_template_kwargs(tok, {"enable_thinking": True})
    assert chat_token_ids(tok, CHAT) == plain


def test_teacher_prompts_are_rendered_with_the_same_kwargs(tiny_model_dir):
    tok = set_chat_template_kwargs(_tok(tiny_model_dir), {"enable_thinking": False})
    r = Rollout(prompt_ids=chat_token_ids(tok, CHAT), completion_ids=[5, 6], text="x",
                reward=0.0, passed=False)
    (s,) = prepare_samples([Group(CHAT, [r])], tok, SDPOLossConfig(), [CHAT])
    assert s.teacher_ids == chat_token_ids(tok, CHAT) == r.prompt_ids
    assert "<no-think>" in tok.decode(s.teacher_ids)
    assert chat_template_kwargs(copy.deepcopy(tok)) == {"enable_thinking": False}


def test_qwen3_recipes_set_non_thinking_mode():
    for name in ("sdpo_qwen3_8b_lcb_v6", "sdpo_qwen3_8b_lcb_v6_grpo", "sdpo_qwen3_8b_lcb_v6_lora"):
        _, cfg = load_config(Path(__file__).parents[2] / "recipes" / f"{name}.yaml")
        assert cfg.model.chat_template_kwargs == {"enable_thinking": False}, name
