"""Sandbox isolation and resource hygiene (fast checks plus the 1,000-run leak test)."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from procinfo import fd_table, host_children

from selfdistill.execution import SandboxConfig, SandboxError, get_pool, grade, grade_many
from selfdistill.execution.sandbox import Worker, shutdown_pools
from selfdistill.problems.schema import Problem, TestCase

CFG = SandboxConfig(timeout_s=3.0)


def _stdio(expected: str) -> Problem:
    return Problem(id="p", statement="", tests=[TestCase("stdio", "", expected)])




def test_no_code_runs_nothing() -> None:
    """Empty answers are rejected without starting anything."""
    for code in (None, "", "  \n\t"):
        v = grade(_stdio("x"), code, config=CFG)
        assert v.status == "no_code" and not v.passed and v.isolation == ""


def test_isolation_is_recorded() -> None:
    """Every verdict says which isolation it ran under; namespaces are used where possible."""
    v = grade(_stdio("1"), "print(1)", config=CFG)
    assert v.status == "accepted"
    parts = v.isolation.split("+")
    assert "rlimits" in parts
    if os.geteuid() == 0:
        assert any(p.startswith("uid") for p in parts)
    if "netns" in parts:
        assert "pidns" in parts and "rofs" in parts


def test_environment_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a handful of harmless variables reach the program; HOME is its work dir."""
    monkeypatch.setenv("SD_TEST_TOKEN", "hunter2")
    code = "import os\nprint(sorted(os.environ))\nprint(os.environ['HOME'] == os.getcwd())\n"
    v = grade(_stdio("x"), code, config=CFG)
    assert "SD_TEST_TOKEN" not in (v.actual or "") and "hunter2" not in (v.actual or "")
    assert (v.actual or "").strip().endswith("True")


def test_fresh_workdir_each_run() -> None:
    """A file written by one program is gone for the next; the work dir is empty at start."""
    code = "import os\nprint(len(os.listdir('.')))\nopen('left.txt', 'w').write('x')\n"
    for _ in range(3):
        assert grade(_stdio("0"), code, config=CFG).status == "accepted"


def test_network_blocked_when_namespaced() -> None:
    """Connecting anywhere fails inside the network namespace."""
    v = grade(_stdio("1"), "print(1)", config=CFG)
    if "netns" not in v.isolation:
        pytest.skip("no network namespace on this kernel")
    code = (
        "import socket\n"
        "try:\n    socket.create_connection(('192.0.2.1', 80), timeout=0.3); print('open')\n"
        "except OSError:\n    print('blocked')\n"
    )
    assert grade(_stdio("blocked"), code, config=CFG).status == "accepted"


def test_require_isolation_refuses() -> None:
    """A required isolation feature that is missing raises instead of silently degrading."""
    with pytest.raises(SandboxError):
        Worker(SandboxConfig(require_isolation=("no-such-feature",)), 0)


def test_fallback_without_namespaces_still_cleans_up() -> None:
    """namespaces=False degrades (and says so) but still kills what a program leaves behind."""
    # Without namespaces an unprivileged job shares the supervisor's uid, so RLIMIT_NPROC
    # counts every process and thread of that uid (docs/sandbox.md, non-guarantees): pools
    # left by earlier tests would use up the job's 32 and fail its fork.
    shutdown_pools()
    cfg = SandboxConfig(namespaces=False, timeout_s=2.0)
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n    os.setsid()\n    time.sleep(1000)\n"
        "print(1)\n"
    )
    v = grade(_stdio("1"), code, config=cfg)
    assert v.status == "accepted" and "netns" not in v.isolation, v.message
    stats = get_pool(cfg).stats()
    assert all(s["children"] == [] and s["tmp_entries"] == [] for s in stats)
    v = grade(_stdio("1"), "while True:\n    pass\n", config=cfg)
    assert v.status == "time_limit"


@pytest.mark.slow
def test_no_leaks_after_1000_runs() -> None:
    """1,000 ordinary runs leave no process, file descriptor or temporary directory behind."""
    pool = get_pool(CFG)
    pool.start()
    children = host_children()
    fds = fd_table()
    tmp = {n for n in os.listdir("/tmp") if n.startswith("sdjob-")}
    problems = [
        (Problem("a", "", [TestCase("assert", "assert add(2, 3) == 5")], entry_point="add"),
         "def add(a, b):\n    return a + b\n"),
        (Problem("c", "", [TestCase("call", "2\n3", "5")], entry_point="add"),
         "class Solution:\n    def add(self, a, b):\n        return a + b\n"),
        (Problem("s", "", [TestCase("stdio", "2 3\n", "5\n")]),
         "a, b = map(int, input().split())\nprint(a + b)\nopen('f', 'w').write('x')\n"),
        (Problem("w", "", [TestCase("stdio", "2 3\n", "6\n")]), "print(5)\n"),
    ]
    items = [problems[i % len(problems)] for i in range(1000)]
    verdicts = grade_many(items, config=CFG)
    want = ["accepted", "accepted", "accepted", "wrong_answer"]
    assert [v.status for v in verdicts] == [want[i % 4] for i in range(1000)]
    assert host_children() == children
    assert fd_table() == fds
    assert {n for n in os.listdir("/tmp") if n.startswith("sdjob-")} == tmp
    for stat in pool.stats():
        assert stat["tmp_entries"] == [] and stat["children"] == []


