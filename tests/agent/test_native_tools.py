"""Native tool calling: a template with a tool format gets the schemas as `tools=` and the
model's calls are read in that template's own format (issue 34 item 1).

The template below is a small Hermes/Qwen2.5-style one written for this test (tools listed
as JSON inside <tools>, calls as <tool_call>{json}</tool_call>, results as <tool_response>
in a user turn), put on the tiny model's tokenizer: no download.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from selfdistill.agent.calls import TOOLS, ToolCall, format_call, parse_action, tool_schemas
from selfdistill.agent.decode import tool_format
from selfdistill.agent.script import ScriptDriver, play_agent_script
from selfdistill.agent.session import AgentConfig, AgentSession
from selfdistill.assist.config import SessionConfig
from selfdistill.assist.output import PlainOutput
from selfdistill.assist.update import UpdateConfig
from selfdistill.core.records import read_jsonl
from selfdistill.generation.chat import chat_token_ids, render_chat

HERMES_TEMPLATE = (
    "{%- if tools %}{{ '<|im_start|>system\\n' }}"
    "{%- if messages[0].role == 'system' %}{{ messages[0].content }}{% endif %}"
    "{{ '\\n\\n# Tools\\n<tools>\\n' }}{%- for t in tools %}{{ t | tojson }}{{ '\\n' }}{%- endfor %}"
    "{{ '</tools>\\nCall a function as <tool_call>\\n{\\\"name\\\": <name>, "
    "\\\"arguments\\\": <object>}\\n</tool_call><|im_end|>\\n' }}"
    "{%- elif messages[0].role == 'system' %}"
    "{{ '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}{%- endif %}"
    "{%- for m in messages %}{%- if m.role == 'system' %}"
    "{%- elif m.role == 'tool' %}"
    "{{ '<|im_start|>user\\n<tool_response>\\n' + m.content + '\\n</tool_response><|im_end|>\\n' }}"
    "{%- else %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{%- endif %}"
    "{%- endfor %}{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)

NATIVE_READ = '<tool_call>\n{"name": "read", "arguments": {"path": "mathx.py"}}\n</tool_call>'
NATIVE_EDIT = ('<tool_call>\n{"name": "edit", "arguments": {"path": "mathx.py", '
               '"old": "return a - b", "new": "return a + b"}}\n</tool_call>')


def _tok(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.chat_template = HERMES_TEMPLATE
    return tok


def _tools_in(text: str) -> list[dict]:  # type: ignore[type-arg]
    block = text.split("<tools>\n", 1)[1].split("</tools>", 1)[0]
    return [json.loads(line) for line in block.splitlines() if line.strip()]


def test_qwen_style_template_renders_tools_and_a_native_call_parses(tiny_model_dir: Path) -> None:
    tok = _tok(tiny_model_dir)
    assert tool_format(tok) == "hermes"
    chat = [{"role": "system", "content": "You are a coding agent."},
            {"role": "user", "content": "Fix the bug in mathx.py."}]
    text = render_chat(tok, chat, tools=tool_schemas())
    rendered = _tools_in(text)
    assert [t["function"]["name"] for t in rendered] == list(TOOLS)
    edit = rendered[list(TOOLS).index("edit")]["function"]["parameters"]
    assert edit["required"] == ["path", "old", "new"] and edit["properties"]["all"]["type"] == "boolean"
    assert set(rendered[0]["function"]["parameters"]["properties"]) == {"path"}  # no limit
    assert "<tools>" not in render_chat(tok, chat)  # without tools= the template has none
    assert text.endswith("<|im_start|>assistant\n")

    act = parse_action(NATIVE_EDIT)  # the model's reply in the template's own format
    assert act == ToolCall("edit", {"path": "mathx.py", "old": "return a - b",
                                    "new": "return a + b"}, NATIVE_EDIT)
    # The call and its result go back in the template's roles.
    follow = render_chat(tok, [*chat, {"role": "assistant", "content": NATIVE_EDIT},
                               {"role": "tool", "content": "edited mathx.py"}],
                         tools=tool_schemas())
    assert "<tool_response>\nedited mathx.py\n</tool_response>" in follow


def test_llama3_style_calls() -> None:
    class Tok:
        chat_template = ('{%- if tools %}{{ tools | tojson }}{% endif %}'
                         '{{ "<|python_tag|>" }}{"name": x, "parameters": y}')

    assert tool_format(Tok()) == "llama3"
    call = ToolCall("bash", {"command": "python -m pytest -q"})
    text = format_call(call, "llama3")
    assert json.loads(text) == {"name": "bash", "parameters": call.args}
    assert parse_action("<|python_tag|>" + text) == ToolCall("bash", call.args,
                                                             "<|python_tag|>" + text)
    assert tool_format(type("T", (), {"chat_template": "{{ messages }}"})()) is None


def _native_workspace(tmp_path: Path, tiny_model_dir: Path, mathx: str) -> tuple[Path, Path]:
    """The tiny model with a Qwen2.5-style tools template, and a workspace holding mathx.py."""
    model_dir = tmp_path / "native-model"
    shutil.copytree(tiny_model_dir, model_dir)
    _tok(tiny_model_dir).save_pretrained(model_dir)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "mathx.py").write_text(mathx)
    return model_dir, ws


def test_agent_session_uses_the_template_tools(tmp_path: Path, tiny_model_dir: Path) -> None:
    """Same agent code, only the model changed: tools via the template, native calls run,
    a denial's update scores the same tools-rendered prompt."""
    model_dir, ws = _native_workspace(tmp_path, tiny_model_dir, "def add(a, b):\n    return a - b\n")
    items = [{"user": "Fix add in mathx.py."}, {"model": NATIVE_READ},
             {"model": NATIVE_EDIT}, {"deny": "Run the tests first."},
             {"model": NATIVE_EDIT}, "approve", {"model": "Fixed: add now adds."}]
    driver = ScriptDriver(items, echo=False)
    cfg = SessionConfig(max_new_tokens=8, update=UpdateConfig(steps=1, lr=1e-3))
    with AgentSession("native", ws, driver, str(model_dir), cfg, AgentConfig(),
                      PlainOutput(echo=False), root=tmp_path / "home") as s:
        assert s.native and not s.constrained and s.call_style == "hermes"
        assert "Tools (" not in s.cfg.system_prompt and "<tool_call>" not in s.cfg.system_prompt
        chat = [{"role": "system", "content": s.cfg.system_prompt},
                {"role": "user", "content": "x"}]
        prompt = s.tokenizer.decode(chat_token_ids(s.tokenizer, chat))
        assert [t["function"]["name"] for t in _tools_in(prompt)] == list(TOOLS)
        play_agent_script(s, driver)
        assert s.profile.current == 1  # the denial's update
    assert (ws / "mathx.py").read_text() == "def add(a, b):\n    return a + b\n"
    log = list(read_jsonl(tmp_path / "home" / "native" / "updates.jsonl"))
    assert [r["tool"] for r in log if r.get("event") == "agent_action"] == ["read", "edit", "edit"]
    assert [r["source"] for r in log if r.get("event") == "update"] == ["denial"]


