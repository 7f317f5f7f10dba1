"""The three graders (assert-program, call-based, stdin/stdout) behind grade() and grade_many()."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from selfdistill.execution import _wire
from selfdistill.execution.compare import compare_stdout, values_equal
from selfdistill.execution.config import SandboxConfig
from selfdistill.execution.sandbox import SandboxError, get_pool, usable_cores
from selfdistill.execution.verdict import Verdict
from selfdistill.problems.schema import Problem, TestCase

_DEFAULT = SandboxConfig()


def truncate(text: str | None, limit: int) -> str | None:
    """Cut text to about `limit` characters, marking the cut."""
    if text is None or len(text) <= limit:
        return text
    half = max(1, limit // 2)
    return f"{text[:half]}...[{len(text) - 2 * half} chars cut]...{text[-half:]}"


def encodable(text: str | None) -> str | None:
    """text with anything UTF-8 cannot encode (lone surrogates) escaped as \\udXXX."""
    if text is None or text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _encodable_verdict(v: Verdict) -> Verdict:
    """Every text field of v made encodable (candidate text may carry lone surrogates)."""
    for name in ("failing_input", "expected", "actual", "stderr_tail", "message", "isolation"):
        value = getattr(v, name)
        if isinstance(value, str):
            setattr(v, name, encodable(value))
    v.failures = [{k: encodable(x) if isinstance(x, str) else x for k, x in f.items()}
                  for f in v.failures]
    return v


def _last_line(tb: str) -> str:
    lines = [ln for ln in tb.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""


def _job(problem: Problem, test: TestCase, code: str, config: SandboxConfig) -> dict[str, Any]:
    """The job sent into the sandbox: never a test program or an expected value."""
    job: dict[str, Any] = {"mode": test.kind, "code": code, "limits": config.job_limits()}
    if test.kind == "assert":
        pass  # the test program goes to the judge only
    elif test.kind == "call":
        job["func"] = problem.entry_point or problem.metadata.get("func_name") or ""
        job["args"] = test.input
    elif test.kind == "stdio":
        job["stdin"] = test.input
    else:
        raise ValueError(f"unknown test kind {test.kind!r}")
    return job


PROTOCOL_VIOLATION = "sandbox protocol violation"


def _opaque(handle: int) -> _wire.Ref:
    """A returned object that is not plain data: it equals nothing."""
    return _wire.Ref(handle, "object")


def _str(x: Any, default: str = "") -> str:
    return x if isinstance(x, str) else default


def _limits_verdict(raw: dict[str, Any], config: SandboxConfig) -> tuple[str, str] | None:
    """Limits the worker observed (they decide before anything the candidate reported)."""
    if raw.get("memory_limit"):  # first: an OOM kill can also stall the job until the time-out
        return "memory_limit", f"Memory limit exceeded ({config.memory_mb} MB, whole job)"
    if raw.get("timed_out"):
        return "time_limit", f"Time limit exceeded ({config.timeout_s:g} s)"
    cpu_limit = config.job_limits()["cpu_s"]
    sig = raw.get("signal")
    # SIGXCPU comes from the soft CPU limit, SIGKILL after the hard one (soft + 1 s).
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and float(raw.get("cpu_s") or 0.0) >= cpu_limit - 0.05):
        return "time_limit", f"CPU time limit exceeded ({cpu_limit} s)"
    if raw.get("output_limit"):
        return "runtime_error", f"Output limit exceeded ({config.max_output_bytes} bytes)"
    return None


def _candidate_verdict(test: TestCase, raw: dict[str, Any],
                       config: SandboxConfig) -> tuple[str, str, str | None] | None:
    """The verdict from how the candidate's process ended, when that decides (else None)."""
    rep = raw.get("report")
    sig = raw.get("signal")
    stderr = _str(raw.get("stderr"))
    if rep is not None and rep.get("phase") == "compile":
        return "syntax_error", _last_line(_str(rep.get("tb"))) or "SyntaxError", None
    if rep is not None and not rep.get("ok"):
        exc, tb = _str(rep.get("exc")), _str(rep.get("tb"))
        if exc == "MemoryError":
            return "memory_limit", f"Memory limit exceeded ({config.memory_mb} MB)", None
        return "runtime_error", _last_line(tb) or exc, None
    if rep is None:
        if "MemoryError" in stderr or "Cannot allocate memory" in stderr:
            return "memory_limit", f"Memory limit exceeded ({config.memory_mb} MB)", None
        if sig is not None:
            try:
                name = signal.Signals(sig).name
            except ValueError:
                name = str(sig)
            if sig == signal.SIGXFSZ:
                return "runtime_error", f"File size limit exceeded ({config.file_size_mb} MB)", None
            return "runtime_error", f"Killed by signal {name}", None
        if not (test.kind == "stdio" and raw.get("exit_code") == 0):
            return ("runtime_error",
                    f"Program exited (code {raw.get('exit_code')}) before the tests finished", None)
    return None