def test_run_function_returns_plain_values() -> None:
    """run_function(): one call per input, values with their types, failures as statuses."""
    from selfdistill.execution import run_function

    code = "def f(a, b=1):\n    return (a * b, {a}, [a] * b)\n"
    out = run_function(code, "f", [(2,), (3, 2), ("x", 2), ([1],)], config=CFG)
    assert [r.status for r in out] == ["ok", "ok", "ok", "runtime_error"]
    assert out[0].value == (2, {2}, [2]) and type(out[0].value) is tuple
    assert out[2].value == ("xx", {"x"}, ["x", "x"])
    assert "unhashable" in out[3].message
    slow = run_function("def f(x):\n    while True:\n        pass\n", "f", [(1,)], config=CFG.with_(timeout_s=1.0))
    assert slow[0].status == "time_limit" and slow[0].value is None
    big = run_function("def f(n):\n    return 7 ** n\n", "f", [(20000,)], config=CFG)
    assert big[0].ok and big[0].value == 7 ** 20000
    with pytest.raises(ValueError):
        run_function("def f(x):\n    return x\n", "f", [(object(),)], config=CFG)


@given(st.dictionaries(st.sampled_from(["report", "judge", "stdout", "stderr", "signal", "exit_code",
                                        "timed_out", "output_limit", "memory_limit", "cpu_s",
                                        "protocol_violation", "duration_s"]),
                       st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                                    lambda x: st.lists(x, max_size=3)
                                    | st.dictionaries(st.sampled_from(["ok", "phase", "exc", "tb", "value",
                                                                       "result", "got", "assert"]), x,
                                                      max_size=4), max_leaves=8)))
@settings(max_examples=300, deadline=None)
def test_malformed_outcomes_are_verdicts(raw: dict) -> None:
    """Whatever a worker's outcome holds, judging it yields a status, never an exception."""
    from selfdistill.execution.graders import judge_outcome
    from selfdistill.execution.verdict import STATUSES

    for test in (TestCase("assert", "assert f(1) == 1"), TestCase("call", "1", "1"), TestCase("stdio", "", "1")):
        status, message, _ = judge_outcome(Problem("p", "", [test], entry_point="f"), test, raw, CFG)
        assert status in STATUSES and isinstance(message, str)


def test_uids_do_not_collide_between_processes() -> None:
    """Two graders in different processes on one host never share a sandbox uid (as root,
    from uid_base up; unprivileged, the user's subordinate uids)."""
    import subprocess
    import sys

    from selfdistill.execution.host import subordinate_ids

    if os.geteuid() != 0 and not isinstance(subordinate_ids(), dict):
        pytest.skip(f"no uids of their own for jobs here: {subordinate_ids()}")

    pool = get_pool(CFG, 2)
    pool.start()
    mine = {int(p[3:]) for p in pool.isolation().split("+") if p.startswith("uid")}
    mine |= {uid for uid, _ in pool._uid_slots}
    code = ("from selfdistill.execution import SandboxConfig, get_pool\n"
            "p = get_pool(SandboxConfig(timeout_s=3.0), 2)\nprint(sorted(u for u, _ in p._uid_slots))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ}, check=True).stdout
    theirs = set(json.loads(out))
    assert len(theirs) == 2 and not (theirs & mine)


def test_dead_worker_is_replaced_without_failing_jobs() -> None:
    """Killing a worker's zygote or judge mid-batch costs a retry, not a verdict."""
    import threading
    import time

    pool = get_pool(CFG, 2)
    pool.start()
    p = Problem("a", "", [TestCase("assert", "assert add(2, 3) == 5")], entry_point="add")
    code = "import time\ntime.sleep(0.05)\ndef add(a, b):\n    return a + b\n"

    def killer() -> None:
        time.sleep(0.3)
        w = pool._workers[0]
        if w is not None:
            w.zygote.proc.kill()
        time.sleep(0.3)
        w = pool._workers[1]
        if w is not None and w.judge is not None:
            w.judge.proc.kill()

    t = threading.Thread(target=killer)
    t.start()
    verdicts = grade_many([(p, code)] * 40, config=CFG)
    t.join()
    assert [v.status for v in verdicts] == ["accepted"] * 40, [v.message for v in verdicts if not v.passed]


def test_grade_many_keeps_to_its_workers() -> None:
    """grade_many(workers=1) runs on one worker even where the pool has more slots (it grew
    them to the number of cores before), and run_function the same: `workers` is the
    caller's concurrency, which benchmarks compare at."""
    from selfdistill.execution import run_function

    cfg = CFG.with_(tmpfs_mb=34)  # a pool of its own
    pool = get_pool(cfg, 2)
    items = [(_stdio("1"), "print(1)")] * 6
    assert [v.status for v in grade_many(items, config=cfg, workers=1)] == ["accepted"] * 6
    assert [r.value for r in run_function("def f(x):\n    return x\n", "f", [(1,), (2,)],
                                          config=cfg, workers=1)] == [1, 2]
    assert pool._workers[0] is not None and pool._workers[1] is None
