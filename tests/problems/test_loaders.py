"""Benchmark loaders, the safe decoding of LiveCodeBench tests, and the source registry."""

from __future__ import annotations

import base64
import json
import os
import pickle
import zlib
from pathlib import Path

import pytest

from selfdistill.errors import UserError
from selfdistill.problems.humaneval import load_humaneval
from selfdistill.problems.livecodebench import lcb_problem, load_livecodebench
from selfdistill.problems.mbpp import entry_point_from_asserts, load_mbpp
from selfdistill.problems.registry import find_problem, load_source, parse_spec
from selfdistill.problems.safe_io import decode_lcb_tests, safe_unpickle
from selfdistill.problems.schema import Problem, TestCase, save_problems

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
LCB = FIXTURES / "lcb_code_generation_lite_sample.jsonl"
MBPP = FIXTURES / "mbpp_train_sample.jsonl"
needs_lcb = pytest.mark.skipif(not LCB.is_file(), reason="LiveCodeBench fixture not present")
needs_mbpp = pytest.mark.skipif(not MBPP.is_file(), reason="MBPP fixture not present")


def lcb_encode(tests: list[dict]) -> str:
    """Encode tests the way LiveCodeBench stores private tests."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


def lcb_row(**overrides) -> dict:
    row = {
        "question_title": "t", "question_content": "Print the sum.", "platform": "atcoder",
        "question_id": "x1", "contest_id": "c", "contest_date": "2025-03-01T00:00:00",
        "starter_code": "", "difficulty": "easy",
        "public_test_cases": json.dumps([{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]),
        "private_test_cases": lcb_encode([{"input": "2 2\n", "output": "4\n", "testtype": "stdin"}]),
        "metadata": "{}",
    }  # fmt: skip
    row.update(overrides)
    return row


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def grader():
    """The sandbox's grade(), or skip while it has not landed."""
    execution = pytest.importorskip("selfdistill.execution")
    if not hasattr(execution, "grade"):
        pytest.skip("selfdistill.execution.grade not available yet")
    return execution.grade


# ---- HumanEval -------------------------------------------------------------------------


def test_humaneval_loads_all_164():
    ps = load_humaneval()
    assert len(ps) == 164
    p = ps[3]
    assert p.id == "HumanEval/3" and p.entry_point == "below_zero"
    assert p.statement == p.starter_code and "def below_zero" in p.statement
    assert p.difficulty == "unknown" and p.source == "humaneval"
    assert len(p.tests) == 1 and p.test_kind == "assert"
    assert "def check(candidate)" in p.tests[0].input
    assert p.tests[0].input.rstrip().endswith("check(below_zero)")
    assert p.reference.startswith(p.statement)
    compile(p.reference + "\n" + p.tests[0].input, "he3", "exec")


def test_humaneval_references_pass_the_sandbox():
    grade = grader()
    for p in load_humaneval()[:4]:
        assert grade(p, p.reference).passed, p.id
    p = load_humaneval()[0]
    assert not grade(p, p.starter_code + "    return False\n").passed


# ---- LiveCodeBench ---------------------------------------------------------------------


@needs_lcb
def test_lcb_fixture_rows():
    ps = load_livecodebench(LCB)
    assert len(ps) == 27
    by_id = {p.id: p for p in ps}
    call = by_id["lcb/2727"]
    assert call.test_kind == "call" and call.entry_point == "countSeniors"
    assert "class Solution" in call.starter_code
    assert [t.public for t in call.tests[:3]] == [True, True, False]
    assert len(call.tests) > 2  # private tests were decoded
    assert json.loads(call.tests[0].output) == 2
    stdin = by_id["lcb/abc301_a"]
    assert stdin.test_kind == "stdio" and stdin.entry_point is None
    assert sum(t.public for t in stdin.tests) == 2 and len(stdin.tests) > 2
    assert by_id["lcb/abc374_c"].difficulty == "medium"
    assert by_id["lcb/abc374_c"].contest_date.startswith("2024-10-05")
    assert {p.metadata["platform"] for p in ps} == {"atcoder", "leetcode", "codeforces"}
    assert all(t.kind == p.test_kind for p in ps for t in p.tests)


