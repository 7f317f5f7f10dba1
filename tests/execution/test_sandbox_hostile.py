"""The hostile corpus: every program gets its verdict and the host stays untouched.

Run as root (CI) and as an unprivileged user: test_corpus_as_unprivileged_user re-runs this
file as uid 65534 (nobody) when the suite runs as root; `make test-unprivileged` can do the
same by hand (see docs/sandbox.md).
"""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from procinfo import fd_table, host_children

from selfdistill.execution import SandboxConfig, format_feedback, get_pool, grade, grade_many
from selfdistill.execution import host as host_ids
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


def _load(name: str, attr: str) -> list[dict]:
    spec = importlib.util.spec_from_file_location(f"hostile_{name}", HOSTILE / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, attr)


_HONEST = [
    (Problem("ha", "", [TestCase("assert", "assert add(2, 3) == 5")], entry_point="add"),
     "def add(a, b):\n    return a + b\n"),
    (Problem("hc", "", [TestCase("call", "2\n3", "5")], entry_point="add"),
     "class Solution:\n    def add(self, a, b):\n        return a + b\n"),
    (Problem("hs", "", [TestCase("stdio", "2 3", "5")]), "print(sum(map(int, input().split())))"),
]


def _check_verdicts(cases: list[dict], verdicts: list) -> list[str]:
    failures = []
    for case, v in zip(cases, verdicts, strict=True):
        want = case["status"] if isinstance(case["status"], tuple) else (case["status"],)
        if v.status not in want:
            failures.append(f"{case['name']}: want {want}, got {v.status} ({v.message}) "
                            f"actual={v.actual!r:.200} stderr={v.stderr_tail[-300:]!r}")
        for text in case.get("actual_excludes", []):
            for field in (v.actual, v.stderr_tail, v.message):
                if field and text in field:
                    failures.append(f"{case['name']}: printed {text!r}")
        try:
            json.dumps(v.to_dict(), ensure_ascii=False).encode("utf-8")
            format_feedback(v).encode("utf-8")
        except UnicodeEncodeError as e:
            failures.append(f"{case['name']}: verdict not encodable ({e})")
    return failures


@pytest.mark.slow
def test_hostile_corpus_issue30_beside_honest_jobs() -> None:
    """Issue 30's corpus, concurrently on two workers with an honest job after every attacker
    and sane jobs before and after: every attack rejected, every honest job accepted, no
    grader exception, no worker lost, nothing left in the workers."""
    cases = _load("corpus30", "CASES")
    assert len({c["cls"] for c in cases}) >= 6 and len(cases) >= 30
    for cls in ("syscall_filter", "pid1", "control_flow", "trusted_work", "text"):
        assert sum(c["cls"] == cls for c in cases) >= 2, cls
    pool = get_pool(CONFIG)
    pool.start()
    children_before = host_children()
    fds_before = fd_table()
    mounts_before = _mounts()
    honest_case = dict(name="honest", status="accepted")
    items, expect = list(_HONEST), [honest_case] * 3
    for i, c in enumerate(cases):
        items.append((_problem(c, {}), c["code"]))
        expect.append(c)
        items.append(_HONEST[i % 3])
        expect.append(honest_case)
    items += _HONEST
    expect += [honest_case] * 3
    verdicts = grade_many(items, config=CONFIG)
    failures = _check_verdicts(expect, verdicts)
    assert not failures, "\n".join(failures)
    assert host_children() == children_before, "a worker died or a process leaked"
    assert fd_table() == fds_before
    assert _mounts() == mounts_before
    for stat in pool.stats():
        assert stat["tmp_entries"] == [] and stat["children"] == [] and stat["extra_mounts"] == 0


# One worker of its own (tmpfs_mb makes it a separate pool), jobs one after another.
SERIAL = CONFIG.with_(workers=1, tmpfs_mb=33)


def _serial(cases: list[dict], expected: str = "ESCAPED") -> list:
    out = []
    for c in cases:
        p = Problem(c["name"], "", [TestCase("stdio", c.get("stdin", ""), c.get("expected", expected))])
        out.append(grade(p, c["code"], config=SERIAL))
    return out


@pytest.mark.slow
def test_hostile_corpus_issue30_leftovers_between_jobs() -> None:
    """System V IPC, POSIX message queues and keys one job leaves are not there for the next
    (on the same worker), and left-over shared memory does not eat the next job's limit."""
    leave, find = _load("corpus30", "LEAVE"), _load("corpus30", "FIND")
    assert get_pool(SERIAL).size == 1
    for _ in range(2):
        left = _serial(leave, expected="5")
        assert [v.status for v in left] == ["accepted"] * len(leave), [v.message for v in left]
        found = _serial(find)
        assert [v.status for v in found] == ["wrong_answer"] * len(find), [
            (c["name"], v.status, v.actual, v.message) for c, v in zip(find, found, strict=True)]
        assert all("ESCAPED" not in (v.actual or "") for v in found)
    assert grade(*_HONEST[0], config=SERIAL).passed


