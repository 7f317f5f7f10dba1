"""Plain records on disk: append-only JSONL that survives kill -9 and resumes cleanly."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read every complete record of a JSONL file; a torn last line (from a kill) is ignored."""
    return list(iter_jsonl(path))


def iter_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield complete records; stop silently at a final partial line.

    A damaged complete line (not a JSON object) is a UserError naming the file and line:
    never skipped silently, never a traceback.
    """
    from selfdistill.errors import UserError

    path = Path(path)
    if not path.exists():
        return
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.endswith(b"\n"):
                break  # torn write from a killed process: never half-trust it
            raw = raw.strip()
            if not raw:
                continue
            try:
                rec = json.loads(raw)
            except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
                raise UserError(f"{path}:{lineno}: not a JSON record ({e}); fix or remove "
                                "that line (or the file) and re-run.") from None
            if not isinstance(rec, dict):
                raise UserError(f"{path}:{lineno}: expected a JSON object, got "
                                f"{type(rec).__name__}; fix or remove that line and re-run.")
            yield rec


class JsonlWriter:
    """Append records one line at a time, fsync'd, after truncating any torn tail.

    A record is either wholly on disk (ends with newline) or not at all, so a reader that
    keys records by an id can resume without losing or duplicating one.
    """

    def __init__(self, path: str | Path, fsync: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._truncate_torn_tail()
        self._fh = self.path.open("ab")

    def _truncate_torn_tail(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb+") as fh:
            data = fh.read()
            if data and not data.endswith(b"\n"):
                fh.truncate(data.rfind(b"\n") + 1)

    def write(self, record: dict[str, Any]) -> None:
        """Append one record durably."""
        self._fh.write((json.dumps(record, ensure_ascii=False) + "\n").encode())
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())

    def write_many(self, records: Iterable[dict[str, Any]]) -> None:
        """Append several records, one durable flush at the end."""
        for r in records:
            self._fh.write((json.dumps(r, ensure_ascii=False) + "\n").encode())
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        """Close the file."""
        self._fh.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def keep_jsonl(path: str | Path, keep: Callable[[dict[str, Any]], bool]) -> int:
    """Rewrite path with only the complete records keep() accepts (temp file + rename, so a
    kill leaves the old or the new file); returns how many were dropped.

    A run that resumes from a checkpoint older than its logs drops the rows it will write
    again, so no step is logged twice.
    """
    path = Path(path)
    if not path.exists():
        return 0
    rows = read_jsonl(path)
    kept = [r for r in rows if keep(r)]
    if len(kept) == len(rows) and path.read_bytes().endswith(b"\n"):
        return 0
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(b"".join((json.dumps(r, ensure_ascii=False) + "\n").encode() for r in kept))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return len(rows) - len(kept)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write bytes by write-then-rename so readers never see a half file; a failed write
    (a full disk) leaves the old file and no temporary one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """write_bytes_atomic of UTF-8 text."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write JSON by write-then-rename so readers never see a half file."""
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False))