@needs_lcb
def test_lcb_filters():
    assert len(load_livecodebench(LCB, release="v5")) == 24  # undated rows drop out of a window
    assert load_livecodebench(LCB, release="release_v6") == []
    lc_hard = load_livecodebench(LCB, platform="leetcode", difficulty="hard")
    assert lc_hard and all(
        p.metadata["platform"] == "leetcode" and p.difficulty == "hard" for p in lc_hard
    )
    oct5 = load_livecodebench(LCB, start="2024-10-05", end="2024-10-05")  # end date is inclusive
    assert {p.id for p in oct5} == {f"lcb/abc374_{c}" for c in "abcdefg"}
    assert len(load_livecodebench(LCB, platform=["codeforces", "atcoder"])) == 14
    with pytest.raises(UserError, match="release"):
        load_livecodebench(LCB, release="v99")
    with pytest.raises(UserError, match="difficulty"):
        load_livecodebench(LCB, difficulty="impossible")


def test_lcb_window_and_functional_row(tmp_path):
    rows = [
        lcb_row(question_id="early", contest_date="2025-01-31T23:00:00"),
        lcb_row(question_id="first", contest_date="2025-02-01T00:00:00"),
        lcb_row(question_id="last", contest_date="2025-05-31T19:30:00"),
        lcb_row(question_id="late", contest_date="2025-06-01T00:00:00"),
        lcb_row(
            question_id="f", platform="leetcode", starter_code="class Solution:\n    def add(self, a, b):\n        ",
            metadata=json.dumps({"func_name": "add"}),
            public_test_cases=json.dumps([{"input": "1\n2", "output": "3", "testtype": "functional"}]),
            private_test_cases=json.dumps([{"input": "5\n5", "output": "10", "testtype": "functional"}]),
        ),
    ]  # fmt: skip
    path = write_jsonl(tmp_path / "lcb.jsonl", rows)
    assert [p.id for p in load_livecodebench(path, release="v6")] == [
        "lcb/first",
        "lcb/last",
        "lcb/f",
    ]
    f = load_livecodebench(path, platform="leetcode")[0]
    assert f.test_kind == "call" and f.entry_point == "add"
    assert [(t.input, t.output, t.public) for t in f.tests] == [
        ("1\n2", "3", True),
        ("5\n5", "10", False),
    ]


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _EvilExec:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


@pytest.mark.parametrize("evil_cls", [_Evil, _EvilExec])
def test_malicious_private_tests_are_rejected_without_running(tmp_path, evil_cls):
    marker = tmp_path / "pwned"
    payload = base64.b64encode(zlib.compress(pickle.dumps(evil_cls(marker)))).decode()
    path = write_jsonl(tmp_path / "lcb.jsonl", [lcb_row(private_test_cases=payload)])
    with pytest.raises(UserError, match="could run code"):
        load_livecodebench(path)
    with pytest.raises(UserError):
        load_source(f"lcb:{path}")
    assert not marker.exists()


def test_unpickler_refuses_globals_even_past_the_opcode_check(tmp_path):
    from selfdistill.problems.safe_io import _NoGlobalsUnpickler

    marker = tmp_path / "pwned"
    import io

    with pytest.raises(pickle.UnpicklingError):
        _NoGlobalsUnpickler(io.BytesIO(pickle.dumps(_Evil(marker)))).load()
    assert not marker.exists()


def test_safe_unpickle_accepts_plain_data():
    plain = {"a": [1, 2.5, None, True, 10**30], "b": ("x", "\u00e9"), "c": "[1]"}
    for proto in range(0, pickle.HIGHEST_PROTOCOL + 1):
        assert safe_unpickle(pickle.dumps(plain, protocol=proto)) == plain
    richer = {
        **plain,
        "d": b"y",
        "e": {1, 2},
        "f": frozenset({3}),
    }  # native opcodes from protocol 4
    for proto in range(4, pickle.HIGHEST_PROTOCOL + 1):
        assert safe_unpickle(pickle.dumps(richer, protocol=proto)) == richer


def test_decode_lcb_tests_variants():
    tests = [{"input": "1", "output": "2", "testtype": "stdin"}]
    assert decode_lcb_tests(lcb_encode(tests)) == tests
    assert decode_lcb_tests(json.dumps(tests)) == tests  # older files: plain JSON
    assert decode_lcb_tests("") == []
    with pytest.raises(UserError):
        decode_lcb_tests("not base64 at all!")
    with pytest.raises(UserError):
        decode_lcb_tests(base64.b64encode(b"not zlib").decode())
    with pytest.raises(UserError):
        decode_lcb_tests(base64.b64encode(zlib.compress(b"not a pickle")).decode())


