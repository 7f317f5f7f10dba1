"""EvalPlus-format files: expected outputs from the canonical solution run in the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import selfdistill.problems.evalplus as evalplus
from selfdistill.cli.main import app
from selfdistill.errors import UserError
from selfdistill.evaluation.harness import Harness
from selfdistill.execution import SandboxConfig, grade
from selfdistill.problems.registry import load_source

FIXTURE = Path(__file__).parents[1] / "fixtures" / "mbppplus_sample.jsonl"
CFG = SandboxConfig(timeout_s=5.0)


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SELFDISTILL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_fixture_is_built_from_the_shared_mbpp_rows(shared_datasets: Path, tmp_path: Path) -> None:
    """The committed fixture is what scripts/make_mbppplus_fixture.py makes from the dataset."""
    import runpy

    out = tmp_path / "rebuilt.jsonl"
    mod = runpy.run_path(str(Path(__file__).parents[2] / "scripts" / "make_mbppplus_fixture.py"))
    mod["main"](shared_datasets / "mbpp_train_val_prompt.jsonl", out)
    assert out.read_text() == FIXTURE.read_text()


def test_expected_outputs_come_from_the_canonical_solution() -> None:
    problems = load_source(f"evalplus:{FIXTURE}")
    assert [p.id for p in problems] == [f"Mbpp/{t}" for t in (602, 603, 604, 606, 608, 610, 612)]
    by = {p.id: p for p in problems}
    bell = by["Mbpp/608"]
    assert bell.metadata["base_tests"] == 3 and bell.metadata["plus_tests"] == 6
    assert [t.output for t in bell.tests] == ["2", "5", "15", "1", "1", "52", "203", "115975",
                                              "1382958545"]
    assert all(t.kind == "call" for t in bell.tests)
    assert by["Mbpp/606"].float_tolerance == 1e-6 and bell.float_tolerance is None
    for p in problems:  # the canonical solution passes its own tests, base and plus
        assert grade(p, Harness("official").program(p, p.reference), config=CFG).passed, p.id


def test_plus_inputs_catch_what_base_inputs_miss() -> None:
    bell = {p.id: p for p in load_source(f"evalplus:{FIXTURE}")}["Mbpp/608"]
    memorised = "def bell_Number(n):\n    return {2: 2, 3: 5, 4: 15}[n]\n"
    v = grade(bell, Harness("official").program(bell, memorised), config=CFG)
    assert not v.passed and v.tests_passed == 3 and v.failing_test_index == 3


def test_canonical_runs_in_the_sandbox_not_here(tmp_path: Path) -> None:
    """A canonical solution that writes to the host's /tmp cannot: it runs jailed."""
    marker = tmp_path / "written-by-canonical"
    row = {"task_id": "Mbpp/x", "prompt": '"""\nf\n"""\n', "entry_point": "f",
           "canonical_solution": (f"def f(x):\n    try:\n        open({str(marker)!r}, 'w')"
                                  ".write('x')\n    except OSError:\n        pass\n"
                                  "    import os\n    return [x, os.getpid()]\n"),
           "base_input": [[1]], "plus_input": [[2]]}
    path = tmp_path / "plus.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (p,) = load_source(f"evalplus:{path}")
    assert not marker.exists()
    outs = [json.loads(t.output) for t in p.tests]
    assert [o[0] for o in outs] == [1, 2] and all(o[1] != __import__("os").getpid() for o in outs)


