"""Host side of the sandbox: start pre-forked workers (_zygote.py) and hand them jobs."""

from __future__ import annotations

import atexit
import collections
import json
import os
import secrets
import select
import socket
import subprocess
import sys
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from selfdistill.execution import _wire
from selfdistill.execution.config import SandboxConfig
from selfdistill.execution.host import (
    SandboxError,
    allocate_uid,
    jail_paths,
    make_cgroup,
    missing_isolation,
    rmdir_cgroup,
    spawn_server,
    subids_for,
    warn_subids,
    workspace_mount,
)

_ZYGOTE = str(Path(__file__).with_name("_zygote.py"))
_JUDGE = str(Path(__file__).with_name("_judge.py"))


# How long the host waits for a judge's report once the candidate's side of a job is over.
JUDGE_GRACE_S = 10.0


def usable_cores() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


class _Server:
    """One trusted server process (the sandbox's zygote or the judge), spoken to over a unix
    socket with length-prefixed JSON frames (fds attached where a job needs a socket).

    Several requests may be in flight: the server handles them in order, and a reader thread
    resolves the replies in order.
    """

    def __init__(self, argv: list[str], name: str):
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.proc = spawn_server(argv, child.fileno())
        finally:
            child.close()
        self.sock = parent
        self.name = name
        self._lock = threading.Lock()
        self._pending: collections.deque[Future[dict[str, Any]]] = collections.deque()
        self._dead = False
        self._reader: threading.Thread | None = None

    def hello(self, timeout: float = 30.0) -> dict[str, Any]:
        """The server's first frame; then replies are read by a thread."""
        ready = select.select([self.sock], [], [], timeout)[0]
        if not ready:
            raise SandboxError(f"sandbox {self.name} did not start in time")
        try:
            msg, fds = _wire.recv_frame(self.sock)
        except (EOFError, OSError, ValueError) as e:
            raise SandboxError(f"sandbox {self.name} failed to start") from e
        for fd in fds:
            os.close(fd)
        self._reader = threading.Thread(target=self._read_loop, daemon=True,
                                        name=f"sandbox-{self.name}-reader")
        self._reader.start()
        return msg

    def _read_loop(self) -> None:
        while True:
            try:
                msg, fds = _wire.recv_frame(self.sock)
                for fd in fds:
                    os.close(fd)
            except (EOFError, OSError, ValueError) as e:
                self._fail_all(SandboxError(f"sandbox {self.name} died ({type(e).__name__})"))
                return
            with self._lock:
                fut = self._pending.popleft() if self._pending else None
            if fut is not None:
                fut.set_result(msg if isinstance(msg, dict) else {"infra_error": "bad reply"})

    def _fail_all(self, err: SandboxError) -> None:
        with self._lock:
            self._dead = True
            pending = list(self._pending)
            self._pending.clear()
        for fut in pending:
            if not fut.done():
                fut.set_exception(err)

    def submit(self, request: dict[str, Any], fds: tuple[int, ...] = ()) -> Future[dict[str, Any]]:
        """Queue one request; its reply arrives through the returned future."""
        fut: Future[dict[str, Any]] = Future()
        with self._lock:
            if self._dead:
                raise SandboxError(f"sandbox {self.name} died")
            self._pending.append(fut)
            try:
                _wire.send_frame(self.sock, request, fds)
            except OSError as e:
                self._pending.remove(fut)
                raise SandboxError(f"sandbox {self.name} unreachable: {e}") from e
        return fut

    def in_flight(self) -> int:
        """Requests sent and not answered yet."""
        return len(self._pending)

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.proc.poll() is None and not self._dead

    def kill(self) -> None:
        """Kill the process (its jobs die with it: pdeathsig and pid namespaces)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._fail_all(SandboxError(f"sandbox {self.name} was killed"))
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout=5)
        self.sock.close()

    def close(self) -> None:
        """Ask the process to exit, then make sure it did."""
        try:
            if self.proc.poll() is None and not self._dead:
                self.submit({"cmd": "exit"})
                self.proc.wait(timeout=5)
        except (OSError, SandboxError, subprocess.TimeoutExpired):
            pass
        self.kill()


class Worker:
    """One sandbox worker: a pre-forked zygote that runs candidates in its jail, and a
    trusted judge process that runs assert-style test programs against them.

    The zygote never receives test programs or expected values; the judge never runs
    candidate code. For an assert job the host makes a socket pair and hands one end to each.
    """

    def __init__(self, config: SandboxConfig, uid: int = 0):
        self.config = config
        self.slot = uid
        uid = uid if (config.drop_uid and os.geteuid() == 0) else None  # type: ignore[assignment]
        workspace = workspace_mount(config)
        if workspace is not None and uid is not None:
            # The job must be able to write the workspace: run as its owner (uid 0 means
            # root with every capability dropped, as in a user namespace).
            uid = os.stat(workspace).st_uid or None  # type: ignore[assignment]
        # Not root: jobs map to this slot's subordinate uid (a workspace is ours: they keep ours)
        subids = subids_for(config, self.slot) if workspace is None else None
        self.cgroup = make_cgroup() if config.cgroup else None
        cgroup = self.cgroup
        cfg: dict[str, Any] = {"namespaces": config.namespaces, "tmpfs_mb": config.tmpfs_mb,
                               "uid": uid, "cgroup": cgroup, "subids": subids}
        if config.namespaces:
            cfg.update(jail_paths(config), workspace=workspace)
        self.judge: _Server | None = None
        self.zygote: _Server | None = None  # type: ignore[assignment]
        self._order = threading.Lock()
        try:
            self.zygote = _Server([sys.executable, "-I", _ZYGOTE, json.dumps(cfg)], "worker")
            hello = self.zygote.hello()
            if hello.get("error"):
                raise SandboxError(f"{hello['error']}; refusing to run untrusted code "
                                   "(SandboxConfig(namespaces=False) runs without isolation)")
            self.isolation: str = str(hello.get("isolation", ""))
            if hello.get("note"):  # newuidmap failed: the worker fell back to our own uid
                warn_subids(str(hello["note"]))
            missing = missing_isolation(config.require_isolation, self.isolation)
            if missing:
                raise SandboxError(f"required isolation {missing} unavailable (got {self.isolation})")
            self.judge = _Server([sys.executable, "-I", _JUDGE], "judge")
            self.judge.hello()
        except BaseException:
            self.kill()
            raise

    def run(self, job: dict[str, Any], test: str | None = None, entry: str = "") -> dict[str, Any]:
        """Run one job (one program on one test) and return the raw outcome.

        With `test` (an assert-style program), the judge runs it against the candidate (whose
        function under test is `entry`) and its report is the outcome's "judge" entry.
        """
        job = dict(job)
        job["nonce"] = secrets.token_hex(16)
        wait = (float(job["limits"]["wall_s"]) + 30.0) * (1 + self.zygote.in_flight())
        jfut = None
        judge = self.judge
        if test is not None:
            assert judge is not None
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                # Both servers take jobs in order: the two submissions of one job must not
                # interleave with another thread's, or each would wait for the other's job.
                with self._order:
                    jfut = judge.submit({"cmd": "check", "job": {"test": test, "limits": job["limits"],
                                                          "entry": entry}},
                                        (mine.fileno(),))
                    fut = self.zygote.submit({"cmd": "run", "job": job}, (theirs.fileno(),))
            finally:
                mine.close()
                theirs.close()
        else:
            with self._order:
                fut = self.zygote.submit({"cmd": "run", "job": job})
        try:
            # The worker enforces every limit itself; this guard only catches a wedged worker.
            out = fut.result(timeout=wait)
        except FutureTimeout:
            self.kill()
            raise SandboxError("sandbox worker did not answer in time") from None
        if jfut is None:
            return out
        out = dict(out)
        try:
            # The candidate's side is over, so the test has at most its own alarm left; a
            # judge stuck past that (e.g. in one long C call on the candidate's values) is
            # restarted after JUDGE_GRACE_S and the job is a time-out, not a failure to retry.
            out["judge"] = jfut.result(timeout=float(job["limits"]["wall_s"]) + JUDGE_GRACE_S)
        except FutureTimeout:
            self._restart_judge(judge)
            out["judge"] = {"result": "timeout", "message": "the test program ran out of time"}
        return out

    def _restart_judge(self, stuck: _Server) -> None:
        """Replace a judge that stopped answering (its queued checks fail and are retried)."""
        with self._order:
            if self.judge is not stuck:
                return
            stuck.kill()
            self.judge = None
            judge = _Server([sys.executable, "-I", _JUDGE], "judge")
            try:
                judge.hello()
            except BaseException:
                judge.kill()
                raise
            self.judge = judge

    def stat(self) -> dict[str, Any]:
        """Leftover job directories, mounts and live children inside the worker (leak tests)."""
        return self.zygote.submit({"cmd": "stat"}).result(timeout=60.0)

    def alive(self) -> bool:
        """Whether both processes still run."""
        return self.zygote.alive() and self.judge is not None and self.judge.alive()

    def in_flight(self) -> int:
        """Jobs sent and not answered yet."""
        return self.zygote.in_flight()

    def kill(self) -> None:
        """Kill both processes and remove the worker's cgroup."""
        if getattr(self, "zygote", None) is not None:
            self.zygote.kill()
        if self.judge is not None:
            self.judge.kill()
        if self.cgroup is not None:
            for d in self.cgroup["dirs"]:
                rmdir_cgroup(d)
            self.cgroup = None

    def close(self) -> None:
        """Ask both processes to exit, then make sure they did."""
        if getattr(self, "zygote", None) is not None:
            self.zygote.close()
        if self.judge is not None:
            self.judge.close()
        self.kill()


