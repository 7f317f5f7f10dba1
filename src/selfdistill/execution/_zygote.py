"""Pre-forked sandbox worker: a standalone script, started by sandbox.Worker, never imported.

The host starts this file with `python -I` and an environment of just PATH and LANG. The
process it starts is the *supervisor*: it compiles the seccomp filter, unshares network,
mount and pid namespaces (and a user namespace when not root) and forks the *template*, pid 1
of the new pid namespace, which builds the jail (a fresh root of read-only system
directories, a fresh /proc), warms the interpreter and then only ever receives "fork",
"kill", "stat" and "exit" - never a job's program, input, output or report. So every job,
a fork of the template, inherits memory that holds nothing of any other job.

Per job the supervisor writes the job into a memfd and hands it, with stdin, the output pipes
and (assert jobs) the judge socket, to the template. The job process reads its job, joins
the worker's cgroup, unshares its IPC namespace, takes a fresh session keyring, sets
rlimits, drops to an unprivileged uid (or, in a user namespace, drops every capability),
installs the seccomp filter and runs the harness. The supervisor reads the pipes within
their limits and watches the clock; the template reaps the job, kills whatever it left
(kill(-1) as pid 1) and reports how it ended.

The child's report goes through a dedicated pipe, starts with a per-job nonce and is framed
as JSON of plain built-in values; the supervisor validates its shape before the host sees it,
and outputs and return values are compared by the host. Assert-style tests never enter this
process: the candidate serves its objects over a socket to the judge (_judge.py), a separate
process started by the host. This module deliberately imports nothing from selfdistill.
"""

from __future__ import annotations

# Warm the modules candidates use most, so every forked child gets them for free.
import bisect  # noqa: F401
import collections  # noqa: F401
import ctypes
import errno
import fcntl
import functools  # noqa: F401
import gc
import heapq  # noqa: F401
import importlib.util
import io
import itertools  # noqa: F401
import json
import linecache
import marshal
import math  # noqa: F401
import os
import random  # noqa: F401
import re  # noqa: F401
import resource
import select
import signal
import socket
import string  # noqa: F401
import sys
import time
import traceback
import typing  # noqa: F401

_spec = importlib.util.spec_from_file_location("_sd_wire", os.path.join(os.path.dirname(__file__), "_wire.py"))
_wire = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
# The candidate shares this process: the wire code gets its own copy of the builtins, so a
# candidate that patches builtins.len (say) cannot garble its own replies to the judge.
_wire.__dict__["__builtins__"] = dict(__import__("builtins").__dict__)
_spec.loader.exec_module(_wire)  # type: ignore[union-attr]

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_RELATIME = 1 << 21
PR_SET_CHILD_SUBREAPER = 36
F_SETPIPE_SZ = 1031
_REPORT_PIPE = 1 << 20
_REPORT_MAX = _REPORT_PIPE - 4096
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]


_SYS_CLOSE_RANGE = 436  # x86_64 and aarch64 share this number


def _close_from(lo: int, hi: int = 0x7FFFFFFF) -> None:
    """Close fds lo..hi with one syscall (os.closerange loops over 65k fds: ~1 ms)."""
    if _libc.syscall(_SYS_CLOSE_RANGE, ctypes.c_uint(lo), ctypes.c_uint(hi), 0) != 0:
        os.closerange(lo, hi if hi < (1 << 20) else (1 << 16))


def _mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> bool:
    def enc(s: str | None) -> bytes | None:
        return s.encode() if s is not None else None

    return _libc.mount(enc(src), enc(target), enc(fstype), flags, enc(data)) == 0


# ---------------------------------------------------------------- isolation set-up


def _enter_namespaces(cfg: dict) -> list[str]:
    """Unshare user (if not root), net, mount and pid namespaces.

    The caller (the supervisor) stays outside the new pid namespace; its first child, the
    template, is pid 1 there: it cannot be killed from inside, it can kill every job process
    at once with kill(-1), and when it dies the kernel kills everything left in the namespace.
    Not root, with a subordinate uid/gid for this worker (cfg["subids"]): the user namespace
    maps 0 to our uid and _JOB_ID to that subordinate id, so jobs run under a uid of their own.
    """
    parts: list[str] = []
    euid, egid = os.geteuid(), os.getegid()
    flags = CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID
    subids = cfg.get("subids") if euid != 0 else None
    mapper = None
    if euid != 0:
        flags |= CLONE_NEWUSER
        if subids:
            mapper = _start_mapper(subids, euid, egid)  # forked while still outside
    if _libc.unshare(flags) != 0:
        flags &= ~CLONE_NEWPID  # e.g. seccomp-restricted containers: try without pid ns
        if _libc.unshare(flags) != 0:
            if mapper is not None:
                _finish_mapper(mapper, go=False)
            return parts
    if euid != 0:
        note = _finish_mapper(mapper, go=True) if mapper is not None else "no subordinate ids"
        if note == "ok":
            parts.append(f"subuid{subids['uid']}")
        else:
            # Without newuidmap the kernel lets us map exactly one uid (ours): the job, the
            # template and the supervisor then share it (docs/sandbox.md, non-guarantees).
            # Map ourselves to root inside the user namespace: that grants the capabilities
            # for mounts and the pid namespace, valid inside these namespaces only.
            if subids:
                cfg["subid_error"] = note
            with open("/proc/self/setgroups", "w") as fh:
                fh.write("deny")
            with open("/proc/self/uid_map", "w") as fh:
                fh.write(f"0 {euid} 1")
            with open("/proc/self/gid_map", "w") as fh:
                fh.write(f"0 {egid} 1")
        parts.append("userns")
    parts += ["netns", "mntns"]
    if flags & CLONE_NEWPID:
        parts.append("pidns")  # the next child (the template) is its pid 1
    return parts


# The uid (and gid) jobs run under inside a worker's user namespace when it has a subordinate
# id to map it to (outside: that id, one per worker, claimed by the host).
_JOB_ID = 1000


def _start_mapper(subids: dict, euid: int, egid: int) -> tuple[int, int, int]:
    """Fork a helper that stays in our user namespace and, once we have unshared a new one,
    writes its maps with newuidmap/newgidmap: setuid tools that must run outside it."""
    go_r, go_w = os.pipe()
    done_r, done_w = os.pipe()
    target = os.getpid()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(go_w)
            os.close(done_r)
            if os.read(go_r, 1) == b"1":
                import subprocess  # only here: the template and its jobs never pay for it

                errors = []
                for tool, own, sub in ((subids["newuidmap"], euid, subids["uid"]),
                                       (subids["newgidmap"], egid, subids["gid"])):
                    r = subprocess.run([tool, str(target), "0", str(own), "1", str(_JOB_ID),
                                        str(sub), "1"], stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       timeout=30, close_fds=True)
                    if r.returncode != 0:
                        err = r.stderr.decode(errors="replace").strip().splitlines()
                        errors.append(f"{os.path.basename(tool)} failed: {err[-1] if err else r.returncode}")
                os.write(done_w, ("; ".join(errors) or "ok").encode()[:1000])
            status = 0
        finally:
            os._exit(status)
    os.close(go_r)
    os.close(done_w)
    return pid, go_w, done_r


def _finish_mapper(mapper: tuple[int, int, int], go: bool) -> str:
    """Let the helper map us (go) or quit; "ok" or why the maps were not written."""
    pid, go_w, done_r = mapper
    note = "the id mapper did not answer"
    try:
        os.write(go_w, b"1" if go else b"0")
        os.close(go_w)
        go_w = -1
        if go and select.select([done_r], [], [], 60)[0]:
            note = os.read(done_r, 1000).decode(errors="replace") or note
    except OSError as e:
        note = f"the id mapper failed: {e}"
    finally:
        for fd in (go_w, done_r):
            if fd >= 0:
                os.close(fd)
        if note != "ok":
            os.kill(pid, signal.SIGKILL)  # stuck or failed: it must not map us later
        os.waitpid(pid, 0)
    return note