def test_outputs_are_cached_by_file_content(monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_source(f"evalplus:{FIXTURE}")

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("the sandbox ran again")

    monkeypatch.setattr(evalplus, "reference_outputs", boom)
    assert [p.to_dict() for p in load_source(f"evalplus:{FIXTURE}")] == [p.to_dict() for p in first]


@pytest.mark.parametrize(("row", "needle"), [
    ({"task_id": "a", "prompt": "", "entry_point": "f"}, "missing canonical_solution"),
    ({"task_id": "a", "prompt": "", "entry_point": "f", "canonical_solution": "def f(x): 1/0",
      "base_input": [[1]]}, "canonical solution fails on input 0"),
    ({"task_id": "a", "prompt": "", "entry_point": "f", "canonical_solution": "def f(x): x",
      "base_input": []}, "no base_input"),
    ({"task_id": "a", "prompt": "", "entry_point": "f", "canonical_solution": "def f(x): x",
      "base_input": [1]}, "list of arguments"),
])
def test_bad_evalplus_rows(tmp_path: Path, row: dict, needle: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(UserError, match=needle):
        load_source(f"evalplus:{path}")


def test_evaluate_samples_on_the_evalplus_fixture(tmp_path: Path) -> None:
    """The CLI grades an MBPP+ file end to end; the report has one overall row."""
    problems = load_source(f"evalplus:{FIXTURE}")
    rows = [{"task_id": p.id, "completion": p.reference.split('"""\n', 2)[-1]} for p in problems]
    rows.append({"task_id": "Mbpp/608",
                 "completion": "def bell_Number(n):\n    return {2: 2, 3: 5, 4: 15}[n]\n"})
    samples = tmp_path / "s.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = CliRunner().invoke(app, ["evaluate", "--benchmark", f"evalplus:{FIXTURE}", "--samples",
                                   str(samples), "--run-dir", str(tmp_path / "run")],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    verdicts = [json.loads(x) for x in (tmp_path / "run" / "verdicts.jsonl").read_text().split("\n")
                if x]
    assert [v["passed"] for v in verdicts] == [True] * 7 + [False]
    assert "| overall | 7 |" in res.stdout


def test_contracts_leave_invalid_inputs_out(tmp_path: Path) -> None:
    """EvalPlus's contract (HumanEval+: after the prompt; MBPP+: after the def line) filters."""
    contract = '    assert x >= 0, "invalid inputs"  # $_CONTRACT_$\n'
    he = {"task_id": "HumanEval/x", "prompt": 'def f(x):\n    """Double."""\n',
          "entry_point": "f", "canonical_solution": "    return 2 * x\n", "contract": contract,
          "base_input": [[1], [-1]], "plus_input": [[3], [-5], [0]]}
    mbpp = {"task_id": "Mbpp/x", "prompt": '"""\nDouble.\n"""\n', "entry_point": "f",
            "canonical_solution": "import math\ndef f(x):\n    return 2 * x\n",
            "contract": contract, "base_input": [[2]], "plus_input": [[-2], [4]]}
    assert evalplus.contract_program(mbpp) == (
        '"""\nDouble.\n"""\nimport math\ndef f(x):\n' + contract + "\n    return 2 * x\n")
    path = tmp_path / "plus.jsonl"
    path.write_text(json.dumps(he) + "\n" + json.dumps(mbpp) + "\n")
    p, q = load_source(f"evalplus:{path}")
    assert [t.input for t in p.tests] == ["1", "3", "0"] and [t.output for t in p.tests] == \
        ["2", "6", "0"]
    assert p.metadata["base_tests"] == 1 and p.metadata["plus_tests"] == 2
    assert p.metadata["invalid_inputs"] == 2
    assert [t.input for t in q.tests] == ["2", "4"]
    # a candidate that breaks on the invalid inputs only is not failed by them
    wrong_below_zero = "import math\ndef f(x):\n    return 2 * math.isqrt(x * x)\n"
    assert grade(p, Harness("official").program(p, wrong_below_zero), config=CFG).passed


def test_time_limits_scale_with_the_canonical_solution(tmp_path: Path) -> None:
    """max(4 s, 4 x the canonical time) per input, as EvalPlus; the grader applies it."""
    assert evalplus.time_limit(0.001) == 4.0 and evalplus.time_limit(2.0) == 8.0
    row = {"task_id": "HumanEval/y", "prompt": "import time\ndef f(x):\n",
           "entry_point": "f", "canonical_solution": "    time.sleep(x)\n    return x\n",
           "base_input": [[0]], "plus_input": [[1.1]]}
    path = tmp_path / "slow.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (p,) = load_source(f"evalplus:{path}")
    fast, slow = p.tests
    assert fast.timeout_s == 4.0 and slow.timeout_s >= 4 * 1.1  # measured, so at least 1.1 s


def test_a_tests_own_time_limit_wins_over_the_sandbox_default() -> None:
    from selfdistill.problems.schema import Problem, TestCase

    p = Problem(id="t", statement="", entry_point="f", tests=[
        TestCase(kind="call", input="0.1", output="0.1"),
        TestCase(kind="call", input="1.5", output="1.5", timeout_s=0.5)])
    v = grade(p, "import time\ndef f(x):\n    time.sleep(x)\n    return x\n", config=CFG)
    assert v.status == "time_limit" and v.failing_test_index == 1 and v.timeout_s == 0.5
