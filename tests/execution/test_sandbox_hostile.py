"""The hostile corpus: every program gets its verdict and the host stays untouched.

Run as root (CI) and as an unprivileged user: test_corpus_as_unprivileged_user re-runs this
file as uid 65534 (nobody) when the suite runs as root; `make test-unprivileged` can do the
same by hand (see docs/sandbox.md).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from procinfo import fd_table, host_children

from selfdistill.execution import SandboxConfig, get_pool, grade_many
from selfdistill.problems.schema import Problem, TestCase

REPO = Path(__file__).resolve().parents[2]
HOSTILE = REPO / "tests" / "hostile"
CANARY = HOSTILE / "canary.txt"
SECRET_NAME = "SD_HOSTILE_SECRET_TOKEN"
SECRET_VALUE = "s3cr3t-9f8e7d6c5b4a"
CONFIG = SandboxConfig(timeout_s=3.0, memory_mb=512, tmpfs_mb=32)
UID_RANGE = range(CONFIG.uid_base, CONFIG.uid_base + 1000)


def _load_corpus() -> list[dict]:
    spec = importlib.util.spec_from_file_location("hostile_corpus", HOSTILE / "corpus.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.CASES


def _fill(text: str, subs: dict[str, str]) -> str:
    for k, v in subs.items():
        text = text.replace("{" + k + "}", v)
    return text


def _problem(case: dict, subs: dict[str, str]) -> Problem:
    kind = case["kind"]
    if kind == "assert":
        test = TestCase("assert", _fill(case.get("test", "assert add(2, 3) == 5\n"), subs))
    elif kind == "call":
        test = TestCase("call", *case.get("call_io", ("2\n3\n", "5")))
    else:
        test = TestCase("stdio", case.get("stdin", ""), case.get("expected", ""))
    return Problem(id=case["name"], statement="", tests=[test], entry_point="add")


def _sandbox_processes() -> list[tuple[int, str]]:
    """Processes running as one of the sandbox uids (only meaningful as root)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            status = Path(f"/proc/{name}/status").read_text()
        except OSError:
            continue
        uid = int(next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1])
        if uid in UID_RANGE:
            found.append((int(name), status.splitlines()[0]))
    return found




def _unix_listeners() -> tuple[list[socket.socket], dict[str, str]]:
    """Listening unix sockets on the host: under /var/tmp, /run (or /tmp) and an abstract name."""
    socks, subs = [], {}
    tag = f"sd_hostile_{os.getpid()}"
    for key, dirs in (("UNIX_SOCK_VAR", ("/var/tmp", "/tmp")), ("UNIX_SOCK_RUN", ("/run", "/tmp"))):
        for d in dirs:
            path = f"{d}/{tag}_{key.lower()}.sock"
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.bind(path)
                os.chmod(path, 0o777)  # reachable by anyone who can see the path
            except OSError:
                s.close()
                continue
            s.listen(8)
            s.setblocking(False)
            socks.append(s)
            subs[key] = path
            break
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind("\0" + tag)
    s.listen(8)
    s.setblocking(False)
    socks.append(s)
    subs["UNIX_SOCK_ABSTRACT"] = tag
    return socks, subs


def _mounts() -> list[str]:
    """The host's mount table (mount ids and points only)."""
    return sorted(" ".join(ln.split()[:5]) for ln in Path("/proc/self/mountinfo").read_text().splitlines())


def _host_tmp_entries() -> set[str]:
    return {n for n in os.listdir("/tmp") if n.startswith(("sdjob-", "sd_hostile"))}


def test_corpus_is_big_enough() -> None:
    """At least 40 hostile programs (issue 5), plus 30 more covering issue 13's attack classes,
    each class in all three kinds of test."""
    cases = _load_corpus()
    assert len(cases) >= 63 + 30
    for cls in ("patch_builtins_exec", "settrace", "read_expected_from_memory", "forge_report_types",
                "fork_memory_multiply", "read_host_disk", "read_builtin_reference", "write_host",
                "unix_sockets", "credentials", "leave_files", "find_leftovers"):
        kinds = {c["kind"] for c in cases if c["name"].startswith(cls)}
        assert kinds == {"assert", "call", "stdio"}, (cls, kinds)


