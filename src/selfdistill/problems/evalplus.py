"""EvalPlus-format files (HumanEval+, MBPP+) -> Problems with call tests.

Rows (JSONL): task_id, prompt, entry_point, canonical_solution, base_input, plus_input
(lists of argument lists) and optionally atol. As in EvalPlus, the expected output of every
input is what prompt + canonical_solution returns on it; here that program runs in our
sandbox (execution.run_function; never in this process), once per input, and the outputs
are cached by the file's sha256 under ~/.cache/selfdistill/evalplus/. Each input becomes one kind-"call" test (one
JSON value per argument line), base inputs first; floats compare within atol (EvalPlus uses
1e-6 when atol is 0 and the output is a float).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from selfdistill.errors import UserError
from selfdistill.problems.safe_io import read_json_rows, row_errors, text_field
from selfdistill.problems.schema import Problem, TestCase

_FLOAT_ATOL = 1e-6  # EvalPlus's default for float outputs when atol is 0


def _cache_dir() -> Path:
    root = os.environ.get("SELFDISTILL_CACHE") or Path.home() / ".cache" / "selfdistill"
    return Path(root) / "evalplus"


def _args_text(args: list[Any], where: str) -> str:
    if not isinstance(args, list):
        raise UserError(f"{where}: every input must be a list of arguments")
    try:
        return "\n".join(json.dumps(a, allow_nan=False) for a in args)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{where}: inputs must be JSON values ({exc})") from exc


def reference_outputs(program: str, entry_point: str, inputs: list[list[Any]],
                      timeout_s: float = 10.0) -> list[tuple[bool, str]]:
    """Run program's entry_point on each argument list in the sandbox (execution.run_function).

    Returns (ok, JSON of the return value | why there is none) per input.
    """
    from selfdistill.execution import SandboxConfig, run_function

    results = run_function(program, entry_point, [tuple(a) for a in inputs],
                           config=SandboxConfig(timeout_s=timeout_s))
    out = []
    for r in results:
        if not r.ok:
            out.append((False, f"{r.status}: {r.message}"))
            continue
        try:  # tuples become lists, as the call grader compares them
            out.append((True, json.dumps(r.value, allow_nan=False)))
        except (TypeError, ValueError) as exc:
            out.append((False, f"the value is not JSON ({exc})"))
    return out


def _is_float_output(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, list):
        return any(_is_float_output(v) for v in value)
    return False


def evalplus_problems(rows: list[tuple[str, dict[str, Any]]], expected: dict[str, list[str]]
                      ) -> list[Problem]:
    """Problems from EvalPlus rows and the canonical outputs of each task's inputs."""
    out = []
    for where, row in rows:
        tid = str(row["task_id"])
        n_base = len(row.get("base_input") or [])
        inputs = [_args_text(a, where) for a in (row.get("base_input") or [])
                  + (row.get("plus_input") or [])]
        outs = expected[tid]
        tests = [TestCase(kind="call", input=i, output=o, public=False)
                 for i, o in zip(inputs, outs, strict=True)]
        atol = float(row.get("atol") or 0.0)
        floats = any(_is_float_output(json.loads(o)) for o in outs)
        source = "mbpp" if tid.lower().startswith("mbpp") else "humaneval"
        out.append(Problem(
            id=tid, statement=row["prompt"], tests=tests, starter_code=row["prompt"],
            entry_point=row["entry_point"], source="evalplus",
            reference=row["prompt"] + row["canonical_solution"],
            float_tolerance=atol if atol > 0 else (_FLOAT_ATOL if floats else None),
            metadata={"base_tests": n_base, "plus_tests": len(inputs) - n_base,
                      "dataset": f"{source}+"},
        ))
    return out


def load_evalplus(path: str | Path, *, timeout_s: float = 10.0) -> list[Problem]:
    """Load an EvalPlus-format JSONL, computing expected outputs in the sandbox (cached)."""
    path = Path(path)
    rows = []
    for where, row in read_json_rows(path):
        missing = {"task_id", "prompt", "entry_point", "canonical_solution"} - set(row)
        if missing:
            raise UserError(f"{where} is not an EvalPlus row (missing {', '.join(sorted(missing))})")
        for key in ("prompt", "entry_point", "canonical_solution"):
            text_field(row, key, where)
        text_field(row, "task_id", where)
        for key in ("base_input", "plus_input"):
            if row.get(key) is not None and not isinstance(row[key], list):
                raise UserError(f"{where}: field {key!r} must be a list of argument lists")
        if not (row.get("base_input") or row.get("plus_input")):
            raise UserError(f"{where} has no base_input or plus_input")
        if row.get("atol") is not None and (isinstance(row["atol"], bool)
                                            or not isinstance(row["atol"], (int, float))):
            raise UserError(f"{where}: field 'atol' must be a number")
        rows.append((where, row))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    cache = _cache_dir() / f"{digest}.json"
    expected: dict[str, list[str]] | None = None
    if cache.is_file():
        try:
            expected = json.loads(cache.read_text())
        except ValueError:
            expected = None
    if expected is None or set(expected) != {str(r["task_id"]) for _, r in rows}:
        expected = {}
        for where, row in rows:
            inputs = (row.get("base_input") or []) + (row.get("plus_input") or [])
            for a in inputs:
                _args_text(a, where)  # validates: lists of JSON values
            with row_errors(where):
                results = reference_outputs(row["prompt"] + row["canonical_solution"],
                                            row["entry_point"], inputs, timeout_s)
            bad = [i for i, (ok, _) in enumerate(results) if not ok]
            if bad:
                raise UserError(f"{where}: the canonical solution fails on input {bad[0]} "
                                f"or returns a value that is not JSON ({results[bad[0]][1]})")
            expected[str(row["task_id"])] = [text for _, text in results]
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps(expected))
        tmp.replace(cache)
    return evalplus_problems(rows, expected)
