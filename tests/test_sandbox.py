"""Sandbox isolation and resource hygiene (fast checks plus the 1,000-run leak test)."""

from __future__ import annotations

import os

import pytest
from procinfo import fd_table, host_children

from selfdistill.execution import SandboxConfig, SandboxError, get_pool, grade, grade_many
from selfdistill.execution.sandbox import Worker
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
    cfg = SandboxConfig(namespaces=False, timeout_s=2.0)
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n    os.setsid()\n    time.sleep(1000)\n"
        "print(1)\n"
    )
    v = grade(_stdio("1"), code, config=cfg)
    assert v.status == "accepted" and "netns" not in v.isolation
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