def _judge_assert(raw: dict[str, Any], config: SandboxConfig) -> tuple[str, str, str | None]:
    """Verdict of an assert-style test from the trusted judge's report."""
    rep = raw.get("judge")
    if not isinstance(rep, dict):
        return "runtime_error", "sandbox error: no report from the judge", None
    result = rep.get("result")
    if result == "ok":
        return "accepted", "", None
    if result == "assert":
        line = _str(rep.get("assert"))
        detail = f"{_str(rep.get('exc'))}: {_str(rep.get('message'))}".strip(": ")
        msg = f"`{line}` failed" if line else "an assertion failed"
        if detail and detail != "AssertionError":
            msg += f" ({detail})"
        got = rep.get("got") if isinstance(rep.get("got"), str) else None
        if got is not None:
            msg += f": got {truncate(got, 300)}"
        return "wrong_answer", msg, got
    if result == "candidate_error":
        exc, text = _str(rep.get("exc")), _str(rep.get("message"))
        if exc == "MemoryError":
            return "memory_limit", f"Memory limit exceeded ({config.memory_mb} MB)", None
        if exc == "RecursionError" or not text:
            return "runtime_error", f"{exc}: {text}".rstrip(": "), None
        return "runtime_error", f"{exc}: {text}" if not text.startswith(exc) else text, None
    if result == "test_error":
        return "runtime_error", f"{_str(rep.get('exc'))}: {_str(rep.get('message'))}".rstrip(": "), None
    if result == "protocol":
        return "runtime_error", f"{PROTOCOL_VIOLATION}: {_str(rep.get('message'))}", None
    if result == "gone":
        return "runtime_error", "Program exited before the tests finished", None
    if result == "timeout":
        return "time_limit", f"Time limit exceeded ({config.timeout_s:g} s, in the test program)", None
    return "runtime_error", f"sandbox error: {_str(rep.get('message'), 'judge failed')}", None


def _judge(problem: Problem, test: TestCase, raw: dict[str, Any],
           config: SandboxConfig) -> tuple[str, str, str | None]:
    """(status, message, actual output) of one test from the worker's raw outcome."""
    if "infra_error" in raw:
        return "runtime_error", f"sandbox error: {raw['infra_error']}", None
    limit = _limits_verdict(raw, config)
    if limit is not None:
        return limit[0], limit[1], None
    if raw.get("protocol_violation"):
        return "runtime_error", f"{PROTOCOL_VIOLATION}: {_str(raw['protocol_violation'])}", None
    tol = problem.float_tolerance
    if test.kind == "assert":
        rep = raw.get("judge")
        if isinstance(rep, dict) and rep.get("result") == "gone":
            # The candidate's process ended early: its own end decides (crash, exit, syntax).
            ended = _candidate_verdict(test, raw, config)
            if ended is not None:
                return ended
        if (raw.get("report") or {}).get("phase") == "compile":
            return _candidate_verdict(test, raw, config)  # type: ignore[return-value]
        return _judge_assert(raw, config)
    ended = _candidate_verdict(test, raw, config)
    if ended is not None:
        return ended
    rep = raw.get("report")
    actual = _str(raw.get("stdout"))
    if test.kind == "call":
        try:
            value = _wire.loads(_str(rep.get("value") if rep else None, "null").encode(),
                                _opaque, max_bytes=config.job_limits()["max_message_bytes"])
        except _wire.WireError as e:
            return "runtime_error", f"{PROTOCOL_VIOLATION}: {e}", None
        try:
            expected = json.loads(test.output)
        except ValueError:
            expected = test.output
        try:
            shown = json.dumps(value)
        except (TypeError, ValueError):
            shown = repr(value)
        if values_equal(value, expected, tol):
            return "accepted", "", shown
        return "wrong_answer", "wrong return value", shown
    ok, line = compare_stdout(actual, test.output, tol)
    if ok:
        return "accepted", "", actual
    return "wrong_answer", f"first difference on output line {line + 1}" if line is not None else "", actual


