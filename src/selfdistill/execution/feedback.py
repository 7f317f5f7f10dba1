"""Turn a Verdict into the short message a programmer or SDPO's teacher reads: judge style, or the SDPO reference's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from selfdistill.execution.verdict import Verdict

_TITLES = {
    "accepted": "Accepted",
    "wrong_answer": "Wrong answer",
    "runtime_error": "Runtime error",
    "time_limit": "Time limit exceeded",
    "memory_limit": "Memory limit exceeded",
    "syntax_error": "Syntax error",
    "no_code": "No code",
}


def _clip(text: str, limit: int) -> str:
    text = text.rstrip()
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 15)].rstrip() + " ...[truncated]"


def _tail_lines(text: str, n: int) -> str:
    # Caret/tilde marker lines cost budget and add little for a reader of plain text.
    lines = [ln for ln in text.rstrip().splitlines() if ln.strip() and ln.strip(" ^~") != ""]
    return "\n".join(lines[-n:])


def _case(c: dict, field_chars: int) -> str:
    title = _TITLES.get(c.get("status", ""), c.get("status", ""))
    head = f"Test {c.get('index', 0) + 1}: {title}"
    if c.get("expected") is None:
        return f"{head}: {c.get('message') or ''}".rstrip(": ") + "."
    lines = [head + "."]
    if c.get("input") is not None:
        lines.append(f"Input:\n{_clip(c['input'], field_chars)}")
    lines.append(f"Expected:\n{_clip(c['expected'], field_chars)}")
    got = c.get("actual")
    if c.get("status") == "wrong_answer":
        lines.append(f"Got:\n{_clip(got, field_chars) if got and got.strip() else '(no output)'}")
    elif c.get("message"):
        lines.append(c["message"])
    return "\n".join(lines)


def format_feedback(v: Verdict, max_cases: int = 1, char_budget: int = 1200,
                    traceback_lines: int = 6, field_chars: int = 300) -> str:
    """Judge-style feedback text for a Verdict, within char_budget characters.

    The first failing test is described in full (input, expected, got, or the traceback's
    last lines); with max_cases > 1, further failing tests recorded in Verdict.failures
    (grade(..., stop_at_first_failure=False)) follow in short form.
    """
    text = _format_first(v, traceback_lines, field_chars)
    more = [c for c in v.failures if c.get("index") != v.failing_test_index][: max(0, max_cases - 1)]
    if more:
        text += "\n\n" + "\n\n".join(_case(c, field_chars) for c in more)
    return _clip(text, char_budget)


def _format_first(v: Verdict, traceback_lines: int, field_chars: int) -> str:
    if v.status == "accepted":
        return f"Accepted: all {v.tests_total} tests passed."
    if v.status == "no_code":
        return "No code was found in the answer: write the full solution in a ```python code block."
    test_no = (v.failing_test_index + 1) if v.failing_test_index is not None else None
    where = f" on test {test_no}" if test_no is not None else ""
    head = f"{_TITLES.get(v.status, v.status)}{where}"
    score = f"({v.tests_passed}/{v.tests_total} tests passed)"
    parts: list[str] = []
    if v.status == "time_limit":
        limit = f" ({v.timeout_s:g} s)" if v.timeout_s else ""
        parts.append(f"Time limit exceeded{limit}{where} {score}.")
        if v.failing_input:
            label = "Test" if v.expected is None else "Input"  # assert tests: the test code
            parts.append(f"{label}:\n{_clip(v.failing_input, field_chars)}")
    elif v.status == "syntax_error":
        parts.append(f"Syntax error: {v.message or 'the code does not compile'}.")
        tb = _tail_lines(v.stderr_tail, traceback_lines)
        if tb:
            parts.append(tb)
    elif v.status == "wrong_answer":
        if v.expected is None:  # assert-style test: the failing assert says it all
            parts.append(f"{head} {score}: {v.message or 'an assertion failed'}.")
        else:
            parts.append(f"{head} {score}.")
            if v.failing_input is not None:
                parts.append(f"Input:\n{_clip(v.failing_input, field_chars)}")
            parts.append(f"Expected:\n{_clip(v.expected, field_chars)}")
            got = v.actual if v.actual is not None and v.actual.strip() else "(no output)"
            parts.append(f"Got:\n{_clip(got, field_chars)}")
    else:  # runtime_error, memory_limit
        parts.append(f"{head} {score}: {v.message}".rstrip(": ") + ".")
        if v.failing_input is not None and v.expected is not None:
            parts.append(f"Input:\n{_clip(v.failing_input, field_chars)}")
        tb = _tail_lines(v.stderr_tail, traceback_lines)
        if tb and v.status == "runtime_error":
            parts.append(f"Traceback (last lines):\n{tb}")
    return "\n".join(parts)


@dataclass
class FeedbackConfig:
    """The SDPO reference's feedback text (lasgroup/SDPO, reward_score/feedback/code.py).

    style: "reference" (below) or "judge" (format_feedback). Reference rules: the first
    runtime error (or failing assert) alone, else the first time-out alone, else up to
    max_tests wrong answers, shortest (input + output) first; input lines and fields cut
    at field_chars, at most input_lines lines of input, the whole text at max_chars; an
    answer without code says whether it was cut off at the length limit.
    grade_collect: how many wrong answers the grader keeps (execution.grade(collect=...)).
    """

    style: str = "reference"
    max_tests: int = 2
    max_chars: int = 2000
    field_chars: int = 250
    input_lines: int = 8

    @property
    def grade_collect(self) -> int:
        """The grader's `collect` for this style (0: stop at the first failure)."""
        return max(1, self.max_tests) if self.style == "reference" else 0

    def render(self, v: Verdict, truncated: bool = False) -> str:
        """The feedback text of v in this style (truncated: the answer hit the length limit)."""
        if self.style == "judge":
            return format_feedback(v)
        if self.style != "reference":
            raise ValueError(f"unknown feedback style {self.style!r}; use reference or judge")
        return reference_feedback(v, truncated=truncated, cfg=self)