def test_malformed_lcb_rows_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not a LiveCodeBench row"):
        lcb_problem({"question_content": "x"}, "f:1")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(lcb_row()) + "\n{not json\n")
    with pytest.raises(UserError, match=r"bad.jsonl:2"):
        load_livecodebench(bad)
    mixed = lcb_row(
        public_test_cases=json.dumps(
            [
                {"input": "1", "output": "1", "testtype": "stdin"},
                {"input": "1", "output": "1", "testtype": "functional"},
            ]
        )
    )
    with pytest.raises(UserError):
        lcb_problem(mixed)
    with pytest.raises(UserError, match="file not found"):
        load_livecodebench(tmp_path / "missing.jsonl")


@needs_lcb
def test_lcb_fixture_solutions_pass_the_sandbox():
    grade = grader()
    by_id = {p.id: p for p in load_livecodebench(LCB)}
    cards = "t = int(input())\nfor _ in range(t):\n    s = input().strip()\n    d = sum(a != b for a, b in zip(s, 'abc'))\n    print('YES' if d in (0, 2) else 'NO')\n"
    seniors = "class Solution:\n    def countSeniors(self, details):\n        return sum(int(d[11:13]) > 60 for d in details)\n"
    games = "n = int(input())\ns = input().strip()\nt = s.count('T')\nif 2 * t != n:\n    print('T' if 2 * t > n else 'A')\nelse:\n    print('A' if s[-1] == 'T' else 'T')\n"
    assert grade(by_id["lcb/1873_A"], cards).passed
    assert grade(by_id["lcb/2727"], seniors).passed
    assert grade(by_id["lcb/abc301_a"], games).passed
    assert not grade(by_id["lcb/abc301_a"], "print('T')\n").passed


# ---- MBPP ------------------------------------------------------------------------------


@needs_mbpp
def test_mbpp_fixture_rows():
    ps = load_mbpp(MBPP)
    assert len(ps) == 20
    p = {p.id: p for p in ps}["mbpp/602"]
    assert p.entry_point == "first_repeated_char"
    assert len(p.tests) == 3 and p.test_kind == "assert"
    assert [t.public for t in p.tests] == [True, False, False]
    assert p.tests[0].input.strip() in p.statement  # the first test names the function
    assert p.statement.startswith("Write a python function to find the first repeated character")
    assert p.reference and "def first_repeated_char" in p.reference and "\r" not in p.reference
    assert all(p.entry_point for p in ps)
    assert len(load_mbpp(MBPP, split="train")) == 20 and load_mbpp(MBPP, split="test") == []


@needs_mbpp
def test_mbpp_references_pass_the_sandbox():
    grade = grader()
    for p in load_mbpp(MBPP)[:5]:
        assert grade(p, p.reference).passed, p.id


def test_mbpp_sanitized_json_and_setup(tmp_path):
    rows = [
        {
            "task_id": 7, "prompt": "Write a function to double a number.",
            "code": "import math\ndef dbl(x):\n    return 2 * x", "test_imports": ["import math"],
            "test_list": ["assert math.isclose(dbl(1.5), 3.0)", "assert dbl(2) == 4"],
        }
    ]  # fmt: skip
    path = tmp_path / "sanitized.json"
    path.write_text(json.dumps(rows))
    (p,) = load_mbpp(path)
    assert p.id == "mbpp/7" and p.entry_point == "dbl"
    assert p.tests[0].input == "import math\nassert math.isclose(dbl(1.5), 3.0)\n"
    setup_row = {"task_id": 1, "text": "t", "code": "", "test_setup_code": "import re",
                 "test_list": ["assert f(1) == 1"], "challenge_test_list": ["assert f(2) == 2"]}  # fmt: skip
    path2 = write_jsonl(tmp_path / "m.jsonl", [setup_row])
    (q,) = load_mbpp(path2, include_challenge=True)
    assert [t.input for t in q.tests] == [
        "import re\nassert f(1) == 1\n",
        "import re\nassert f(2) == 2\n",
    ]
    with pytest.raises(UserError):
        load_mbpp(write_jsonl(tmp_path / "bad.jsonl", [{"task_id": 1}]))


def test_entry_point_parsing():
    assert (
        entry_point_from_asserts(
            ["assert set(sim((3, 4), (5, 4))) == set((4, 5))"], "def sim(a, b): pass"
        )
        == "sim"
    )
    assert entry_point_from_asserts(["assert len(foo([1])) == 1"]) == "foo"
    assert entry_point_from_asserts(["assert 1 == 1"]) is None


