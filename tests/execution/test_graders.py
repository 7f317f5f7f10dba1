"""The three graders and the Verdict they share."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from selfdistill.execution import SandboxConfig, Verdict, grade
from selfdistill.problems.schema import Problem, TestCase

CFG = SandboxConfig(timeout_s=3.0)
REPO = Path(__file__).resolve().parents[2]


def assert_problem(*tests: str) -> Problem:
    return Problem("a", "", [TestCase("assert", t) for t in tests], entry_point="f")


def call_problem(*cases: tuple[str, str], name: str = "f") -> Problem:
    return Problem("c", "", [TestCase("call", i, o) for i, o in cases], entry_point=name)


def stdio_problem(*cases: tuple[str, str]) -> Problem:
    return Problem("s", "", [TestCase("stdio", i, o) for i, o in cases])


HUMANEVAL_LIKE = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(5) == 6\n\ncheck(f)\n"


@pytest.mark.parametrize(("code", "status"), [
    ("def f(x):\n    return x + 1\n", "accepted"),
    ("def f(x):\n    return x\n", "wrong_answer"),
    ("def f(x):\n    return 1 / 0\n", "runtime_error"),
    ("def f(x) return x\n", "syntax_error"),
    ("def f(x):\n    x = bytearray(1 << 40)\n", "memory_limit"),
    ("def f(x):\n    while True:\n        pass\n", "time_limit"),
])
def test_assert_program_statuses(code: str, status: str) -> None:
    """HumanEval-style programs get each status."""
    cfg = CFG.with_(timeout_s=1.0)
    v = grade(assert_problem(HUMANEVAL_LIKE), code, config=cfg)
    assert v.status == status
    assert v.passed == (status == "accepted")
    assert (v.tests_passed, v.tests_total) == ((1, 1) if v.passed else (0, 1))
    assert v.duration_s > 0 and v.isolation
    if status == "wrong_answer":
        assert "assert candidate(1) == 2" in v.message
    if status == "runtime_error":
        assert "ZeroDivisionError" in v.message and "ZeroDivisionError" in v.stderr_tail
    if status == "time_limit":
        assert v.message.startswith("Time limit exceeded (1 s)")


def test_mbpp_style_counts_and_stop_at_first_failure() -> None:
    """One TestCase per assert: counts are right with and without stopping early."""
    p = assert_problem("assert f(1) == 2", "assert f(2) == 4", "assert f(3) == 4", "assert f(0) == 1")
    code = "def f(x):\n    return x + 1\n"
    v = grade(p, code, config=CFG)
    assert (v.status, v.tests_passed, v.tests_total, v.failing_test_index) == ("wrong_answer", 1, 4, 1)
    assert v.failing_input == "assert f(2) == 4"
    v = grade(p, code, config=CFG, stop_at_first_failure=False)
    assert (v.status, v.tests_passed, v.failing_test_index) == ("wrong_answer", 3, 1)


def test_setup_code_and_builtins_restored() -> None:
    """Test code runs with pristine builtins even if the candidate replaced some."""
    code = ("import builtins, sys, types\nbuiltins.sorted = lambda x: [0]\n"
            "sys.modules['math'] = types.ModuleType('math')\ndef f(x):\n    return list(x)\n")
    test = "import math\nassert sorted([2, 1]) == [1, 2]\nassert f([1, 3]) == [1, 3]\nassert math.sqrt(4) == 2\n"
    v = grade(assert_problem(test), code, config=CFG)
    assert v.status == "accepted"


def test_call_based_function_and_solution_class() -> None:
    """LeetCode style: top-level function or Solution method, one JSON value per line."""
    p = call_problem(("[1, 2, 3]\n2", "[3, 4, 5]"), ("[]\n7", "[]"), name="addAll")
    assert grade(p, "def addAll(xs, k):\n    return [x + k for x in xs]\n", config=CFG).passed
    sol = "class Solution:\n    def addAll(self, xs, k):\n        return tuple(x + k for x in xs)\n"
    assert grade(p, sol, config=CFG).passed  # tuples compare as lists
    v = grade(p, "def addAll(xs, k):\n    return xs\n", config=CFG)
    assert v.status == "wrong_answer" and v.expected == "[3, 4, 5]" and v.actual == "[1, 2, 3]"
    v = grade(p, "def other(xs, k):\n    return xs\n", config=CFG)
    assert v.status == "runtime_error" and "addAll" in v.message


def test_call_based_values() -> None:
    """Floats within a declared tolerance (exact otherwise), dicts, strings, booleans, None."""
    third = call_problem(("1\n3", "0.3333333333"))
    assert not grade(third, "def f(a, b):\n    return a / b\n", config=CFG).passed  # exact by default
    third.float_tolerance = 1e-6
    assert grade(third, "def f(a, b):\n    return a / b\n", config=CFG).passed
    third.tests = [TestCase("call", "1\n3", "999999000")]
    assert not grade(third, "def f(a, b):\n    return 999999999\n", config=CFG).passed  # ints exact
    assert grade(call_problem(('"ab"', '{"a": [1], "b": [1]}')),
                 "def f(s):\n    return {c: [1] for c in s}\n", config=CFG).passed
    assert grade(call_problem(("1", "true")), "def f(x):\n    return x == 1\n", config=CFG).passed
    assert not grade(call_problem(("1", "true")), "def f(x):\n    return 1\n", config=CFG).passed
    assert grade(call_problem(("1", "null")), "def f(x):\n    pass\n", config=CFG).passed
    assert grade(call_problem(("[3, 1, 2]", "[1, 2, 3]")), "def f(x):\n    return sorted(set(x))\n", config=CFG).passed


def test_stdio_grader() -> None:
    """Line-by-line after stripping, numbers as decimals, and a clear failure report."""
    p = stdio_problem(("1 2\n", "3\n"), ("2.5 0.25\n", "2.75\n"))
    code = "a, b = map(float, input().split())\ns = a + b\nprint(int(s) if s == int(s) else s, '  ')\n"
    assert grade(p, code, config=CFG).passed
    assert not grade(stdio_problem(("", "0.333333\n")), "print(1/3)", config=CFG).passed
    tolerant = stdio_problem(("", "0.333333\n"))
    tolerant.float_tolerance = 1e-6
    assert grade(tolerant, "print(1/3)", config=CFG).passed
    assert grade(stdio_problem(("", "1.00 2\n")), "print(1.0, '2.000')", config=CFG).passed  # decimals
    assert grade(stdio_problem(("", "1 2\n3\n")), "print('1  2')\nprint(3)\n\n", config=CFG).passed
    v = grade(p, "print(3)", config=CFG)
    assert (v.status, v.tests_passed, v.failing_test_index) == ("wrong_answer", 1, 1)
    assert (v.failing_input, v.expected, v.actual) == ("2.5 0.25\n", "2.75\n", "3\n")
    v = grade(p, "import sys\nprint(sys.stdin.read().split()[5])\n", config=CFG)
    assert v.status == "runtime_error" and "IndexError" in v.message


def test_stdio_main_guard_and_exit() -> None:
    """Programs with `if __name__ == '__main__'` and exit() after printing are fine."""
    code = "import sys\ndef main():\n    print(int(input()) * 2)\n    sys.exit(0)\nif __name__ == '__main__':\n    main()\n"
    assert grade(stdio_problem(("21\n", "42\n")), code, config=CFG).passed


def test_truncation_of_large_fields() -> None:
    """Inputs and outputs in a Verdict are cut to max_field_chars."""
    cfg = CFG.with_(max_field_chars=100)
    v = grade(stdio_problem(("x" * 5000, "y" * 5000)), "print('z' * 5000)", config=cfg)
    assert v.status == "wrong_answer"
    assert all(len(s) < 200 for s in (v.failing_input, v.expected, v.actual))


def test_verdict_round_trip() -> None:
    """Verdicts survive JSON records."""
    v = grade(assert_problem("assert f(1) == 3"), "def f(x):\n    return x\n", config=CFG)
    assert Verdict.from_dict(v.to_dict()) == v
    assert Verdict.from_dict({**v.to_dict(), "future_field": 1}) == v


@pytest.mark.slow
def test_humaneval_canonical_and_wrong_variants() -> None:
    """All 164 canonical solutions pass; every wrong variant gets its intended status."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from bench_sandbox import build_workload, to_problem
    finally:
        sys.path.pop(0)
    from selfdistill.execution import grade_many

    items = build_workload()
    verdicts = grade_many([(to_problem(p), p["prompt"] + c) for p, c, _ in items], config=CFG)
    got = [v.status for v in verdicts]
    want = [e for _, _, e in items]
    assert sum(s == "accepted" for s in got[:164]) == 164
    assert got == want


def test_cpu_limit_is_a_time_limit() -> None:
    """Hitting RLIMIT_CPU (even with SIGXCPU ignored) is reported as time_limit."""
    cfg = CFG.with_(timeout_s=6.0, cpu_s=1)
    code = "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass\n"
    v = grade(assert_problem("assert f(1) == 2"), code, config=cfg)
    assert v.status == "time_limit" and "CPU" in v.message


def test_self_kill_is_not_a_time_limit() -> None:
    """A program that kills itself quickly is a runtime error, not a time-out."""
    code = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"
    v = grade(assert_problem("assert f(1) == 2"), code, config=CFG)
    assert v.status == "runtime_error" and "SIGKILL" in v.message
