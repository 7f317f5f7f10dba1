"""Constrained decoding of the agent's next action: structure forced, content free.

Small models (the embedded SmolLM2-135M) rarely open a tool call on their own, so for
models whose chat template has no tool format the agent decides the structure itself:

1. Choose: every candidate opening -- ``<tool_call>{"name": "<tool>"`` for each tool, and
   the answer opening -- is scored teacher-forced under the model (mean token log-prob,
   `assist.update.answer_token_logprobs`); the best wins (greedy), or one is drawn from the
   softmax of the scores at temperature > 0.
2. Prefill: for a tool, the opening plus ``, "arguments": {"<first argument>": "`` is put
   in the assistant turn and the model writes the rest, stopped at ``}}`` or
   ``</tool_call>``; for the answer it writes freely.
3. Close and parse with the forgiving `calls.parse_action`; an argument text that does
   not parse is repaired once (the whole text as the first argument's value) and
   otherwise returned as a `Malformed` action, which the agent shows the model as feedback.

The returned text is the full action (forced prefix included), so updates train on what
was executed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from selfdistill.agent.calls import TOOLS, Action, Malformed, ToolCall, format_call, parse_action
from selfdistill.generation.base import Chat

ANSWER = "answer"
# What a final answer starts with: the system prompt asks for plain words when done.
ANSWER_PREFIX = "The task is done."
_CLOSE = "}}</tool_call>"
_STOPS = ["}}", "</tool_call>"]


def call_opening(tool: str) -> str:
    """The forced start of a call to `tool`, as scored in step 1."""
    return f'<tool_call>{{"name": "{tool}"'


def first_argument(tool: str) -> str:
    """The argument whose name is prefilled: the first required one, else the first optional."""
    spec = TOOLS[tool]
    return (spec.required or spec.optional)[0]


def call_prefill(tool: str) -> str:
    """The full prefill of a call: its opening and the first argument's key."""
    return f'{call_opening(tool)}, "arguments": {{"{first_argument(tool)}": "'


def candidates(answer_prefix: str = ANSWER_PREFIX) -> dict[str, str]:
    """Candidate name -> the opening text scored for it (every tool, then the answer)."""
    return {**{t: call_opening(t) for t in TOOLS}, ANSWER: answer_prefix}


def choose(scores: Mapping[str, float], temperature: float = 0.0,
           rng: random.Random | None = None) -> str:
    """The best-scoring candidate, or one drawn from softmax(scores / temperature)."""
    if not scores:
        raise ValueError("no candidates to choose from")
    if temperature <= 0:
        return max(scores, key=lambda k: scores[k])
    top = max(scores.values())
    names = list(scores)
    weights = [math.exp((scores[k] - top) / temperature) for k in names]
    return (rng or random.Random(0)).choices(names, weights)[0]


def assemble(tool: str, generated: str, closed: bool = True) -> tuple[str, Action]:
    """(full action text, parsed action) from the model's text after call_prefill(tool).

    closed: the model stopped at a closing (the stop string is added back); when the text
    does not parse, the whole generated text becomes the first argument's value.
    """
    text = call_prefill(tool) + generated + (_CLOSE if closed else "")
    act = parse_action(text)
    if isinstance(act, ToolCall) and act.name == tool:
        return text, act
    value = generated.split('"}', 1)[0] if closed else generated
    value = value[:-1] if value.endswith('"') else value
    repaired = ToolCall(tool, {first_argument(tool): value})
    act2 = parse_action(format_call(repaired))
    if isinstance(act2, ToolCall):
        return format_call(act2), act2
    why = act.error if isinstance(act, Malformed) else f"not a {tool} call"
    return text, Malformed(why, text)


@dataclass
class Proposal:
    """One constrained proposal: the choice, its scores, the full text and the action."""

    choice: str
    scores: dict[str, float]
    text: str
    action: Action


def score_candidates(model: Any, tokenizer: Any, chat: Chat,
                     answer_prefix: str = ANSWER_PREFIX) -> dict[str, float]:
    """Mean teacher-forced token log p of every candidate opening after the chat (one batch).

    Per token, not summed: the openings differ in length (lm-eval's length normalisation),
    and summed, the shorter fixed answer phrase won on every probe task.
    """
    cands = candidates(answer_prefix)
    rows = continuation_logprobs(model, tokenizer, chat, list(cands.values()))
    return {k: sum(lp) / max(1, len(lp)) for k, lp in zip(cands, rows, strict=True)}


