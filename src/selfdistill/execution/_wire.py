"""Plain-data wire format between the candidate and the trusted side (standalone, no imports
from selfdistill: the sandbox scripts load it by path).

A value is JSON with tags for what JSON lacks: {"$t": [...]} tuple, {"$s": [...]} set,
{"$fs": [...]} frozenset, {"$d": [[k, v], ...]} dict with any plain keys, {"$b": "hex"}
bytes, {"$i": "0x.."} a very large int, {"$f": "nan"|"inf"|"-inf"} non-finite float, {"$r": n} a handle to an object that
stays in the candidate's process. decode() is the trusted side's gate: it rebuilds only
built-in types (never a candidate class), checks every tag, and bounds depth and size, so a
forged or malformed message raises WireError and nothing else.
"""

from __future__ import annotations

import json
import math
import os
import struct
import time

_INF = math.inf
MAX_DEPTH = 100
MAX_NODES = 2_000_000


class WireError(ValueError):
    """A message that is not valid plain data."""


class Ref:
    """A handle to an object living in the candidate's process (trusted side only)."""

    __slots__ = ("handle", "label", "_peer")

    def __init__(self, handle: int, label: str, peer: object = None):
        self.handle, self.label, self._peer = handle, label, peer

    def __repr__(self) -> str:
        return f"<sandboxed {self.label}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ref) and other.handle == self.handle

    def __hash__(self) -> int:
        return hash(("sdref", self.handle))

    def __bool__(self) -> bool:
        # The candidate must not decide a truth value: only plain data has one.
        raise TypeError(f"{self!r} has no truth value outside the sandbox")

    def __call__(self, *args: object, **kwargs: object) -> object:
        if self._peer is None:
            raise TypeError(f"{self!r} is not callable here")
        return self._peer.call(self, args, kwargs)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        if name.startswith("__") or self._peer is None:
            raise AttributeError(name)
        return self._peer.getattr(self, name)  # type: ignore[attr-defined]


def encode(value: object, ref_of: object = None, depth: int = 0) -> object:
    """A JSON-ready form of value; objects that are not plain data go through ref_of(obj)."""
    t = type(value)
    if value is None or t is bool or t is str:
        return value
    if t is int:
        # Hex is linear to parse and exempt from int-string limits; decimal is neither.
        return value if value.bit_length() <= 4096 else {"$i": hex(value)}
    if t is float:
        if value != value or value in (_INF, -_INF):
            return {"$f": repr(value)}
        return value
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    d = depth + 1
    if t is list:
        return [encode(v, ref_of, d) for v in value]
    if t is tuple:
        return {"$t": [encode(v, ref_of, d) for v in value]}
    if t is dict:
        return {"$d": [[encode(k, ref_of, d), encode(v, ref_of, d)] for k, v in value.items()]}
    if t is set:
        return {"$s": [encode(v, ref_of, d) for v in value]}
    if t is frozenset:
        return {"$fs": [encode(v, ref_of, d) for v in value]}
    if t is bytes or t is bytearray:
        return {"$b": bytes(value).hex()}
    if isinstance(value, Ref):
        return {"$r": value.handle}
    # Subclasses of plain types (bool-like numpy scalars, IntEnum, ...) as their base value.
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return encode(int.__index__(value), ref_of, d)
    if isinstance(value, float):
        return encode(float.__float__(value), ref_of, d)
    if isinstance(value, str):
        return str.__str__(value)
    if hasattr(value, "tolist") and hasattr(value, "dtype"):
        return encode(value.tolist(), ref_of, d)  # numpy arrays and scalars
    if ref_of is None:
        raise WireError(f"a {t.__name__} is not plain data")
    return {"$r": ref_of(value)}


# Bound at import: in the candidate's process json, struct, os and even builtins such as len
# and isinstance (which the json module looks up at call time) may be patched later.
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode
_C_ENCODER = None
if json.encoder.c_make_encoder is not None:
    _C_ENCODER = json.encoder.c_make_encoder(
        None, _ENCODE.__self__.default, json.encoder.encode_basestring_ascii, None, ":", ",",
        False, False, True)