class _Replies:
    """Sample the model for the first reply, then the scripted ones; approve everything."""

    def __init__(self, replies: list[str | None]) -> None:
        self.replies = list(replies)

    def model_output(self) -> str | None:
        return self.replies.pop(0) if self.replies else "Done."

    def decide(self, call: ToolCall):  # type: ignore[no-untyped-def]
        from selfdistill.agent.session import Decision

        return Decision("approve")


def test_first_call_forces_the_template_call_opening(tmp_path: Path, tiny_model_dir: Path) -> None:
    """--first-call: the first reply opens with the template's own call format and a tool
    chosen by the model's scores (the tiny random model never opens one on its own); after
    an unreadable reply the next one is forced again; later replies are free."""
    model_dir, ws = _native_workspace(tmp_path, tiny_model_dir, "x = 1\n")
    cfg = SessionConfig(max_new_tokens=12, update=UpdateConfig(steps=1))
    replies: list[str | None] = [None, '<tool_call>{"name": "read", "arguments": 7</tool_call>',
                                 None, NATIVE_READ]
    with AgentSession("first", ws, _Replies(replies), str(model_dir), cfg,
                      AgentConfig(first_call=True), PlainOutput(echo=False),
                      root=tmp_path / "home") as s:
        assert s.native
        assert s.run_task("Look at mathx.py.") == "Done."
    log = list(read_jsonl(tmp_path / "home" / "first" / "updates.jsonl"))
    replies_logged = [r for r in log if r.get("event") in ("agent_action", "agent_malformed",
                                                            "agent_answer")]
    choices = [r for r in log if r.get("event") == "agent_choice"]
    assert len(choices) == 2 and all(c["forced"] and set(c["scores"]) == set(TOOLS)
                                     for c in choices)
    forced = [replies_logged[0], replies_logged[2]]
    for r, c in zip(forced, choices, strict=True):
        assert r["event"] != "agent_answer"
        opening = '<tool_call>\n{"name": "' + c["choice"] + '", "arguments": {'
        assert r["output"].startswith(opening)
    assert replies_logged[1]["event"] == "agent_malformed"
    assert replies_logged[3]["event"] == "agent_action" and replies_logged[3]["tool"] == "read"
    assert replies_logged[-1]["event"] == "agent_answer"  # the scripted "Done."


