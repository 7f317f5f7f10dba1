"""EvalPlus's sanitizer (prompts.sanitize): the rules its evalplus/sanitize.py applies."""

from __future__ import annotations

import ast

from hypothesis import given
from hypothesis import strategies as st

from selfdistill.prompts.sanitize import EVALPLUS_STOPS, code_span, cut_at_stops, sanitize

FN = "def add(a, b):\n    return helper(a) + b\n"
HELPER = "def helper(x):\n    return x\n"


def test_the_issue_shape_fence_newline_python_line() -> None:
    """```, then `python` on its own line: the stray name is dropped, the function kept."""
    text = f"Here you go:\n```\npython\nimport math\n\n{HELPER}\n{FN}```\nIt adds."
    assert sanitize(text, "add") == f"import math\n{HELPER}{FN}".rstrip("\n")


def test_keeps_imports_entry_point_and_its_dependencies_only() -> None:
    code = (f"import os\nfrom typing import List\n{HELPER}\ndef unused():\n    return 1\n\n"
            f"{FN}\nLIMIT = 3\nprint(add(1, 2))\nassert add(1, 1) == 2\n"
            "if __name__ == '__main__':\n    print(add(2, 2))\n")
    assert sanitize(code, "add") == f"import os\nfrom typing import List\n{HELPER}{FN}".rstrip()
    # without an entry point every definition stays (statements still go)
    assert "def unused" in sanitize(code) and "LIMIT = 3" in sanitize(code)
    assert "print(" not in sanitize(code)


def test_tree_sitter_quirks_are_reproduced() -> None:
    """EvalPlus keeps no decorated definitions, no __future__ import, no return-less def."""
    code = ("from __future__ import annotations\nimport functools\n"
            "@functools.cache\ndef fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
            "def noop():\n    pass\n"
            "def f(n):\n    noop()\n    return fib(n)\n")
    assert sanitize(code, "f") == "import functools\ndef f(n):\n    noop()\n    return fib(n)"


def test_first_definition_of_a_name_wins() -> None:
    code = "def f():\n    return 1\n\ndef f():\n    return 2\n"
    assert sanitize(code, "f") == "def f():\n    return 1"


def test_longest_parseable_run_is_the_code() -> None:
    text = "Text.\n```python\nx = 1\ny = 2\nz = 3\n```\nMore.\n```python\nw = 1\n```"
    assert code_span(text) == "x = 1\ny = 2\nz = 3"
    assert sanitize("no code here at all") == "no code here at all"  # first line, as EvalPlus
    assert sanitize("") == ""


def test_stops_cut_the_answer_and_tabs_become_spaces() -> None:
    assert "\n```\n" in EVALPLUS_STOPS and "\nprint(" in EVALPLUS_STOPS
    assert cut_at_stops("def f():\n\treturn 1\n```\nprose\nprint(f())") == \
        "def f():\n    return 1"
    assert cut_at_stops("x = 1\nprint(x)\n```\n") == "x = 1"


NAMES = st.sampled_from(["f", "g", "h", "k"])


@st.composite
def programs(draw: st.DrawFn) -> str:
    """Functions calling each other, top-level statements and prose around a fence."""
    parts = []
    for name in draw(st.lists(NAMES, min_size=1, max_size=5)):
        callee = draw(NAMES)
        parts.append(f"def {name}(x):\n    return {callee}(x - 1) if x > 0 else 0\n")
        if draw(st.booleans()):
            parts.append(f"print({name}(2))\n")
    body = "\n".join(parts)
    return draw(st.sampled_from(["{}", "```python\n{}```\nDone.", "Code:\n```\npython\n{}```"])
                ).format(body)


@given(programs(), NAMES)
def test_sanitized_code_parses_and_sanitizing_again_changes_nothing(text: str, entry: str
                                                                    ) -> None:
    once = sanitize(text, entry)
    ast.parse(once)
    assert sanitize(once, entry) == once
    defined = {n.name for n in ast.parse(once).body if isinstance(n, ast.FunctionDef)}
    if f"def {entry}(" in text:  # the entry point and what it reaches, no statements
        assert entry in defined and "print(" not in once
    else:  # nothing to keep: EvalPlus falls back to the code span itself
        assert once == code_span(text)


def test_trailing_comments_of_a_block_stay_with_it() -> None:
    """tree-sitter's block ends at its last indented comment (a truncated answer's tail)."""
    code = "def f():\n    x = 1\n\n    # then\n    return x\n    # more to come\n\n# done\n"
    assert sanitize(code, "f") == "def f():\n    x = 1\n\n    # then\n    return x\n    # more to come"