def _job_uid(cfg: dict, parts: list[str]) -> int | None:
    """The uid jobs run under, in the worker's namespace; None: they keep ours (without caps)."""
    if "userns" in parts:  # our uid shows as 0 here: only a mapped subordinate id is another
        return _JOB_ID if any(p.startswith("subuid") for p in parts) else None
    return cfg.get("uid") if os.geteuid() == 0 else None


def _ro_bind(src: str, dst: str) -> bool:
    """Bind src at dst read-only, keeping the source's locked flags (nosuid/nodev/noexec)."""
    if not _mount(src, dst, None, MS_BIND | MS_REC, None):
        return False
    st = os.statvfs(src).f_flag
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY
    for st_bit, ms_bit in ((2, MS_NOSUID), (4, MS_NODEV), (8, MS_NOEXEC), (1024, MS_NOATIME),
                           (2048, MS_NODIRATIME), (4096, MS_RELATIME)):
        if st & st_bit:
            flags |= ms_bit
    return _mount(None, dst, None, flags, None)


def _mkdirs(path: str) -> None:
    os.makedirs(path, mode=0o755, exist_ok=True)


_SYS_PIVOT_ROOT = 155 if os.uname().machine == "x86_64" else 41
MNT_DETACH = 2
_JAIL_DEVICES = ("null", "zero", "full", "random", "urandom")


def _build_jail(cfg: dict, parts: list[str], uid: int | None) -> None:
    """Replace the root with an allow-list: system dirs and the interpreter read-only,
    a few devices, a fresh /proc and an empty /tmp (a fresh tmpfs is mounted there per job).

    Everything else of the host (project, virtualenv, home, datasets, /run, /var, /sys) is
    simply absent. Raises OSError when any step fails: the host then refuses to run.
    """
    if not _mount(None, "/", None, MS_REC | MS_PRIVATE, None):
        raise OSError(ctypes.get_errno(), "cannot make / private")
    root = "/tmp"  # any directory will do as the mount point: it is our mount namespace
    # The workspace may itself live under /tmp: hold it by an fd before the tmpfs hides it.
    ws_fd = os.open(cfg["workspace"], os.O_PATH | os.O_DIRECTORY) if cfg.get("workspace") else -1
    if not _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=8m,mode=755"):
        raise OSError(ctypes.get_errno(), "cannot mount the jail's root tmpfs")
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            os.symlink(os.readlink(top), root + top)
        elif os.path.isdir(top):
            _mkdirs(root + top)
            if not _ro_bind(top, root + top):
                raise OSError(ctypes.get_errno(), f"cannot expose {top}")
    for d in ["/usr"] + list(cfg.get("expose", [])):
        if not os.path.isdir(d):
            continue
        _mkdirs(root + d)
        if not _ro_bind(d, root + d):
            raise OSError(ctypes.get_errno(), f"cannot expose {d}")
    if ws_fd >= 0:  # the agent's workspace: the one writable host directory
        _mkdirs(root + "/workspace")
        ok = (_mount(f"/proc/self/fd/{ws_fd}", root + "/workspace", None, MS_BIND, None)
              and _mount(None, root + "/workspace", None,
                         MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, None))
        os.close(ws_fd)
        if not ok:
            raise OSError(ctypes.get_errno(), "cannot mount the workspace")
    for d in cfg.get("hide", []):  # e.g. the base interpreter's own site-packages
        if os.path.isdir(root + d):
            _mount("tmpfs", root + d, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=755")
    for name, src in cfg.get("packages", {}).items():
        dst = f"{root}/opt/sd-packages/{name}"
        if os.path.isdir(src):
            _mkdirs(dst)
            if not _ro_bind(src, dst):
                raise OSError(ctypes.get_errno(), f"cannot expose package {name}")
        elif os.path.isfile(src):
            _mkdirs(os.path.dirname(dst))
            open(dst, "w").close()
            if not _ro_bind(src, dst):
                raise OSError(ctypes.get_errno(), f"cannot expose package {name}")
    # /etc: only what the loader and getpwuid need, written fresh (no host secrets).
    _mkdirs(root + "/etc")
    for name in ("ld.so.cache", "localtime"):
        try:
            with open("/etc/" + name, "rb") as src_fh, open(root + "/etc/" + name, "wb") as fh:
                fh.write(src_fh.read(8 << 20))
        except OSError:
            pass
    uid = uid or 0
    with open(root + "/etc/passwd", "w") as fh:
        fh.write(f"root:x:0:0:root:/:/bin/sh\nsandbox:x:{uid}:{uid}:sandbox:/tmp:/bin/sh\n"
                 "nobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n")
    with open(root + "/etc/group", "w") as fh:
        fh.write(f"root:x:0:\nsandbox:x:{uid}:\nnogroup:x:65534:\n")
    _mkdirs(root + "/dev/shm")
    for dev in _JAIL_DEVICES:
        open(f"{root}/dev/{dev}", "w").close()
        if not _mount(f"/dev/{dev}", f"{root}/dev/{dev}", None, MS_BIND, None):
            raise OSError(ctypes.get_errno(), f"cannot expose /dev/{dev}")
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    _mkdirs(root + "/tmp")
    _mkdirs(root + "/proc")
    if "pidns" in parts:
        # hidepid: a job sees only its own processes (where the kernel allows the option).
        if not (_mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")
                or _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)):
            raise OSError(ctypes.get_errno(), "cannot mount /proc")
        parts.append("proc")
    _mkdirs(root + "/.old")
    if _libc.syscall(_SYS_PIVOT_ROOT, (root).encode(), (root + "/.old").encode()) != 0:
        raise OSError(ctypes.get_errno(), "pivot_root failed")
    os.chdir("/")
    if _libc.umount2(b"/.old", MNT_DETACH) != 0:
        raise OSError(ctypes.get_errno(), "cannot drop the host's root")
    os.rmdir("/.old")
    if not _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, None):
        raise OSError(ctypes.get_errno(), "cannot make the jail's root read-only")
    parts += ["jail", "rofs"]


# ---------------------------------------------------------------- the job process


PR_CAPBSET_READ, PR_CAPBSET_DROP = 23, 24


def _drop_bounding_set() -> None:
    """Empty the capability bounding set (nothing exec'd can ever gain a capability again).

    Done once, in the template: every job inherits it (64 prctl calls per job cost ~0.35 ms).
    The template keeps its own effective capabilities; the bounding set only limits exec().
    """
    for cap in range(64):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the kernel's last capability


