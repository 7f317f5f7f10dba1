"""Host resources a sandbox worker needs: the jail's paths, cgroups, and a claimed uid."""

from __future__ import annotations

import collections
import fcntl
import functools
import importlib.util
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from selfdistill.execution.config import SandboxConfig

_PACKAGES_DIR = "/opt/sd-packages"

def jail_paths(config: SandboxConfig) -> dict[str, Any]:
    """What the candidate may see: the base interpreter (minus its site-packages) and the
    configured extra packages, plus the sys.path a job gets inside the jail."""
    base = os.path.realpath(sys.base_prefix)
    ver = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = os.path.join(base, "lib", ver, "site-packages")
    path = [os.path.realpath(p) for p in sys.path if p and os.path.realpath(p).startswith(base + "/")
            and not os.path.realpath(p).startswith(site)]
    expose = [base]
    if not os.path.realpath(sys.executable).startswith(base + "/"):
        expose.append(os.path.dirname(os.path.realpath(sys.executable)))
    packages: dict[str, str] = {}
    for name in config.extra_packages:
        spec = importlib.util.find_spec(name)
        if spec is None:
            raise SandboxError(f"extra package {name!r} is not installed")
        if spec.submodule_search_locations:
            src = list(spec.submodule_search_locations)[0]
            packages[name] = src
            libs = os.path.join(os.path.dirname(src), f"{name}.libs")  # vendored shared libraries
            if os.path.isdir(libs):
                packages[f"{name}.libs"] = libs
        elif spec.origin and os.path.isfile(spec.origin):
            packages[os.path.basename(spec.origin)] = spec.origin
    if packages:
        path.append(_PACKAGES_DIR)
    # The venv's python (sys.executable) is not in the jail; the interpreter it links to is.
    return {"expose": expose, "hide": [site], "path": path, "packages": packages,
            "executable": os.path.realpath(sys.executable)}


def workspace_mount(config: SandboxConfig) -> str | None:
    """The real path of config.workspace (mounted at /workspace), or None; SandboxError
    when it is not a directory or there is no jail to mount it in."""
    if config.workspace is None:
        return None
    path = os.path.realpath(config.workspace)
    if not os.path.isdir(path):
        raise SandboxError(f"workspace {config.workspace} is not a directory")
    if not config.namespaces:
        raise SandboxError("a workspace mount needs the jail (namespaces=True)")
    return path


# ---------------------------------------------------------------- cgroups (root only)


def _own_cgroup(controller: str) -> str | None:
    """This process's cgroup path for a v1 controller ("" key = the v2 unified path)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, ctrls, path = line.split(":", 2)
        if (controller == "" and ctrls == "" and line.startswith("0::")) or controller in ctrls.split(","):
            return path
    return None


def make_cgroup() -> dict[str, Any] | None:
    """A fresh cgroup (memory and pids) for one worker's jobs, or None where unavailable.

    cgroup v2 when /sys/fs/cgroup is the unified hierarchy with the memory controller
    delegated to us; else the v1 memory (+ pids) controllers; else None (the worker then
    falls back to its memory watchdog, see docs/sandbox.md).
    """
    if os.geteuid() != 0:
        return None
    name = "selfdistill-" + secrets.token_hex(6)
    v2_root = Path("/sys/fs/cgroup")
    own = _own_cgroup("")
    if (v2_root / "cgroup.controllers").exists() and own is not None:
        d = v2_root / own.lstrip("/") / name
        try:
            d.mkdir()
        except OSError:
            d = None  # type: ignore[assignment]
        if d is not None:
            if (d / "memory.max").exists() and (d / "pids.max").exists():
                return {"version": 2, "dirs": [str(d)], "memory_dir": str(d), "pids_dir": str(d)}
            d.rmdir()
    mem_own, pids_own = _own_cgroup("memory"), _own_cgroup("pids")
    mem_root, pids_root = v2_root / "memory", v2_root / "pids"
    if mem_own is None or not (mem_root / "memory.limit_in_bytes").exists():
        return None
    made: list[str] = []
    try:
        md = mem_root / mem_own.lstrip("/") / name
        md.mkdir()
        made.append(str(md))
        pd = None
        if pids_own is not None and (pids_root / pids_own.lstrip("/") / "cgroup.procs").exists():
            pd = pids_root / pids_own.lstrip("/") / name
            pd.mkdir()
            made.append(str(pd))
        return {"version": 1, "dirs": made, "memory_dir": str(md), "pids_dir": str(pd) if pd else None}
    except OSError:
        for d in made:
            rmdir_cgroup(d)
        return None


def rmdir_cgroup(path: str) -> None:
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)  # the last job processes are still being reaped


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the candidate program)."""