@pytest.mark.slow
def test_hostile_corpus_issue30_honest_jobs_after_poisoning_jobs() -> None:
    """On one worker, each job that tries to poison what comes next (left-over shared memory,
    a full or deep /tmp, signals and rlimits on the template, a hash-colliding report, a
    judge freeze) is followed by honest jobs of every kind, which keep their verdicts."""
    by_name = {c["name"]: c for c in _load("corpus30", "CASES") + _load("corpus30", "LEAVE")}
    poisoners = ["leave_sysv_shm", "many_files_in_tmp", "deep_directory_tree",
                 "signal_the_template", "lower_the_templates_rlimits", "renice_the_template",
                 "pin_and_idle_the_template", "forged_colliding_value",
                 "assert_reply_deep_and_wide", "x32_syscall_bypass"]
    for name in poisoners:
        c = by_name[name]
        problem = (_problem(c, {}) if "kind" in c else
                   Problem(name, "", [TestCase("stdio", "", "5")]))
        v = grade(problem, c["code"], config=SERIAL)
        want = c.get("status", "accepted")
        assert v.status in (want if isinstance(want, tuple) else (want,)), (name, v)
        after = [grade(p, code, config=SERIAL) for p, code in _HONEST]
        assert [a.status for a in after] == ["accepted"] * 3, (name, [a.message for a in after])


_MARK = "sd30-other-job-" + "marker-5521"


@pytest.mark.slow
def test_hostile_corpus_issue30_no_job_sees_another_jobs_data() -> None:
    """A job's memory is the template's: no earlier job's program, input or output is in it
    (the control proves the scan finds the marker where it is)."""
    scan = _load("corpus", "_MEMSCAN").replace('"sd-expected-"', '"sd30-other-job-"').replace(
        '"marker-7731"', '"marker-5521"')
    writers = [
        (Problem("w1", "", [TestCase("stdio", _MARK + "\n", _MARK)]),
         f"M = {_MARK!r}\nprint(input())\n"),
        (Problem("w2", "", [TestCase("call", json.dumps(_MARK), json.dumps(_MARK))], entry_point="add"),
         f"M = {_MARK!r}\ndef add(a):\n    return a\n"),
        (Problem("w3", "", [TestCase("assert", f"assert add({_MARK!r}) == {_MARK!r}")], entry_point="add"),
         f"M = {_MARK!r}\ndef add(a):\n    return M\n"),
    ]
    for problem, code in writers:
        assert grade(problem, code, config=SERIAL).passed
    readers = [
        (Problem("r1", "", [TestCase("stdio", "", "nope")]), scan + "print('found' if _scan() else 'nope')\n"),
        (Problem("r2", "", [TestCase("call", "1", '"nope"')], entry_point="add"),
         scan + "def add(a):\n    return 'found' if _scan() else 'nope'\n"),
        (Problem("r3", "", [TestCase("assert", "assert add(1) == 'nope'")], entry_point="add"),
         scan + "def add(a):\n    return 'found' if _scan() else 'nope'\n"),
    ]
    for problem, code in readers:
        v = grade(problem, code, config=SERIAL)
        assert v.status == "accepted", (problem.id, v.status, v.actual, v.message)
    control = scan + "m = ''.join(['sd30-other-job-', 'marker-5521'])\nprint('found' if _scan() else 'nope')\n"
    assert grade(Problem("c", "", [TestCase("stdio", "", "found")]), control, config=SERIAL).passed


def test_isolation_has_the_issue30_layers() -> None:
    """Where namespaces are used, every job gets its IPC namespace, keyring and syscall filter."""
    parts = get_pool(CONFIG).isolation().split("+")
    if "mntns" in parts:
        assert {"ipcns", "keyring", "seccomp"} <= set(parts), parts


_STATUS_PROBE = """
fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(" ".join(fields[k].strip() for k in ("Seccomp", "CapBnd", "CapEff", "NoNewPrivs")))
"""


