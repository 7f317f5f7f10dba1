"""The Problem record every loader produces and every grader consumes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

TestKind = Literal["assert", "call", "stdio"]
Difficulty = Literal["easy", "medium", "hard", "unknown"]


@dataclass
class TestCase:
    """One test.

    kind="assert": `input` is Python test code run after the candidate (e.g. HumanEval's
        `def check(candidate): ...` followed by `check(entry_point)`, or one MBPP assert);
        `output` is unused.
    kind="call": `input` holds one JSON value per line, one line per argument; `output` is
        the JSON of the expected return value (LiveCodeBench functional style).
    kind="stdio": `input` is fed on stdin; `output` is the expected stdout.
    timeout_s: this test's own time limit (EvalPlus's per-input limits); None: the sandbox's.
    """

    __test__ = False  # not a pytest test class, despite the name

    kind: TestKind
    input: str
    output: str = ""
    public: bool = False
    timeout_s: float | None = None


@dataclass
class Problem:
    """A coding problem with its tests; JSONL round-trips through to_dict/from_dict."""

    id: str
    statement: str
    tests: list[TestCase]
    starter_code: str = ""
    entry_point: str | None = None  # function name (assert: check(entry_point); call: func_name)
    difficulty: Difficulty = "unknown"
    source: str = ""
    contest_date: str | None = None
    reference: str | None = None  # a known-correct solution, when one exists
    # Declared float tolerance (abs and rel) for numbers in outputs/return values; None = exact.
    float_tolerance: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def test_kind(self) -> TestKind:
        """The kind of this problem's tests (all tests of one problem share a kind)."""
        return self.tests[0].kind if self.tests else "assert"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Problem:
        """Inverse of to_dict."""
        d = dict(d)
        d["tests"] = [TestCase(**t) for t in d.get("tests", [])]
        return cls(**d)


def save_problems(problems: list[Problem], path: str | Path) -> None:
    """Write problems as JSONL."""
    with Path(path).open("w") as fh:
        for p in problems:
            fh.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")


def load_problems_jsonl(path: str | Path) -> list[Problem]:
    """Read problems written by save_problems."""
    from selfdistill.errors import UserError
    from selfdistill.problems.safe_io import read_json_rows

    out = []
    for where, row in read_json_rows(path):
        try:
            out.append(Problem.from_dict(row))
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise UserError(f"{path} is not a JSONL file of Problem records ({where}: "
                            f"{type(e).__name__}: {e})") from None
    return out