def _drop_caps() -> None:
    """Inside a user namespace we are 'root': drop every capability before running code
    (the bounding set is already empty: the template emptied it)."""
    SECBIT_NOROOT, SECBIT_NOROOT_LOCKED, SECBIT_NO_SETUID_FIXUP = 1, 2, 4
    SECBIT_NO_SETUID_FIXUP_LOCKED = 8
    PR_SET_SECUREBITS = 28
    bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED
    _libc.prctl(PR_SET_SECUREBITS, bits, 0, 0, 0)  # exec() must not give caps back to uid 0
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    if _libc.syscall(_SYS_CAPSET, header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")
    _libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS


_SYS_CAPSET = 126 if os.uname().machine == "x86_64" else 91


def _read_job(fd: int) -> dict:
    """The job's own data, from the memfd its supervisor wrote (the template never reads it).

    marshal, not json: written by the trusted supervisor, read by the job itself, and it
    touches far fewer of the template's pages than the json decoder (each one a copy-on-write
    fault in a forked job: ~50 fewer per job).
    """
    size = os.fstat(fd).st_size
    data = os.pread(fd, size, 0) if size else b""
    os.close(fd)
    if len(data) != size:
        raise OSError("the job's data is incomplete")
    return marshal.loads(data)


def _child_c(fds: list[int], uid: int | None, state: dict) -> None:
    """The candidate process: lock down, then run the harness. Never returns."""
    try:
        job_fd, stdin_fd, out_w, err_w, res_w = fds[:5]
        bridge = fds[5] if len(fds) > 5 else -1
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the template ignores it
        signal.set_wakeup_fd(-1)  # the template's SIGCHLD wake-up is not the job's
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        job = _read_job(job_fd)
        wd = job["wd"]
        cg = state.get("cgroup")
        if cg is not None:
            # Join the worker's cgroup before anything else: every descendant is then counted.
            for fd in cg["procs"]:
                os.write(fd, b"0")
        os.setsid()
        # Lay the fds out as 0-2 std streams, 3 report, 4 bridge (assert jobs), close the rest.
        moved = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) if fd >= 0 else -1 for fd in (stdin_fd, out_w, err_w, res_w, bridge)]
        for target, fd in enumerate(moved):
            if fd >= 0:
                os.dup2(fd, target)
        _close_from(5 if bridge >= 0 else 4)
        if state.get("ipcns"):
            # System V IPC and POSIX message queues of this job only: they vanish with it and
            # never meet another job's (nor count against the next job's memory).
            if _libc.unshare(CLONE_NEWIPC) != 0:
                raise OSError(ctypes.get_errno(), "cannot unshare the IPC namespace")
        # The key calls are refused by the filter (the template installed it before forking us;
        # it also gave the worker a fresh, empty session keyring of its own).
        lim = job["limits"]
        settings = [
            (resource.RLIMIT_AS, int(lim["memory_mb"]) * 1024 * 1024),
            (resource.RLIMIT_CPU, int(lim["cpu_s"])),
            (resource.RLIMIT_FSIZE, int(lim["file_size_mb"]) * 1024 * 1024),
            (resource.RLIMIT_NOFILE, int(lim["open_files"])),
            (resource.RLIMIT_NPROC, int(lim["processes"])),
            (resource.RLIMIT_CORE, 0),
        ]
        for what, value in settings:
            hard = value + 1 if what == resource.RLIMIT_CPU else value  # SIGXCPU, then SIGKILL
            resource.setrlimit(what, (value, hard))
        os.chdir(wd)
        # The server's environment is already the scrubbed one (set in main); add the job's.
        os.environ["HOME"] = wd
        os.environ["TMPDIR"] = wd
        if uid is not None:
            # As root: the worker's own uid. In a user namespace: _JOB_ID, which the namespace
            # maps to the worker's subordinate uid (not the supervisor's, not another worker's).
            # The bounding set is empty already (the template's, inherited): nothing can ever
            # regain a capability.
            try:
                os.setgroups([])
            except PermissionError:
                if not state.get("userns"):
                    raise
                # newgidmap left setgroups denied: the supplementary groups stay (nogroup)
            os.setgid(uid)
            os.setuid(uid)  # from here on RLIMIT_NPROC is enforced and no capability is left
            _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            if state.get("userns"):
                _libc.prctl(4, 1, 0, 0, 0)  # dumpable (setuid cleared it): the watchdog reads smaps
        else:
            _drop_caps()  # also sets NO_NEW_PRIVS
            # Dumpable again (the server is not): the memory watchdog must read the job's
            # smaps, and the job holds nothing it could hide from itself.
            _libc.prctl(4, 1, 0, 0, 0)
        if _libc.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1:
            raise OSError("NO_NEW_PRIVS could not be set")
        if state.get("seccomp") and not _seccomp_mode():
            raise OSError("the job runs without its syscall filter")
        _harness(job, 3, 4 if bridge >= 0 else -1)
    except BaseException:  # noqa: BLE001 - anything here is a sandbox failure
        try:
            os.write(2, traceback.format_exc().encode(errors="replace"))
        finally:
            os._exit(121)
    os._exit(0)


PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS = 38, 39
CLONE_NEWIPC = 0x08000000
_SYS_KEYCTL = 250 if os.uname().machine == "x86_64" else 219
KEYCTL_JOIN_SESSION_KEYRING = 1
PR_GET_SECCOMP, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 21, 22, 2

# ---------------------------------------------------------------- the syscall filter

# An allow-list: a job may make these calls (the ones with rules below only with those
# arguments); any other call fails with ENOSYS, as a call the kernel does not have would, so
# the C library and Python take their fallbacks. Chosen from what honest jobs were measured
# to make (scripts/syscall_survey.py: CPython, the standard library, tools under /usr; see
# docs/sandbox.md) widened to each call's siblings (read -> readv, preadv2, ...), and what a
# general program may need; never a namespace, mount, keyring, io_uring, bpf, perf, ptrace,
# pidfd or administrative call. A call a newer kernel adds is refused until it is listed.
_ALLOW = (
    # files and descriptors
    "read", "write", "open", "openat", "openat2", "creat", "close", "close_range", "stat",
    "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "lseek", "pread64",
    "pwrite64", "readv", "writev", "preadv", "pwritev", "preadv2", "pwritev2", "access",
    "faccessat", "faccessat2", "pipe", "pipe2", "dup", "dup2", "dup3", "fcntl", "flock",
    "fsync", "fdatasync", "sync", "syncfs", "sync_file_range", "truncate", "ftruncate",
    "fallocate", "fadvise64", "readahead", "getdents", "getdents64", "ioctl", "sendfile",
    "splice", "tee", "vmsplice", "copy_file_range", "getcwd", "chdir", "fchdir", "rename",
    "renameat", "renameat2", "mkdir", "mkdirat", "rmdir", "link", "linkat", "unlink",
    "unlinkat", "symlink", "symlinkat", "readlink", "readlinkat", "chmod", "fchmod",
    "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "umask", "utime",
    "utimes", "utimensat", "futimesat", "mknod", "mknodat", "getxattr", "lgetxattr",
    "fgetxattr", "listxattr", "llistxattr", "flistxattr", "setxattr", "lsetxattr",
    "fsetxattr", "removexattr", "lremovexattr", "fremovexattr", "inotify_init",
    "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "memfd_create",
    # waiting on descriptors, events, timers
    "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "signalfd",
    "signalfd4", "timerfd_create", "timerfd_settime", "timerfd_gettime",
    # memory
    "brk", "mmap", "munmap", "mprotect", "mremap", "msync", "mincore", "madvise", "mlock",
    "mlock2", "munlock", "mlockall", "munlockall", "membarrier", "pkey_mprotect",
    "pkey_alloc", "pkey_free", "get_mempolicy", "set_mempolicy", "mbind", "map_shadow_stack",
    # processes and threads (clone, prlimit64: rules below)
    "clone", "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid",
    "kill", "tkill", "tgkill", "getpid", "getppid", "gettid", "getpgrp", "getpgid", "setpgid",
    "getsid", "setsid", "set_tid_address", "set_robust_list", "get_robust_list", "rseq",
    "futex", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue", "arch_prctl",
    "prctl", "seccomp", "sched_yield", "sched_getaffinity", "sched_setaffinity",
    "sched_getparam", "sched_setparam", "sched_getscheduler", "sched_setscheduler",
    "sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval",
    "sched_getattr", "sched_setattr", "getpriority", "setpriority", "ioprio_get",
    "ioprio_set", "getcpu", "prlimit64", "getrlimit", "setrlimit", "getrusage", "times",
    "sysinfo", "uname", "capget", "capset", "getuid", "geteuid", "getgid", "getegid",
    "getresuid", "getresgid", "getgroups", "setuid", "setgid", "setreuid", "setregid",
    "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid",
    # signals and time
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
    "rt_sigqueueinfo", "rt_tgsigqueueinfo", "rt_sigsuspend", "sigaltstack", "pause", "alarm",
    "getitimer", "setitimer", "restart_syscall", "nanosleep", "clock_nanosleep",
    "clock_gettime", "clock_getres", "gettimeofday", "time", "timer_create", "timer_settime",
    "timer_gettime", "timer_getoverrun", "timer_delete",
    # sockets (socket, socketpair: rules below) and the job's own IPC namespace
    "socket", "socketpair", "connect", "accept", "accept4", "bind", "listen", "sendto",
    "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "getsockname",
    "getpeername", "setsockopt", "getsockopt", "shmget", "shmat", "shmdt", "shmctl", "semget",
    "semop", "semtimedop", "semctl", "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open",
    "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
    "getrandom",
)
# Refused with EPERM rather than ENOSYS (so the reason is plain in a trace), although the
# allow-list leaves them out anyway: namespaces and mounts (no nested user namespace with its
# capabilities, no mount), the kernel keyring, io_uring, userfaultfd, bpf, perf, ptrace and
# cross-process memory access, pidfds of other processes, and the administrative calls.
_DENY = (
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "keyctl", "add_key", "request_key",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd",
    "bpf", "perf_event_open", "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
    "pidfd_open", "pidfd_getfd", "pidfd_send_signal",
    "name_to_handle_at", "open_by_handle_at", "fanotify_init", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon",
    "swapoff", "acct", "syslog", "quotactl", "settimeofday", "clock_settime", "clock_adjtime",
    "adjtimex", "iopl", "ioperm", "lookup_dcookie", "vhangup", "uselib", "personality",
    "modify_ldt", "process_madvise", "quotactl_fd", "nfsservctl",
)
# Namespace flags a clone() may not carry (clone3 hides its flags in memory a filter cannot
# read, so it gets ENOSYS and the C library falls back to clone()).
_CLONE_NS_BITS = (0x10000000, 0x00020000, 0x20000000, 0x40000000, 0x08000000, 0x04000000,
                  0x02000000)
