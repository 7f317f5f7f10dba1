"""Which system calls do honest jobs make under the sandbox's filter? (issue 30, the allow-list)

Runs honest workloads through the real sandbox under `strace -f` and counts the calls each job
process (and everything it started) makes after its seccomp filter is installed: the 164
HumanEval canonical solutions and 164 wrong variants (benchmarks/bench_sandbox.py's workload),
the 195 LiveCodeBench answers of ../shared/fixtures (if present), the honest programs of the
hostile corpora, and STDLIB_PROGRAM, a program that uses the standard library and the system's
tools broadly. Prints every call with the number of job processes that made it, and which of
them the filter does not allow (_zygote's allow-list): there must be none.

Needs root and strace (Debian: apt-get install strace). One worker, so one job at a time.
Usage: python scripts/syscall_survey.py [--limit N] [--log FILE]
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# An honest program that leans on the standard library and on tools under /usr (also an
# honest case of tests/hostile/corpus30.py).
STDLIB_PROGRAM = r'''
import asyncio, bz2, concurrent.futures, datetime, decimal, fcntl, gzip, hashlib, lzma, mmap
import multiprocessing, os, pickle, queue, random, resource, secrets, select, selectors, shutil
import signal, socket, sqlite3, subprocess, sys, tempfile, threading, time, zlib
d = tempfile.mkdtemp()
p = os.path.join(d, "a.txt")
with open(p, "w") as f:
    f.write("x" * 100000)
shutil.copy(p, p + ".b"); shutil.copyfile(p, p + ".c"); os.rename(p + ".c", p + ".d")
os.link(p, p + ".h"); os.symlink(p, p + ".s"); os.readlink(p + ".s"); os.chmod(p, 0o600)
os.utime(p); os.truncate(p + ".b", 10); list(os.walk(d)); os.lstat(p + ".s"); os.access(p, os.R_OK)
with open(p, "r+b") as f:
    fcntl.flock(f, fcntl.LOCK_EX); fcntl.lockf(f, fcntl.LOCK_UN); os.fsync(f.fileno())
    m = mmap.mmap(f.fileno(), 0); m[0:1] = b"y"; m.flush(); m.close()
    os.pread(f.fileno(), 10, 5); os.pwrite(f.fileno(), b"z", 3); os.posix_fadvise(f.fileno(), 0, 0, 0)
db = sqlite3.connect(os.path.join(d, "db")); db.execute("create table t(x)"); db.commit(); db.close()
for mod in (gzip, bz2, lzma, zlib):
    assert mod.decompress(mod.compress(b"abc" * 100)) == b"abc" * 100
shutil.rmtree(d)
out = subprocess.run(["sh", "-c", "printf 'b\\na\\n' | sort | head -1"], capture_output=True, text=True)
assert out.stdout == "a\n", out
subprocess.run(["ls", "-la", "/usr"], capture_output=True, check=True)
subprocess.run([sys.executable, "-c", "import json; print(1)"], capture_output=True, check=True)
for method in ("fork",):  # spawn re-imports __main__, which is not the candidate's file
    with multiprocessing.get_context(method).Pool(2) as pool:
        assert pool.map(abs, [-1, -2]) == [1, 2]
with concurrent.futures.ProcessPoolExecutor(2) as ex:
    assert list(ex.map(abs, [-3])) == [3]
q = queue.Queue(); ev = threading.Event()
t = threading.Thread(target=lambda: (q.put(1), ev.set())); t.start(); t.join(); ev.wait(1)
got = []
signal.signal(signal.SIGUSR1, lambda *a: got.append(1)); os.kill(os.getpid(), signal.SIGUSR1)
signal.signal(signal.SIGALRM, lambda *a: got.append(2)); signal.setitimer(signal.ITIMER_REAL, 0.01)
time.sleep(0.05)
time.time(); time.monotonic(); time.perf_counter(); time.process_time(); time.localtime()
datetime.datetime.now(); resource.getrusage(resource.RUSAGE_SELF); os.times(); os.cpu_count()
os.sched_getaffinity(0); os.getloadavg(); os.urandom(8); secrets.token_hex(8)
random.SystemRandom().random(); hashlib.sha256(b"x").hexdigest(); decimal.Decimal(1) / 3
pickle.loads(pickle.dumps({1: [2.5]}))
a, b = socket.socketpair(); a.sendall(b"x"); assert b.recv(1) == b"x"
r, w = os.pipe(); os.write(w, b"1")
sel = selectors.DefaultSelector(); sel.register(r, selectors.EVENT_READ); sel.select(0); sel.close()
select.select([r], [], [], 0); po = select.poll(); po.register(r); po.poll(0)
try:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.close()
except OSError:
    pass
async def main():
    p = await asyncio.create_subprocess_exec("true"); await p.wait()
    rd, wr = await asyncio.open_connection(sock=a); wr.write(b"y"); await wr.drain()
    await asyncio.sleep(0)
asyncio.run(main())
sys.setrecursionlimit(10000); threading.stack_size(64 << 20)
def deep(n):
    return 0 if n == 0 else 1 + deep(n - 1)
t = threading.Thread(target=lambda: deep(5000)); t.start(); t.join()
os.getpid(); os.getppid(); os.getuid(); os.umask(0o22); os.getcwd(); os.uname(); sys.stdin.read()
print("ok" if got == [1, 2] else got)
'''


def _corpus(name: str, attr: str) -> list[dict]:
    spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "hostile" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return getattr(mod, attr)


def workload(limit: int | None) -> None:
    """Grade the honest programs (runs under strace)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_sandbox import build_workload, to_problem  # noqa: PLC0415

    from selfdistill.execution import SandboxConfig, grade_many  # noqa: PLC0415
    from selfdistill.problems.schema import Problem, TestCase  # noqa: PLC0415

    config = SandboxConfig(timeout_s=20.0, workers=1)  # strace slows every call down
    items = [(to_problem(p), p["prompt"] + c) for p, c, _ in build_workload()][:limit]
    fixtures = Path(os.environ.get("SELFDISTILL_SHARED_DIR") or REPO.parent / "shared")
    lcb = fixtures / "fixtures" / "lcb_runner_verdicts.jsonl"
    if lcb.exists():
        from selfdistill.evaluation.harness import Harness  # noqa: PLC0415
        from selfdistill.problems.registry import load_source  # noqa: PLC0415

        official = Harness("official")
        problems = {p.id: p for p in load_source(
            f"lcb:{fixtures / 'datasets' / 'lcb_before_2025-02_public.jsonl'}")}
        for line in lcb.read_text().splitlines()[:limit]:
            row = json.loads(line)
            p = problems[f"lcb/{row['question_id']}"]
            items.append((p, official.program(p, official.extract(row["raw_output"], p))))
    honest = [c for c in _corpus("corpus", "CASES") + _corpus("corpus30", "CASES")
              if c.get("status") == "accepted" and c.get("kind") == "stdio"
              and not re.search(r"\{[A-Z_]+\}", c["code"])]  # no host listeners here
    for c in honest:
        items.append((Problem(c["name"], "", [TestCase("stdio", c.get("stdin", ""), c.get("expected", ""))]),
                      c["code"]))
    items.append((Problem("stdlib", "", [TestCase("stdio", "input\n", "ok")]), STDLIB_PROGRAM))
    verdicts = grade_many(items, config=config, workers=1)
    bad = [(p.id, v.status, v.message) for (p, _), v in zip(items, verdicts, strict=True)
           if p.id in ("stdlib", *(c["name"] for c in honest)) and not v.passed]
    print(json.dumps({"programs": len(items), "honest_failed": bad}), file=sys.stderr)


