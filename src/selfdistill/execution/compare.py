"""Output comparison, done on the trusted side (the host) so a candidate cannot influence it.

Exact by default: integers and strings compare exactly; stdout lines that differ textually
still match when every whitespace-separated token parses as a decimal number and the numbers
are equal (LiveCodeBench's rule: 1.0 equals 1.00, 10**17 does not equal 10**17 + 1). A float
tolerance applies only when the problem declares one (Problem.float_tolerance), and then only
to numbers that are not both integers.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any


def normalize_lines(text: str) -> list[str]:
    """Lines stripped of surrounding whitespace, without leading/trailing blank lines."""
    lines = [ln.strip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def _decimals(line: str) -> list[Decimal] | None:
    try:
        return [Decimal(tok) for tok in line.split()]
    except (InvalidOperation, ValueError):
        return None


def _is_int_token(d: Decimal) -> bool:
    return d.is_finite() and d.as_tuple().exponent >= 0  # type: ignore[operator]


def _decimal_equal(a: Decimal, b: Decimal, tol: float | None) -> bool:
    try:
        if a == b:
            return True
        if tol is None or (_is_int_token(a) and _is_int_token(b)):
            return False
        return math.isclose(float(a), float(b), rel_tol=tol, abs_tol=tol)
    except (InvalidOperation, OverflowError, ValueError):
        return False  # signalling NaN and friends never match


def lines_equal(actual: str, expected: str, tol: float | None = None) -> bool:
    """One stripped output line against the expected one (exact, then as decimals)."""
    if actual == expected:
        return True
    da, de = _decimals(actual), _decimals(expected)
    if da is None or de is None or len(da) != len(de):
        return False
    return all(_decimal_equal(x, y, tol) for x, y in zip(da, de, strict=True))


def compare_stdout(actual: str, expected: str, tol: float | None = None) -> tuple[bool, int | None]:
    """Judge stdout: (equal, index of the first differing line or None).

    Same line count after stripping; each line equal exactly or as a list of decimal numbers
    (within `tol` for non-integers when a tolerance is declared).
    """
    a, e = normalize_lines(actual), normalize_lines(expected)
    for i in range(max(len(a), len(e))):
        if i >= len(a) or i >= len(e) or not lines_equal(a[i], e[i], tol):
            return False, i
    return True, None


def canonical(value: Any) -> Any:
    """Tuples become lists (recursively), as JSON would have them."""
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    return value


def values_equal(actual: Any, expected: Any, tol: float | None = None) -> bool:
    """Equality of JSON-like values: exact (ints, strings; 2 == 2.0; bools are not ints;
    tuples equal lists); floats within `tol` only when a tolerance is declared."""
    actual, expected = canonical(actual), canonical(expected)
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual == expected and isinstance(actual, bool) == isinstance(expected, bool)
    if isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
        if actual == expected:
            return True
        if tol is None or not (isinstance(actual, float) or isinstance(expected, float)):
            return False
        return (math.isfinite(actual) and math.isfinite(expected)
                and math.isclose(float(actual), float(expected), rel_tol=tol, abs_tol=tol))
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(
            values_equal(x, y, tol) for x, y in zip(actual, expected, strict=True))
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(
            values_equal(actual[k], expected[k], tol) for k in actual)
    return type(actual) is type(expected) and actual == expected
