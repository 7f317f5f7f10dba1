"""MBPP -> Problems, from the original mbpp.jsonl or the sanitized JSON list.

Original rows: text, code, task_id, test_setup_code, test_list, challenge_test_list.
Sanitized rows: prompt, code, task_id, test_imports, test_list.
Each assert in test_list becomes one kind-"assert" test with the setup code/imports in
front. As is standard for MBPP, the statement shows the first test (which names the
function and its argument order); that test is marked public.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path
from typing import Any

from selfdistill.errors import UserError
from selfdistill.problems.safe_io import read_json_rows, row_errors, text_field, text_list_field
from selfdistill.problems.schema import Problem, TestCase

# The task_id ranges of the splits in the MBPP paper / the original release.
MBPP_SPLITS: dict[str, tuple[int, int]] = {
    "prompt": (1, 10),
    "test": (11, 510),
    "validation": (511, 600),
    "train": (601, 974),
}


def _called_names(source: str) -> list[str]:
    """Names of plain-name calls in source, outermost first; [] if it does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    ]


def _defined_names(source: str) -> set[str]:
    """Top-level function and class names defined in source (empty if it does not parse)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


def entry_point_from_asserts(asserts: list[str], reference: str = "") -> str | None:
    """The function the asserts test: prefer one the reference defines, else a non-builtin."""
    called: list[str] = []
    for a in asserts:
        called.extend(_called_names(a))
    defined = _defined_names(reference)
    for name in called:
        if name in defined:
            return name
    for name in called:
        if not hasattr(builtins, name) and name not in defined:
            return name
    return None


def mbpp_statement(text: str, first_test: str | None) -> str:
    """The task text plus the first test, which tells the model the function's name."""
    text = text.strip()
    if not first_test:
        return text
    return f"{text}\nYour code should pass this test:\n{first_test.strip()}"


def mbpp_problem(
    row: dict[str, Any], where: str = "row", include_challenge: bool = False
) -> Problem:
    """Turn one MBPP row (original or sanitized) into a Problem; UserError if malformed."""
    task_id = text_field(row, "task_id", where)
    text = text_field(row, "text" if "text" in row else "prompt", where)
    base_tests = text_list_field(row, "test_list", where)
    asserts = list(base_tests)
    if include_challenge:
        asserts += text_list_field(row, "challenge_test_list", where, [])
    if "test_imports" in row:
        setup = "\n".join(text_list_field(row, "test_imports", where, []))
    else:
        setup = "\n".join(text_list_field(row, "test_setup_code", where, []))
    code = text_field(row, "code", where, None) or None
    task_id = row["task_id"] if isinstance(row["task_id"], int) else task_id
    if not asserts:
        raise UserError(f"{where} has an empty test_list")
    setup = setup.replace("\r\n", "\n").strip()
    prefix = setup + "\n" if setup else ""
    tests = [
        TestCase(kind="assert", input=prefix + a.strip() + "\n", public=(i == 0))
        for i, a in enumerate(asserts)
    ]
    return Problem(
        id=f"mbpp/{task_id}",
        statement=mbpp_statement(text, asserts[0]),
        tests=tests,
        entry_point=entry_point_from_asserts(asserts, code or ""),
        difficulty="unknown",
        source="mbpp",
        reference=code.replace("\r\n", "\n") if code else None,
        metadata={"task_id": task_id, "text": text,
                  "test_list": base_tests},
    )


def load_mbpp(
    path: str | Path, *, split: str | None = None, include_challenge: bool = False
) -> list[Problem]:
    """Load MBPP rows from a .jsonl (original) or .json (sanitized) file.

    split ('train', 'test', 'validation', 'prompt') keeps the paper's task_id range.
    """
    rng = None
    if split:
        if split not in MBPP_SPLITS:
            raise UserError(f"unknown MBPP split {split!r}: use one of {', '.join(MBPP_SPLITS)}")
        rng = MBPP_SPLITS[split]
    out = []
    for where, row in read_json_rows(path):
        if rng is not None:
            try:
                tid = int(row.get("task_id"))
            except (TypeError, ValueError) as exc:
                raise UserError(f"{where} has no integer task_id") from exc
            if not rng[0] <= tid <= rng[1]:
                continue
        with row_errors(where):
            out.append(mbpp_problem(row, where, include_challenge=include_challenge))
    return out
