"""Prompts for code problems (LiveCodeBench style, kept short) and code extraction.

build_chat: system message asking for one correct Python program in one markdown code
block; the user message holds the question and a format note that depends on the problem
(starter code to complete / read stdin, write stdout / the required function name).

extract_code, in order:
  1. the last fenced block tagged python/py/python3 or untagged (other languages are
     skipped; a tag alone on the line after a bare ``` is read as the tag) -- when the caller names the entry point, the last such block that defines
     it (small models often end with an example-call block); a final fence that is never closed (a truncated answer) counts as a block
     running to the end of the text;
  2. no usable fence: the whole text if it parses as Python with at least one real
     statement (not a lone name or string);
  3. else, the text from the first line starting with def/class/import/from/@ to the end,
     trimmed of trailing prose lines while that makes it parse;
  4. else None.
Reasoning: when a '</think>' appears outside code fences, the text after the last one
(the answer) is searched first, then the whole text (a truncated reasoning may still hold
the only draft).
"""

from __future__ import annotations

import ast
import re

from selfdistill.generation.base import Chat
from selfdistill.problems.schema import Problem

DEFAULT_SYSTEM_PROMPT = (
    "You are an expert Python programmer. You will be given a programming problem. "
    "Write a correct Python program that solves it and passes all tests. "
    "Reply with the complete program in one markdown code block: ```python ... ```."
)

_FENCE_NOTE = "Write the complete solution in one ```python code block."


def format_instruction(problem: Problem) -> str:
    """The one-paragraph 'format' note for a problem (depends on its test kind)."""
    kind = problem.test_kind
    if problem.starter_code.strip():
        note = "Complete the starter code."
        if kind == "call" and problem.entry_point:
            note += f" The tests call `{problem.entry_point}`."
        elif kind == "assert" and problem.entry_point:
            note += f" Keep the function name `{problem.entry_point}`."
        return f"{note} {_FENCE_NOTE}"
    if kind == "stdio":
        return (
            "Read the input from standard input and print the answer to standard output. "
            f"{_FENCE_NOTE}"
        )
    if problem.entry_point:
        return f"Write a Python function named `{problem.entry_point}`. {_FENCE_NOTE}"
    return _FENCE_NOTE


def user_message(problem: Problem) -> str:
    """The user turn: question, format note, then the starter code when there is one."""
    starter = problem.starter_code.rstrip()
    statement = problem.statement.strip()
    block = f"```python\n{starter}\n```"
    if starter and starter.strip() == statement:  # HumanEval: the prompt is the starter code
        parts = [f"### Question\n{block}", f"### Format\n{format_instruction(problem)}"]
    else:
        parts = [f"### Question\n{statement}", f"### Format\n{format_instruction(problem)}"]
        if starter:
            parts.append(block)
    parts.append("### Answer")
    return "\n\n".join(parts) + "\n"


def build_chat(problem: Problem, system_prompt: str | None = None) -> Chat:
    """System + user messages for a problem; system_prompt='' leaves the system turn out."""
    system = DEFAULT_SYSTEM_PROMPT if system_prompt is None else system_prompt
    chat: Chat = []
    if system:
        chat.append({"role": "system", "content": system})
    chat.append({"role": "user", "content": user_message(problem)})
    return chat


_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def strip_reasoning(text: str) -> str:
    """Remove <think>...</think> blocks; a stray '</think>' drops all text before it and an
    unclosed '<think>' drops the rest (the answer never came)."""
    text = _THINK_BLOCK.sub("", text)
    low = text.lower()
    close = low.rfind("</think>")
    if close != -1:
        text = text[close + len("</think>") :]
        low = text.lower()
    open_ = low.find("<think>")
    if open_ != -1:
        text = text[:open_]
    return text.strip("\n")


_PY_TAGS = {"", "python", "py", "python3", "py3", "ipython"}
_LONE_TAGS = {"python", "py", "python3", "py3"}


def _fence_tag(line: str) -> str | None:
    """The language tag if this line (outside a block) opens a fence, else None.

    A line opens a fence when it holds an odd number of ``` runs ("```python",
    "Here it is: ```py"); "use ```x``` here" is inline code and opens nothing.
    """
    if line.count("```") % 2 == 0:
        return None
    rest = line[line.rfind("```") + 3 :].strip()
    return rest.split()[0].lower() if rest else ""


def _fenced_blocks(text: str) -> list[tuple[str, str, bool]]:
    """(tag, content, closed) for every ``` block, in order; line-based."""
    blocks: list[tuple[str, str, bool]] = []
    tag: str | None = None  # None: outside a block
    lines: list[str] = []
    for line in text.split("\n"):
        if tag is None:
            tag = _fence_tag(line)
            lines = []
            continue
        stripped = line.strip()
        if tag == "" and not lines and stripped.lower() in _LONE_TAGS:
            tag = stripped.lower()  # "```", newline, "python": the tag on its own line
            continue
        if stripped.startswith("```"):  # closing fence (any text after it is ignored)
            blocks.append((tag, "\n".join(lines), True))
            tag = None
        elif stripped.endswith("```"):  # code```: fence glued to the last line
            lines.append(line[: line.rfind("```")])
            blocks.append((tag, "\n".join(lines), True))
            tag = None
        else:
            lines.append(line)
    if tag is not None:
        blocks.append((tag, "\n".join(lines), False))
    return blocks


def _is_real_python(text: str) -> bool:
    """Parses as Python and has a statement other than a lone name/constant expression."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return any(
        not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Name | ast.Constant))
        for n in tree.body
    )


_CODE_START = re.compile(r"^(def |class |import |from \S+ import |@)")


def _answer_start(text: str) -> int:
    """Index just past the last '</think>' that is outside any code fence (0 if none)."""
    pos, start, inside = 0, 0, False
    for line in text.split("\n"):
        if inside:
            stripped = line.strip()
            if stripped.startswith("```") or stripped.endswith("```"):
                inside = False
        else:
            low = line.lower()
            if "</think>" in low:
                start = pos + low.rfind("</think>") + len("</think>")
            inside = _fence_tag(line) is not None
        pos += len(line) + 1
    return start


def _defines(code: str, name: str) -> bool:
    """True when code has a top-level `def name` (or a class with that method)."""
    return re.search(rf"^\s*def\s+{re.escape(name)}\s*\(", code, re.MULTILINE) is not None


def _extract(text: str, entry_point: str | None = None) -> str | None:
    blocks = [c for tag, c, _closed in _fenced_blocks(text) if tag in _PY_TAGS and c.strip()]
    if blocks:
        if entry_point:
            # Small models often end with an "### Output" block that only calls the
            # function; the last block that defines it is the answer.
            defining = [b for b in blocks if _defines(b, entry_point)]
            if defining:
                return defining[-1]
        return blocks[-1]
    if "```" in text:
        return None  # fenced, but nothing usable (other languages, empty blocks)
    if _is_real_python(text):
        return text.strip("\n")
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if _CODE_START.match(line):
            body = lines[i:]
            for end in range(len(body), 0, -1):
                candidate = "\n".join(body[:end]).rstrip()
                if _is_real_python(candidate):
                    return candidate
            return "\n".join(body).rstrip()
    return None


def extract_code(text: str, entry_point: str | None = None) -> str | None:
    """The program in a model answer (see the module doc for the fallbacks), or None.

    With entry_point (the function the tests call), the last block defining it wins over
    later blocks that do not.
    """
    if not text or not text.strip():
        return None
    start = _answer_start(text)
    if start:
        found = _extract(text[start:], entry_point)
        if found is not None:
            return found
    return _extract(text, entry_point)