@pytest.mark.slow
def test_hostile_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every hostile program gets its verdict, and nothing on the host changes."""
    monkeypatch.setenv(SECRET_NAME, SECRET_VALUE)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    unix_socks, unix_subs = _unix_listeners()
    subs = {"CANARY": str(CANARY), "PROJECT": str(REPO), "PORT": str(listener.getsockname()[1]),
            "SECRET_NAME": SECRET_NAME, "SECRET_VALUE": SECRET_VALUE,
            "HOST_PID": str(os.getpid()), **unix_subs}
    cases = _load_corpus()
    canary_before = hashlib.sha256(CANARY.read_bytes()).hexdigest()
    pool = get_pool(CONFIG)
    pool.start()  # start the workers before taking the snapshots
    isolation = pool.isolation()
    children_before = host_children()
    fds_before = fd_table()
    # Our own listener sockets may sit in /tmp (unprivileged: /run is not writable); the
    # test removes them itself below, so they are not the sandbox's leftovers.
    own = {os.path.basename(p) for p in unix_subs.values()}
    tmp_before = _host_tmp_entries() - own
    mounts_before = _mounts()

    items = [(_problem(c, subs), _fill(c["code"], subs)) for c in cases]
    verdicts = grade_many(items, config=CONFIG)

    failures = []
    for case, v in zip(cases, verdicts, strict=True):
        want = case["status"] if isinstance(case["status"], tuple) else (case["status"],)
        if v.status not in want:
            failures.append(f"{case['name']}: want {want}, got {v.status} ({v.message}) "
                            f"actual={v.actual!r:.200} stderr={v.stderr_tail[-300:]!r}")
        for text in case.get("actual_excludes", []):
            text = _fill(text, subs)
            for field in (v.actual, v.stderr_tail, v.message):
                if field and text in field:
                    failures.append(f"{case['name']}: leaked {text!r}")
        for path in case.get("forbid", []):
            if os.path.lexists(_fill(path, subs)):
                failures.append(f"{case['name']}: created {_fill(path, subs)} on the host")
    assert not failures, "\n".join(failures)

    # The host is untouched.
    assert CANARY.exists() and hashlib.sha256(CANARY.read_bytes()).hexdigest() == canary_before
    assert (HOSTILE / "corpus.py").exists()
    assert fd_table() == fds_before
    with pytest.raises(BlockingIOError):
        listener.accept()  # nobody reached the host's loopback
    listener.close()
    for s in unix_socks:
        with pytest.raises(BlockingIOError):
            s.accept()  # nobody reached a unix socket of the host
        name = s.getsockname()
        s.close()
        if isinstance(name, str) and name:
            os.unlink(name)
    assert _mounts() == mounts_before
    assert host_children() == children_before, "a worker died or a process leaked"
    assert _host_tmp_entries() - own == tmp_before
    if os.geteuid() == 0 and "uid" in isolation:
        assert _sandbox_processes() == []
    for stat in pool.stats():
        assert stat["tmp_entries"] == [] and stat["children"] == [] and stat["extra_mounts"] == 0
    # And the sandbox still works, on the same pool, for each kind of test.
    add = "def add(a, b):\n    return a + b\n"
    ok = grade_many([
        (Problem("a", "", [TestCase("assert", "assert add(2, 3) == 5")], entry_point="add"), add),
        (Problem("c", "", [TestCase("call", "2\n3", "5")], entry_point="add"), add),
        (Problem("s", "", [TestCase("stdio", "2 3", "5")]), "print(sum(map(int, input().split())))"),
    ], config=CONFIG)
    assert [v.status for v in ok] == ["accepted"] * 3
    assert host_children() == children_before


def _unprivileged_command() -> list[str]:
    """Re-run this file as nobody; the interpreter may live under /root (mode 0700)."""
    base = os.path.realpath(sys.base_prefix)
    inner = [
        "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
        "env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/nonexistent",
        "PYTHONDONTWRITEBYTECODE=1", "LANG=C.UTF-8",
        f"PYTHONPATH={REPO / 'src'}",  # this checkout's code, not whatever the venv points at
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "-k", "hostile_corpus or leak or fallback or isolation", str(Path(__file__).resolve()),
        str(Path(__file__).resolve().parent / "test_sandbox.py"),
    ]
    if base.startswith("/root/"):
        # A private mount namespace where /root is an empty tmpfs except for the interpreter.
        script = (
            f"mkdir -p /run/sd-unpriv && mount --bind /root /run/sd-unpriv && "
            f"mount -t tmpfs -o mode=755,size=1m tmpfs /root && mkdir -p {base} && "
            f"mount --rbind /run/sd-unpriv/{base[len('/root/'):]} {base} && "
            f"exec {shlex.join(inner)}"
        )
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", script]
    return inner


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become an unprivileged user")
@pytest.mark.skipif(shutil.which("setpriv") is None or shutil.which("unshare") is None,
                    reason="needs setpriv and unshare (util-linux)")
def test_corpus_as_unprivileged_user() -> None:
    """The same corpus (and the leak test) pass when the suite runs as an ordinary user."""
    r = subprocess.run(_unprivileged_command(), cwd="/", capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout
