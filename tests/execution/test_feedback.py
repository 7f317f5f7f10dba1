"""Feedback text and output comparison."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from selfdistill.execution import Verdict, compare_stdout, format_feedback, values_equal


def _v(**kw: object) -> Verdict:
    base = dict(passed=False, status="wrong_answer", tests_passed=1, tests_total=3)
    base.update(kw)
    return Verdict(**base)  # type: ignore[arg-type]


def test_feedback_wrong_answer_stdio() -> None:
    """Input, expected and got are all shown, with the test number."""
    text = format_feedback(_v(failing_input="1 2\n", expected="3\n", actual="4\n", failing_test_index=1))
    assert text.startswith("Wrong answer on test 2 (1/3 tests passed).")
    assert "Input:\n1 2" in text and "Expected:\n3" in text and "Got:\n4" in text


def test_feedback_assert_style() -> None:
    """For assert tests the failing assert is the message."""
    text = format_feedback(_v(failing_test_index=0, message="`assert f(1) == 2` failed"))
    assert "assert f(1) == 2" in text


def test_feedback_runtime_and_timeout_and_syntax() -> None:
    """Tracebacks keep their last lines; time-outs say the limit."""
    tb = "Traceback (most recent call last):\n" + "".join(f'  File "x", line {i}\n' for i in range(20)) + "ZeroDivisionError: division by zero\n"
    text = format_feedback(_v(status="runtime_error", message="ZeroDivisionError: division by zero",
                              stderr_tail=tb, failing_test_index=0), traceback_lines=3)
    assert "ZeroDivisionError" in text and "line 0\n" not in text
    text = format_feedback(_v(status="time_limit", timeout_s=2.0, failing_test_index=0))
    assert text.startswith("Time limit exceeded (2 s) on test 1")
    text = format_feedback(_v(status="syntax_error", message="SyntaxError: invalid syntax"))
    assert text.startswith("Syntax error: SyntaxError: invalid syntax")
    assert format_feedback(_v(status="memory_limit", message="Memory limit exceeded (1536 MB)")).startswith("Memory limit exceeded")
    assert format_feedback(_v(status="no_code")).startswith("No code")
    assert format_feedback(_v(passed=True, status="accepted", tests_passed=3)).startswith("Accepted")


@given(st.text(), st.text(), st.text(), st.integers(min_value=20, max_value=2000))
def test_feedback_respects_budget(inp: str, exp: str, act: str, budget: int) -> None:
    """Whatever the fields hold, the text stays within the character budget."""
    text = format_feedback(_v(failing_input=inp, expected=exp, actual=act, stderr_tail=act,
                              failing_test_index=0), char_budget=budget)
    assert len(text) <= budget


lines = st.lists(st.text(alphabet="abc 123.-\t", max_size=12), max_size=6)


@given(lines)
def test_compare_reflexive_and_whitespace_insensitive(ls: list[str]) -> None:
    """Output equals itself, also with extra surrounding whitespace and trailing newlines."""
    text = "\n".join(ls)
    assert compare_stdout(text, text)[0]
    padded = "\n".join("  " + ln + " \t" for ln in ls) + "\n\n"
    assert compare_stdout(padded, text)[0]


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9))
def test_compare_numeric_tolerance(x: float) -> None:
    """With a declared tolerance, numbers within 1e-6 (relative or absolute) match; clearly
    different ones do not."""
    assert compare_stdout(f"{x:.12f}", repr(x), tol=1e-6)[0]
    assert compare_stdout(repr(x + 1e-9), repr(x), tol=1e-6)[0]
    assert not compare_stdout(repr(x + 1 + abs(x) * 1e-3), repr(x), tol=1e-6)[0]


@given(st.integers(min_value=-10**30, max_value=10**30), st.integers(min_value=1, max_value=10**6))
def test_compare_integers_exact(n: int, d: int) -> None:
    """Integers in stdout compare exactly, with or without a declared tolerance."""
    assert compare_stdout(str(n), str(n))[0]
    assert not compare_stdout(str(n + d), str(n))[0]
    assert not compare_stdout(str(n + d), str(n), tol=1e-6)[0]


def test_compare_decimals_like_lcb() -> None:
    """LiveCodeBench's default: tokens compared as decimals, so 1.0 equals 1.00; no tolerance."""
    assert compare_stdout("1.0 2", "1.00 2.0")[0]
    assert compare_stdout("1e3", "1000")[0]
    assert not compare_stdout("0.3333333333333333", "0.333333")[0]
    assert not compare_stdout("999999999", "999999000")[0]
    assert not compare_stdout(str(10**12), "1000000500000")[0]
    assert not compare_stdout("50000000000000001", "50000000000000000")[0]
    assert not compare_stdout("nan", "NaN")[0] and not compare_stdout("sNaN", "snan")[0]
    assert compare_stdout("YES 1", "YES 1")[0] and not compare_stdout("yes 1", "YES 1.0")[0]


def test_compare_reports_first_bad_line() -> None:
    """The index of the first differing line is returned."""
    assert compare_stdout("1\n2\n3", "1\n2\n4") == (False, 2)
    assert compare_stdout("1\n2", "1\n2\n3") == (False, 2)
    assert compare_stdout("yes", "YES") == (False, 0)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=12,
)


def _tuplify(v: object) -> object:
    if isinstance(v, list):
        return tuple(_tuplify(x) for x in v)
    if isinstance(v, dict):
        return {k: _tuplify(x) for k, x in v.items()}
    return v


@given(json_values)
def test_values_equal_reflexive_and_tuples_are_lists(v: object) -> None:
    """A value equals itself and its tuple-ified twin."""
    assert values_equal(v, v)
    assert values_equal(_tuplify(v), v)


def test_values_equal_edges() -> None:
    """Booleans are not numbers; floats are exact unless a tolerance is declared; nan never
    matches; ints are exact even with a tolerance."""
    assert not values_equal(True, 1) and not values_equal(1, True)
    assert not values_equal(0.1 + 0.2, 0.3)
    assert values_equal(0.1 + 0.2, 0.3, tol=1e-6) and not values_equal(0.3, 0.31, tol=1e-6)
    assert not values_equal(999999999, 999999000, tol=1e-6)
    assert not values_equal(10**12, 1000000500000, tol=1e-6)
    assert not values_equal(math.nan, math.nan)
    assert values_equal(2, 2.0) and not values_equal([1, 2], [1, 2, 3])


def test_feedback_several_cases_from_a_real_verdict() -> None:
    """With stop_at_first_failure=False the feedback can list more failing tests."""
    from selfdistill.execution import SandboxConfig, grade
    from selfdistill.problems.schema import Problem, TestCase

    p = Problem("s", "", [TestCase("stdio", f"{i}\n", f"{2 * i}\n") for i in range(4)])
    v = grade(p, "print(int(input()) + 1)", config=SandboxConfig(timeout_s=3.0),
              stop_at_first_failure=False)
    assert (v.status, v.tests_passed, v.failing_test_index) == ("wrong_answer", 1, 0)
    assert [c["index"] for c in v.failures] == [0, 2, 3]
    text = format_feedback(v, max_cases=2)
    assert "Wrong answer on test 1" in text and "Test 3: Wrong answer." in text
    assert "Test 4" not in text
    assert Verdict.from_dict(v.to_dict()) == v
    assert len(format_feedback(v, max_cases=3, char_budget=60)) <= 60
