"""Issue 30: the judge's clock, the output limit after exit, candidate exceptions, encodable
verdicts, bounded decoding and workers that outlive grade_many's threads."""

from __future__ import annotations

import json
import threading
import time

import pytest

from selfdistill.execution import SandboxConfig, _wire, format_feedback, get_pool, grade, grade_many
from selfdistill.problems.schema import Problem, TestCase

CFG = SandboxConfig(timeout_s=3.0, memory_mb=512, tmpfs_mb=32)
ADD = "def add(a, b):\n    return a + b\n"


def _assert(test: str) -> Problem:
    return Problem("a", "", [TestCase("assert", test)], entry_point="add")


def _stdio(inp: str, out: str) -> Problem:
    return Problem("s", "", [TestCase("stdio", inp, out)])


def _call(args: str, out: str) -> Problem:
    return Problem("c", "", [TestCase("call", args, out)], entry_point="add")


def test_honest_assert_job_queued_behind_slow_ones_keeps_its_verdict() -> None:
    """The judge's clock starts at the candidate's first message, not when the check is queued:
    an honest job that needs half its limit passes behind a job that runs out the clock."""
    cfg = CFG.with_(workers=1)
    slow = (_stdio("", "1"), "while True:\n    pass\n")
    honest = (_assert("assert add(2, 3) == 5"), "import time\ntime.sleep(1.5)\n" + ADD)
    verdicts = grade_many([slow, honest, slow, honest], config=cfg, workers=1)
    assert [v.status for v in verdicts] == ["time_limit", "accepted"] * 2, [v.message for v in verdicts]


def test_honest_assert_job_queued_behind_a_hanging_assert_job_keeps_its_verdict() -> None:
    """The same behind a job whose candidate hangs inside a call (the judge itself waits on it
    until its deadline): the next check, queued in the same judge, gets its own full clock."""
    cfg = CFG.with_(workers=1)
    hang = (_assert("assert add(2, 3) == 5"), "def add(a, b):\n    while True:\n        pass\n")
    honest = (_assert("assert add(2, 3) == 5\nassert add(1, 1) == 2"),
              "import time\ntime.sleep(1.5)\n" + ADD)
    verdicts = grade_many([hang, honest, hang, honest], config=cfg, workers=1)
    assert [v.status for v in verdicts] == ["time_limit", "accepted"] * 2, [v.message for v in verdicts]


def test_output_past_the_limit_after_exit_is_judged() -> None:
    """A wrong tail written after the program exits (by a leftover process) still counts
    against the output limit: the verdict is not decided on a cut stdout."""
    cfg = CFG.with_(max_output_bytes=64 * 1024)
    # The stdout pipe made as large as the kernel allows (1 MiB, no privilege needed): the
    # whole output is in the pipe when the program exits.
    code = (
        "import fcntl, os\n"
        "fcntl.fcntl(1, 1031, 1 << 20)\n"
        "os.write(1, b'5\\n' + b' ' * 60000 + b'WRONG\\n' * 20000)\n"
        "os._exit(0)\n"
    )
    honest = "import fcntl, os\nfcntl.fcntl(1, 1031, 1 << 20)\nos.write(1, b'5\\n' + b' ' * 60000)\n"
    assert grade(_stdio("", "5"), honest, config=cfg).status == "accepted"
    for _ in range(3):
        v = grade(_stdio("", "5"), code, config=cfg)
        assert v.status == "runtime_error" and "Output limit" in v.message, v


# More programs of the same class: the wrong tail written by a child the program waited for,
# and by a leftover child the program did not wait for (which the template kills), each with
# everything in the (enlarged) pipe before the job ends.
_TAIL_BY_CHILD = (
    "import fcntl, os\n"
    "fcntl.fcntl(1, 1031, 1 << 20)\n"
    "os.write(1, b'5\\n' + b' ' * 60000)\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.write(1, b'WRONG\\n' * 20000)\n"
    "    os._exit(0)\n"
    "os.waitpid(pid, 0)\n"
)
_TAIL_BY_LEFTOVER = (
    "import fcntl, os, time\n"
    "fcntl.fcntl(1, 1031, 1 << 20)\n"
    "os.write(1, b'5\\n' + b' ' * 60000)\n"
    "r, w = os.pipe()\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    os.write(1, b'WRONG\\n' * 20000)\n"
    "    os.write(w, b'x')\n"
    "    time.sleep(30)\n"
    "    os._exit(0)\n"
    "os.read(r, 1)\n"
)