_RAW_DECODE = json.JSONDecoder().raw_decode


def _encode_json(obj: object) -> str:
    return "".join(_C_ENCODER(obj, 0)) if _C_ENCODER is not None else _ENCODE(obj)
_HEAD = struct.Struct(">I")
_monotonic = time.monotonic
_READ, _WRITE = os.read, os.write


def dumps(value: object, ref_of: object = None) -> bytes:
    """encode() as compact JSON bytes."""
    return _encode_json(encode(value, ref_of)).encode()


_HASHABLE = (type(None), bool, int, float, str, tuple, frozenset, bytes)


class _Decoder:
    def __init__(self, make_ref: object, budget_s: float):
        self.make_ref = make_ref
        self.nodes = 0
        self.deadline = _monotonic() + budget_s

    def _insert(self, add: object, key: object, value: object = None, dict_: bool = False) -> None:
        """One insertion into a set or dict, one at a time against a time budget: keys whose
        hashes the candidate made collide cost quadratic time, so the budget (not the
        candidate) bounds the cost of rebuilding a value, and the C-level set()/dict()
        constructors, which hold the GIL to the end, are never handed such a list."""
        if dict_:
            add[key] = value  # type: ignore[index]
        else:
            add(key)  # type: ignore[operator]
        if _monotonic() > self.deadline:
            raise WireError("value too costly to rebuild (colliding hashes?)")

    def value(self, x: object, depth: int) -> object:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise WireError("value too large")
        if depth > MAX_DEPTH + 2:
            raise WireError("value nested too deeply")
        t = type(x)
        if x is None or t is bool or t is str or t is int or t is float:
            return x
        if t is list:
            return [self.value(v, depth + 1) for v in x]
        if t is not dict or len(x) != 1:
            raise WireError("malformed value")
        ((tag, body),) = x.items()
        if tag == "$f":
            if body not in ("nan", "inf", "-inf"):
                raise WireError("malformed float")
            return float(body)
        if tag == "$i":
            if type(body) is not str or len(body) > 1 << 22:
                raise WireError("malformed int")
            try:
                return int(body, 16)
            except ValueError as e:
                raise WireError("malformed int") from e
        if tag == "$b":
            if type(body) is not str:
                raise WireError("malformed bytes")
            try:
                return bytes.fromhex(body)
            except ValueError as e:
                raise WireError("malformed bytes") from e
        if tag == "$r":
            if type(body) is not int or self.make_ref is None:
                raise WireError("unexpected object handle")
            return self.make_ref(body)
        if type(body) is not list:
            raise WireError("malformed container")
        items = [self.value(v, depth + 1) for v in body] if tag != "$d" else None
        if tag == "$t":
            return tuple(items)  # type: ignore[arg-type]
        if tag in ("$s", "$fs"):
            if not all(isinstance(v, _HASHABLE + (Ref,)) for v in items):  # type: ignore[union-attr]
                raise WireError("unhashable set member")
            built: set = set()
            try:
                for v in items:  # type: ignore[union-attr]
                    self._insert(built.add, v)
            except TypeError as e:
                raise WireError("unhashable set member") from e
            return built if tag == "$s" else frozenset(built)
        if tag == "$d":
            out: dict = {}
            for pair in body:
                if type(pair) is not list or len(pair) != 2:
                    raise WireError("malformed dict")
                k = self.value(pair[0], depth + 1)
                if not isinstance(k, _HASHABLE + (Ref,)):
                    raise WireError("unhashable dict key")
                v = self.value(pair[1], depth + 1)
                try:
                    self._insert(out, k, v, dict_=True)
                except TypeError as e:
                    raise WireError("unhashable dict key") from e
            return out
        raise WireError(f"unknown tag {tag[:20]!r}")


DECODE_BUDGET_S = 2.0


def decode(obj: object, make_ref: object = None, budget_s: float = DECODE_BUDGET_S) -> object:
    """Rebuild a value from its encode() form; raises WireError on anything else (including
    a value that takes more than budget_s to rebuild)."""
    try:
        return _Decoder(make_ref, budget_s).value(obj, 0)
    except RecursionError as e:
        raise WireError("value nested too deeply") from e


