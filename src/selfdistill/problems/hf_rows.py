"""Prompts (and tests, where present) from any table of rows: Hugging Face datasets and
prompt-only JSONL. SSD needs no tests, so every source here works for `ssd sample`.

Specs (registry.py):
    hf:WHERE?split=train&prompt=FIELD&tests=FIELD&id=FIELD&entry_point=FIELD&name=CONFIG
        WHERE is a local .parquet / .jsonl / .json / .csv / .arrow file, a directory written
        by `Dataset.save_to_disk` (both offline), or a hub id such as
        `microsoft/rStar-Coder` (network; `name` picks the hub config).
    prompts:FILE?prompt=FIELD&id=FIELD
        JSONL (or a JSON list) with one prompt per row: an object holding the prompt field.

Field mapping: `prompt` names the column with the problem text; without it the first
present of PROMPT_FIELDS is used. `tests` (optional) names a column of assert statements
(a list of strings, or one string of test code): they become kind-"assert" tests, so the
problems can also be graded. `id` names an id column (default: the row number), and
`entry_point` the function name column.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from selfdistill.errors import UserError
from selfdistill.problems.safe_io import read_json_rows, row_errors
from selfdistill.problems.schema import Problem, TestCase

PROMPT_FIELDS = ("prompt", "question", "problem", "instruction", "question_content", "text",
                 "content")
_FILE_BUILDERS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv",
                  ".arrow": "arrow"}
HF_FILTERS = {"split", "prompt", "tests", "id", "entry_point", "name", "limit"}
PROMPT_FILTERS = {"prompt", "id", "limit"}


def _stem(path: str) -> str:
    """A file's name without its suffixes (a.jsonl.gz -> a), a directory's name."""
    return Path(path).name.split(".")[0] or "rows"


def _prompt_field(columns: Iterable[str], wanted: str | None, where: str) -> str:
    cols = list(columns)
    if wanted:
        if wanted not in cols:
            raise UserError(f"{where} has no column {wanted!r}; columns: {', '.join(cols)}")
        return wanted
    for name in PROMPT_FIELDS:
        if name in cols:
            return name
    raise UserError(f"{where}: no prompt column among {', '.join(cols)}; name one with "
                    "?prompt=FIELD")


def _tests(value: Any, where: str) -> list[TestCase]:
    """Assert tests from a list of statements or one string of test code."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value] if value.strip() else []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise UserError(f"{where}: the tests column must hold a string or a list of strings")
    return [TestCase(kind="assert", input=v.strip() + "\n", public=(i == 0))
            for i, v in enumerate(value)]


def problems_from_rows(rows: Iterable[tuple[str, dict[str, Any]]], source: str, name: str,
                       mapping: dict[str, str]) -> list[Problem]:
    """Problems `name/ID` from (where, row) pairs through the field mapping (prompt, tests,
    id, entry_point)."""
    out: list[Problem] = []
    field = None
    for i, (where, row) in enumerate(rows):
        with row_errors(where):
            field = _row_problem(out, i, where, row, field, source, name, mapping)
    ids = [p.id for p in out]
    if len(set(ids)) != len(ids):
        raise UserError(f"the id column {mapping.get('id')!r} repeats ids; ids must be unique")
    return out


def _row_problem(out: list[Problem], i: int, where: str, row: dict[str, Any], field: str | None,
                 source: str, name: str, mapping: dict[str, str]) -> str:
    """Append row i's Problem to out; return the prompt field (found on the first row)."""
    if field is None:
        field = _prompt_field(row.keys(), mapping.get("prompt"), where)
    text = row.get(field)
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{where}: the prompt field {field!r} is empty or not a string")
    for key in ("tests", "id", "entry_point"):
        if mapping.get(key) and mapping[key] not in row:
            raise UserError(f"{where} has no column {mapping[key]!r} (given as {key}=)")
    pid = str(row[mapping["id"]]) if mapping.get("id") else str(i)
    entry = row.get(mapping["entry_point"]) if mapping.get("entry_point") else None
    out.append(Problem(
        id=f"{name}/{pid}", statement=text.strip(),
        tests=_tests(row.get(mapping["tests"]), where) if mapping.get("tests") else [],
        entry_point=str(entry) if entry else None, source=source))
    return field


def load_prompt_jsonl(path: str, **mapping: str) -> list[Problem]:
    """A prompt-only JSONL (or JSON list): one problem without tests per row."""
    return problems_from_rows(read_json_rows(path), "prompts", _stem(path), mapping)


def _open_dataset(where: str, split: str, name: str | None) -> Any:
    """A `datasets.Dataset` from a local file, a save_to_disk directory or a hub id."""
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise UserError("hf: sources need the `datasets` package (pip install datasets)") from exc
    path = Path(where).expanduser()
    try:
        if path.is_dir():
            ds = datasets.load_from_disk(str(path))
            return ds[split] if isinstance(ds, datasets.DatasetDict) else ds
        if path.is_file():
            builder = _FILE_BUILDERS.get(path.suffix.lower())
            if builder is None:
                raise UserError(f"hf: cannot read {path.suffix or 'this'} files; use "
                                f"{', '.join(sorted(_FILE_BUILDERS))} or a save_to_disk directory")
            return datasets.load_dataset(builder, data_files={split: str(path)}, split=split)
        if (where.startswith((".", "/", "~")) or where.count("/") > 1
                or path.suffix.lower() in _FILE_BUILDERS):
            raise UserError(f"hf: no such file or directory: {where}")
        return datasets.load_dataset(where, name, split=split)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - datasets raises many kinds; one line for the user
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"hf: cannot load {where!r} (split {split!r}): {msg}") from exc


def load_hf_dataset(where: str, *, split: str = "train", name: str | None = None,
                    **mapping: str) -> list[Problem]:
    """Problems from a Hugging Face dataset (hub id, local file or save_to_disk directory)."""
    ds = _open_dataset(where, split, name)
    name = _stem(where) if Path(where).expanduser().exists() else where
    return problems_from_rows(((f"{where}[{i}]", row) for i, row in enumerate(ds)), "hf",
                              name, mapping)