def continuation_logprobs(model: Any, tokenizer: Any, chat: Chat, texts: list[str]
                          ) -> list[list[float]]:
    """Per-token log p of each text after the chat (no EOS), the chat encoded once.

    The same numbers as `assist.update.answer_token_logprobs(..., eos=False)` on the chat
    repeated per text, at about one chat's cost instead of one per text: the chat's keys
    and values are cached and each short text runs on top of them (the cache is cut back
    to the chat after each).
    """
    import torch

    from selfdistill.core.lora import base_model
    from selfdistill.core.models import cache_kwarg
    from selfdistill.generation.chat import chat_token_ids

    lm = base_model(model)
    kw = cache_kwarg(lm)
    prompt = torch.tensor([chat_token_ids(tokenizer, chat)])
    out_rows: list[list[float]] = []
    with torch.no_grad():
        out = lm(input_ids=prompt, use_cache=True)
        cache, first = out.past_key_values, torch.log_softmax(out.logits[0, -1].float(), -1)
        for text in texts:
            ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
            lps = [float(first[ids[0]])] if ids else []
            if len(ids) > 1:
                step = lm(input_ids=torch.tensor([ids[:-1]]), use_cache=True, **{kw: cache})
                logp = torch.log_softmax(step.logits[0].float(), -1)
                lps += [float(logp[i, t]) for i, t in enumerate(ids[1:])]
                cache.crop(-(len(ids) - 1))  # back to the chat alone
            out_rows.append(lps)
    return out_rows


def propose(session: Any, chat: Chat, answer_prefix: str = ANSWER_PREFIX) -> Proposal:
    """Choose by scores, then let the model fill the arguments (or the answer) in."""
    from selfdistill.generation.chat import chat_token_ids
    from selfdistill.generation.params import sampling_params

    cfg, tok = session.cfg, session.tokenizer
    scores = score_candidates(session.model, tok, chat, answer_prefix)
    pick = choose(scores, cfg.temperature, session.rng)
    if pick == ANSWER:
        text = session.sample(chat)[0]
        return Proposal(pick, scores, text, parse_action(text))
    prefill = call_prefill(pick)
    ids = chat_token_ids(tok, chat) + list(tok(prefill, add_special_tokens=False)["input_ids"])
    params = sampling_params(cfg.temperature, n=1, max_new_tokens=cfg.max_new_tokens,
                             seed=cfg.seed, stop=_STOPS, return_logprobs=False)
    comp = session.generator().generate_from_ids([ids], params)[0][0]
    text, act = assemble(pick, comp.text, comp.finish_reason == "stop")
    return Proposal(pick, scores, text, act)


# The forced opening of a call per call style, its arguments key, and the stop string.
CALL_OPENINGS = {"hermes": ('<tool_call>\n{"name": "', "arguments", "</tool_call>"),
                 "llama3": ('{"name": "', "parameters", None)}


def forced_call(session: Any, chat: Chat, task: str) -> tuple[str, Action]:
    """A reply in the template's call format (--first-call) whose tool is chosen by the
    model's scores (summed log p of each tool's opening after the chat: a small model forced
    to open a call wrote a test name as the tool); the model writes the arguments."""
    from selfdistill.generation.chat import chat_token_ids
    from selfdistill.generation.params import sampling_params

    opening, key, close = CALL_OPENINGS[session.call_style]
    tok, cfg = session.tokenizer, session.cfg
    with session.out.busy("choosing a tool"):
        rows = continuation_logprobs(session.model, tok, chat,
                                     [f'{opening}{name}"' for name in TOOLS])
    scores = {name: round(sum(r), 3) for name, r in zip(TOOLS, rows, strict=True)}
    pick = choose(scores, cfg.temperature, session.rng)
    session.profile.log({"event": "agent_choice", "task": task, "choice": pick,
                         "scores": scores, "forced": True})
    prefix = f'{opening}{pick}", "{key}": {{'
    ids = chat_token_ids(tok, chat) + list(tok(prefix, add_special_tokens=False)["input_ids"])
    params = sampling_params(cfg.temperature, n=1, max_new_tokens=cfg.max_new_tokens,
                             seed=cfg.seed, stop=[close] if close else None,
                             return_logprobs=False)
    show = session.streaming(prefix) if hasattr(session.out, "stream") else \
        session.out.busy("thinking")
    with show:
        comp = session.generator().generate_from_ids([ids], params)[0][0]
    body = comp.text
    if close and comp.finish_reason == "stop" and not body.rstrip().endswith(close):
        body = body.rstrip() + "\n" + close  # the stop string is not in the returned text
    text = (prefix + body).strip()
    return text, parse_action(text)