def _duration(raw: dict[str, Any]) -> float:
    try:
        return float(raw.get("duration_s") or 0.0)
    except (TypeError, ValueError):
        return 0.0


def judge_outcome(problem: Problem, test: TestCase, raw: dict[str, Any],
                  config: SandboxConfig) -> tuple[str, str, str | None]:
    """_judge(), where any malformed outcome becomes a runtime_error verdict, never an exception."""
    try:
        return _judge(problem, test, raw, config)
    except Exception as e:  # noqa: BLE001 - a malformed outcome is a verdict, never a crash
        return "runtime_error", f"{PROTOCOL_VIOLATION}: {type(e).__name__}", None


# Failures after which collect-mode grading stops. An error decides the reference feedback
# alone (it shows the first one): later tests cannot change it. A time-out is shown unless a
# later test raises; running on after one would cost a time limit per slow test (the
# reference runs its tests in parallel), so grading stops there too.
_STOP_STATUSES = ("runtime_error", "memory_limit", "syntax_error", "time_limit")


def grade(problem: Problem, code: str | None, *, config: SandboxConfig | None = None,
          stop_at_first_failure: bool = True, collect: int = 0) -> Verdict:
    """Run code against every test of problem in the sandbox and return its Verdict.

    collect > 0 (the SDPO reference's feedback): run the tests in order until the first
    error or time-out (runtime error, memory limit, syntax error, time limit; an assert
    test's failure counts as an error), keeping in Verdict.failures the first failure of
    each status plus the `collect` shortest wrong answers (input + output length). Otherwise the first
    failure stops grading (stop_at_first_failure) or up to config.max_failures are kept.
    """
    return _grade(problem, code, config or _DEFAULT, stop_at_first_failure, collect, None)


def _grade(problem: Problem, code: str | None, config: SandboxConfig, stop_at_first_failure: bool,
           collect: int, slots: int | None) -> Verdict:
    """grade() on at most the pool's first `slots` workers (grade_many's `workers`)."""
    total = len(problem.tests)
    if code is None or not code.strip():
        return Verdict(passed=False, status="no_code", tests_passed=0, tests_total=total,
                       message="No code found in the answer")
    pool = get_pool(config, slots)
    passed = 0
    duration = 0.0
    first: Verdict | None = None
    isolation = ""
    base = config
    for i, test in enumerate(problem.tests):
        # a test may carry its own time limit (EvalPlus: scaled by the reference's time)
        config = base if test.timeout_s is None else replace(base, timeout_s=test.timeout_s)
        try:
            raw, isolation = pool.run(_job(problem, test, code, config),
                                      test.input if test.kind == "assert" else None,
                                      problem.entry_point or "", slots)
        except SandboxError as e:
            raw = {"infra_error": str(e)}
        duration += _duration(raw)
        status, message, actual = judge_outcome(problem, test, raw, config)
        if status == "accepted":
            passed += 1
            continue
        if status == "syntax_error":
            # The code does not compile: no test can pass, so do not run the rest.
            if first is None:
                first = _fail(problem, test, i, status, message, actual, raw, config)
                first.failures.append({"index": i, "status": status, "message": message,
                                       "input": None, "expected": None, "actual": None})
            break
        if first is None:
            first = _fail(problem, test, i, status, message, actual, raw, config)
        n = config.max_field_chars
        record = {"index": i, "status": status, "message": message,
                  "input": truncate(test.input, n),
                  "expected": None if test.kind == "assert" else truncate(test.output, n),
                  "actual": truncate(actual, n)}
        if collect > 0:
            record["size"] = len(test.input or "") + len(actual or "")
            _keep_failure(first.failures, record, collect)
            if status in _STOP_STATUSES or test.kind == "assert":
                break
            continue
        if len(first.failures) < config.max_failures:
            first.failures.append(record)
        if stop_at_first_failure:
            break
    if first is None:
        return Verdict(passed=passed == total, status="accepted", tests_passed=passed,
                       tests_total=total, duration_s=duration, isolation=isolation,
                       timeout_s=config.timeout_s)
    first.tests_passed = passed
    first.duration_s = duration
    first.isolation = isolation
    return _encodable_verdict(first)