def loads(data: bytes, make_ref: object = None, max_bytes: int = 1 << 26) -> object:
    """decode(json.loads(data)) with a size bound; raises WireError on anything invalid."""
    if len(data) > max_bytes:
        raise WireError("message too large")
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError, MemoryError) as e:
        raise WireError("malformed message") from e
    return decode(obj, make_ref)


# ---------------------------------------------------------------- the candidate's end


def serve_judge(g: dict, fd: int, tb_of: object) -> None:
    """In the candidate's process: answer the judge's requests (name lookups, calls,
    attributes) on fd until it says bye. Nothing here is trusted (the judge validates every
    reply); it only has to keep working for honest programs that patch things."""
    table: list = []

    def ref_of(obj: object) -> int:
        table.append(obj)
        return len(table) - 1

    def resolve(h: int) -> object:
        return table[h]

    def read(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = _READ(fd, n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def send(obj: dict) -> None:
        data = _encode_json(obj).encode()
        data = _HEAD.pack(len(data)) + data
        while data:
            data = data[_WRITE(fd, data):]

    send({"ready": True})
    while True:
        try:
            (n,) = _HEAD.unpack(read(4))
            req = _RAW_DECODE(read(n).decode())[0]
        except EOFError:
            return
        op = req.get("op")
        if op == "bye":
            return
        try:
            if op == "name":
                name = req["name"]
                if name not in g:
                    raise NameError(f"name {name!r} is not defined")
                value = g[name]
            elif op == "call":
                target = resolve(req["ref"])
                args = [decode(a, resolve) for a in req["args"]]
                kwargs = {k: decode(v, resolve) for k, v in req["kwargs"]}
                value = target(*args, **kwargs)
            elif op == "attr":
                value = getattr(resolve(req["ref"]), req["name"])
            else:
                raise ValueError(f"unknown request {op!r}")
            reply = {"ok": encode(value, ref_of)}
        except BaseException as e:  # noqa: BLE001 - the judge decides what an error means
            try:
                text = str(e)[:2000]
            except BaseException:  # noqa: BLE001
                text = ""
            reply = {"err": [type(e).__name__, text, tb_of(e)]}  # type: ignore[operator]
        try:
            send(reply)
        except (ValueError, TypeError, RecursionError):
            send({"err": ["TypeError", "the value is not plain data", ""]})


# ---------------------------------------------------------------- framing (trusted processes)

def send_frame(sock: object, obj: dict, fds: tuple[int, ...] = ()) -> None:
    """One length-prefixed JSON frame on a unix socket, with fds attached to its first byte."""
    import socket as _socket
    import struct

    data = json.dumps(obj).encode()
    data = struct.pack(">I", len(data)) + data
    if fds:
        import array

        anc = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", fds))]
        n = sock.sendmsg([data], anc)  # type: ignore[attr-defined]
        data = data[n:]
    while data:
        data = data[sock.send(data):]  # type: ignore[attr-defined]


def recv_frame(sock: object, max_fds: int = 2) -> tuple[dict, list[int]]:
    """The next frame and any fds that came with it; EOFError when the peer is gone."""
    import array
    import socket as _socket
    import struct

    fds: list[int] = []
    head = b""
    while len(head) < 4:
        msg, anc, _, _ = sock.recvmsg(  # type: ignore[attr-defined]
            4 - len(head), _socket.CMSG_SPACE(max_fds * 4))
        for level, kind, blob in anc:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                a = array.array("i")
                a.frombytes(blob[: len(blob) - len(blob) % 4])
                fds += list(a)
        if not msg:
            for fd in fds:
                os_close(fd)
            raise EOFError
        head += msg
    (n,) = struct.unpack(">I", head)
    body = bytearray()
    while len(body) < n:
        chunk = sock.recv(min(1 << 20, n - len(body)))  # type: ignore[attr-defined]
        if not chunk:
            raise EOFError
        body += chunk
    return json.loads(body), fds


def os_close(fd: int) -> None:
    """Close fd, ignoring errors."""
    import os

    try:
        os.close(fd)
    except OSError:
        pass