_LINE = re.compile(r"^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$")


def analyse(log: str) -> collections.Counter:
    """Calls made by filtered processes: from a process's seccomp install on, and all of its
    descendants' (strace -f prints `PID name(args) = ret`, split calls as unfinished/resumed)."""
    filtered: set[str] = set()
    pending: dict[str, str] = {}
    per_call: dict[str, set[str]] = collections.defaultdict(set)
    with open(log, errors="replace") as fh:
        for line in fh:
            m = _LINE.match(line)
            if not m:
                continue
            pid, resumed, name, rest = m.group(1), m.group(2), m.group(3), m.group(4)
            call = resumed or name
            if name and rest.endswith("<unfinished ...>"):
                pending[pid] = call
            if pid in filtered and name:
                per_call[call].add(pid)
            if name == "prctl" and rest.startswith("PR_SET_SECCOMP") and pid not in filtered:
                filtered.add(pid)
            if call in ("clone", "clone3", "fork", "vfork") and pid in filtered:
                ret = re.search(r"= (\d+)", rest)
                if ret and not rest.endswith("<unfinished ...>"):
                    filtered.add(ret.group(1))
    return collections.Counter({c: len(p) for c, p in per_call.items()})


def main() -> int:
    """Run the workload under strace and print the calls the filtered job processes made."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="at most N programs per source")
    ap.add_argument("--log", default=None, help="keep strace's log here")
    ap.add_argument("--workload", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.workload:
        workload(args.limit)
        return 0
    if os.geteuid() != 0 or shutil.which("strace") is None:
        print("error: needs root and strace (apt-get install strace)", file=sys.stderr)
        return 1
    log = args.log or tempfile.mktemp(prefix="sd-strace-")
    cmd = [sys.executable, __file__, "--workload"] + (["--limit", str(args.limit)] if args.limit else [])
    subprocess.run(["strace", "-f", "-qq", "-s", "0", "-o", log, *cmd], check=True)
    counts = analyse(log)
    sys.path.insert(0, str(REPO / "src" / "selfdistill" / "execution"))
    import pyseccomp as sc  # noqa: PLC0415

    arch = sc.system_arch()
    known = set()
    for i in range(1024):
        try:
            known.add(sc.resolve_syscall(arch, i).decode())
        except ValueError:
            pass
    spec = importlib.util.spec_from_file_location("_sd_zygote", REPO / "src/selfdistill/execution/_zygote.py")
    zyg = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(zyg)  # type: ignore[union-attr]
    allowed = set(getattr(zyg, "_ALLOW", ()))
    print(f"{len(counts)} distinct system calls made by filtered job processes "
          f"(of {len(known)} this libseccomp knows for {arch}); calls: processes that made them")
    for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        mark = "" if not allowed or name in allowed else "   <- NOT ALLOWED"
        print(f"  {name:24s} {n}{mark}")
    if allowed:
        # clone3 is refused on purpose (ENOSYS: its flags are out of the filter's reach) and
        # the C library falls back to clone.
        print(f"allow-list: {len(allowed)} calls; made but not allowed: "
              f"{sorted(set(counts) - allowed - {'clone3'})} (clone3: ENOSYS on purpose)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
