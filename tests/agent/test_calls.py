"""The tool-call parser: property tests (never raises, round-trips) and the forms it forgives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from selfdistill.agent.calls import (
    TOOLS,
    Answer,
    Malformed,
    ToolCall,
    format_call,
    malformed_feedback,
    parse_action,
    tools_prompt,
    validate,
)

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)


def _calls() -> st.SearchStrategy[ToolCall]:
    def build(name: str, data: st.DataObject) -> ToolCall:
        spec = TOOLS[name]
        args = {k: data.draw(_text) for k in spec.required}
        return ToolCall(name, args)
    return st.builds(build, st.sampled_from(sorted(TOOLS)), st.data())


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_never_raises_on_any_text(text: str) -> None:
    assert isinstance(parse_action(text), (ToolCall, Answer, Malformed))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='{}[]"\':,<>/ \\ntool_call name arguments read path', max_size=200))
def test_never_raises_on_call_shaped_noise(text: str) -> None:
    assert isinstance(parse_action(text), (ToolCall, Answer, Malformed))


@settings(max_examples=200, deadline=None)
@given(_calls(), _text, _text)
def test_format_roundtrips_inside_prose(call: ToolCall, before: str, after: str) -> None:
    res = parse_action(before.replace("<", "") + format_call(call) + after)
    assert isinstance(res, ToolCall) and res.name == call.name and res.args == call.args


@settings(max_examples=100, deadline=None)
@given(_calls())
def test_python_call_syntax_roundtrips(call: ToolCall) -> None:
    src = f"{call.name}(" + ", ".join(f"{k}={v!r}" for k, v in call.args.items()) + ")"
    res = parse_action(src)
    assert isinstance(res, ToolCall) and res.args == call.args


def test_forgiving_forms() -> None:
    forms = [
        '```json\n{"name": "read", "arguments": {"path": "a.py"}}\n```',
        "<tool_call>{'name': 'read', 'arguments': {'file': 'a.py'}}</tool_call>",
        '<tool_call>{"name": "read_file", "arguments": "{\\"path\\": \\"a.py\\"}"}',
        '{"name": "read", "args": {"path": "a.py",}}',
        '{"function": {"name": "read", "arguments": {"filename": "a.py"}}}',
        'read(path="a.py")',
        'I will look first.\nread("a.py")',
        '{"tool": "cat", "path": "a.py"}',
    ]
    for text in forms:
        res = parse_action(text)
        assert isinstance(res, ToolCall), (text, res)
        assert res.name == "read" and res.args == {"path": "a.py"}, text


def test_aliases_and_types() -> None:
    res = validate("run", {"cmd": "ls", "extra": 1})
    assert isinstance(res, ToolCall) and res.args == {"command": "ls"} and res.kind() == "bash:ls"
    res = validate("edit", {"path": "a", "old_string": "x", "new_string": 3, "replace_all": "yes"})
    assert isinstance(res, ToolCall) and res.args == {"path": "a", "old": "x", "new": "3",
                                                      "all": True}
    assert isinstance(validate("read", {"path": "a", "offset": "x"}), Malformed)


def test_malformed_messages_name_the_problem() -> None:
    assert "needs the argument(s) content" in parse_action(
        '<tool_call>{"name": "write", "arguments": {"path": "a"}}</tool_call>').error
    assert "unknown tool 'rm'" in parse_action('{"name": "rm", "arguments": {}}').error
    assert isinstance(parse_action('<tool_call>{"name": "read"'), Malformed)
    assert isinstance(parse_action('read(path=open("x"))'), Malformed)


def test_plain_text_is_an_answer() -> None:
    for text in ("Done: I renamed it.", "use a dict {a: 1}", "", "the list() is empty"):
        assert isinstance(parse_action(text), Answer), text


def test_prompt_lists_every_tool_and_no_call_to_copy() -> None:
    """The format is shown with placeholders: a concrete call (read README.md) was what the
    models proposed whatever the task (issue 34)."""
    p = tools_prompt()
    assert all(f"- {name}(" in p for name in TOOLS)
    fmt = p.split("Format: ")[1].splitlines()[0]
    assert fmt.startswith("<tool_call>") and "<tool name>" in fmt
    assert not isinstance(parse_action(fmt), ToolCall)
    assert "README" not in p
    note = malformed_feedback(Malformed("x"))
    assert "README" not in note and not isinstance(parse_action(note), ToolCall)


def test_small_model_slips_in_json_are_repaired() -> None:
    """A regex's backslash JSON does not allow, and a reply that stops before its closing
    braces (both seen from Qwen2.5-Coder-0.5B), still read as the call meant."""
    act = parse_action('{"name": "bash", "arguments": {"command": "grep -P \'\\d+\' a.py"}')
    assert act == ToolCall("bash", {"command": "grep -P '\\d+' a.py"}, act.raw)
    act = parse_action('<tool_call>\n{"name": "grep", "arguments": {"pattern": "def \\w+\\(", '
                       '"path": "a.py"}}\n</tool_call>')
    assert isinstance(act, ToolCall) and act.args == {"pattern": "def \\w+\\(", "path": "a.py"}
    act = parse_action('<tool_call>\n{"name": "read", "arguments": {"path": "mathx.py')
    assert isinstance(act, ToolCall) and act.args == {"path": "mathx.py"}
    ok = parse_action('{"name": "bash", "arguments": {"command": "printf \\"a\\\\n\\""}}')
    assert isinstance(ok, ToolCall) and ok.args["command"] == 'printf "a\\n"'  # valid: kept