def _infra_failure(out: dict[str, Any]) -> bool:
    """Whether an outcome says the worker (not the candidate) failed."""
    judge = out.get("judge")
    return "infra_error" in out or (isinstance(judge, dict) and judge.get("result") == "judge_error")


class WorkerPool:
    """A fixed set of workers; each job goes to the least busy one (at most `depth` queued)."""

    def __init__(self, config: SandboxConfig, size: int, depth: int = 2):
        self.config = config
        self.size = size
        self.depth = depth
        self._workers: list[Worker | None] = [None] * size
        self._busy = [0] * size
        self._uid_slots = [allocate_uid(config) for _ in range(size)]
        self._cond = threading.Condition()
        self._starting: set[int] = set()

    def _acquire(self, slots: int | None = None) -> int:
        with self._cond:
            while True:
                n = min(slots or self.size, self.size)
                slot = min(range(n), key=self._busy.__getitem__)
                if self._busy[slot] < self.depth:
                    self._busy[slot] += 1
                    return slot
                self._cond.wait()

    def _release(self, slot: int) -> None:
        with self._cond:
            self._busy[slot] -= 1
            self._cond.notify()

    def _get(self, slot: int) -> Worker:
        with self._cond:
            while slot in self._starting:
                self._cond.wait()
            w = self._workers[slot]
            if w is not None and w.alive():
                return w
            self._starting.add(slot)
        try:
            if w is not None:
                w.kill()
            w = Worker(self.config, self._uid_slots[slot][0])
            return w
        finally:
            with self._cond:
                self._workers[slot] = w
                self._starting.discard(slot)
                self._cond.notify_all()

    def run(self, job: dict[str, Any], test: str | None = None, entry: str = "",
            slots: int | None = None) -> tuple[dict[str, Any], str]:
        """Run a job on a worker (one of the first `slots`: the caller's concurrency);
        returns (outcome, isolation achieved)."""
        slot = self._acquire(slots)
        try:
            w = self._get(slot)
            try:
                out = w.run(job, test, entry)
                if not _infra_failure(out):
                    return out, w.isolation
                w.kill()  # a worker that failed a job is not trusted with the next one
            except SandboxError:
                pass
            # One retry on a fresh worker: the failure may be the worker's, not the job's.
            w = self._get(slot)
            return w.run(job, test, entry), w.isolation
        finally:
            self._release(slot)

    def grow(self, size: int) -> None:
        """Add worker slots (never removes any, so callers in flight are unaffected)."""
        with self._cond:
            while self.size < size:
                self._workers.append(None)
                self._busy.append(0)
                self._uid_slots.append(allocate_uid(self.config))
                self.size += 1
            self._cond.notify_all()

    def start(self) -> None:
        """Start every worker now (they start lazily otherwise)."""
        for slot in range(self.size):
            self._get(slot)

    def isolation(self) -> str:
        """The isolation level of this pool's workers (starts one if needed)."""
        return self._get(0).isolation

    def stats(self) -> list[dict[str, Any]]:
        """stat() of every started worker."""
        return [w.stat() for w in list(self._workers) if w is not None and w.alive()]

    def close(self) -> None:
        """Stop every worker."""
        for slot, w in enumerate(list(self._workers)):
            if w is not None:
                w.close()
                self._workers[slot] = None
        for _, fd in self._uid_slots:
            if fd >= 0:
                os.close(fd)
        self._uid_slots = []


