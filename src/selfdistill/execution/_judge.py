"""Trusted judge server for assert-style tests: a standalone script started by sandbox.Worker.

It never runs candidate code. Per job it receives the test program and one end of a socket
whose other end belongs to the candidate's process (inside the sandbox) and runs the test in
fresh globals where every name the test does not define itself (nor builtins, nor stdlib
modules) is a proxy of the candidate's object: calls go over the socket, arguments and return
values as plain data (_wire.py), so assertions, expected values and comparisons all run here.
The report goes to the host over this server's own socket, which the candidate never sees.
"""

from __future__ import annotations

import ast
import builtins
import ctypes
import importlib
import importlib.util
import json
import linecache
import os
import resource
import select
import signal
import socket
import struct
import sys
import time
import traceback

_spec = importlib.util.spec_from_file_location("_sd_wire", os.path.join(os.path.dirname(__file__), "_wire.py"))
_wire = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(_wire)  # type: ignore[union-attr]

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38
_BUILTIN_EXC = {n: getattr(builtins, n) for n in dir(builtins)
                if isinstance(getattr(builtins, n), type) and issubclass(getattr(builtins, n), Exception)}
# Types that Python's own machinery catches on the test's behalf (map/zip/next end at a
# StopIteration, `all(map(candidate, xs))` would then pass): raised by the candidate they
# arrive as CandidateError, which nothing catches implicitly.
for _name in ("StopIteration", "StopAsyncIteration"):
    _BUILTIN_EXC.pop(_name, None)
# How long the judge waits for a queued candidate to start: the worker runs one job at a time
# and kills each at its wall limit, so this only bounds a wedged worker.
_START_WAIT_S = 600.0
_JUDGE_AS = 8 << 30  # address space of the judge process (room for numpy in test programs)


class CandidateGone(BaseException):
    """The candidate's process ended or stopped answering (not catchable by `except Exception`)."""


class ProtocolViolation(BaseException):
    """The candidate sent something that is not a valid reply."""


class CandidateError(Exception):
    """An exception raised inside the candidate whose type is not a built-in one."""


class Peer:
    """The trusted end of the socket to the candidate's process."""

    def __init__(self, sock: socket.socket, deadline: float, max_bytes: int):
        self.sock, self.deadline, self.max_bytes = sock, deadline, max_bytes
        self.broken: BaseException | None = None
        self.remote_excs: list[BaseException] = []
        self.calls = 0

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                raise CandidateGone("the candidate did not answer in time")
            chunk = self.sock.recv(min(n - len(buf), 1 << 20))
            if not chunk:
                raise CandidateGone("the candidate's process ended")
            buf += chunk
        return bytes(buf)

    def _fail(self, e: BaseException) -> BaseException:
        if self.broken is None:
            self.broken = e
        return e

    def recv(self) -> dict:
        """One reply from the candidate, validated as a frame."""
        if self.broken is not None:
            raise self.broken
        try:
            (n,) = struct.unpack(">I", self._recv_exact(4))
            if n > self.max_bytes:
                raise ProtocolViolation(f"reply of {n} bytes exceeds {self.max_bytes}")
            msg = json.loads(self._recv_exact(n))
        except (CandidateGone, ProtocolViolation) as e:
            raise self._fail(e) from None
        except (ValueError, RecursionError, MemoryError, OSError) as e:
            raise self._fail(ProtocolViolation(f"malformed reply ({type(e).__name__})")) from None
        if type(msg) is not dict:
            raise self._fail(ProtocolViolation("reply is not an object"))
        return msg

    def request(self, op: dict) -> object:
        """Send one request; the decoded plain value of the reply, or the candidate's exception."""
        if self.broken is not None:
            raise self.broken
        self.calls += 1
        try:
            data = json.dumps(op, separators=(",", ":")).encode()
            self.sock.sendall(struct.pack(">I", len(data)) + data)
        except OSError:
            raise self._fail(CandidateGone("the candidate's process ended")) from None
        msg = self.recv()
        if set(msg) == {"ok"}:
            try:
                return _wire.decode(msg["ok"], self._ref)
            except _wire.WireError as e:
                raise self._fail(ProtocolViolation(str(e))) from None
        err = msg.get("err") if set(msg) == {"err"} else None
        if type(err) is not list or len(err) != 3 or not all(type(x) is str for x in err):
            raise self._fail(ProtocolViolation("reply is neither a value nor an error"))
        name, text, tb = (x[:4000] for x in err)
        cls = _BUILTIN_EXC.get(name)
        exc = cls(text) if cls is not None else CandidateError(f"{name}: {text}" if text else name)
        exc.sd_remote_tb = tb  # type: ignore[attr-defined]
        self.remote_excs.append(exc)
        raise exc

    def _ref(self, handle: int) -> _wire.Ref:
        return _wire.Ref(handle, "object", self)

    def call(self, ref: _wire.Ref, args: tuple, kwargs: dict) -> object:
        """Call a candidate object with plain-data arguments."""
        try:
            enc_args = [_wire.encode(a) for a in args]
            enc_kw = [[k, _wire.encode(v)] for k, v in kwargs.items()]
        except _wire.WireError as e:
            raise TypeError(f"cannot pass this argument into the sandbox: {e}") from None
        return self.request({"op": "call", "ref": ref.handle, "args": enc_args, "kwargs": enc_kw})

    def getattr(self, ref: _wire.Ref, name: str) -> object:
        """An attribute of a candidate object, as plain data or another handle."""
        return self.request({"op": "attr", "ref": ref.handle, "name": name})

    def lookup(self, name: str) -> object:
        """A global of the candidate's module."""
        return self.request({"op": "name", "name": name})


