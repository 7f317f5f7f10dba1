"""EvalPlus-format files (HumanEval+, MBPP+) -> Problems with call tests.

Rows (JSONL): task_id, prompt, entry_point, canonical_solution, base_input, plus_input
(lists of argument lists) and optionally atol and contract. As in EvalPlus, the expected
output of every input is what prompt + canonical_solution returns on it; here that program
runs in our sandbox (execution.run_function; never in this process), once per input, and
the outputs are cached by the file's sha256 under ~/.cache/selfdistill/evalplus/. Each
input becomes one kind-"call" test (one JSON value per argument line), base inputs first;
floats compare within atol (EvalPlus uses 1e-6 when atol is 0 and the output is a float).

As EvalPlus (@ 26d6d00):
- contract: the row's input-validity asserts, run with the canonical solution (HumanEval+:
  after the prompt; MBPP+: after the def line, evalplus/inputgen.py); an input that fails
  them is not a valid input and is left out;
- time limits: each input's limit is max(4 s, 4 x the canonical solution's time on it)
  (evalplus/config.py DEFAULT_MIN_TIME_LIMIT, DEFAULT_GT_TIME_LIMIT_FACTOR); the time is
  the sandbox's measured run of the canonical call, start-up included.
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
TIME_FACTOR = 4.0  # EvalPlus's DEFAULT_GT_TIME_LIMIT_FACTOR
MIN_TIME_S = 4.0  # EvalPlus's DEFAULT_MIN_TIME_LIMIT
_CACHE_VERSION = 2  # {task: {"kept", "outputs", "seconds"}}


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
                      timeout_s: float = 10.0, *, with_seconds: bool = False) -> list[Any]:
    """Run program's entry_point on each argument list in the sandbox (execution.run_function).

    Returns (ok, JSON of the return value | why there is none) per input, plus the
    measured seconds as a third item when with_seconds.
    """
    from selfdistill.execution import SandboxConfig, run_function

    results = run_function(program, entry_point, [tuple(a) for a in inputs],
                           config=SandboxConfig(timeout_s=timeout_s))
    out: list[Any] = []
    for r in results:
        if not r.ok:
            item: tuple[Any, ...] = (False, f"{r.status}: {r.message}")
        else:
            try:  # tuples become lists, as the call grader compares them
                item = (True, json.dumps(r.value, allow_nan=False))
            except (TypeError, ValueError) as exc:
                item = (False, f"the value is not JSON ({exc})")
        out.append((*item, r.seconds) if with_seconds else item)
    return out


def contract_program(row: dict[str, Any]) -> str | None:
    """prompt + contract + canonical solution as EvalPlus checks inputs with (None: no contract)."""
    contract = str(row.get("contract") or "")
    if not contract.strip():
        return None
    code = str(row["canonical_solution"])
    if str(row["task_id"]).lower().startswith("mbpp"):  # MBPP+: after the def line
        lines = code.split("\n")
        at = next((i for i, line in enumerate(lines)
                   if line.startswith(f"def {row['entry_point']}")), None)
        if at is None:
            raise UserError(f"{row['task_id']}: the canonical solution has no "
                            f"`def {row['entry_point']}` line to put the contract after")
        return row["prompt"] + "\n".join([*lines[: at + 1], contract, *lines[at + 1:]])
    return row["prompt"] + contract + code


def time_limit(seconds: float) -> float:
    """EvalPlus's per-input time limit for a canonical run time."""
    return max(MIN_TIME_S, TIME_FACTOR * seconds)


def _is_float_output(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, list):
        return any(_is_float_output(v) for v in value)
    return False


def evalplus_problems(rows: list[tuple[str, dict[str, Any]]], expected: dict[str, Any]
                      ) -> list[Problem]:
    """Problems from EvalPlus rows and, per task, the valid inputs (`kept` indexes), the
    canonical outputs and run times on them."""
    out = []
    for where, row in rows:
        tid = str(row["task_id"])
        every = (row.get("base_input") or []) + (row.get("plus_input") or [])
        ref = expected[tid]
        kept = ref["kept"]
        n_base = sum(1 for i in kept if i < len(row.get("base_input") or []))
        inputs = [_args_text(every[i], where) for i in kept]
        outs = ref["outputs"]
        tests = [TestCase(kind="call", input=i, output=o, public=False, timeout_s=time_limit(t))
                 for i, o, t in zip(inputs, outs, ref["seconds"], strict=True)]
        atol = float(row.get("atol") or 0.0)
        floats = any(_is_float_output(json.loads(o)) for o in outs)
        source = "mbpp" if tid.lower().startswith("mbpp") else "humaneval"
        out.append(Problem(
            id=tid, statement=row["prompt"], tests=tests, starter_code=row["prompt"],
            entry_point=row["entry_point"], source="evalplus",
            reference=row["prompt"] + row["canonical_solution"],
            float_tolerance=atol if atol > 0 else (_FLOAT_ATOL if floats else None),
            metadata={"base_tests": n_base, "plus_tests": len(inputs) - n_base,
                      "invalid_inputs": len(every) - len(kept), "dataset": f"{source}+"},
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
    expected: dict[str, Any] | None = None
    if cache.is_file():
        try:
            expected = json.loads(cache.read_text())
        except ValueError:
            expected = None
    tids = {str(r["task_id"]) for _, r in rows}
    if not isinstance(expected, dict) or expected.get("version") != _CACHE_VERSION \
            or set(expected.get("tasks", {})) != tids:
        expected = {"version": _CACHE_VERSION,
                    "tasks": {str(row["task_id"]): _reference(where, row, timeout_s)
                              for where, row in rows}}
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps(expected))
        tmp.replace(cache)
    return evalplus_problems(rows, expected["tasks"])


def _reference(where: str, row: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """The valid inputs of a row (its contract), the canonical outputs and times on them."""
    inputs = (row.get("base_input") or []) + (row.get("plus_input") or [])
    for a in inputs:
        _args_text(a, where)  # validates: lists of JSON values
    kept = list(range(len(inputs)))
    with row_errors(where):
        checked = contract_program(row)
        if checked is not None:  # EvalPlus leaves out inputs its contract rejects
            verdicts = reference_outputs(checked, row["entry_point"], inputs, timeout_s)
            kept = [i for i, (ok, _) in enumerate(verdicts) if ok]
        results = reference_outputs(row["prompt"] + row["canonical_solution"],
                                    row["entry_point"], [inputs[i] for i in kept], timeout_s,
                                    with_seconds=True)
    bad = [kept[i] for i, (ok, _, _) in enumerate(results) if not ok]
    if bad:
        why = results[kept.index(bad[0])][1]
        raise UserError(f"{where}: the canonical solution fails on input {bad[0]} "
                        f"or returns a value that is not JSON ({why})")
    return {"kept": kept, "outputs": [text for _, text, _ in results],
            "seconds": [t for _, _, t in results]}
