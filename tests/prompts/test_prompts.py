"""Prompt building and code extraction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfdistill.problems.schema import Problem, TestCase
from selfdistill.prompts.task import (
    DEFAULT_SYSTEM_PROMPT,
    build_chat,
    extract_code,
    strip_reasoning,
)


def _problem(
    kind: str, starter: str = "", entry: str | None = None, statement: str = "Add two numbers."
) -> Problem:
    return Problem(
        id="t/1", statement=statement, tests=[TestCase(kind=kind, input="1\n2", output="3")],
        starter_code=starter, entry_point=entry,
    )  # fmt: skip


def test_stdio_prompt_asks_for_stdin_stdout():
    chat = build_chat(_problem("stdio"))
    assert [m["role"] for m in chat] == ["system", "user"]
    assert chat[0]["content"] == DEFAULT_SYSTEM_PROMPT
    user = chat[1]["content"]
    assert "Add two numbers." in user
    assert "standard input" in user and "standard output" in user
    assert "```python" in user


def test_starter_code_is_shown_and_function_named():
    starter = "class Solution:\n    def add(self, a: int, b: int) -> int:\n        "
    user = build_chat(_problem("call", starter, "add"))[1]["content"]
    assert "class Solution:\n    def add(self, a: int, b: int) -> int:" in user
    assert "Complete the starter code" in user and "`add`" in user
    assert "standard input" not in user


def test_assert_problem_without_starter_names_the_function():
    user = build_chat(_problem("assert", entry="max_chain_length"))[1]["content"]
    assert "named `max_chain_length`" in user


def test_humaneval_style_prompt_is_not_repeated():
    prompt = 'def f(x):\n    """Return x."""\n'
    user = build_chat(_problem("assert", prompt, "f", statement=prompt))[1]["content"]
    assert user.count('"""Return x."""') == 1


def test_system_prompt_override_and_omission():
    assert build_chat(_problem("stdio"), system_prompt="Be brief.")[0] == {
        "role": "system",
        "content": "Be brief.",
    }
    assert [m["role"] for m in build_chat(_problem("stdio"), system_prompt="")] == ["user"]


def test_prompt_is_short():
    # the default model is a 135M instruct model: keep the scaffolding small
    user = build_chat(_problem("stdio", statement="x"))[1]["content"]
    assert len(DEFAULT_SYSTEM_PROMPT) + len(user) < 600


# ---- extraction -----------------------------------------------------------------------

code_text = st.text(
    alphabet=st.characters(blacklist_characters="`", blacklist_categories=("Cs",)), min_size=1
).filter(lambda s: s.strip() != "")


@given(code_text, st.sampled_from(["python", "py", "", "Python", "python3"]))
def test_fenced_code_is_recovered_exactly(code, tag):
    assert extract_code(f"Here you go:\n```{tag}\n{code}\n```\nDone.") == code


@given(code_text, code_text)
def test_last_block_wins(first, last):
    text = f"```python\n{first}\n```\nBetter:\n```python\n{last}\n```\n"
    assert extract_code(text) == last


@given(code_text)
def test_unterminated_final_fence_takes_the_rest(code):
    assert extract_code(f"```python\n{code}") == code


def test_other_languages_are_skipped():
    text = "```python\nprint(1)\n```\nRun it with:\n```bash\npython sol.py\n```"
    assert extract_code(text) == "print(1)"
    assert extract_code("```bash\nls\n```") is None


def test_fence_glued_to_code_and_inline_text():
    assert extract_code("Code: ```python\nx = 1\nprint(x)```") == "x = 1\nprint(x)"
    assert extract_code("Use ```x``` like this:\n```\ny = 2\n```") == "y = 2"


def test_unfenced_fallbacks():
    assert extract_code("def f(x):\n    return x + 1\n") == "def f(x):\n    return x + 1"
    assert (
        extract_code("Here it is:\ndef f(x):\n    return x\nThis returns x.")
        == "def f(x):\n    return x"
    )
    assert extract_code("I am not sure how to solve this.") is None
    assert extract_code("Sure") is None
    assert extract_code("") is None


def test_reasoning_is_stripped_before_extraction():
    text = "<think>try:\n```python\nbad()\n```\n</think>\n```python\ngood()\n```"
    assert extract_code(text) == "good()"
    assert strip_reasoning("<think>a</think>answer") == "answer"
    assert strip_reasoning("a</think>answer") == "answer"  # template opened the think block
    assert strip_reasoning("answer<think>unfinished") == "answer"
    assert strip_reasoning("<THINK>x</THINK>y<think>z</think>w") == "yw"


def test_prompt_extract_grade_feedback_pipeline():
    """Problem -> chat -> (fake) answer -> extract_code -> sandbox verdict -> feedback text."""
    execution = pytest.importorskip("selfdistill.execution")
    if not hasattr(execution, "grade") or not hasattr(execution, "format_feedback"):
        pytest.skip("sandbox grade/format_feedback not available yet")
    from selfdistill.problems.humaneval import load_humaneval

    p = load_humaneval()[0]
    assert "has_close_elements" in build_chat(p)[1]["content"]
    good = f"Sure!\n```python\n{p.reference}\n```\nThis checks every pair."
    wrong = f"```python\n{p.starter_code}    return False\n```"
    assert execution.grade(p, extract_code(good)).passed
    verdict = execution.grade(p, extract_code(wrong))
    assert not verdict.passed
    assert execution.format_feedback(verdict).strip()


def test_tag_alone_on_the_line_after_the_fence_is_not_code() -> None:
    """Qwen2.5-Coder's shape without a response prefix: ```, newline, `python`, the code."""
    answer = "```\npython\ndef f(x):\n    return x\n```\nDone."
    assert extract_code(answer, "f") == "def f(x):\n    return x"
    # a real first statement that happens to be a bare name stays (only the tag words go)
    assert extract_code("```\nx\ny = 1\n```") == "x\ny = 1"
