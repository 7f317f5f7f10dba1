"""The built-in problem set: structure, splits, and that every reference really solves its problem."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from selfdistill.problems import Problem
from selfdistill.problems.builtin import SPLITS, load_builtin

ALL = load_builtin()
BY_ID = {p.id: p for p in ALL}


# ----------------------------------------------------------------------------- structure


def test_size_ids_kinds_and_difficulties() -> None:
    assert len(ALL) >= 150
    ids = [p.id for p in ALL]
    assert len(ids) == len(set(ids))
    assert all(i.startswith("builtin/") for i in ids)
    assert {p.test_kind for p in ALL} == {"assert", "call", "stdio"}
    assert {p.difficulty for p in ALL} == {"easy", "medium", "hard"}
    kinds = Counter(p.test_kind for p in ALL)
    diffs = Counter(p.difficulty for p in ALL)
    assert kinds["assert"] > kinds["call"] > 0 and kinds["stdio"] > 0
    assert diffs["easy"] > diffs["medium"] > diffs["hard"] > 0


@pytest.mark.parametrize("problem", ALL, ids=lambda p: p.id)
def test_problem_is_well_formed(problem: Problem) -> None:
    assert problem.source == "builtin"
    assert problem.reference and problem.reference.strip()
    assert problem.statement.strip()
    assert len(problem.statement.split()) <= 150
    assert "xample" in problem.statement  # every statement carries a worked example
    kinds = {t.kind for t in problem.tests}
    assert len(kinds) == 1
    assert problem.tests[0].public
    assert problem.metadata["split"] in ("train", "dev")
    assert isinstance(problem.metadata["hard_subset"], bool)
    kind = problem.test_kind
    if kind == "assert":
        assert problem.entry_point and problem.entry_point in problem.statement
        assert 1 <= len(problem.tests) <= 8
        if len(problem.tests) == 1:
            assert problem.tests[0].input.rstrip().endswith(f"check({problem.entry_point})")
    else:
        assert 3 <= len(problem.tests) <= 8
    if kind == "call":
        assert problem.entry_point and problem.entry_point in problem.starter_code
        if "class Solution" in problem.starter_code:
            assert problem.metadata["func_name"] == problem.entry_point
    if kind == "stdio":
        assert problem.entry_point is None
    assert Problem.from_dict(problem.to_dict()) == problem


def test_splits_partition_and_are_stratified() -> None:
    train, dev = load_builtin("train"), load_builtin("dev")
    train_ids, dev_ids = {p.id for p in train}, {p.id for p in dev}
    assert not train_ids & dev_ids
    assert train_ids | dev_ids == set(BY_ID)
    assert 0.2 <= len(dev) / len(ALL) <= 0.3
    strata = Counter((p.difficulty, p.test_kind) for p in ALL)
    dev_strata = Counter((p.difficulty, p.test_kind) for p in dev)
    assert set(dev_strata) == set(strata)  # every (difficulty, kind) is represented in dev
    for key, n in strata.items():
        assert abs(dev_strata[key] - n / 4) <= 1


def test_splits_are_deterministic() -> None:
    for split in SPLITS:
        first = [p.to_dict() for p in load_builtin(split)]
        second = [p.to_dict() for p in load_builtin(split)]
        assert first == second


def test_hard_subset() -> None:
    hard = load_builtin("hard")
    assert 20 <= len(hard) <= 30
    assert all(p.metadata["hard_subset"] for p in hard)
    assert {p.difficulty for p in hard} <= {"medium", "hard"}
    assert {p.test_kind for p in hard} == {"assert", "call", "stdio"}


def test_unknown_split_rejected() -> None:
    with pytest.raises(ValueError):
        load_builtin("test")


# ----------------------------------------------------------------------------- sandbox


def _infra(v: Any) -> bool:
    """True for a verdict that reflects a sandbox hiccup rather than the program."""
    return v.message.startswith("sandbox error") or "Killed by signal" in v.message


def _grade(items: list[tuple[Problem, str | None]]) -> list[Any]:
    """grade_many running every test, re-running once any item that hit a sandbox hiccup."""
    execution = pytest.importorskip("selfdistill.execution")
    verdicts = execution.grade_many(items, stop_at_first_failure=False)
    again = [i for i, v in enumerate(verdicts) if _infra(v)]
    if again:
        redo = execution.grade_many([items[i] for i in again], stop_at_first_failure=False)
        for i, v in zip(again, redo, strict=True):
            verdicts[i] = v
    return verdicts


def _null_answer(problem: Problem) -> str:
    """A trivially wrong program: returns None / prints nothing."""
    if problem.test_kind == "stdio":
        return "pass\n"
    if "class Solution" in problem.starter_code:
        return f"class Solution:\n    def {problem.entry_point}(self, *args):\n        return None\n"
    return f"def {problem.entry_point}(*args, **kwargs):\n    return None\n"


def test_every_reference_passes_every_test() -> None:
    verdicts = _grade([(p, p.reference) for p in ALL])
    failed = [(p.id, v.status, v.message) for p, v in zip(ALL, verdicts, strict=True)
              if not v.passed or v.tests_passed != v.tests_total]
    assert not failed


def test_trivially_wrong_answers_fail() -> None:
    verdicts = _grade([(p, _null_answer(p)) for p in ALL])
    bad = [(p.id, v.status, v.message) for p, v in zip(ALL, verdicts, strict=True)
           if v.passed or v.status != "wrong_answer"]
    assert not bad


# Plausible but wrong solutions (off-by-one, missed edge case, wrong tie-break): each must
# fail at least one test of its problem with a wrong answer; most should still pass some
# tests, so that partial credit on these problems is meaningful.
MUTANTS: dict[str, str] = {
    "builtin/easy-sum-of-evens": """
def sum_evens(nums):
    return sum(n for n in nums if n % 2 == 1)
""",
    "builtin/easy-clamp": """
def clamp(x, lo, hi):
    return max(lo, min(x, hi - 1))
""",
    "builtin/easy-range-sum": """
def range_sum(a, b):
    return sum(range(a, b))
""",
    "builtin/easy-countdown": """
n = int(input())
for i in range(n, -1, -1):
    print(i)
print("Liftoff!")
""",
    "builtin/easy-is-leap-year": """
def is_leap(year):
    return year % 4 == 0
""",
    "builtin/easy-total-length": """
def total_length(words):
    return len(words)
""",
    "builtin/medium-rotate-left": """
def rotate_left(nums, k):
    return nums[k:] + nums[:k]
""",
    "builtin/medium-second-largest": """
def second_largest(nums):
    return sorted(nums)[-2] if len(nums) >= 2 else None
""",
    "builtin/medium-two-sum": """
class Solution:
    def twoSum(self, nums, target):
        for i in range(len(nums)):
            for j in range(len(nums)):
                if i != j and nums[i] + nums[j] == target:
                    return [j, i]
        return []
""",
    "builtin/medium-day-of-year": """
y, m, d = map(int, input().strip().split("-"))
days = [31, 29 if y % 4 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
print(sum(days[:m - 1]) + d)
""",
    "builtin/medium-top-student": """
n = int(input())
best_name, best_score, total = None, None, 0
for _ in range(n):
    name, score = input().split()
    score = int(score)
    total += score
    if best_score is None or score >= best_score:
        best_name, best_score = name, score
print(best_name)
print(f"{total / n:.2f}")
""",
    "builtin/hard-merge-adjacent-intervals": """
def merge_intervals(intervals):
    out = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out
""",
    "builtin/hard-meeting-rooms": """
def min_rooms(intervals):
    events = sorted([(s, 0) for s, _ in intervals] + [(e, 1) for _, e in intervals])
    cur = best = 0
    for _, kind in events:
        cur += 1 if kind == 0 else -1
        best = max(best, cur)
    return best
""",
    "builtin/hard-longest-palindromic-substring": """
def longest_palindrome(s):
    best = ""
    for i in range(len(s)):
        for j in range(i + 1, len(s) + 1):
            if s[i:j] == s[i:j][::-1] and j - i >= len(best):
                best = s[i:j]
    return best
""",
    "builtin/hard-rpn-calculator": """
stack = []
for tok in input().split():
    if tok in ("+", "-", "*", "/"):
        b = stack.pop()
        a = stack.pop()
        stack.append({"+": a + b, "-": a - b, "*": a * b, "/": a // b}[tok])
    else:
        stack.append(int(tok))
print(stack[0])
""",
    "builtin/hard-count-islands": """
class Solution:
    def numIslands(self, grid):
        return sum(row.count("1") for row in grid) and sum(
            1 for r, row in enumerate(grid) for c, ch in enumerate(row)
            if ch == "1" and (r == 0 or grid[r - 1][c] != "1") and (c == 0 or row[c - 1] != "1"))
""",
}


def test_mutants_fail_but_get_partial_credit() -> None:
    items = [(BY_ID[pid], code) for pid, code in MUTANTS.items()]
    verdicts = _grade(items)
    for (problem, _), v in zip(items, verdicts, strict=True):
        assert not v.passed and v.status == "wrong_answer", (problem.id, v.status, v.message)
        assert v.tests_passed < v.tests_total, problem.id
    partial = sum(1 for v in verdicts if v.tests_passed > 0)
    assert partial >= len(MUTANTS) // 2
