"""Property-based fuzzing of everything that reads user input: the answer is the data, or one
UserError line that names the file (and line or field where there is one) -- never a
traceback. Example counts are CI-sized (FUZZ_EXAMPLES, default 60 per reader); nightly:
SELFDISTILL_FUZZ_EXAMPLES=2000.
"""

from __future__ import annotations

import json
import os
import string
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from selfdistill.errors import UserError

FUZZ_EXAMPLES = int(os.environ.get("SELFDISTILL_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# JSON values of every shape, so a right key can hold a wrong type.
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=False, allow_infinity=False),
                    st.text(string.printable, max_size=30))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(string.ascii_lowercase, max_size=8),
                                                 inner, max_size=4)), max_leaves=12)


def rows_with(fields: list[str]) -> st.SearchStrategy[list[Any]]:
    """Rows that are mostly objects holding the reader's own field names (any value types),
    sometimes something else entirely."""
    obj = st.dictionaries(st.sampled_from(fields), values, max_size=len(fields))
    good_ish = st.fixed_dictionaries({f: values for f in fields[:2]}).flatmap(
        lambda d: obj.map(lambda extra: {**d, **extra}))
    return st.lists(st.one_of(good_ish, good_ish, obj, values), min_size=0, max_size=5)


def lines_of(rows: list[Any], junk: str | None) -> str:
    """JSONL text of rows, with an optional raw junk line in the middle."""
    lines = [json.dumps(r) for r in rows]
    if junk is not None:
        lines.insert(len(lines) // 2, junk)
    return "".join(x + "\n" for x in lines)


junk_lines = st.one_of(st.none(), st.none(), st.text(string.printable, max_size=40))


def _check_error(e: UserError, path: Path) -> None:
    msg = str(e)
    assert "\n" not in msg.strip() or msg.count("\n") <= 2, msg  # one line (maybe wrapped)
    assert path.name in msg or str(path) in msg, f"error does not name the file: {msg}"


def _write(text: str, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(suffix=suffix, prefix="fuzz-")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return Path(name)


def _load(kind: str, text: str, suffix: str = ".jsonl", query: str = "") -> None:
    from selfdistill.problems.registry import load_source

    path = _write(text, suffix)
    try:
        probs = load_source(f"{kind}:{path}{query}")
        assert isinstance(probs, list)
    except UserError as e:
        _check_error(e, path)
    finally:
        path.unlink()


MBPP = ["task_id", "text", "prompt", "code", "test_list", "test_setup_code",
        "challenge_test_list", "test_imports"]
LCB = ["question_id", "question_content", "question_title", "starter_code", "public_test_cases",
       "private_test_cases", "metadata", "difficulty", "contest_date", "platform", "contest_id"]
EVALPLUS = ["task_id", "prompt", "entry_point", "canonical_solution", "test", "base_input",
            "plus_input", "atol"]
PROBLEM = ["id", "statement", "tests", "entry_point", "difficulty", "starter_code", "source",
           "kind"]
PROMPTS = ["prompt", "question", "id", "text"]


@FUZZ
@given(rows=rows_with(MBPP), junk=junk_lines)
# found by this fuzzer: AttributeError tracebacks on a list setup / a null text
@example(rows=[{"task_id": None, "text": "t", "test_list": [None], "test_setup_code": [None]}],
         junk=None)
@example(rows=[{"task_id": 1, "text": None, "test_list": ["assert f() == 1"]}], junk=None)
@example(rows=[{"task_id": 1, "text": "t", "test_list": "assert f() == 1",
                "test_setup_code": ["import os", "x = 1"]}], junk=None)
def test_fuzz_mbpp_file(rows, junk):
    _load("mbpp", lines_of(rows, junk))


@FUZZ
@given(rows=rows_with(LCB), junk=junk_lines)
def test_fuzz_livecodebench_file(rows, junk):
    _load("lcb", lines_of(rows, junk))


@FUZZ
@given(rows=rows_with(EVALPLUS), junk=junk_lines)
def test_fuzz_evalplus_file(rows, junk):
    _load("evalplus", lines_of(rows, junk))


@FUZZ
@given(rows=rows_with(PROBLEM), junk=junk_lines)
def test_fuzz_problem_jsonl(rows, junk):
    _load("jsonl", lines_of(rows, junk))


@FUZZ
@given(rows=rows_with(PROMPTS), junk=junk_lines)
def test_fuzz_prompts_file(rows, junk):
    _load("prompts", lines_of(rows, junk))


@settings(FUZZ, max_examples=max(10, FUZZ_EXAMPLES // 4))
@given(rows=st.lists(st.dictionaries(st.sampled_from(PROMPTS + ["tests"]), scalars,
                                     min_size=1, max_size=4), min_size=1, max_size=4))
def test_fuzz_parquet_rows(rows):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    # parquet needs one type per column: cast every value to text (None stays null)
    cols = sorted({k for r in rows for k in r})
    table = pa.table({c: [None if r.get(c) is None else str(r.get(c)) for r in rows]
                      for c in cols})
    path = _write("", ".parquet")
    pq.write_table(table, path)
    from selfdistill.problems.registry import load_source

    try:
        load_source(f"hf:{path}")
    except UserError as e:
        _check_error(e, path)
    finally:
        path.unlink()


SAMPLES = ["task_id", "completion", "problem_id", "sample_idx", "text", "code", "solution"]


@FUZZ
@given(rows=rows_with(SAMPLES), junk=junk_lines)
def test_fuzz_samples_file(rows, junk):
    from selfdistill.evaluation.external import read_samples_file
    from selfdistill.evaluation.harness import get_harness
    from selfdistill.problems.registry import load_source

    problems = load_source("builtin:dev")[:3]
    path = _write(lines_of(rows, junk), ".jsonl")
    try:
        read_samples_file(path, problems, get_harness("official"))
    except UserError as e:
        _check_error(e, path)
    finally:
        path.unlink()


CONFIG_KEYS = ["run_dir", "model", "sample", "train", "eval", "grid", "recipe", "spec",
               "temperature", "n", "limit", "lr", "workers", "seed"]
yaml_trees = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                     st.dictionaries(st.sampled_from(CONFIG_KEYS), inner,
                                                     max_size=4)), max_leaves=10)


@FUZZ
@given(tree=yaml_trees, raw=st.one_of(st.none(), st.text(string.printable, max_size=60)),
       overrides=st.lists(st.text(string.printable, max_size=30), max_size=3))
def test_fuzz_recipe_yaml_and_overrides(tree, raw, overrides):
    from selfdistill.core.config import load_config

    text = raw if raw is not None else yaml.safe_dump({"recipe": "ssd", **(
        tree if isinstance(tree, dict) else {"sample": tree})})
    path = _write(text, ".yaml")
    try:
        load_config(str(path), overrides, recipe="ssd")
    except UserError as e:
        msg = str(e)
        assert msg.strip(), "empty error"
        if not overrides:  # a file problem names the file or the key it is about
            assert path.name in msg or "." in msg or ":" in msg, msg
    finally:
        path.unlink()


@FUZZ
@given(state=values, meta=values, log=rows_with(["event", "version", "turns", "batch_key"]),
       junk=junk_lines)
# found by this fuzzer: KeyError / TypeError tracebacks on a hand-edited state.json
@example(state={}, meta=None, log=[], junk=None)
@example(state=None, meta=None, log=[], junk=None)
@example(state={"current": "1", "stack": [0]}, meta={"model": 3}, log=[], junk="{")
def test_fuzz_profile_files(state, meta, log, junk):
    """A profile's state.json / profile.json / updates.jsonl damaged or hand-edited."""
    from selfdistill.assist.profile import Profile

    with tempfile.TemporaryDirectory() as root:
        prof = Profile("p", Path(root))
        prof.dir.mkdir(parents=True)
        (prof.dir / "state.json").write_text(json.dumps(state))
        (prof.dir / "profile.json").write_text(json.dumps(meta))
        prof.log_path.write_text(lines_of(log, junk))
        for op in (lambda: prof.current, lambda: prof.meta, prof.history, prof.live_updates,
                   prof.recover):
            try:
                op()
            except UserError as e:
                assert "p" in str(e) and ("state.json" in str(e) or "profile.json" in str(e)
                                          or "updates.jsonl" in str(e)), str(e)


@FUZZ
@given(rows=rows_with(["prompt", "request", "answer", "followup", "feedback", "messages"]),
       junk=junk_lines)
def test_fuzz_assist_learn_log(rows, junk):
    """assist learn's log: unusable rows are skipped and counted, never a traceback."""
    from selfdistill.assist.offline import parse_logged_turn

    for r in rows:
        try:
            parse_logged_turn(r) if isinstance(r, dict) else None
        except (ValueError, KeyError, TypeError, AttributeError):
            pass  # learn_from_log catches exactly these and counts the row as skipped


@FUZZ
@given(text=st.one_of(
    st.text(max_size=200),
    st.builds(lambda name, args, pre, post: f"{pre}<tool_call>{json.dumps({'name': name, 'arguments': args})}</tool_call>{post}",
              st.one_of(st.sampled_from(["read", "write", "shell", "ls", "done", "edit"]),
                        values), values, st.text(max_size=20), st.text(max_size=20)),
    st.builds(lambda s: "<tool_call>" + s, st.text(string.printable, max_size=80)),
))
def test_fuzz_agent_tool_call_parser(text):
    """The agent's tool-call parser returns an action (a call, a malformed report or text)."""
    from selfdistill.agent.calls import parse_action

    parse_action(text)


@pytest.mark.parametrize("text,needle", [
    ("recipe: ssd\nsample:\n  n: [1\n", ":4:1: not valid YAML"),
    ("recipe: ssd\nsample:\n  n: abc\n", ":3: sample.n: expected an integer"),
    ("recipe: ssd\nsample:\n  nn: 1\n", ":3: Unknown config key 'sample.nn'"),
])
def test_recipe_errors_name_file_line_and_field(tmp_path, text, needle):
    """Found while fuzzing: YAML and field errors named neither the line nor (for a field)
    the file."""
    from selfdistill.core.config import load_config

    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as e:
        load_config(str(path), [], recipe="ssd")
    assert str(e.value).startswith(str(path)) and needle in str(e.value)