_SOCKET_FAMILIES = (1, 2, 10)  # AF_UNIX, AF_INET, AF_INET6; never netlink, vsock, packet, ...


def _seccomp_program() -> bytes:
    """The job's seccomp filter, compiled once by libseccomp (pyseccomp) into BPF.

    Other architectures' system calls (x32 and i386 entry points on x86_64) hit libseccomp's
    bad-architecture action: the process is killed.
    """
    import pyseccomp as sc

    if set(_ALLOW) & set(_DENY):
        raise ValueError(f"allowed and denied: {sorted(set(_ALLOW) & set(_DENY))}")
    eperm = sc.ERRNO(errno.EPERM)
    flt = sc.SyscallFilter(sc.ERRNO(errno.ENOSYS))
    arch = sc.system_arch()
    ruled = {"clone", "socket", "socketpair", "prlimit64", "unshare"}
    for name in _ALLOW + _DENY:
        if sc.resolve_syscall(arch, name) < 0:
            continue  # a call this architecture does not have
        if name not in ruled:  # any failure here refuses the worker
            flt.add_rule(sc.ALLOW if name in _ALLOW else eperm, name)
    all_ns = functools.reduce(lambda a, b: a | b, _CLONE_NS_BITS)
    flt.add_rule(sc.ALLOW, "clone", sc.Arg(0, sc.MASKED_EQ, all_ns, 0))
    for bit in _CLONE_NS_BITS:
        flt.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, bit, bit))
    for family in range(64):
        action = sc.ALLOW if family in _SOCKET_FAMILIES else sc.ERRNO(errno.EAFNOSUPPORT)
        flt.add_rule(action, "socket", sc.Arg(0, sc.EQ, family))
    flt.add_rule(sc.ALLOW, "socketpair", sc.Arg(0, sc.EQ, 1))
    flt.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), "socketpair", sc.Arg(0, sc.NE, 1))
    # The filter is installed once, on the template, so every job runs under it from its first
    # instruction; the one namespace call let through is the job's own IPC namespace, made
    # before it drops its capabilities (without CAP_SYS_ADMIN the kernel refuses it anyway).
    flt.add_rule(sc.ALLOW, "unshare", sc.Arg(0, sc.EQ, CLONE_NEWIPC))
    flt.add_rule(eperm, "unshare", sc.Arg(0, sc.NE, CLONE_NEWIPC))
    # Limits of other processes (the template's, which every later job would inherit).
    flt.add_rule(sc.ALLOW, "prlimit64", sc.Arg(0, sc.EQ, 0))
    flt.add_rule(eperm, "prlimit64", sc.Arg(0, sc.NE, 0))
    fd = os.memfd_create("sd-seccomp")
    try:
        class _File:
            def fileno(self) -> int:
                return fd

        flt.export_bpf(_File())
        size = os.lseek(fd, 0, os.SEEK_END)
        prog = os.pread(fd, size, 0)
    finally:
        os.close(fd)
    if not prog or len(prog) % 8:
        raise OSError("libseccomp produced no filter")
    return prog


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _seccomp_mode() -> int:
    """This process's seccomp mode (2: a filter is installed)."""
    return _libc.prctl(PR_GET_SECCOMP, 0, 0, 0, 0)


def _load_seccomp(prog: bytes) -> None:
    """Install the compiled filter on this process (and so on every child it forks later)."""
    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = _SockFprog(len(prog) // 8, ctypes.addressof(buf))
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "cannot install the seccomp filter")



