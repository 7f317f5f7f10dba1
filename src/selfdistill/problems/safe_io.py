"""Reading benchmark files written by others: JSON rows and LiveCodeBench's pickled tests.

LiveCodeBench stores hidden tests as base64(zlib(pickle(json_string))). Unpickling an
untrusted file can run arbitrary code, so `safe_unpickle` accepts only plain-data pickles:
every opcode is checked against an allow-list *before* anything is loaded (pickletools
parses without executing), and the loader's `find_class` refuses every global as a second
line of defence. Anything else raises UserError.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import json
import pickle
import pickletools
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from selfdistill.errors import UserError

# Opcodes that only build str/bytes/numbers/None/bools/lists/tuples/dicts/sets and use the
# memo. Everything that looks up a global, calls something or builds an object is absent
# (GLOBAL, STACK_GLOBAL, REDUCE, BUILD, INST, OBJ, NEWOBJ, NEWOBJ_EX, EXT1/2/4, PERSID,
# BINPERSID, NEXT_BUFFER, READONLY_BUFFER).
_DATA_OPCODES = frozenset(
    {
        "PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK", "DUP",
        "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4",
        "FLOAT", "BINFLOAT", "NONE", "NEWTRUE", "NEWFALSE",
        "STRING", "BINSTRING", "SHORT_BINSTRING",
        "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8",
        "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8",
        "EMPTY_LIST", "APPEND", "APPENDS", "LIST",
        "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
        "EMPTY_DICT", "DICT", "SETITEM", "SETITEMS",
        "EMPTY_SET", "ADDITEMS", "FROZENSET",
        "GET", "BINGET", "LONG_BINGET", "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE",
    }
)  # fmt: skip

MAX_DECOMPRESSED_BYTES = 1 << 30  # 1 GiB: the largest real LiveCodeBench row is far smaller


class _NoGlobalsUnpickler(pickle.Unpickler):
    """An unpickler that refuses to resolve any global (class, function, module)."""

    def find_class(self, module: str, name: str) -> Any:
        """Refuse every global lookup."""
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")

    def persistent_load(self, pid: Any) -> Any:
        """Refuse persistent ids."""
        raise pickle.UnpicklingError("persistent ids are not allowed")


def safe_unpickle(data: bytes, what: str = "pickle") -> Any:
    """Load a pickle that holds only plain data; raise UserError for anything else."""
    try:
        for opcode, _arg, _pos in pickletools.genops(data):
            if opcode.name not in _DATA_OPCODES:
                raise UserError(
                    f"{what} contains a pickle opcode {opcode.name} that could run code; "
                    "refusing to load it (only plain-data pickles are accepted)"
                )
    except UserError:
        raise
    except Exception as exc:  # malformed stream: pickletools raises ValueError and others
        raise UserError(f"{what} is not a valid pickle ({exc})") from exc
    try:
        return _NoGlobalsUnpickler(io.BytesIO(data)).load()
    except Exception as exc:
        raise UserError(f"{what} could not be unpickled safely ({exc})") from exc


def bounded_decompress(
    data: bytes, limit: int = MAX_DECOMPRESSED_BYTES, what: str = "data"
) -> bytes:
    """zlib-decompress at most `limit` bytes; raise UserError on bad data or a bigger output."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, limit)
    except zlib.error as exc:
        raise UserError(f"{what} is not valid zlib data ({exc})") from exc
    if d.unconsumed_tail:
        raise UserError(f"{what} decompresses to more than {limit} bytes; refusing it")
    return out


def decode_lcb_tests(
    field: str | list | None, what: str = "private_test_cases"
) -> list[dict[str, Any]]:
    """Decode a LiveCodeBench test field: plain JSON, or base64(zlib(pickle(json string)))."""
    if field is None or field == "":
        return []
    if isinstance(field, list):
        value: Any = field
    else:
        try:
            value = json.loads(field)
        except (json.JSONDecodeError, TypeError):
            try:
                raw = base64.b64decode(field.encode("ascii"), validate=True)
            except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
                raise UserError(f"{what} is neither JSON nor base64 ({exc})") from exc
            value = safe_unpickle(bounded_decompress(raw, what=what), what=what)
            if isinstance(value, bytes):
                value = value.decode("utf-8", errors="replace")
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except json.JSONDecodeError as exc:
                    raise UserError(f"{what} does not hold a JSON list of tests ({exc})") from exc
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise UserError(f"{what} does not hold a list of test objects")
    return value


def read_json_rows(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (where, row) from a .jsonl/.jsonl.gz file or a .json list; where is 'file:line'.

    JSONL is streamed line by line (LiveCodeBench files run to gigabytes).
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"file not found: {p}")
    opener = gzip.open if p.suffix == ".gz" else open
    try:
        with opener(p, "rt", encoding="utf-8") as fh:
            first = ""
            while True:  # peek at the first non-blank character
                ch = fh.read(1)
                if not ch or not ch.isspace():
                    first = ch
                    break
            fh.seek(0)
            if first == "[":  # a JSON list (e.g. MBPP's sanitized-mbpp.json)
                try:
                    rows = json.load(fh)
                except json.JSONDecodeError as exc:
                    raise UserError(f"{p} is not valid JSON ({exc})") from exc
                for i, row in enumerate(rows):
                    if not isinstance(row, dict):
                        raise UserError(f"{p}[{i}] is not a JSON object")
                    yield f"{p}[{i}]", row
                return
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UserError(f"{p}:{lineno} is not valid JSON ({exc.msg})") from exc
                if not isinstance(row, dict):
                    raise UserError(f"{p}:{lineno} is not a JSON object")
                yield f"{p}:{lineno}", row
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise UserError(f"cannot read {p}: {exc}") from exc


_MISSING: Any = object()


def text_field(row: dict[str, Any], name: str, where: str, default: Any = _MISSING) -> Any:
    """row[name] as text (numbers are written out); UserError naming where and the field
    when it is missing (and no default) or holds a list, object or boolean."""
    if name not in row or row[name] is None:
        if default is _MISSING:
            raise UserError(f"{where}: missing field {name!r}")
        return default
    value = row[name]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise UserError(f"{where}: field {name!r} must be text, got {type(value).__name__}")
    return str(value)


def text_list_field(row: dict[str, Any], name: str, where: str,
                    default: Any = _MISSING) -> Any:
    """row[name] as a list of texts (one text is a one-item list); UserError naming where
    and the field otherwise."""
    if name not in row or row[name] is None:
        if default is _MISSING:
            raise UserError(f"{where}: missing field {name!r}")
        return default
    value = row[name]
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(
            isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        raise UserError(f"{where}: field {name!r} must be a list of texts, got "
                        f"{json.dumps(value)[:60]}")
    return [str(v) for v in value]


class row_errors:  # noqa: N801 - used as a context manager, reads like one
    """Turn a type or value error while converting one row into a UserError naming the row.

    The last line of defence behind the typed field readers above: a malformed file is
    one clear line, never a traceback.
    """

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(self, tp: Any, exc: Any, tb: Any) -> bool:
        if tp is not None and issubclass(tp, (TypeError, AttributeError, ValueError,
                                              KeyError, IndexError)) \
                and not issubclass(tp, UserError):
            raise UserError(f"{self.where}: a field has an unexpected type or value "
                            f"({tp.__name__}: {exc})") from None
        return False