@pytest.mark.parametrize("code", [_TAIL_BY_CHILD, _TAIL_BY_LEFTOVER], ids=["child", "leftover"])
def test_output_past_the_limit_from_other_processes_is_judged(code: str) -> None:
    """Output over the limit counts whoever wrote it and whenever it is read."""
    cfg = CFG.with_(max_output_bytes=64 * 1024)
    for _ in range(2):
        v = grade(_stdio("", "5"), code, config=cfg)
        assert v.status == "runtime_error" and "Output limit" in v.message, v


@pytest.mark.parametrize("test", [
    "assert all(map(lambda x: add(x, 1) == x + 1, range(3)))",
    "assert list(map(add, [1, 2], [3, 4])) == []",
    "assert list(zip(range(2), map(add, [1, 2], [3, 4]))) == []",
    "assert next(iter(map(add, [1], [2])), 'done') == 'done'",
    "assert min(map(add, [1], [2]), default=7) == 7",
])
def test_candidate_stopiteration_is_not_the_tests_control_flow(test: str) -> None:
    """A StopIteration (or any exception) raised by the candidate is its runtime error; it
    never ends the test's own iteration so that a check passes."""
    for exc in ("StopIteration", "StopAsyncIteration", "KeyboardInterrupt", "GeneratorExit",
                "SystemExit"):
        code = f"def add(a, b):\n    raise {exc}()\n"
        v = grade(_assert(test), code, config=CFG)
        assert v.status == "runtime_error" and not v.passed, (exc, v)
    assert grade(_assert(test.replace("== []", "!= []").replace("== 'done'", "!= 'done'")
                         .replace("== 7", "!= 7")), ADD, config=CFG).status == "accepted"


def test_caught_candidate_errors_still_work_for_honest_tests() -> None:
    """A test that checks the candidate raises a built-in error still sees that error."""
    test = ("try:\n    add(1, None)\n    raise AssertionError('no error')\n"
            "except TypeError:\n    pass\n")
    assert grade(_assert(test), ADD, config=CFG).status == "accepted"


@pytest.mark.parametrize("kind", ["assert", "call", "stdio"])
def test_lone_surrogates_make_encodable_verdicts(kind: str) -> None:
    """Text a candidate produces that UTF-8 cannot encode never raises downstream."""
    raise_it = "def add(a, b):\n    raise ValueError('bad \\ud800 \\udcff ' + chr(0xdfff))\n"
    cases = {
        "assert": [(_assert("assert add(2, 3) == 5"), raise_it),
                   (_assert("assert add(2, 3) == 5"), "def add(a, b):\n    return '\\ud800'\n")],
        "call": [(_call("2\n3", "5"), raise_it),
                 (_call("2\n3", "5"), "def add(a, b):\n    return '\\ud800x'\n")],
        "stdio": [(_stdio("", "5"), "import sys\nsys.stderr.write('\\ud800')\nraise ValueError('\\udc80')\n"),
                  (_stdio("", "5"), "print('\\ud800')\n")],
    }[kind]
    for problem, code in cases:
        v = grade(problem, code, config=CFG)
        assert not v.passed
        json.dumps(v.to_dict(), ensure_ascii=False).encode("utf-8")
        format_feedback(v).encode("utf-8")
        v.message.encode("utf-8")
        v.stderr_tail.encode("utf-8")