def _harness(job: dict, res_w: int, bridge: int) -> None:
    """Run the candidate and report through res_w (prefixed by the nonce).

    Assert jobs: after the module ran, serve its objects to the judge over `bridge`.
    """
    import builtins

    nonce = job["nonce"]
    # Everything the report path uses is bound now, before the candidate runs: builtin
    # functions and methods of built-in types cannot be monkeypatched, modules (json,
    # traceback) can, so the report goes through the JSON encoder _wire bound at import.
    write, rep_, exit_ = os.write, _wire._encode_json, os._exit
    fmt_exc, fmt_only, type_ = traceback.format_exception, traceback.format_exception_only, type
    # The server never used its std streams and fds 0-2 now point at the job's input/output,
    # so the existing stream objects serve as they are (cheaper than building new ones).
    sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, sys.__stdout__, sys.__stderr__
    real_streams = (sys.stdout, sys.stderr)
    sys.argv = ["solution.py"]

    def report(obj: dict) -> None:
        data = (nonce + rep_(obj) + "\n").encode("utf-8", "replace")
        if len(data) > _REPORT_MAX:  # the server reads the report only after we exit
            data = (nonce + rep_({"ok": False, "phase": "report", "exc": "OutputLimit",
                                  "tb": "the return value is too large to report"}) + "\n").encode()
        while data:
            data = data[write(res_w, data):]

    def flush() -> None:
        for stream in (sys.stdout, sys.stderr, *real_streams):
            try:
                stream.flush()
            except BaseException:  # noqa: BLE001,S110 - a closed/broken stream is the candidate's problem
                pass

    here = __file__
    wire_dumps = _wire.dumps

    def tb_of(e: BaseException) -> str:
        try:
            tb = e.__traceback__
            while tb is not None and tb.tb_frame.f_code.co_filename == here:
                tb = tb.tb_next  # hide the harness' own frames
            if isinstance(e, SyntaxError) and tb is None:
                text = "".join(fmt_only(type_(e), e))
            else:
                text = "".join(fmt_exc(type_(e), e, tb))
            return str.__str__(text)[-4000:]
        except BaseException:  # noqa: BLE001 - a sabotaged traceback module
            return "(no traceback) " + type_(e).__name__

    mode = job["mode"]
    # Source lines in tracebacks make the feedback readable ("assert f(3) == 4").
    src = job["code"]
    linecache.cache["solution.py"] = (len(src), None, src.splitlines(True), "solution.py")
    try:
        code = compile(job["code"], "solution.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as e:
        report({"phase": "compile", "exc": type_(e).__name__, "tb": tb_of(e)})
        exit_(0)
    if mode == "call":
        if "args_wire" in job:  # run_function(): any plain values, tuples and sets included
            args = _wire.decode(job["args_wire"])
        else:
            args = [json.loads(line) for line in job["args"].splitlines() if line.strip()]
    g = {"__name__": "__main__" if mode == "stdio" else "solution", "__builtins__": builtins}
    phase = "run"
    try:
        exec(code, g)
        if mode == "assert":
            phase = "test"
            _wire.serve_judge(g, bridge, tb_of)
            flush()
            report({"ok": True})
        elif mode == "call":
            phase = "call"
            name = job["func"]
            if isinstance(g.get("Solution"), type) and hasattr(g["Solution"], name):
                target = getattr(g["Solution"](), name)
            elif callable(g.get(name)):
                target = g[name]
            else:
                raise NameError(f"function {name!r} is not defined")
            value = target(*args)
            flush()
            # Plain data only (_wire.py); the host decodes and validates it.
            try:
                # Objects that are not plain data cross as opaque handles: equal to nothing.
                wire = wire_dumps(value, _opaque).decode()
            except (ValueError, TypeError, RecursionError) as e:
                raise TypeError(f"the return value is not plain data ({e})") from None
            report({"ok": True, "value": wire})
        else:
            flush()
            report({"ok": True})
    except SystemExit as e:
        flush()
        if mode == "stdio" and e.code in (None, 0):
            report({"ok": True})
        else:
            report({"ok": False, "phase": phase, "exc": "SystemExit",
                    "tb": f"SystemExit: {e.code!r} (the program called exit())"})
    except BaseException as e:  # noqa: BLE001 - report every failure mode
        flush()
        tb = tb_of(e)
        try:
            os.write(2, tb.encode(errors="replace"))
        except OSError:
            pass
        report({"ok": False, "phase": phase, "exc": str.__str__(type_(e).__name__), "tb": tb})
    exit_(0)


# ---------------------------------------------------------------- one job


_TMP_INODES = 65536


def _fresh_tmpfs(state: dict) -> None:
    """Mount new, empty tmpfs on /tmp and /dev/shm (replacing any previous ones)."""
    for target in ("/tmp", "/dev/shm"):
        if target in state["mounted"]:
            if _libc.umount2(target.encode(), MNT_DETACH) != 0:
                raise OSError(ctypes.get_errno(), f"cannot unmount {target}")
            state["mounted"].remove(target)
        size = f"{int(state['tmpfs_mb'])}m" if target == "/tmp" else "16m"
        # Inodes bounded too: the cost of discarding a tmpfs grows with its files (300k empty
        # files took 1.6 s to unmount), and no honest program needs 64k of them.
        inodes = _TMP_INODES if target == "/tmp" else _TMP_INODES // 16
        if not _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV,
                      f"size={size},mode=1777,nr_inodes={inodes}"):
            raise OSError(ctypes.get_errno(), f"cannot mount the job's {target}")
        state["mounted"].append(target)


def _job_tmp(state: dict) -> str:
    """An unpredictable work dir in the (empty) job tmpfs."""
    base = "/tmp" if state["jail"] else state["tmp"]
    wd = os.path.join(base, "sdjob-" + os.urandom(12).hex())  # as secrets.token_hex(12)
    os.mkdir(wd, 0o700)
    return wd


_WIPE_MAX_INODES = 256


def _wipe(path: str) -> bool:
    """Remove everything under path, iteratively and only when little is there (a few
    hundred inodes); False if anything is left or there is too much (then a fresh tmpfs is
    cheaper and bounded: 300k files or a deep tree must not cost the next job its time)."""
    try:
        st = os.statvfs(path)
        if st.f_files - st.f_ffree > _WIPE_MAX_INODES:
            return False
        stack, dirs = [path], []
        while stack:
            d = stack.pop()
            with os.scandir(d) as it:
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                    else:
                        os.unlink(e.path)
            if d != path:
                dirs.append(d)
        for d in reversed(dirs):  # children were appended after their parents
            os.rmdir(d)
        return not os.listdir(path)
    except OSError:
        return False


def _tmpfs_empty(path: str) -> bool:
    """Whether the tmpfs at path holds nothing but its root: one inode in use (an unlinked
    file still open would count too, so this is exact, where a directory listing is not)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_files - st.f_ffree == 1


def _job_tmp_cleanup(wd: str, state: dict) -> None:
    """Leave the job tmpfs empty for the next job: wipe it (cheap), or mount fresh ones when
    anything resists (an unmount costs an RCU grace period, milliseconds, so not every job)."""
    if state["jail"]:
        try:
            os.rmdir(wd)  # the common case: the program wrote nothing
        except OSError:
            pass
        if _tmpfs_empty("/tmp") and _tmpfs_empty("/dev/shm"):
            return  # two statvfs calls instead of a directory walk
        if not (_wipe("/tmp") and _wipe("/dev/shm")):
            _fresh_tmpfs(state)
        return
    try:
        os.rmdir(wd)  # the common case: the program wrote nothing
    except OSError:
        _rmtree(wd)


def _rmtree(top: str) -> None:
    """Remove a directory tree without recursion (no RecursionError on a deep tree); best effort."""
    stack, seen = [top], set()
    while stack:
        d = stack[-1]
        if d in seen:  # its subdirectories had their turn
            stack.pop()
            try:
                os.rmdir(d)
            except OSError:
                pass
            continue
        seen.add(d)
        try:
            with os.scandir(d) as it:
                subdirs = []
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        subdirs.append(e.path)
                    else:
                        try:
                            os.unlink(e.path)
                        except OSError:
                            pass
        except OSError:
            subdirs = []
        if len(seen) < 1_000_000:
            stack.extend(subdirs)


def _run_job(job: dict, state: dict, passed: list[int], tsock: socket.socket) -> dict:
    """Supervise one job: the template forks its process, this server feeds and watches it."""
    uid = state["uid"]
    t0 = time.monotonic()
    fds: list[int] = list(passed)
    wd = ""
    try:
        if job["mode"] == "assert" and len(passed) != 1:
            return {"infra_error": "assert job without its judge socket"}
        wd = _job_tmp(state)
        if uid is not None:
            os.chown(wd, uid, uid)
        data = job.get("stdin", "").encode()
        if data:
            # A file, not a pipe: no dead-lock with a program that never reads its input.
            stdin_path = os.path.join(wd, ".stdin")
            with open(stdin_path, "wb") as fh:
                fh.write(data)
            stdin_fd = os.open(stdin_path, os.O_RDONLY)
            os.unlink(stdin_path)
        else:
            stdin_fd = os.open(os.devnull, os.O_RDONLY)
        fds.append(stdin_fd)
        # The job's own data reaches only its process: a sealed-off memfd handed through the
        # template, which never reads it (so no later job can find it in inherited memory).
        job_fd = os.memfd_create("sd-job", os.MFD_CLOEXEC)
        fds.append(job_fd)
        blob = marshal.dumps({**job, "wd": wd})
        while blob:
            blob = blob[os.write(job_fd, blob):]
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        res_r, res_w = os.pipe()
        fds += [out_r, out_w, err_r, err_w, res_r, res_w]
        # The report fits in the pipe, so it is read after the exit: one wake-up less per job.
        fcntl.fcntl(res_w, F_SETPIPE_SZ, _REPORT_PIPE)
        cg = state.get("cgroup")
        oom_before = _cgroup_oom(cg, job) if cg is not None else 0
        # No reply to wait for: the template's next message is the job's end (or an error).
        _wire.send_frame(tsock, {"cmd": "fork"}, (job_fd, stdin_fd, out_w, err_w, res_w, *passed))
        for fd in (job_fd, stdin_fd, out_w, err_w, res_w, *passed):
            os.close(fd)
            fds.remove(fd)
        out = _supervise(job, tsock, out_r, err_r, res_r, t0, state)
        if cg is not None and _cgroup_oom(cg, None) > oom_before:
            out["memory_limit"] = True
        return out
    finally:
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
        if wd:
            _job_tmp_cleanup(wd, state)


def _recv_template(tsock: socket.socket, timeout: float) -> dict:
    """The template's next message; OSError when it does not come in time."""
    if not select.select([tsock], [], [], timeout)[0]:
        raise OSError("the template did not answer")
    msg, extra = _wire.recv_frame(tsock)
    for fd in extra:
        os.close(fd)
    return msg


