"""Assistant prefill: a chat ending with a partial assistant turn is continued, not answered anew."""

from __future__ import annotations

from typing import Any

import pytest
from tiny import CharTokenizer
from tiny import char_llama as tiny_llama
from transformers import AutoTokenizer

from selfdistill.generation import HFGenerator, SamplingParams
from selfdistill.generation.chat import chat_token_ids, is_prefill, render_chat

TEMPLATE = ("{% for m in messages %}<{{ m.role }}>{{ m.content }}<end>{% endfor %}"
            "{% if add_generation_prompt %}<assistant>{% endif %}")
USER = {"role": "user", "content": "hi"}


class TemplatedChars(CharTokenizer):
    """CharTokenizer with a tiny chat template: ids map one-to-one to characters, so a
    prefill re-tokenizes exactly as the tokens the model generated."""

    chat_template = "roles in angle brackets"

    def apply_chat_template(self, chat: list[dict[str, str]], add_generation_prompt: bool,
                            tokenize: bool = False, **_: Any) -> str:
        """'<role>content<end>' per message, then '<assistant>' for a generation prompt."""
        text = "".join(f"<{m['role']}>{m['content']}<end>" for m in chat)
        return text + ("<assistant>" if add_generation_prompt else "")


def test_prefill_renders_the_partial_turn_open(tiny_model_dir) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.chat_template = TEMPLATE
    chat = [USER, {"role": "assistant", "content": "Sure:\n```python\n"}]
    assert is_prefill(chat) and not is_prefill([USER])
    assert render_chat(tok, [USER]) == "<user>hi<end><assistant>"
    # the turn is left open right after its content: no <end>, no new generation prompt
    assert render_chat(tok, chat) == "<user>hi<end><assistant>Sure:\n```python\n"
    ids = chat_token_ids(tok, chat)
    assert tok.decode(ids) == render_chat(tok, chat)


def test_prefill_without_a_chat_template() -> None:
    tok = CharTokenizer()
    assert render_chat(tok, [USER]) == "user: hi\nassistant:"
    assert render_chat(tok, [USER, {"role": "assistant", "content": "ok so"}]) == \
        "user: hi\nassistant: ok so"


def test_template_that_drops_the_assistant_text_fails_clearly(tiny_model_dir) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.chat_template = "{% for m in messages %}{% if m.role == 'user' %}{{ m.content }}{% endif %}{% endfor %}"
    with pytest.raises(ValueError, match="cannot be continued"):
        render_chat(tok, [USER, {"role": "assistant", "content": "x"}])


def test_hf_backend_continues_the_prefilled_turn() -> None:
    """Greedy: answering anew gives t1..tn; prefilled with t1..t3's text it gives t4..tn."""
    tok = TemplatedChars(eos_token_id=5)
    gen = HFGenerator(tiny_llama(seed=1), tok, batch_size=4, progress=False)
    greedy = SamplingParams(temperature=0.0, max_new_tokens=12)
    full = gen.generate([[USER]], greedy)[0][0]
    assert len(full.token_ids) >= 6
    head = tok.decode(full.token_ids[:3])
    prefilled = [USER, {"role": "assistant", "content": head}]
    cont = gen.generate([prefilled, [USER]], SamplingParams(temperature=0.0, max_new_tokens=9))
    c = cont[0][0]
    assert c.prompt_token_ids == chat_token_ids(tok, prefilled)
    assert c.prompt_token_ids == full.prompt_token_ids + full.token_ids[:3]
    assert c.token_ids == full.token_ids[3:12]  # only the continuation comes back
    assert c.text == full.text[len(head):len(head) + len(c.text)]
    assert cont[1][0].token_ids == full.token_ids[:9]  # a plain chat beside it is unchanged