def test_colliding_hashes_do_not_freeze_the_trusted_side() -> None:
    """A forged set of ints that all hash alike is refused within the decode budget instead of
    taking quadratic time (with the GIL held) to rebuild."""
    p = (1 << 61) - 1
    forged = {"$s": [k * p for k in range(1, 200_001)]}
    t0 = time.monotonic()
    with pytest.raises(_wire.WireError):
        _wire.decode(forged, budget_s=0.5)
    assert time.monotonic() - t0 < 60  # a bound on a hang, not a timing: unbounded is hours
    assert _wire.decode({"$s": list(range(100_000))}) == set(range(100_000))
    assert _wire.decode({"$d": [[k, k] for k in range(1000)]}) == {k: k for k in range(1000)}


FORGE_COLLIDING_REPLY = r'''
import json, os, struct
fd = 4
def send(obj):
    data = json.dumps(obj).encode()
    os.write(fd, struct.pack(">I", len(data)) + data)
def recv():
    n = struct.unpack(">I", os.read(fd, 4))[0]
    buf = b""
    while len(buf) < n:
        buf += os.read(fd, n - len(buf))
    return json.loads(buf)
send({"ready": True})
P = (1 << 61) - 1
while True:
    req = recv()
    if req.get("op") == "bye":
        break
    if req.get("op") == "name":
        send({"ok": {"$r": 0}})
    else:
        send({"ok": {"$s": [k * P for k in range(1, 300001)]}})
os._exit(0)
'''


def test_forged_colliding_reply_is_a_verdict_and_the_worker_stays() -> None:
    """The same attack through the judge's socket: a protocol violation for that job only, and
    an honest job right after it on the same worker passes."""
    cfg = CFG.with_(workers=1)
    verdicts = grade_many([(_assert("assert add(2, 3) == {5}"), FORGE_COLLIDING_REPLY),
                           (_assert("assert add(2, 3) == 5"), ADD)], config=cfg, workers=1)
    assert verdicts[0].status in ("runtime_error", "time_limit") and not verdicts[0].passed
    assert verdicts[1].status == "accepted"


def test_workers_outlive_the_threads_that_started_them() -> None:
    """Workers started inside grade_many's thread pool serve the next call (the parent-death
    signal must not follow the thread that happened to start them)."""
    cfg = CFG.with_(uid_base=CFG.uid_base + 500)  # a pool of its own, started by these threads
    items = [(_stdio("", "1"), "print(1)")] * 4
    assert all(v.passed for v in grade_many(items, config=cfg, workers=2))
    pool = get_pool(cfg)
    procs = [w.zygote.proc for w in pool._workers if w is not None]
    assert procs
    time.sleep(1.0)
    assert all(p.poll() is None for p in procs)
    t = threading.Thread(target=lambda: grade_many(items, config=cfg, workers=2))
    t.start()
    t.join()
    assert [w.zygote.proc for w in pool._workers if w is not None] == procs


def test_judge_frozen_by_the_test_program_is_restarted_not_the_worker(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A test program that spends the candidate's values in one long C call (a set of ints
    whose hashes all collide) freezes the judge with the GIL held: that job is a time-out,
    the judge is restarted, the worker stays, and the next honest job passes."""
    from selfdistill.execution import sandbox

    monkeypatch.setattr(sandbox, "JUDGE_GRACE_S", 1.0)
    cfg = CFG.with_(timeout_s=1.0, uid_base=CFG.uid_base + 600, workers=1)
    code = "def add(a, b):\n    P = (1 << 61) - 1\n    return [k * P for k in range(1, 120001)]\n"
    assert grade(_assert("assert add(2, 3) == 5"), ADD, config=cfg).passed
    worker = get_pool(cfg)._workers[0]
    zygote, judge = worker.zygote.proc.pid, worker.judge.proc.pid
    v = grade(_assert("assert set(add(2, 3)) == {5}"), code, config=cfg)
    assert v.status == "time_limit", v
    assert grade(_assert("assert add(2, 3) == 5"), ADD, config=cfg).passed
    worker = get_pool(cfg)._workers[0]
    assert worker.zygote.proc.pid == zygote and worker.judge.proc.pid != judge