# ---------------------------------------------------------------- memory of the whole job


def _cgroup_open(cfg: dict) -> dict | None:
    """Open the worker's cgroup files (created by the host) before the root is replaced."""
    cg = cfg.get("cgroup")
    if not cg:
        return None
    out: dict = {"procs": [], "limit": [], "events": None, "version": cg["version"]}
    for d in cg["dirs"]:
        out["procs"].append(os.open(os.path.join(d, "cgroup.procs"), os.O_WRONLY))
    mem, pids = cg["memory_dir"], cg.get("pids_dir")
    if cg["version"] == 2:
        out["limit"] = [(os.open(os.path.join(mem, "memory.max"), os.O_WRONLY), 1)]
        out["events"] = os.open(os.path.join(mem, "memory.events"), os.O_RDONLY)
        if os.path.exists(os.path.join(mem, "memory.swap.max")):
            fd = os.open(os.path.join(mem, "memory.swap.max"), os.O_WRONLY)
            os.write(fd, b"0")
            os.close(fd)
    else:
        out["limit"] = [(os.open(os.path.join(mem, "memory.limit_in_bytes"), os.O_WRONLY), 1)]
        out["events"] = os.open(os.path.join(mem, "memory.oom_control"), os.O_RDONLY)
    if pids:
        out["limit"].append((os.open(os.path.join(pids, "pids.max"), os.O_WRONLY), 0))
    out["set"] = None
    return out


def _cgroup_oom(cg: dict, job: dict | None) -> int:
    """The cgroup's OOM-kill count; with a job, first apply its limits."""
    if job is not None:
        lim = job["limits"]
        want = (int(lim["memory_mb"]), int(lim["processes"]))
        if cg["set"] != want:
            for fd, is_mem in cg["limit"]:
                value = want[0] * 1024 * 1024 if is_mem else want[1]
                os.write(fd, str(value).encode())
            cg["set"] = want
    text = os.pread(cg["events"], 4096, 0).decode()
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill":
            return int(value)
    return 0


def _tree_memory_mb() -> float:
    """Fallback without a cgroup: PSS of every job process plus the job's tmpfs pages."""
    total_kb = 0
    for name in os.listdir("/proc"):
        if not name.isdigit() or name == "1":  # pid 1 is the template, not the job
            continue
        try:
            with open(f"/proc/{name}/smaps_rollup", "rb") as fh:
                for line in fh:
                    if line.startswith(b"Pss:"):
                        total_kb += int(line.split()[1])
                        break
        except (OSError, ValueError):
            pass
    for mnt in ("/tmp", "/dev/shm"):
        try:
            st = os.statvfs(mnt)
            total_kb += (st.f_blocks - st.f_bfree) * st.f_frsize // 1024
        except OSError:
            pass
    return total_kb / 1024


def _kill_all(pgid: int, state: dict) -> None:
    """Kill the job process and everything it started."""
    if state["init"]:
        # We are pid 1 of the worker's pid namespace and run one job at a time: every other
        # process in the namespace belongs to this job. kill(-1) never signals the caller.
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        return
    # No pid namespace: the job's group, our (subreaper) children, and the sandbox uid.
    targets = [-pgid] if pgid > 0 else []
    targets += _children()
    for target in targets:
        try:
            os.kill(target, signal.SIGKILL)
        except OSError:
            pass
    uid = state["uid"]
    if uid is not None:
        sweeper = os.fork()
        if sweeper == 0:
            try:
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)  # every process of this uid, never the caller
            finally:
                os._exit(0)
        os.waitpid(sweeper, 0)


def _reap_all(pgid: int, state: dict) -> None:
    """Collect every exited child; kill the rest when the job left processes behind."""
    for _ in range(10000):
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:  # something is still alive: a leftover of the job
            _kill_all(pgid, state)
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                return


def _supervise(job: dict, tsock: socket.socket, out_r: int, err_r: int, res_r: int, t0: float,
               state: dict) -> dict:
    """Read the job's output until it ends or breaks a limit; the template reports its end
    (after it has killed and reaped every process of the job)."""
    wall = float(job["limits"]["wall_s"])
    max_out = int(job["limits"]["max_output_bytes"])
    err_keep = 64 * 1024
    deadline = t0 + wall
    pidfd = tsock.fileno()  # readable when the template reports the job's end
    ended: dict = {}
    out, err, res = bytearray(), bytearray(), bytearray()
    open_fds = {out_r: out, err_r: err}
    timed_out = output_limit = exited = mem_exceeded = False
    # Without a cgroup, a watchdog sums the memory of the job's processes a few times a second
    # (only jobs that run longer than the first tick pay for it).
    watchdog = state.get("cgroup") is None and state["init"]
    mem_cap = float(job["limits"]["memory_mb"])
    next_check = t0 + 0.05
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                timed_out = True
                break
            if watchdog and now >= next_check:
                next_check = now + 0.05
                if _tree_memory_mb() > mem_cap:
                    mem_exceeded = True
                    break
            watch = list(open_fds) + ([] if exited else [pidfd])
            if not watch:
                break
            wait = deadline - now if not watchdog else min(deadline, next_check) - now
            ready, _, _ = select.select(watch, [], [], max(0.0, wait))
            for fd in ready:
                if fd == pidfd:
                    ended = _recv_template(tsock, 30.0)
                    exited = True
                    continue
                try:
                    chunk = os.read(fd, 1 << 16)
                except OSError:
                    chunk = b""
                if not chunk:
                    del open_fds[fd]
                    continue
                buf = open_fds[fd]
                buf += chunk
                if fd == err_r and len(buf) > 2 * err_keep:
                    del buf[: len(buf) - err_keep]
            if len(out) > max_out:
                output_limit = True
                break
            if exited:
                # Leftover processes may still hold the pipes: take what is there and stop.
                # Every byte counts against the same limits as before the exit.
                open_fds[res_r] = res
                _drain(open_fds, {out_r: max_out + 1, err_r: 2 * err_keep, res_r: _REPORT_MAX + 1})
                output_limit = len(out) > max_out
                break
    finally:
        if not exited:
            _wire.send_frame(tsock, {"cmd": "kill"})
            ended = _recv_template(tsock, 30.0)
    if "status" not in ended:
        raise OSError(f"the template could not run the job: {ended.get('error')}")
    status = int(ended["status"])
    duration = time.monotonic() - t0
    report, violation = None, None
    nonce = job["nonce"].encode()
    if res.startswith(nonce):
        line = bytes(res[len(nonce):]).split(b"\n", 1)[0]
        # JSON of bounded size (_REPORT_MAX): parsing costs at most linear time and memory.
        try:
            report = json.loads(line) if line.startswith(b"{") else None
            if report is None:
                violation = "the report is not an object"
        except (ValueError, MemoryError, RecursionError, TypeError):
            report, violation = None, "the report is not JSON"
        if report is not None:
            violation = _report_violation(report)
            if violation:
                report = None
    elif res:
        violation = "the report does not carry the job's nonce"
    return {
        "memory_limit": mem_exceeded,
        "protocol_violation": violation,
        "exit_code": status if status >= 0 else None,
        "signal": -status if status < 0 else None,
        "timed_out": timed_out,
        "output_limit": output_limit,
        "stdout": bytes(out[:max_out]).decode("utf-8", "replace"),
        "stderr": bytes(err[-err_keep:]).decode("utf-8", "replace"),
        "report": report,
        "duration_s": duration,
        "cpu_s": float(ended["cpu_s"]),
        "max_rss_kb": int(ended["max_rss_kb"]),
        "minor_faults": int(ended["minor_faults"]),
        "poisoned": bool(ended.get("poisoned")),
    }