class TestGlobals(dict):
    """The test's globals: names it does not define (nor builtins) come from the candidate."""

    def __init__(self, peer: Peer, entry: str = ""):
        super().__init__(__name__="__main__", __builtins__=builtins)
        self.peer = peer
        self.entry = entry

    def __missing__(self, name: str) -> object:
        if name in builtins.__dict__ or name.startswith("__"):
            raise KeyError(name)
        if name in sys.stdlib_module_names and not name.startswith("_") and name != self.entry:
            # A stdlib module the test forgot to import is ours, never the candidate's (only
            # the function under test may carry such a name, e.g. `chunk`).
            try:
                value = importlib.import_module(name)
            except ImportError:
                raise KeyError(name) from None
            self[name] = value
            return value
        try:
            value = self.peer.lookup(name)
        except NameError:
            raise KeyError(name) from None
        self[name] = value
        return value


def _assert_got(e: BaseException, test_src: str) -> tuple[str | None, str | None]:
    """For a failed `assert lhs == rhs`: its source and repr(lhs), re-evaluated here."""
    src = None
    try:
        tb, frame, lineno = e.__traceback__, None, 0
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == "test.py":
                frame, lineno = tb.tb_frame, tb.tb_lineno
            tb = tb.tb_next
        if frame is None:
            return None, None
        node = next((n for n in ast.walk(ast.parse(test_src)) if isinstance(n, ast.Assert)
                     and n.lineno <= lineno <= (n.end_lineno or n.lineno)), None)
        if node is None:
            return None, None
        src = " ".join((ast.get_source_segment(test_src, node) or "").split())[:500] or None
        expr = node.test.left if isinstance(node.test, ast.Compare) else node.test
        if isinstance(expr, ast.Constant):
            return src, None
        value = eval(compile(ast.Expression(expr), "test.py", "eval"), frame.f_globals,
                     dict(frame.f_locals))
        text = repr(value)
        return src, (text if len(text) <= 2000 else text[:1000] + " ... " + text[-500:])
    except BaseException:  # noqa: BLE001 - best effort only
        return src, None


def _tb(e: BaseException) -> str:
    try:
        return "".join(traceback.format_exception(type(e), e, e.__traceback__))[-4000:]
    except BaseException:  # noqa: BLE001
        return type(e).__name__