def _keep_failure(kept: list[dict[str, Any]], record: dict[str, Any], n_wrong: int) -> None:
    """Add record to kept: the first failure of each status, the n_wrong shortest wrong answers."""
    if record["status"] != "wrong_answer" or record["expected"] is None:
        if all(k["status"] != record["status"] for k in kept):
            kept.append(record)
        return
    kept.append(record)
    wrong = [k for k in kept if k["status"] == "wrong_answer" and k["expected"] is not None]
    if len(wrong) > n_wrong:  # drop the longest (the later one on a tie)
        kept.remove(max(wrong, key=lambda k: (k["size"], k["index"])))


def _fail(problem: Problem, test: TestCase, index: int, status: str, message: str,
          actual: str | None, raw: dict[str, Any], config: SandboxConfig) -> Verdict:
    n = config.max_field_chars
    stderr = _str(raw.get("stderr"))
    judge = raw.get("judge") if isinstance(raw.get("judge"), dict) else {}
    if judge.get("result") in ("assert", "candidate_error", "test_error") and isinstance(judge.get("tb"), str):
        stderr = judge["tb"]  # the traceback of the failing test (from the trusted side)
    elif not stderr and isinstance(raw.get("report"), dict) and isinstance(raw["report"].get("tb"), str):
        stderr = raw["report"]["tb"]
    expected = None if test.kind == "assert" else test.output
    failing_input = test.input
    return Verdict(
        passed=False, status=status, tests_passed=0, tests_total=len(problem.tests),
        failing_input=truncate(failing_input, n), expected=truncate(expected, n),
        actual=truncate(actual, n), stderr_tail=stderr[-config.stderr_tail_chars:],
        failing_test_index=index, message=message, timeout_s=config.timeout_s,
    )


def grade_many(items: list[tuple[Problem, str | None]], *, config: SandboxConfig | None = None,
               workers: int | None = None, stop_at_first_failure: bool = True,
               progress: bool = False, collect: int = 0) -> list[Verdict]:
    """Grade many (problem, code) pairs concurrently, one worker per usable core by default
    (collect: as in grade)."""
    config = config or _DEFAULT
    if not items:
        return []
    size = max(1, min(workers or config.workers or usable_cores(), len(items)))
    pool = get_pool(config, size)  # start (or grow) the pool once, before threads race for it
    threads = min(len(items), size * pool.depth)  # keep each worker's queue fed
    done = [0]
    lock = threading.Lock()
    t0 = time.monotonic()

    def one(item: tuple[Problem, str | None]) -> Verdict:
        v = _grade(item[0], item[1], config, stop_at_first_failure, collect, size)
        if progress:
            with lock:
                done[0] += 1
                if done[0] % 50 == 0 or done[0] == len(items):
                    rate = done[0] / max(1e-9, time.monotonic() - t0)
                    print(f"graded {done[0]}/{len(items)} ({rate:.1f}/s)", file=sys.stderr)
        return v

    if threads == 1:
        return [one(it) for it in items]
    with ThreadPoolExecutor(max_workers=threads) as ex:
        return list(ex.map(one, items))