# A small model copies its previous turn: Qwen2.5-Coder-0.5B read the same test file again
# and again. A read-only call that repeats the last one gets this note in its result.
REPEAT_NOTE = ("[This is the same call as your previous one, with the same result. Use what "
               "it shows and take the next step.]")


def repeats_last_call(call: ToolCall, chat: Chat) -> bool:
    """Whether `call` is exactly the call of the chat's last assistant turn."""
    for m in reversed(chat):
        if m["role"] == "assistant":
            last = parse_action(str(m.get("content", "")))
            return isinstance(last, ToolCall) and (last.name, last.args) == (call.name, call.args)
    return False


CUT_RESULT = "[earlier tool result cut to fit the context; run the tool again if needed]"
CUT_MARK = "[... cut to fit the context]"


def compact_chat(tokenizer: Any, chat: Chat, limit: int) -> tuple[Chat, int, int, int]:
    """(chat fitted to `limit` tokens, tokens before, after, pairs dropped): older tool
    results become a marker first, then the oldest (action, result) pairs are dropped
    (noted in the task message), then the last result is shortened. Unchanged if it fits."""
    from selfdistill.generation.chat import chat_token_ids

    def size(c: Chat) -> int:
        return len(chat_token_ids(tokenizer, c))

    before = size(chat)
    if before <= limit:
        return chat, before, before, 0
    out = [dict(m) for m in chat]
    first = 2 if out and out[0]["role"] == "system" else 1  # the first action's index
    results = [i for i in range(first + 1, len(out), 2)]
    for i in results[:-1]:  # 1. older results -> a marker, oldest first
        if out[i]["content"] != CUT_RESULT:
            out[i]["content"] = CUT_RESULT
            if size(out) <= limit:
                break
    dropped = 0
    while size(out) > limit and len(out) - first > 2:  # 2. drop the oldest pairs
        del out[first:first + 2]
        dropped += 1
    if dropped:
        task = out[first - 1]
        task["content"] = (f"{task['content']}\n\n[{dropped} earlier action(s) and their "
                           "results were dropped to fit the context]")
    while size(out) > limit and len(out) - first == 2 and len(out[-1]["content"]) > 200:
        text = out[-1]["content"]  # 3. shorten the last result, keeping its start
        out[-1]["content"] = text[: len(text) // 2] + "\n" + CUT_MARK
    after = size(out)
    return out, before, after, dropped


def has_tool_format(tokenizer: Any) -> bool:
    """Whether the chat template renders tool definitions (then free decoding is used)."""
    return tool_format(tokenizer) is not None


def tool_format(tokenizer: Any) -> str | None:
    """The call style of a chat template that renders `tools=`: hermes, llama3, or None.

    hermes: <tool_call>{"name": ..., "arguments": {...}}</tool_call> (Qwen2.5, Hermes);
    llama3: a bare {"name": ..., "parameters": {...}} object (Llama 3.1/3.2). A template
    that renders tools in some other way is read as hermes (the parser takes both).
    """
    template = getattr(tokenizer, "chat_template", None) or ""
    if not isinstance(template, str) or "tools" not in template:
        return None
    if "<tool_call>" in template:
        return "hermes"
    if "python_tag" in template or '"parameters"' in template or "ipython" in template:
        return "llama3"
    return "hermes"


def describe(p: Proposal) -> str:
    """One line: the choice and the top scores (for the TUI and the log)."""
    top = sorted(p.scores.items(), key=lambda kv: -kv[1])[:3]
    return f"decided {p.choice} (" + ", ".join(f"{k} {v:.1f}" for k, v in top) + ")"

