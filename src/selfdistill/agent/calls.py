"""Tool calls: the agent's tool set, how a call is written, and a forgiving parser.

The model is asked to write one call per reply in the Hermes/Qwen style that SmolLM2's
chat data uses::

    <tool_call>{"name": "read", "arguments": {"path": "hello.py"}}</tool_call>

The embedded 135M model gets this wrong in many ways, so `parse_action` also accepts a
bare JSON object with a "name", a ```json fence, Python-literal dicts (single quotes,
True/None), "arguments" given as a JSON string, argument aliases (file -> path, cmd ->
command, ...) and Python call syntax (``read(path="hello.py")``). A reply that looks like
an attempted call but cannot be read becomes a `Malformed` action whose message is shown
to the model; a reply with no call at all is the agent's final `Answer`. It never raises.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolSpec:
    """One tool: its arguments (required first) and whether it only reads."""

    name: str
    description: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    read_only: bool = False


TOOLS: dict[str, ToolSpec] = {t.name: t for t in (
    ToolSpec("read", "Read a text file of the workspace.", ("path",), ("offset", "limit"), True),
    ToolSpec("list", "List workspace files matching a glob pattern (default **/*).", (),
             ("pattern", "path"), True),
    ToolSpec("grep", "Search workspace files for a regular expression.", ("pattern",),
             ("path", "glob"), True),
    ToolSpec("write", "Create or overwrite a file with the given content.", ("path", "content")),
    ToolSpec("edit", "Replace the exact text `old` (which must occur once, unless all is "
             "true) by `new` in a file.", ("path", "old", "new"), ("all",)),
    ToolSpec("bash", "Run a shell command in the workspace (sandboxed, no network).",
             ("command",)),
)}

_ALIASES = {"file": "path", "filename": "path", "file_path": "path", "filepath": "path",
            "cmd": "command", "shell": "command", "script": "command", "pat": "pattern",
            "regex": "pattern", "query": "pattern", "old_string": "old", "old_str": "old",
            "search": "old", "new_string": "new", "new_str": "new", "replace": "new",
            "text": "content", "contents": "content", "data": "content", "dir": "path",
            "directory": "path", "replace_all": "all"}
_ARG_KEYS = ("arguments", "args", "parameters", "params", "input")
_TOOL_ALIASES = {"read_file": "read", "cat": "read", "open": "read", "ls": "list",
                 "glob": "list", "find": "list", "list_files": "list", "search": "grep",
                 "write_file": "write", "create": "write", "edit_file": "edit",
                 "replace": "edit", "str_replace": "edit", "shell": "bash", "run": "bash",
                 "sh": "bash", "exec": "bash", "run_command": "bash", "terminal": "bash"}


@dataclass
class ToolCall:
    """A parsed, validated call: tool name and its (canonical) arguments."""

    name: str
    args: dict[str, Any]
    raw: str = ""

    @property
    def read_only(self) -> bool:
        """Whether the tool only reads the workspace."""
        return TOOLS[self.name].read_only

    def kind(self) -> str:
        """What "always approve this kind" covers: the tool, and for bash the program."""
        if self.name == "bash":
            words = str(self.args.get("command", "")).split()
            return f"bash:{words[0] if words else ''}"
        return self.name


@dataclass
class Answer:
    """The agent's final reply (no tool call in it)."""

    text: str


@dataclass
class Malformed:
    """A reply that tried to call a tool but could not be read; `error` goes to the model."""

    error: str
    raw: str = ""
    details: list[str] = field(default_factory=list)


Action = ToolCall | Answer | Malformed


# Argument types and descriptions for the JSON schemas given to templates with a tool format.
_ARG_INFO: dict[str, tuple[str, str]] = {
    "path": ("string", "A file or directory path relative to the workspace root."),
    "offset": ("integer", "First line to read (0-based)."),
    "limit": ("integer", "Number of lines to read."),
    "pattern": ("string", "A glob pattern (list) or a regular expression (grep)."),
    "glob": ("string", "Only search files whose name matches this glob."),
    "content": ("string", "The complete new content of the file."),
    "old": ("string", "The exact text to replace."),
    "new": ("string", "The replacement text."),
    "all": ("boolean", "Replace every occurrence."),
    "command": ("string", "The shell command to run in the workspace."),
}