def test_isolation_filter_and_no_capabilities_in_every_job() -> None:
    """The filter, the empty bounding set and NO_NEW_PRIVS (set once on the template and
    inherited) are in force in every job, of every kind, on every worker."""
    parts = get_pool(CONFIG).isolation().split("+")
    if "seccomp" not in parts or "proc" not in parts:
        pytest.skip(f"no filter or no /proc here: {parts}")
    want = "2 0000000000000000 0000000000000000 1"
    stdio = (Problem("st", "", [TestCase("stdio", "", want)]), _STATUS_PROBE)
    call = (Problem("ca", "", [TestCase("call", "1", json.dumps(want))], entry_point="add"),
            "def add(a):\n    import io, contextlib\n    buf = io.StringIO()\n"
            "    with contextlib.redirect_stdout(buf):\n"
            f"        exec({_STATUS_PROBE!r}, {{}})\n    return buf.getvalue().strip()\n")
    verdicts = grade_many([stdio, call] * 4, config=CONFIG)
    assert [v.status for v in verdicts] == ["accepted"] * 8, [(v.actual, v.message) for v in verdicts]


# Prints the job's uid, the uid it is on the host (through its user namespace's map) and what
# kill(1, 0) (may this job signal the template, pid 1?) returned.
_UID_PROBE = """
import json, os, time
time.sleep(0.2)
try:
    os.kill(1, 0)
    kill1 = 0
except OSError as e:
    kill1 = e.errno
host = os.getuid()
for line in open("/proc/self/uid_map"):
    inside, outside, count = map(int, line.split())
    if inside <= host < inside + count:
        host = outside + host - inside
        break
print(json.dumps({"uid": os.getuid(), "host_uid": host, "kill1": kill1}))
"""


def test_isolation_jobs_run_under_a_uid_of_their_own() -> None:
    """Jobs run under a uid that is neither the grader's (so not the supervisor's, nor the
    template's: pid 1 refuses even signal 0 from them, by the kernel's permission check, not
    the filter) nor another worker's jobs': as root the worker's uid; as an ordinary user the
    worker's subordinate uid (newuidmap). Without newuidmap or a range the weaker fallback is
    what runs (a skip, with the reason), unless SD_REQUIRE_SUBUID says the setup must have them."""
    parts = get_pool(CONFIG).isolation().split("+")
    if "mntns" not in parts:
        pytest.skip("no jail on this machine")
    sub = host_ids.subordinate_ids()
    if os.geteuid() != 0:
        if not isinstance(sub, dict):
            if os.environ.get("SD_REQUIRE_SUBUID"):
                pytest.fail(f"no subordinate ids although the setup provides them: {sub}")
            pytest.skip(f"jobs share this user's uid here: {sub}")
        assert any(p.startswith("subuid") for p in parts), parts
    # Its own pool, which refuses to start without the uid layer ("uid64000"/"subuid100000").
    config = CONFIG.with_(require_isolation=("uid",) if os.geteuid() == 0 else ("subuid",))
    get_pool(config, 2).start()
    p = Problem("uid", "", [TestCase("stdio", "", "x")])
    verdicts = grade_many([(p, _UID_PROBE)] * 8, config=config, workers=2)
    by_worker: dict[str, int] = {}
    for v in verdicts:
        assert v.status == "wrong_answer", (v.status, v.message, v.stderr_tail)
        seen = json.loads(v.actual or "{}")
        assert seen["host_uid"] != os.geteuid() and seen["uid"] != 0, seen
        assert seen["kill1"] == errno.EPERM, seen
        claimed = [int(x.removeprefix("subuid").removeprefix("uid")) for x in v.isolation.split("+")
                   if x.startswith(("uid", "subuid"))]
        assert claimed == [seen["host_uid"]], (v.isolation, seen)
        if os.geteuid() != 0:
            (start, count), _ = sub["uid_range"], sub["gid_range"]
            assert start <= seen["host_uid"] < start + count
        by_worker[v.isolation] = seen["host_uid"]
    assert len(by_worker) == 2 and len(set(by_worker.values())) == 2, by_worker


def _unprivileged_command() -> list[str]:
    """Re-run this file as nobody; the interpreter may live under /root (mode 0700)."""
    base = os.path.realpath(sys.base_prefix)
    inner = [
        "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
        "env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/nonexistent",
        # setup_system.sh installs newuidmap and gives nobody a subordinate range: then the
        # unprivileged jobs must run under a subordinate uid (no silent fallback).
        *(["SD_REQUIRE_SUBUID=1"] if shutil.which("newuidmap") else []),
        "PYTHONDONTWRITEBYTECODE=1", "LANG=C.UTF-8",
        f"PYTHONPATH={REPO / 'src'}",  # this checkout's code, not whatever the venv points at
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "-k", "hostile_corpus or leak or fallback or isolation or sandbox_judge or collide",
        str(Path(__file__).resolve()),
        str(Path(__file__).resolve().parent / "test_sandbox.py"),
        str(Path(__file__).resolve().parent / "test_sandbox_judge.py"),
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
