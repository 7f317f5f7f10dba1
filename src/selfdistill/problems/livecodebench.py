"""LiveCodeBench `code_generation_lite` rows (JSONL) -> Problems.

Row fields: question_title, question_content, platform, question_id, contest_id,
contest_date, starter_code, difficulty, public_test_cases (JSON string), private_test_cases
(JSON, or base64(zlib(pickle(json string))) -- decoded without running code, see
safe_io), metadata (JSON string; `func_name` for functional problems).

Functional tests become kind "call" (entry_point = func_name); stdin tests kind "stdio".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from selfdistill.errors import UserError
from selfdistill.problems.safe_io import decode_lcb_tests, read_json_rows, row_errors
from selfdistill.problems.schema import Problem, TestCase

# Contest-date windows (inclusive) of the problems *new* in a release, as papers report
# "LiveCodeBench vN". v6 is the window of the SSD/SDPO papers (131 problems at release).
# v5 is the window used by most reports of "LCB v5" (e.g. DeepSeek-R1). Other windows:
# pass start/end explicitly.
RELEASE_WINDOWS: dict[str, tuple[str, str]] = {
    "v5": ("2024-08-01", "2025-01-31"),
    "v6": ("2025-02-01", "2025-05-31"),
}

_DIFFICULTIES = {"easy", "medium", "hard"}


def release_window(release: str) -> tuple[str, str]:
    """(start, end) ISO dates for a release name like 'v6' or 'release_v6'."""
    key = release.strip().lower().removeprefix("release_")
    if key not in RELEASE_WINDOWS:
        known = ", ".join(sorted(RELEASE_WINDOWS))
        raise UserError(
            f"unknown LiveCodeBench release {release!r}: use one of {known} or start/end dates"
        )
    return RELEASE_WINDOWS[key]


def _parse_day(value: str | date, what: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError as exc:
        raise UserError(f"{what} {value!r} is not a date like 2025-02-01") from exc


def _as_set(value: str | Iterable[str] | None) -> set[str] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    out = {str(v).strip().lower() for v in items if str(v).strip()}
    return out or None


def lcb_problem(row: dict[str, Any], where: str = "row") -> Problem:
    """Turn one code_generation_lite row into a Problem; UserError if malformed."""
    try:
        qid = str(row["question_id"])
        content = row["question_content"]
        platform = str(row.get("platform", "")).lower()
        metadata = row.get("metadata") or "{}"
        metadata = json.loads(metadata) if isinstance(metadata, str) else dict(metadata)
        public = decode_lcb_tests(row.get("public_test_cases"), what=f"{where} public_test_cases")
        private = decode_lcb_tests(
            row.get("private_test_cases"), what=f"{where} private_test_cases"
        )
    except UserError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{where} is not a LiveCodeBench row ({exc!r})") from exc

    func_name = metadata.get("func_name") if isinstance(metadata, dict) else None
    tests: list[TestCase] = []
    for is_public, group in ((True, public), (False, private)):
        for t in group:
            testtype = t.get("testtype", "functional" if func_name else "stdin")
            if testtype not in ("functional", "stdin"):
                raise UserError(f"{where} has a test of unknown testtype {testtype!r}")
            kind = "call" if testtype == "functional" else "stdio"
            if "input" not in t or "output" not in t:
                raise UserError(f"{where} has a test without input/output")
            tests.append(
                TestCase(
                    kind=kind, input=str(t["input"]), output=str(t["output"]), public=is_public
                )
            )
    kinds = {t.kind for t in tests}
    if len(kinds) > 1:
        raise UserError(f"{where} mixes functional and stdin tests")
    if "call" in kinds and not func_name:
        raise UserError(f"{where} has functional tests but no metadata.func_name")
    if not tests:
        raise UserError(f"{where} has no tests")

    difficulty = str(row.get("difficulty", "unknown")).lower()
    return Problem(
        id=f"lcb/{qid}",
        statement=content,
        tests=tests,
        starter_code=row.get("starter_code") or "",
        entry_point=func_name if "call" in kinds else None,
        difficulty=difficulty if difficulty in _DIFFICULTIES else "unknown",  # type: ignore[arg-type]
        source="livecodebench",
        contest_date=row.get("contest_date") or None,
        metadata={
            "platform": platform,
            "question_id": qid,
            "question_title": row.get("question_title", ""),
            "contest_id": row.get("contest_id", ""),
            **({"func_name": func_name} if func_name else {}),
        },
    )


def load_livecodebench(
    path: str | Path,
    *,
    release: str | None = None,
    start: str | date | None = None,
    end: str | date | None = None,
    platform: str | Iterable[str] | None = None,
    difficulty: str | Iterable[str] | None = None,
) -> list[Problem]:
    """Load code_generation_lite rows, keeping those in the date window/platform/difficulty.

    release ('v6' or 'release_v6') sets the window; start/end (inclusive ISO dates)
    override either side. Rows without a contest date are dropped when a window is set.
    platform/difficulty: one value, a comma-separated string or a list.
    """
    lo = hi = None
    if release:
        lo, hi = (_parse_day(d, "release date") for d in release_window(release))
    if start:
        lo = _parse_day(start, "start")
    if end:
        hi = _parse_day(end, "end")
    if lo and hi and lo > hi:
        raise UserError(f"start {lo} is after end {hi}")
    platforms = _as_set(platform)
    difficulties = _as_set(difficulty)
    if difficulties and not difficulties <= _DIFFICULTIES | {"unknown"}:
        raise UserError(
            f"unknown difficulty {sorted(difficulties - _DIFFICULTIES)}: use easy, medium or hard"
        )

    out = []
    for where, row in read_json_rows(path):
        with row_errors(where):
            p = _lcb_row(row, where, platforms, difficulties, lo, hi)
        if p is not None:
            out.append(p)
    return out


def _lcb_row(row: dict[str, Any], where: str, platforms: Any, difficulties: Any, lo: Any,
             hi: Any) -> Problem | None:
    """One row as a Problem, or None when the filters leave it out."""
    # filter on cheap raw fields first: decoding private tests is the slow part
    if platforms and str(row.get("platform", "")).lower() not in platforms:
        return None
    if difficulties and str(row.get("difficulty", "unknown")).lower() not in difficulties:
        return None
    if lo or hi:
        raw = row.get("contest_date") or ""
        if not raw:
            return None
        day = _parse_day(raw, f"{where} contest_date")
        if (lo and day < lo) or (hi and day > hi):
            return None
    return lcb_problem(row, where)