def run_check(test_src: str, sock: socket.socket, wall_s: float, max_bytes: int,
              entry: str = "", start_wait_s: float = _START_WAIT_S) -> dict:
    """Run the test program against the candidate behind sock; the report for the host.

    The clock (wall_s, and the alarm against a runaway test) starts at the candidate's first
    message, not when the check was queued: the worker may still be busy with earlier jobs.
    """
    peer = Peer(sock, time.monotonic() + start_wait_s, max_bytes)
    linecache.cache["test.py"] = (len(test_src), None, test_src.splitlines(True), "test.py")
    try:
        hello = peer.recv()
        if hello != {"ready": True}:
            raise ProtocolViolation("the candidate did not start the session properly")
    except (CandidateGone, ProtocolViolation) as e:
        return {"result": "gone" if isinstance(e, CandidateGone) else "protocol",
                "message": str(e)}
    peer.deadline = time.monotonic() + wall_s + 1.0
    signal.setitimer(signal.ITIMER_REAL, wall_s + 2.0)
    g = TestGlobals(peer, entry)
    try:
        code = compile(test_src, "test.py", "exec", dont_inherit=True)
        exec(code, g)
        outcome: dict = {"result": "ok"}
    except (CandidateGone, ProtocolViolation):
        outcome = {}
    except BaseException as e:  # noqa: BLE001 - every failure of the test is a verdict
        remote = any(e is r for r in peer.remote_excs)
        outcome = {"result": "candidate_error" if remote else
                   ("assert" if isinstance(e, AssertionError) else "test_error"),
                   "exc": type(e).__name__, "message": str(e)[:2000], "tb": _tb(e)}
        if remote:
            outcome["tb"] = getattr(e, "sd_remote_tb", "") or outcome["tb"]
        if isinstance(e, AssertionError) and not remote:
            src, got = _assert_got(e, test_src)
            outcome["assert"], outcome["got"] = src, got
    if peer.broken is not None:
        # A broken session decides, even if the test swallowed the error.
        kind = "gone" if isinstance(peer.broken, CandidateGone) else "protocol"
        return {"result": kind, "message": str(peer.broken)}
    try:
        data = json.dumps({"op": "bye"}).encode()
        sock.sendall(struct.pack(">I", len(data)) + data)
    except OSError:
        pass
    outcome["calls"] = peer.calls
    return outcome


class JudgeTimeout(BaseException):
    """The test program itself ran past the job's wall-clock limit."""


def _on_alarm(signum: int, frame: object) -> None:
    raise JudgeTimeout


def _serve_one(job: dict, fds: list[int]) -> dict:
    """Run one test program against the candidate behind fds[0], in this process.

    No fork per job (a fork costs ~2.5 ms here): each test gets fresh globals, and this
    process only ever holds trusted test code and plain data decoded from the candidate.
    A test that runs past the wall-clock limit is interrupted by an alarm.
    """
    if len(fds) != 1:
        for fd in fds:
            _wire.os_close(fd)
        return {"result": "judge_error", "message": "no candidate socket"}
    sock = socket.socket(fileno=fds[0])
    lim = job["limits"]
    wall = float(lim["wall_s"])
    try:
        return run_check(job["test"], sock, wall, int(lim.get("max_message_bytes", 1 << 26)),
                         str(job.get("entry") or ""))
    except JudgeTimeout:
        return {"result": "timeout", "message": "the test program ran out of time"}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        sock.close()


def main() -> None:
    """Serve check jobs until EOF."""
    chan = socket.socket(fileno=os.dup(0))
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)
    os.close(devnull)
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    # What the candidate sends is bounded in size; this bounds what parsing it may cost (a
    # MemoryError is that job's protocol violation, not the judge's end).
    try:
        resource.setrlimit(resource.RLIMIT_AS, (_JUDGE_AS, _JUDGE_AS))
    except (OSError, ValueError):
        pass
    sys.set_int_max_str_digits(50_000)
    signal.signal(signal.SIGALRM, _on_alarm)
    _wire.send_frame(chan, {"ready": True, "pid": os.getpid()})
    while True:
        try:
            msg, fds = _wire.recv_frame(chan)
        except (EOFError, OSError, ValueError):
            break
        if msg.get("cmd") == "exit":
            break
        try:
            out = _serve_one(msg["job"], fds)
            json.dumps(out)  # must be reportable
        except BaseException as e:  # noqa: BLE001 - never let a job take the judge down
            out = {"result": "judge_error", "message": f"{type(e).__name__}: {e}"[:2000]}
        try:
            _wire.send_frame(chan, out)
        except OSError:
            break


if __name__ == "__main__":
    main()