# Call styles: "hermes" (Qwen2.5, Hermes, SmolLM2's data) and "llama3" (Llama 3.1's JSON).
CallStyle = str


def format_call(call: ToolCall, style: CallStyle = "hermes") -> str:
    """The canonical text of a call in a template's call format (hermes unless llama3)."""
    if style == "llama3":
        return json.dumps({"name": call.name, "parameters": call.args}, ensure_ascii=False)
    body = json.dumps({"name": call.name, "arguments": call.args}, ensure_ascii=False)
    return f"<tool_call>{body}</tool_call>"


# Arguments left out of the schemas: Qwen2.5-Coder-0.5B given read's optional integer
# `limit` wrote it as a run of some 200 zeros in every read (the parser still takes them).
_UNLISTED = ("offset", "limit")


def tool_schemas() -> list[dict[str, Any]]:
    """Every tool as a JSON schema (OpenAI function form), for a chat template's `tools=`."""
    out = []
    for t in TOOLS.values():
        props = {a: {"type": _ARG_INFO[a][0], "description": _ARG_INFO[a][1]}
                 for a in (*t.required, *t.optional) if a not in _UNLISTED}
        out.append({"type": "function", "function": {
            "name": t.name, "description": t.description,
            "parameters": {"type": "object", "properties": props,
                           "required": list(t.required)}}})
    return out


# The call format with placeholders only: a concrete example call in the prompt (it was
# `read README.md`) is what a small model copies, whatever the task says.
CALL_FORMAT = '<tool_call>{"name": <tool name>, "arguments": {<argument>: <value>, ...}}</tool_call>'
DONE_LINE = "When the task is done, reply in plain words without a tool call."


# What stands in for the denied call's own words in a denial's reason (denial_feedback).
_MASK_VALUE, _MASK_TOOL, _MASK_PROGRAM = "that", "that tool", "that command"


def _mask_words(text: str, word: str, by: str) -> str:
    """`word` replaced by `by` where it stands alone (not inside a longer name)."""
    return re.sub(rf"(?<![\w.]){re.escape(word)}(?![\w])", lambda _: by, text)


def denial_feedback(call: ToolCall, reason: str, mask_tool: bool = True) -> str:
    """A denial as the teacher (and the retry) reads it: the verdict and the user's reason
    with the denied call's own words -- its argument values, a command's program, the tool
    name -- replaced by "that", "that command", "that tool".

    Why: the teacher scores the denied call with this text in context, and a small model
    copies what its context names. With "Do not read README.md again; ..." Qwen2.5-Coder-0.5B
    rated `read README.md` +4.4 to +4.8 nats *higher* and SmolLM2-135M +0.84; rendered here,
    -1.72 on SmolLM2, and on Qwen still +2.65 (it raises `read` from "that tool mathx.py"),
    which is why the update also leaves out a denied call's raised tokens
    (`assist.update.rejected_mask`; docs/results.md). SDPO's teacher never sees the attempt
    it scores either (only feedback and another, successful answer).
    """
    text = reason.strip()
    for value in call.args.values():
        if isinstance(value, str) and "\n" not in value and 3 <= len(value.strip()) <= 200:
            text = _mask_words(text, value.strip(), _MASK_VALUE)
    if call.name == "bash":
        words = str(call.args.get("command", "")).split()
        if words and len(words[0]) >= 2:
            text = _mask_words(text, words[0], _MASK_PROGRAM)
    if mask_tool:
        text = _mask_words(text, call.name, _MASK_TOOL)
    return f"The user denied the action you proposed. Reason: {text}"


def tools_prompt() -> str:
    """The tool list and the call format (placeholders, no example call), for the system prompt."""
    lines = ["Tools (call exactly one per reply, nothing else in that reply):"]
    for t in TOOLS.values():
        args = ", ".join([*t.required, *(f"{o}?" for o in t.optional)])
        lines.append(f"- {t.name}({args}): {t.description}")
    lines.append(f"Format: {CALL_FORMAT}")
    lines.append(DONE_LINE)
    return "\n".join(lines)


# ---------------------------------------------------------------- parsing

_DECODER = json.JSONDecoder()
_PY_CALL = re.compile(r"(?m)^\s*`{0,3}\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_LOOKS_LIKE_CALL = re.compile(r"<\s*/?\s*tool_call|\"name\"\s*:|'name'\s*:|\"arguments\"|"
                              r"\{\s*\"(?:tool|function)\"")


def _loads(text: str) -> Any:
    """JSON, else a Python literal (single quotes, True/None), else JSON minus trailing commas."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    try:
        with warnings.catch_warnings():  # "invalid escape sequence": read as Python does
            warnings.simplefilter("ignore")
            return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    try:
        return json.loads(re.sub(r",\s*([}\]])", r"\1", text))
    except (ValueError, RecursionError):
        return None


def _objects(text: str, start: int = 0, limit: int = 8) -> list[Any]:
    """Up to `limit` JSON-ish objects that start at a '{' at or after `start`."""
    found: list[Any] = []
    i = text.find("{", start)
    while i != -1 and len(found) < limit:
        try:
            obj, end = _DECODER.raw_decode(text, i)
        except (ValueError, RecursionError):
            obj, end = _balanced_literal(text, i)
            if obj is None:
                obj, end = _repaired(text, i)
        if isinstance(obj, dict):
            found.append(obj)
            i = text.find("{", end)
        else:
            i = text.find("{", i + 1)
    return found


_ESCAPE = re.compile(r"\\(.?)", re.S)


def _fix_escape(m: re.Match[str]) -> str:
    """A JSON escape kept; a backslash JSON does not allow (\\d, \\.) doubled."""
    c = m.group(1)
    return m.group(0) if c and c in '\\/"bfnrtu' else "\\\\" + c


def _repaired(text: str, i: int) -> tuple[Any, int]:
    """The JSON object at i read with the two slips small models make in calls repaired:
    backslashes JSON does not allow (a regex's \\d in a command) and missing closing
    braces or quote at the end of the reply. (None, i) when that does not help either."""
    end = text.find("</tool_call>", i)
    end = len(text) if end == -1 else end
    frag = _ESCAPE.sub(_fix_escape, text[i:end][:100_000])
    closers, quote, esc = [], False, False
    for c in frag:
        if quote:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                quote = False
        elif c == '"':
            quote = True
        elif c in "{[":
            closers.append("}" if c == "{" else "]")
        elif c in "}]" and closers:
            closers.pop()
    frag = frag.rstrip() if not quote else frag
    frag += ('"' if quote else "") + "".join(reversed(closers))
    try:
        obj, _ = _DECODER.raw_decode(frag)
    except (ValueError, RecursionError):
        return None, i
    return obj, end


def _balanced_literal(text: str, i: int) -> tuple[Any, int]:
    """A Python-literal dict from the balanced braces at i (quotes respected), or (None, i)."""
    depth, quote, esc = 0, "", False
    for j in range(i, min(len(text), i + 100_000)):
        c = text[j]
        if quote:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return _loads(text[i:j + 1]), j + 1
    return None, i


def _tool_name(obj: dict[str, Any]) -> Any:
    name = obj.get("name", obj.get("tool", obj.get("function")))
    if isinstance(name, dict):  # {"function": {"name": ..., "arguments": ...}}
        return name.get("name")
    return name


def _call_args(obj: dict[str, Any]) -> Any:
    fn = obj.get("function")
    if isinstance(fn, dict) and "name" in fn:
        obj = fn
    for key in _ARG_KEYS:
        if key in obj:
            args = obj[key]
            return _loads(args) if isinstance(args, str) else args
    return {k: v for k, v in obj.items() if k not in ("name", "tool", "function", "type", "id")}


def validate(name: Any, args: Any, raw: str = "") -> ToolCall | Malformed:
    """Canonical ToolCall (tool and argument aliases resolved) or what is wrong with it."""
    if not isinstance(name, str) or not name.strip():
        return Malformed("the tool call has no tool name", raw)
    key = name.strip().lower()
    key = _TOOL_ALIASES.get(key, key)
    if key not in TOOLS:
        return Malformed(f"unknown tool '{name}'; the tools are {', '.join(TOOLS)}", raw)
    spec = TOOLS[key]
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return Malformed(f"the arguments of {key} must be an object like "
                         f"{{\"{(spec.required or ('path',))[0]}\": ...}}", raw)
    out: dict[str, Any] = {}
    for k, v in args.items():
        k = _ALIASES.get(str(k).lower(), str(k).lower())
        if k in spec.required or k in spec.optional:
            out[k] = v
    missing = [r for r in spec.required if r not in out or out[r] is None]
    if missing:
        return Malformed(f"{key} needs the argument(s) {', '.join(missing)}", raw)
    for k, v in list(out.items()):
        if k in ("offset", "limit"):
            try:
                out[k] = int(v)
            except (TypeError, ValueError):
                return Malformed(f"{key}: {k} must be an integer, got {v!r}", raw)
        elif k == "all":
            out[k] = v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes")
        elif not isinstance(v, str):
            out[k] = json.dumps(v) if isinstance(v, (dict, list)) else str(v)
    return ToolCall(key, out, raw)


def _from_objects(objs: list[Any], raw: str) -> ToolCall | Malformed | None:
    first_err: Malformed | None = None
    for obj in objs:
        if not isinstance(obj, dict) or _tool_name(obj) is None:
            continue
        res = validate(_tool_name(obj), _call_args(obj), raw)
        if isinstance(res, ToolCall):
            return res
        first_err = first_err or res
    return first_err


def _python_call(text: str, raw: str) -> ToolCall | Malformed | None:
    """`read(path="x")` / `bash("ls")`: a known tool called with Python syntax."""
    for m in _PY_CALL.finditer(text):
        name = _TOOL_ALIASES.get(m.group(1).lower(), m.group(1).lower())
        if name not in TOOLS:
            continue
        src = text[m.start(1):]
        node = None
        ends = [i + 1 for i, c in enumerate(src[:20_000]) if c == ")"][:64]
        for end in ends:
            try:
                node = ast.parse(src[:end], mode="eval").body
                break
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue
        if not isinstance(node, ast.Call):
            return Malformed(f"could not read the arguments of {name}(...)", raw)
        try:
            pos = [ast.literal_eval(a) for a in node.args]
            kw = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
        except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
            return Malformed(f"the arguments of {name}(...) must be plain literals", raw)
        spec = TOOLS[name]
        names = [*spec.required, *spec.optional]
        args = {names[i]: v for i, v in enumerate(pos[:len(names)])}
        return validate(name, {**args, **kw}, raw)
    return None


def parse_action(text: str) -> Action:
    """Read one model reply as a tool call, a final answer, or a malformed attempt."""
    raw = text if isinstance(text, str) else str(text)
    try:
        return _parse(raw)
    except RecursionError:
        return Malformed("the tool call is nested too deeply to read", raw)


def _parse(raw: str) -> Action:
    tag = re.search(r"<\s*tool_call\s*>", raw)
    if tag:
        res = _from_objects(_objects(raw, tag.end(), limit=2), raw)
        if res is not None:
            return res
        return Malformed("the text after <tool_call> is not a JSON object with \"name\" and "
                         "\"arguments\"", raw)
    res = _from_objects(_objects(raw), raw)
    if res is not None:
        return res
    res = _python_call(raw, raw)
    if res is not None:
        return res
    if _LOOKS_LIKE_CALL.search(raw):
        return Malformed("this looks like a tool call but could not be read", raw)
    return Answer(raw.strip())


MALFORMED_PREFIX = "Your tool call could not be used:"


def malformed_feedback(m: Malformed) -> str:
    """The message the model sees after a malformed call (the format, no copyable call)."""
    return (f"{MALFORMED_PREFIX} {m.error}. Write exactly one call in the "
            f"format {CALL_FORMAT}, or answer in plain words when you are done.")