def _opaque(obj: object) -> int:
    return 0


_REPORT_KEYS = {"ok": bool, "phase": str, "exc": str, "tb": str, "value": str}
_PHASES = {"compile", "run", "call", "test", "report"}


def _report_violation(report: object) -> str | None:
    """Why a candidate's report is malformed (None when it is well-formed)."""
    if type(report) is not dict:
        return "the report is not a dict"
    for key, value in report.items():
        want = _REPORT_KEYS.get(key) if type(key) is str else None
        if want is None:
            return f"unexpected report field {str(key)[:40]!r}"
        if type(value) is not want:
            return f"report field {key!r} has type {type(value).__name__}"
    if "phase" in report and report["phase"] not in _PHASES:
        return "unknown phase in the report"
    if "ok" not in report and report.get("phase") != "compile":
        return "the report has no outcome"
    return None


def _drain(open_fds: dict, caps: dict) -> None:
    """Read what the pipes hold without blocking, at most caps[fd] bytes in each buffer."""
    for fd, buf in list(open_fds.items()):
        os.set_blocking(fd, False)
        try:
            while len(buf) < caps[fd]:
                chunk = os.read(fd, min(1 << 16, caps[fd] - len(buf)))
                if not chunk:
                    break
                buf += chunk
        except (BlockingIOError, OSError):
            pass


_WARM_SOURCE = '''
import math, collections
from typing import List, Optional
class Solution:
    def f(self, xs: List[int], k: int = 2) -> Optional[int]:
        """doc"""
        d = {i: [x * k for x in xs if x % 2 == 0] for i in range(3)}
        s = {x for x in xs}; t = (1, 2.5, "s", b"b", None, True)
        try:
            return max(sum(v) for v in d.values()) + len(f"{s!r:>3}{t}")
        except (ValueError, KeyError) as e:
            raise RuntimeError("x") from e
        finally:
            pass
def check(candidate):
    assert candidate([1, 2, 3]) == 4, "message"
    lambda a, *b, **c: (a, b, c)
    async def g():
        async with g as h:
            await h
    while False:
        break
'''


def _warm_up() -> None:
    """Run the compiler, json and traceback once so that forked jobs start warm."""
    ns: dict = {}
    exec(compile(_WARM_SOURCE, "warm.py", "exec"), ns)
    json.loads(json.dumps({"a": [1, 2.5, "x", None, True]}))
    try:
        ns["Solution"]().f([])
    except RuntimeError as e:
        traceback.format_exception(type(e), e, e.__traceback__)
    io.TextIOWrapper(io.BufferedWriter(io.FileIO(os.devnull, "w")), encoding="utf-8").close()


def _mount_count() -> int:
    with open("/proc/self/mountinfo") as fh:
        return sum(1 for _ in fh)


def main() -> None:
    """The supervisor: start the template, then serve the host's jobs until EOF on fd 0."""
    cfg = json.loads(sys.argv[1])
    # Move the protocol off fds 0/1 so that nothing a child inherits can speak it.
    chan = socket.socket(fileno=os.dup(0))
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # die with the host
    sys.set_int_max_str_digits(50_000)
    parts: list[str] = []
    error = ""
    cgroup = None
    try:
        cgroup = _cgroup_open(cfg)
    except OSError as e:
        error = f"cannot open the worker's cgroup: {e}"
    if cgroup is not None:
        parts.append(f"cgroup{cgroup['version']}")
    # Before the namespaces: libseccomp's loader may start a helper process (ldconfig), which
    # would otherwise become, and end, the new pid namespace's init.
    seccomp = b""
    try:
        seccomp = _seccomp_program()
    except Exception as e:  # noqa: BLE001 - no filter: refuse (namespaces) or say so
        if cfg.get("namespaces", True) and not error:
            error = f"cannot build the syscall filter: {type(e).__name__}: {e}"
    if cfg.get("namespaces", True) and not error:
        try:
            parts = _enter_namespaces(cfg) + parts
            if "mntns" not in parts:
                raise OSError("no mount namespace")
        except Exception as e:  # noqa: BLE001 - the host refuses to run without the jail
            error = f"cannot build the sandbox: {type(e).__name__}: {e}"
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        chan.close()
        mine.close()
        try:
            _template_main(theirs, cfg, parts, error, cgroup, seccomp)
        finally:
            os._exit(1)
    theirs.close()
    tsock = mine
    try:
        hello = _recv_template(tsock, 120.0)
    except (OSError, EOFError, ValueError) as e:
        hello = {"error": f"the template did not start: {type(e).__name__}"}
    parts, error = list(hello.get("parts", parts)), str(hello.get("error", error))
    jail = "jail" in parts
    uid = _job_uid(cfg, parts)
    tmp = "/tmp"
    if not jail:
        import tempfile  # only here: the template (forked above) and its jobs never carry it

        tmp = tempfile.gettempdir()
    state = {"uid": uid, "init": bool(hello.get("init")), "tmp": tmp, "jail": jail,
             "tmpfs_mb": cfg.get("tmpfs_mb", 128), "mounted": [], "cgroup": cgroup}
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # a dead template is an error, not our end
    if jail and not error:
        _fresh_tmpfs(state)
    mounts = 0
    if jail and not error:  # the baseline for leak checks, with the job tmpfs mounted
        _wire.send_frame(tsock, {"cmd": "stat"})
        mounts = int(_recv_template(tsock, 30.0).get("mounts", 0))
    _wire.send_frame(chan, {"ready": True, "isolation": "+".join(parts), "pid": os.getpid(),
                            "error": error, "note": cfg.get("subid_error", "")})
    while True:
        try:
            msg, fds = _wire.recv_frame(chan)
        except (EOFError, OSError, ValueError):
            break
        cmd = msg.get("cmd")
        poisoned = False
        if cmd == "run":
            try:
                out = _run_job(msg["job"], state, fds, tsock)
                poisoned = bool(out.pop("poisoned", False))
            except Exception as e:  # noqa: BLE001
                out = {"infra_error": f"{type(e).__name__}: {e}"}
                poisoned = True  # the template's state is unknown: let the host replace us
        elif cmd == "stat":
            try:
                _wire.send_frame(tsock, {"cmd": "stat"})
                t = _recv_template(tsock, 30.0)
                tmp = "/tmp" if jail else state["tmp"]
                out = {"tmp_entries": sorted(n for n in os.listdir(tmp) if n.startswith("sdjob-")),
                       "children": t.get("children", []),
                       "extra_mounts": (int(t.get("mounts", 0)) - mounts) if jail else 0}
            except (OSError, EOFError, ValueError) as e:
                out = {"infra_error": f"stat failed: {type(e).__name__}"}
        elif cmd == "exit":
            break
        else:
            out = {"infra_error": f"unknown command {cmd!r}"}
        try:
            _wire.send_frame(chan, out)
        except OSError as e:
            if e.errno == errno.EPIPE:
                break
            raise
        if poisoned:
            break  # the job changed the template (e.g. its rlimits): start afresh
    try:
        _wire.send_frame(tsock, {"cmd": "exit"})
    except OSError:
        pass