_POOLS: dict[tuple[Any, ...], WorkerPool] = {}
_POOLS_LOCK = threading.Lock()


def get_pool(config: SandboxConfig, workers: int | None = None) -> WorkerPool:
    """The shared pool for this isolation setting (limits travel with each job)."""
    size = workers or config.workers or usable_cores()
    key = (config.namespaces, config.drop_uid, config.uid_base, config.tmpfs_mb,
           config.require_isolation, config.extra_packages, config.cgroup, config.workspace)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = WorkerPool(config, size)
        elif pool.size < size:
            pool.grow(size)
        return pool


def close_pool(config: SandboxConfig) -> None:
    """Stop the workers of this isolation setting's pool, if it has one (e.g. a workspace
    mount that is done: its workers hold the mount of that directory)."""
    key = (config.namespaces, config.drop_uid, config.uid_base, config.tmpfs_mb,
           config.require_isolation, config.extra_packages, config.cgroup, config.workspace)
    with _POOLS_LOCK:
        pool = _POOLS.pop(key, None)
    if pool is not None:
        pool.close()


def shutdown_pools() -> None:
    """Stop all workers (also runs at interpreter exit)."""
    with _POOLS_LOCK:
        for pool in _POOLS.values():
            pool.close()
        _POOLS.clear()


atexit.register(shutdown_pools)