# ---- registry --------------------------------------------------------------------------


def test_parse_spec():
    assert parse_spec("humaneval") == ("humaneval", "", {})
    assert parse_spec("builtin:train") == ("builtin", "train", {})
    assert parse_spec("lcb:/a/b.jsonl?release=v6&platform=leetcode") == (
        "lcb", "/a/b.jsonl", {"release": "v6", "platform": "leetcode"},
    )  # fmt: skip
    assert parse_spec("humaneval?limit=3") == ("humaneval", "", {"limit": "3"})


@needs_lcb
def test_load_source_specs_and_filters():
    assert len(load_source("humaneval")) == 164
    assert len(load_source("humaneval?limit=3")) == 3
    assert len(load_source(f"lcb:{LCB}?release=v5&platform=leetcode")) == 12
    kw = load_source(f"lcb:{LCB}", platform="leetcode", difficulty="hard")
    assert kw and all(p.difficulty == "hard" for p in kw)
    assert len(load_source(f"mbpp:{MBPP}?split=train&limit=4")) == 4


def test_load_source_errors(tmp_path):
    for spec, msg in [
        ("nope", "unknown problem source"),
        ("lcb", "needs a file"),
        (f"lcb:{tmp_path / 'missing.jsonl'}", "file not found"),
        ("builtin:weird", "unknown builtin split"),
        ("humaneval?release=v6", "unknown filter"),
        ("humaneval?limit=x", "limit must be an integer"),
    ]:
        with pytest.raises(UserError, match=msg):
            load_source(spec)


def test_jsonl_source_round_trip_and_find_problem(tmp_path):
    probs = [
        Problem(
            id="mine/a",
            statement="s",
            tests=[TestCase(kind="stdio", input="1", output="1")],
            difficulty="easy",
        ),
        Problem(
            id="mine/b",
            statement="s",
            tests=[TestCase(kind="stdio", input="2", output="2")],
            difficulty="hard",
        ),
    ]
    path = tmp_path / "p.jsonl"
    save_problems(probs, path)
    assert load_source(f"jsonl:{path}") == probs
    assert [p.id for p in load_source(f"jsonl:{path}?difficulty=hard")] == ["mine/b"]
    assert find_problem("mine/b", f"jsonl:{path}") == probs[1]
    with pytest.raises(UserError, match="did you mean mine/a"):
        find_problem("mine/aa", f"jsonl:{path}")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"foo": 1}\n')
    with pytest.raises(UserError, match="not a JSONL file of Problem records"):
        load_source(f"jsonl:{bad}")


def test_find_problem_by_id():
    assert find_problem("HumanEval/3").entry_point == "below_zero"
    with pytest.raises(UserError, match="HumanEval/99"):
        find_problem("HumanEval/999")
    with pytest.raises(UserError, match="lcb:FILE"):
        find_problem("lcb/abc301_a")


def test_builtin_source():
    try:
        from selfdistill.problems.builtin import load_builtin

        load_builtin("all")
    except (ImportError, AttributeError):
        pytest.skip("built-in problem set not available yet")
    everything = load_source("builtin")
    assert everything and len(load_source("builtin:all")) == len(everything)
    for split in ("train", "dev", "hard"):
        assert len(load_source(f"builtin:{split}")) <= len(everything)
    assert find_problem(everything[0].id) == everything[0]


def test_gzipped_jsonl_is_read(tmp_path):
    import gzip

    path = tmp_path / "lcb.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(json.dumps(lcb_row()) + "\n")
    (p,) = load_source(f"lcb:{path}")
    assert p.id == "lcb/x1" and [t.public for t in p.tests] == [True, False]


def test_kind_filter_keeps_function_writing_problems() -> None:
    from selfdistill.problems.registry import load_source

    everything = load_source("builtin:train")
    funcs = load_source("builtin:train?kind=assert,call")
    assert funcs and {p.test_kind for p in funcs} == {"assert", "call"}
    assert len(funcs) == sum(p.test_kind != "stdio" for p in everything)
    assert [p.id for p in load_source("builtin:train?kind=stdio&limit=2")] == [
        p.id for p in everything if p.test_kind == "stdio"][:2]
    with pytest.raises(UserError, match="unknown test kind foo"):
        load_source("builtin:train?kind=foo")
