"""Chat templating shared by every backend, so HF and vLLM see identical prompt tokens."""

from __future__ import annotations

from typing import Any

from selfdistill.generation.base import Chat

# The model config's chat-template arguments (e.g. Qwen3's enable_thinking) ride on the
# tokenizer object, so every place that renders a chat with it -- sampling (HF, vLLM),
# teacher re-prompts, evaluation -- passes the same ones.
_KWARGS_ATTR = "_selfdistill_chat_template_kwargs"


def set_chat_template_kwargs(tokenizer: Any, kwargs: dict[str, Any] | None) -> Any:
    """Make render_chat pass kwargs to this tokenizer's chat template from now on; returns it."""
    setattr(tokenizer, _KWARGS_ATTR, dict(kwargs or {}))
    return tokenizer


def chat_template_kwargs(tokenizer: Any) -> dict[str, Any]:
    """The chat-template arguments render_chat passes for this tokenizer ({} unless set)."""
    return dict(getattr(tokenizer, _KWARGS_ATTR, None) or {})


# Stands for the end of a partial assistant turn while the template renders it; the text
# is cut there, so whatever the template would close the turn with is never sent.
_PREFILL_MARK = "-[[selfdistill-prefill-ends-here]]-"


def is_prefill(chat: Chat) -> bool:
    """True when the chat ends with a partial assistant turn for the model to continue."""
    return bool(chat) and chat[-1].get("role") == "assistant"


def render_chat(tokenizer: Any, chat: Chat, tools: list[dict[str, Any]] | None = None) -> str:
    """Render a chat with the tokenizer's template (and its set arguments) for generation.

    A chat ending with a user (or tool) turn gets the generation prompt appended; a chat
    ending with an assistant turn is a prefill: the text stops right after that turn's
    content, so the model continues it (as EvalPlus sends its response prefix).
    tools: JSON schemas of callable tools, passed as the template's `tools=` (templates with
    a tool format render them their own way); they may also ride on the tokenizer's set
    arguments, so that sampling and update scoring render the same prompt.
    """
    kwargs = chat_template_kwargs(tokenizer)
    if tools is not None:
        kwargs["tools"] = tools
    prefill = is_prefill(chat)
    if getattr(tokenizer, "chat_template", None):
        if not prefill:
            return tokenizer.apply_chat_template(chat, add_generation_prompt=True,
                                                 tokenize=False, **kwargs)
        marked = [*chat[:-1], {**chat[-1], "content": chat[-1]["content"] + _PREFILL_MARK}]
        text = tokenizer.apply_chat_template(marked, add_generation_prompt=False,
                                             tokenize=False, **kwargs)
        if _PREFILL_MARK not in text:
            raise ValueError("this chat template drops the final assistant turn's text, "
                             "so a partial assistant turn cannot be continued")
        return text[: text.index(_PREFILL_MARK)]
    # No template (a base model): plain role-prefixed text ending with the assistant turn.
    parts = [f"{m['role']}: {m['content']}" for m in (chat[:-1] if prefill else chat)]
    if prefill:
        return "\n".join([*parts, f"assistant: {chat[-1]['content']}"])
    return "\n".join(parts) + "\nassistant:"


def chat_token_ids(tokenizer: Any, chat: Chat, tools: list[dict[str, Any]] | None = None
                   ) -> list[int]:
    """Token ids of render_chat(...); the template already holds any BOS, so none is added."""
    text = render_chat(tokenizer, chat, tools)
    add_special = not getattr(tokenizer, "chat_template", None)
    return list(tokenizer(text, add_special_tokens=add_special)["input_ids"])


def eos_token_ids(tokenizer: Any, model: Any = None) -> set[int]:
    """EOS ids from the tokenizer and the model's generation_config (int or list)."""
    ids: set[int] = set()
    if getattr(tokenizer, "eos_token_id", None) is not None:
        ids.add(int(tokenizer.eos_token_id))
    gc = getattr(model, "generation_config", None) if model is not None else None
    eos = getattr(gc, "eos_token_id", None) if gc is not None else None
    if isinstance(eos, int):
        ids.add(eos)
    elif eos:
        ids.update(int(e) for e in eos)
    return ids
