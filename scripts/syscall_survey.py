"""Which system calls do honest jobs make under the sandbox's filter? (issue 30, the allow-list)

Runs honest workloads through the real sandbox under `strace -f` and counts the calls each job
process (and everything it started) makes after its seccomp filter is installed: the 164
HumanEval canonical solutions and 164 wrong variants (benchmarks/bench_sandbox.py's workload),
the 195 LiveCodeBench answers of ../shared/fixtures (if present), the honest programs of the
hostile corpora (among them one that uses the standard library and the system's tools
broadly: corpus30's honest_stdlib_and_tools_under_the_filter). Prints every call with the
number of job processes that made it, and which of them the filter does not allow
(_zygote's allow-list): there must be none but the ones refused on purpose.

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
    verdicts = grade_many(items, config=config, workers=1)
    bad = [(p.id, v.status, v.message) for (p, _), v in zip(items, verdicts, strict=True)
           if p.id in {c["name"] for c in honest} and not v.passed]
    print(json.dumps({"programs": len(items), "honest_failed": bad}), file=sys.stderr)


_LINE = re.compile(r"^(\d+)\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()(.*)$")


def analyse(log: str) -> collections.Counter:
    """Calls made by filtered processes: from a process's seccomp install on, and all of its
    descendants' from their start (strace -f prints `PID name(args) = ret`, split calls as
    unfinished/resumed; a child may print before its parent's fork returns, hence 2 passes)."""
    lines = []
    installed: dict[str, int] = {}  # pid -> line of its own filter install
    forks: list[tuple[int, str, str]] = []  # (line, parent, child)
    with open(log, errors="replace") as fh:
        for i, line in enumerate(fh):
            m = _LINE.match(line)
            if not m:
                continue
            pid, resumed, name, rest = m.group(1), m.group(2), m.group(3), m.group(4)
            call = resumed or name
            lines.append((i, pid, name))
            if name == "prctl" and rest.startswith("PR_SET_SECCOMP") and pid not in installed:
                installed[pid] = i + 1  # the calls after the install
            if call in ("clone", "clone3", "fork", "vfork") and not rest.endswith("<unfinished ...>"):
                # the child's pid as strace numbers processes (the job's is its namespace's)
                ret = re.search(r"= \d+ /\* (\d+) in strace's PID NS \*/", rest)
                if ret:
                    forks.append((i, pid, ret.group(1)))
    since = dict(installed)  # pid -> first line whose calls count
    changed = True
    while changed:
        changed = False
        for i, parent, child in forks:
            if parent in since and since[parent] <= i and since.get(child, 1 << 62) > 0:
                since[child] = 0  # born under the filter: everything it does counts
                changed = True
    per_call: dict[str, set[str]] = collections.defaultdict(set)
    for i, pid, name in lines:
        if name and pid in since and i >= since[pid]:
            per_call[name].add(pid)
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
    subprocess.run(["strace", "-f", "-qq", "-s", "0", "--pidns-translation", "-o", log, *cmd], check=True)
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
    allowed, denied = set(getattr(zyg, "_ALLOW", ())), set(getattr(zyg, "_DENY", ()))
    print(f"{len(counts)} distinct system calls made by filtered job processes "
          f"(of {len(known)} this libseccomp knows for {arch}); calls: processes that made them")
    for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        mark = ("" if not allowed or name in allowed else
                "   <- refused on purpose" if name in denied | {"clone3"} else "   <- NOT ALLOWED")
        print(f"  {name:24s} {n}{mark}")
    if allowed:
        # clone3 is refused on purpose (ENOSYS: its flags are out of the filter's reach; the C
        # library falls back to clone); the denied calls come from honest-corpus programs that
        # probe them (e.g. running the unshare tool, whose failure is their expected output).
        print(f"allow-list: {len(allowed)} calls; made, refused on purpose: "
              f"{sorted(set(counts) & (denied | {'clone3'}))}; made and NOT ALLOWED: "
              f"{sorted(set(counts) - allowed - denied - {'clone3'})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