_UID_LOCK_DIRS = ("/run/lock", "/dev/shm", "/tmp")


def _lock_dir(name: str) -> str:
    """A directory of ours (mode 0700) for uid lock files, in the first base that allows it."""
    for base in _UID_LOCK_DIRS:
        d = os.path.join(base, name)
        try:
            os.makedirs(d, mode=0o700, exist_ok=True)
            st = os.lstat(d)
        except OSError:
            continue
        # Another user's directory of that name (made to steer our uids) is not ours to use.
        if st.st_uid == os.geteuid() and stat.S_ISDIR(st.st_mode) and not st.st_mode & 0o077:
            return d
    raise SandboxError("no directory for the sandbox uid locks")


def _claim(d: str, ids: range) -> tuple[int, int]:
    """The first id in ids whose lock file in d we can flock: (id, fd of its lock)."""
    for uid in ids:
        fd = os.open(os.path.join(d, str(uid)), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return uid, fd
        except OSError:
            os.close(fd)
    raise SandboxError("every sandbox uid is taken")


def allocate_uid(config: SandboxConfig) -> tuple[int, int]:
    """A sandbox uid no other grader on this host holds: (uid, fd of its lock).

    Each uid is claimed with an flock on a file in a directory of ours, held as long as the
    pool lives; graders in other processes skip it (their RLIMIT_NPROC counts stay apart).
    As root: from config.uid_base up. Not root: one of our subordinate uids (/etc/subuid,
    mapped into the worker's user namespace by newuidmap); without them (subordinate_ids()
    says why) the uid is unused, nothing is locked and jobs keep our uid.
    """
    if not config.drop_uid:
        return config.uid_base, -1
    if os.geteuid() == 0:
        return _claim(_lock_dir("selfdistill-uids"), range(config.uid_base, config.uid_base + 10000))
    sub = subordinate_ids() if config.namespaces else None
    if not isinstance(sub, dict):
        return config.uid_base, -1
    (ustart, ucount), (_, gcount) = sub["uid_range"], sub["gid_range"]
    return _claim(_lock_dir(f"selfdistill-subuids-{os.geteuid()}"),
                  range(ustart, ustart + min(ucount, gcount, 10000)))


_SUBID_FILES = ("/etc/subuid", "/etc/subgid")


def _subid_range(path: str, names: tuple[str, ...]) -> tuple[int, int] | None:
    """The first range (start, count) of /etc/subuid or /etc/subgid for one of names."""
    try:
        with open(path) as fh:
            for line in fh:
                fields = line.strip().split(":")
                if len(fields) == 3 and fields[0] in names and fields[1].isdigit() and fields[2].isdigit():
                    if int(fields[2]) > 0:
                        return int(fields[1]), int(fields[2])
    except OSError:
        return None
    return None


@functools.lru_cache(maxsize=1)
def subordinate_ids() -> dict[str, Any] | str:
    """This user's subordinate uid/gid ranges and the setuid tools that map them (newuidmap,
    newgidmap from Debian's uidmap package), or a sentence saying what is missing."""
    tools = {name: shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")
             for name in ("newuidmap", "newgidmap")}
    if not all(tools.values()):
        return "newuidmap/newgidmap are not installed (Debian: apt-get install uidmap)"
    euid = os.geteuid()
    try:
        names: tuple[str, ...] = (pwd.getpwuid(euid).pw_name, str(euid))
    except KeyError:
        names = (str(euid),)
    ranges = [_subid_range(path, names) for path in _SUBID_FILES]
    if not all(ranges):
        return (f"user {names[0]} has no subordinate uid/gid range in /etc/subuid and "
                f"/etc/subgid (scripts/setup_system.sh adds one for nobody)")
    return {"uid_range": ranges[0], "gid_range": ranges[1], **tools}


def missing_isolation(required: tuple[str, ...], isolation: str) -> list[str]:
    """The required isolation parts a worker lacks; "uid"/"subuid" match "uid64000" and
    "subuid100000" (the number is the host uid its jobs run under)."""
    have = isolation.split("+")
    return [p for p in required
            if not any(x == p or (x.startswith(p) and x[len(p):].isdigit()) for x in have)]


_WARNED: set[str] = set()


def subids_for(config: SandboxConfig, uid: int) -> dict[str, Any] | None:
    """What a worker's user namespace maps its jobs to (uid from allocate_uid), or None: then
    say once per process, with the reason, that jobs run under our own uid (the weaker
    guarantee of docs/sandbox.md)."""
    if os.geteuid() == 0 or not (config.namespaces and config.drop_uid):
        return None
    sub = subordinate_ids()
    if isinstance(sub, dict):
        (ustart, ucount), (gstart, gcount) = sub["uid_range"], sub["gid_range"]
        if 0 <= uid - ustart < min(ucount, gcount):
            return {"uid": uid, "gid": gstart + (uid - ustart), "newuidmap": sub["newuidmap"],
                    "newgidmap": sub["newgidmap"]}
        sub = f"uid {uid} is not a subordinate uid claimed by allocate_uid()"
    warn_subids(sub)
    return None


def warn_subids(reason: str) -> None:
    """One line, once per reason: jobs share the grader's uid (docs/sandbox.md)."""
    if reason in _WARNED:
        return
    _WARNED.add(reason)
    warnings.warn(f"sandbox: {reason}; jobs run under this user's own uid, with every "
                  "capability dropped (weaker: see 'Unprivileged' in docs/sandbox.md)",
                  RuntimeWarning, stacklevel=3)


# ---------------------------------------------------------------- server processes

# The only environment a worker (and so every candidate) ever sees: nothing inherited.
_WORKER_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


class _Spawner:
    """Starts every server process from one long-lived thread.

    The servers die with their parent (PR_SET_PDEATHSIG), and Linux ties that to the *thread*
    that forked them: a worker started from one of grade_many's pool threads would die as
    soon as that thread ended. This thread lives as long as the interpreter.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: collections.deque[tuple[list[str], int, Future[subprocess.Popen[bytes]]]] = (
            collections.deque())
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._queue:
                    self._wake.wait()
                argv, fd, fut = self._queue.popleft()
            try:
                proc = subprocess.Popen(
                    argv, stdin=fd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    env=_WORKER_ENV, cwd="/", close_fds=True, start_new_session=True,
                )
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                fut.set_exception(e)
            else:
                fut.set_result(proc)

    def spawn(self, argv: list[str], stdin_fd: int) -> subprocess.Popen[bytes]:
        """Popen(argv) with stdin_fd as its stdin, forked by the spawner thread."""
        fut: Future[subprocess.Popen[bytes]] = Future()
        with self._wake:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="sandbox-spawner")
                self._thread.start()
            self._queue.append((argv, stdin_fd, fut))
            self._wake.notify()
        return fut.result()


_SPAWNER = _Spawner()


def spawn_server(argv: list[str], stdin_fd: int) -> subprocess.Popen[bytes]:
    """Start a sandbox server process (stdin = its protocol socket) that lives for the pool."""
    return _SPAWNER.spawn(argv, stdin_fd)