def test_a_repeated_read_is_answered_with_a_note(tmp_path: Path, tiny_model_dir: Path) -> None:
    """The same read-only call twice in a row: the second result says it is the same call."""
    from selfdistill.agent.session import REPEAT_NOTE
    from selfdistill.assist.session import request_chat

    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "mathx.py").write_text("x = 1\n")
    other = '<tool_call>\n{"name": "list", "arguments": {}}\n</tool_call>'
    with AgentSession("rep", ws, _Replies([]), str(tiny_model_dir), SessionConfig(),
                      AgentConfig(), PlainOutput(echo=False), root=tmp_path / "home") as s:
        chat = request_chat("Look at mathx.py.", s.cfg.system_prompt)
        for text, noted in ((NATIVE_READ, False), (NATIVE_READ, True), (other, False),
                            (NATIVE_READ, False)):
            chat = s._act("t", chat, text, parse_action(text))  # type: ignore[arg-type, assignment]
            assert (REPEAT_NOTE in chat[-1]["content"]) is noted
            assert "x = 1" in chat[-1]["content"] or text == other


def test_bench_with_first_call_on_a_native_template(tmp_path: Path, tiny_model_dir: Path) -> None:
    """The bench path of the Qwen run: native template, --first-call, its own results label."""
    from selfdistill.agent.bench import load_results, run_bench_model, select_tasks

    model_dir = tmp_path / "native-model"
    shutil.copytree(tiny_model_dir, model_dir)
    _tok(tiny_model_dir).save_pretrained(model_dir)
    run_bench_model(str(model_dir), tmp_path / "bench", select_tasks(["fix-mean"]),
                    max_actions=2, max_new_tokens=8, echo=False, first_call=True)
    (rec,) = load_results(tmp_path / "bench")["native-model-first-call"]
    assert rec["error"] is None and rec["success"] is False
    first = next(r for r in rec["trajectory"] if r.get("event") in ("agent_action",
                                                                     "agent_malformed"))
    assert first["output"].startswith('<tool_call>\n{"name": "')


def test_native_free_reply_stops_after_one_call(tmp_path: Path, tiny_model_dir: Path) -> None:
    """Free native decoding asks the generator to stop at the end of the first call (Qwen
    0.5B wrote three calls per reply and copied them), and closes an open <tool_call>."""
    from selfdistill.assist.session import request_chat

    model_dir = tmp_path / "native-model"
    shutil.copytree(tiny_model_dir, model_dir)
    _tok(tiny_model_dir).save_pretrained(model_dir)
    ws = tmp_path / "ws"
    ws.mkdir()
    seen: list[object] = []
    with AgentSession("stop", ws, _Replies([]), str(model_dir), SessionConfig(max_new_tokens=4),
                      AgentConfig(), PlainOutput(echo=False), root=tmp_path / "home") as s:
        def fake(chat, n=1, temperature=None, seed=None, stop=None):  # type: ignore[no-untyped-def]
            seen.append(stop)
            return ['<tool_call>\n{"name": "read", "arguments": {"path": "a.py"}}\n']

        s.sample = fake  # type: ignore[method-assign]
        text, act = s.next_action("t", request_chat("t", s.cfg.system_prompt))
        assert seen == [["</tool_call>", '\n{"name"']]
        assert text.endswith("</tool_call>") and act == ToolCall("read", {"path": "a.py"}, text)
        assert len(s.sample(request_chat("t", None), stop=None)) == 1
