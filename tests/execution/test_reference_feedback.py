"""The SDPO reference's feedback text, from verdicts graded in the real sandbox (collect=N)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfdistill.execution import FeedbackConfig, SandboxConfig, Verdict, grade, reference_feedback
from selfdistill.execution.feedback import NO_CODE, TRUNCATED_ATTEMPT, _input_block
from selfdistill.problems.schema import Problem, TestCase

CFG = SandboxConfig(timeout_s=3.0)


def stdio(inputs_outputs):
    return Problem("s", "", [TestCase("stdio", i, o) for i, o in inputs_outputs])


def test_up_to_n_wrong_answers_shortest_first():
    # Tests 1, 3, 4 fail; test 4 has the shortest input + output, then test 1.
    p = stdio([("1000\n", "2000\n"), ("2\n", "3\n"), ("30000000\n", "1\n"), ("4\n", "9\n")])
    v = grade(p, "print(int(input()) + 1)", config=CFG, collect=2)
    assert (v.status, v.tests_passed, v.failing_test_index) == ("wrong_answer", 1, 0)
    assert sorted(c["index"] for c in v.failures) == [0, 3]  # the 2 shortest kept
    text = reference_feedback(v)
    assert text.index("Test Case 4: Wrong Answer") < text.index("Test Case 1: Wrong Answer")
    assert "Test Case 3" not in text
    assert "Input\n4\n\nOutput\n5\n\nExpected\n9" in text
    one = reference_feedback(v, cfg=FeedbackConfig(max_tests=1))
    assert "Test Case 4" in one and "Test Case 1" not in one


def test_runtime_error_is_shown_alone_and_stops_grading():
    p = stdio([("1\n", "9\n"), ("0\n", "0\n"), ("2\n", "9\n"), ("3\n", "9\n")])
    v = grade(p, "x = int(input())\nprint(10 // x)", config=CFG, collect=2)
    assert v.status == "wrong_answer" and v.failing_test_index == 0
    statuses = {c["index"]: c["status"] for c in v.failures}
    assert statuses == {0: "wrong_answer", 1: "runtime_error"}  # tests 3, 4 never ran
    text = reference_feedback(v)
    assert text.startswith("Runtime Error\n") and "ZeroDivisionError" in text
    assert "Last Executed Input\n0" in text and "Wrong Answer" not in text


def test_time_out_is_shown_alone_and_stops_grading():
    p = stdio([("1\n", "9\n"), ("2\n", "2\n"), ("3\n", "9\n")])
    code = "x = int(input())\nwhile x == 2:\n    pass\nprint(x)"
    v = grade(p, code, config=SandboxConfig(timeout_s=1.0), collect=2)
    assert {c["index"]: c["status"] for c in v.failures} == {0: "wrong_answer", 1: "time_limit"}
    text = reference_feedback(v)
    assert text.startswith("Time Limit Exceeded\n\nLast Executed Input\n2"), text
    assert "Wrong Answer" not in text


def test_no_code_and_truncated_attempt():
    v = grade(stdio([("1\n", "1\n")]), None, config=CFG, collect=2)
    assert reference_feedback(v) == NO_CODE
    assert reference_feedback(v, truncated=True) == TRUNCATED_ATTEMPT
    assert FeedbackConfig().render(v, truncated=True) == TRUNCATED_ATTEMPT
    assert FeedbackConfig(style="judge").render(v).startswith("No code was found")


def test_without_collect_the_first_failure_is_used():
    v = grade(stdio([("1\n", "3\n"), ("2\n", "5\n")]), "print(int(input()) + 1)", config=CFG)
    v.failures = []
    assert reference_feedback(v).startswith("Test Case 1: Wrong Answer")
    assert FeedbackConfig(style="judge").grade_collect == 0 and FeedbackConfig().grade_collect == 2


@given(st.text(max_size=3000), st.text(max_size=3000), st.text(max_size=600),
       st.integers(1, 40))
def test_caps_on_fields_lines_and_total(inp, exp, act, lines):
    v = Verdict(passed=False, status="wrong_answer", tests_passed=0, tests_total=1,
                failing_test_index=0, failures=[
                    {"index": 0, "status": "wrong_answer", "message": "", "input": inp,
                     "expected": exp, "actual": act, "size": 1}])
    cfg = FeedbackConfig(max_chars=2000, field_chars=250, input_lines=lines)
    text = reference_feedback(v, cfg=cfg)
    assert len(text) <= 2000 and text.startswith("Test Case 1: Wrong Answer")
    block = _input_block("Input", inp, cfg)[1:]
    more = [ln for ln in block if ln.startswith("... (") and ln.endswith("more lines)")]
    assert len(block) - len(more) <= lines and len(more) == (len(inp.splitlines()) > lines)
    assert all(len(ln) <= 253 for ln in block if ln not in more)
    assert "\n".join(["Input", *block]) in text or len(text) == 2000


def test_accepted_gives_no_feedback():
    v = grade(stdio([("1\n", "2\n")]), "print(int(input()) + 1)", config=CFG, collect=2)
    assert v.passed and reference_feedback(v) == ""


@pytest.mark.parametrize("status", ["runtime_error", "memory_limit"])
def test_error_statuses_count_as_errors(status):
    v = Verdict(passed=False, status="wrong_answer", tests_passed=0, tests_total=2,
                failing_test_index=0, failures=[
                    {"index": 0, "status": "wrong_answer", "message": "", "input": "1",
                     "expected": "2", "actual": "3", "size": 2},
                    {"index": 1, "status": status, "message": "boom", "input": "x",
                     "expected": "2", "actual": None, "size": 1}])
    assert reference_feedback(v) == "Runtime Error\nboom\n\nLast Executed Input\nx"