TRUNCATED_ATTEMPT = ("Your previous answer was cut off at the maximum response length before "
                     "it was complete. Answer again, more briefly.")
NO_CODE = "No code block was found: write the solution inside a ```python ... ``` block."


def _cut(value: Any, n: int) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= n else text[:n] + "..."


def _input_block(title: str, inp: str | None, cfg: FeedbackConfig) -> list[str]:
    if inp is None:
        return [title]
    lines = inp.splitlines()
    out = [title] + [_cut(ln, cfg.field_chars) for ln in lines[: cfg.input_lines]]
    if len(lines) > cfg.input_lines:
        out.append(f"... ({len(lines) - cfg.input_lines} more lines)")
    return out


def _is_error(c: dict) -> bool:
    """An error in the reference's sense: an exception (a failing assert test is one too)."""
    return c.get("status") in ("runtime_error", "memory_limit", "syntax_error") or (
        c.get("status") == "wrong_answer" and c.get("expected") is None)


def reference_feedback(v: Verdict, *, truncated: bool = False,
                       cfg: FeedbackConfig | None = None) -> str:
    """The reference's feedback text for v (failures from grade(..., collect=N))."""
    cfg = cfg or FeedbackConfig()
    if v.status == "accepted":
        return ""
    if v.status == "no_code":
        return TRUNCATED_ATTEMPT if truncated else NO_CODE
    cases = sorted(v.failures, key=lambda c: c.get("index", 0))
    if not cases:  # a verdict graded without collect: its first failure
        cases = [{"index": v.failing_test_index or 0, "status": v.status, "message": v.message,
                  "input": v.failing_input, "expected": v.expected, "actual": v.actual}]
    chosen = ([c for c in cases if _is_error(c)][:1]
              or [c for c in cases if c.get("status") == "time_limit"][:1]
              or sorted(cases, key=lambda c: c.get("size", 0))[: cfg.max_tests])
    parts: list[str] = []
    for c in chosen:
        if _is_error(c):
            tb = _tail_lines(v.stderr_tail, 6) if c.get("index") == v.failing_test_index else ""
            parts += ["Runtime Error", tb or (c.get("message") or "").strip(), "",
                      *_input_block("Last Executed Input", c.get("input"), cfg)]
        elif c.get("status") == "time_limit":
            parts += ["Time Limit Exceeded", "",
                      *_input_block("Last Executed Input", c.get("input"), cfg)]
        else:
            got = (c.get("actual") or "").strip()
            parts += [f"Test Case {c.get('index', 0) + 1}: Wrong Answer", "",
                      *_input_block("Input", c.get("input"), cfg), "", "Output",
                      _cut(got, cfg.field_chars), "", "Expected",
                      _cut(str(c.get("expected")).strip(), cfg.field_chars)]
        parts.append("")
    return "\n".join(parts).rstrip()[: cfg.max_chars]