_RLIMITS = [getattr(resource, n) for n in dir(resource) if n.startswith("RLIMIT_")]


def _rlimits() -> list:
    out = []
    for r in _RLIMITS:
        try:
            out.append(resource.getrlimit(r))
        except (OSError, ValueError):
            out.append(None)
    return out


def _template_main(tsock: socket.socket, cfg: dict, parts: list[str], error: str,
                   cgroup: dict | None, seccomp: bytes) -> None:
    """The template: build the jail, warm the interpreter, then fork one process per job.

    It never receives a job's data (code, inputs, outputs, reports): only "fork" with the
    job's descriptors, "kill", "stat" and "exit". So the memory every job inherits holds
    nothing of any other job. It owns the job processes: it reaps them, kills what a job left
    behind, and reports how the job ended.
    """
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # die with the supervisor
    # As pid 1, a signal from inside the namespace reaches us only where we installed a
    # handler: Python's SIGINT handler is the one we have, so it goes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # what jobs inherit: a normal process's
    uid = _job_uid(cfg, parts)
    if "mntns" in parts and not error:
        try:
            _build_jail(cfg, parts, uid)
        except Exception as e:  # noqa: BLE001 - the host refuses to run without the jail
            error = f"cannot build the sandbox: {type(e).__name__}: {e}"
    init = os.getpid() == 1
    if "userns" in parts:
        parts.append("nocaps")  # with a subordinate uid ("subuid<N>") or as the namespace's root
    elif uid is not None:
        parts.append(f"uid{uid}")
    parts += ["nonewprivs", "rlimits"]
    # A job may make its IPC namespace where it has the capability before it drops it: as
    # root, or as root of the worker's user namespace.
    ipcns = "mntns" in parts and not error
    if ipcns:
        parts += ["ipcns", "keyring"]
    if seccomp:
        parts.append("seccomp")
    if not init:
        # Orphans of a job are re-parented to us, so that we can reap and account for them.
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    _libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE=0: jobs may not ptrace or read our memory
    jail = "jail" in parts
    if jail:
        # Only the standard library (and configured packages) can be imported by a job.
        sys.path[:] = [p for p in cfg.get("path", []) if os.path.isdir(p)]
        # subprocess.run([sys.executable, ...]) and multiprocessing's spawn/forkserver need
        # an interpreter that exists in the jail.
        if os.path.isfile(cfg.get("executable") or ""):
            sys.executable = sys._base_executable = cfg["executable"]
    # Once here instead of in every job: the environment programs get, stream error policy.
    for key in list(os.environ):
        del os.environ[key]
    os.environ.update({"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
                       "PYTHONIOENCODING": "utf-8", "OMP_NUM_THREADS": "1",
                       "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    sys.stdin.reconfigure(errors="replace")
    sys.stdout.reconfigure(errors="replace")
    _warm_up()
    state = {"uid": uid, "init": init, "cgroup": cgroup, "ipcns": ipcns, "seccomp": seccomp,
             "userns": "userns" in parts}
    limits = _rlimits()
    # A job's end wakes the loop through SIGCHLD (a pidfd would need pidfd_open, which the
    # filter refuses). A spurious SIGCHLD (an orphan's end) only costs a WNOHANG wait.
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    # The worker's own, empty session keyring (not the host's), then the syscall filter:
    # installed here once, every job inherits it from its first instruction (installing it
    # per job cost ~0.8 ms: the kernel prepares its action cache for every call number).
    _libc.syscall(_SYS_KEYCTL, KEYCTL_JOIN_SESSION_KEYRING, None)
    _drop_bounding_set()
    if seccomp and not error:
        try:
            _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            _load_seccomp(seccomp)
        except OSError as e:
            if cfg.get("namespaces", True):
                error = f"cannot install the syscall filter: {e}"  # the host refuses to run
            else:  # namespaces=False is no sandbox anyway: run, and say there is no filter
                parts.remove("seccomp")
                state["seccomp"] = b""
    gc.freeze()  # fewer copy-on-write faults in every forked job
    _wire.send_frame(tsock, {"parts": parts, "error": error, "init": init})
    job_pid = 0
    while True:
        watch = [tsock] + ([wake_r] if job_pid else [])
        try:
            ready = select.select(watch, [], [])[0]
        except InterruptedError:
            continue
        if wake_r in ready:
            try:
                while os.read(wake_r, 4096):
                    pass
            except BlockingIOError:
                pass
            pid, st, usage = os.wait4(job_pid, os.WNOHANG)
            if pid == 0:
                continue
            _reap_all(job_pid, state)  # kills and reaps whatever the job left behind
            job_pid = 0
            poisoned = _rlimits() != limits
            _wire.send_frame(tsock, {"status": os.waitstatus_to_exitcode(st),
                                     "cpu_s": usage.ru_utime + usage.ru_stime,
                                     "max_rss_kb": usage.ru_maxrss,
                                     "minor_faults": usage.ru_minflt, "poisoned": poisoned})
            continue
        try:
            msg, fds = _wire.recv_frame(tsock, max_fds=8)
        except (EOFError, OSError, ValueError):
            os._exit(0)
        cmd = msg.get("cmd")
        if cmd == "fork" and not job_pid and len(fds) in (5, 6):
            try:
                pid = os.fork()
            except OSError as e:
                for fd in fds:
                    os.close(fd)
                _wire.send_frame(tsock, {"error": f"fork failed: {e}"})
                continue
            if pid == 0:
                tsock.close()
                _child_c(fds, uid, state)
            for fd in fds:
                os.close(fd)
            job_pid = pid
        elif cmd == "kill":
            if job_pid:
                _kill_all(job_pid, state)  # its end is then reported as above
        elif cmd == "stat":
            _wire.send_frame(tsock, {"children": _children(),
                                     "mounts": _mount_count() if jail else 0})
        elif cmd == "exit":
            os._exit(0)
        else:
            for fd in fds:
                os.close(fd)
            _wire.send_frame(tsock, {"error": f"unexpected command {cmd!r}"})


def _children() -> list[int]:
    """Pids of our live children (zombies included)."""
    kids = []
    try:
        with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as fh:
            kids = [int(x) for x in fh.read().split()]
    except OSError:
        pass
    return kids


if __name__ == "__main__":
    main()
