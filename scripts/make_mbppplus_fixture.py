"""Build tests/fixtures/mbppplus_sample.jsonl: an MBPP+-style (EvalPlus-format) file.

Seven MBPP train-split rows from ../shared/datasets/mbpp_train_val_prompt.jsonl. base_input
holds the arguments of each row's three asserts (parsed, never run); plus_input holds extra
inputs written here by hand (edge cases the three asserts miss). The file has no expected
outputs: as in EvalPlus, the loader computes them by running the canonical solution (the
row's `code`) on every input, in the sandbox.

Usage: python scripts/make_mbppplus_fixture.py [DATASET] [OUT]
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATASET = REPO.parent / "shared" / "datasets" / "mbpp_train_val_prompt.jsonl"
OUT = REPO / "tests" / "fixtures" / "mbppplus_sample.jsonl"

PLUS_INPUTS: dict[int, list[list]] = {
    602: [[""], ["a"], ["aa"], ["abcdefga"], ["xyzzy"], ["  "], ["a b c a"]],
    603: [[1], [2], [3], [4], [100], [7]],
    604: [["one"], ["a b c d"], ["hello   world"], [""], ["x y"]],
    606: [[0], [180], [-90], [360], [45.5], [1]],
    608: [[0], [1], [5], [6], [10], [15]],
    610: [[[1, 2, 3], 1], [[1, 2, 3], 3], [[7], 1], [["a", "b", "c", "d"], 2], [[1, 2], 5]],
    612: [[[[1, 2]]], [[["a", "b", "c"], ["d", "e", "f"]]], [[[1, 2], [3, 4], [5, 6]]],
          [[[True, False], [False, True]]]],
}


def call_args(assertion: str) -> tuple[str, list]:
    """(function name, literal arguments) of `assert f(args) == ...` without running it."""
    test = ast.parse(assertion).body[0]
    assert isinstance(test, ast.Assert) and isinstance(test.test, ast.Compare)
    call = test.test.left
    assert isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
    return call.func.id, [ast.literal_eval(a) for a in call.args]


def main(dataset: Path = DATASET, out: Path = OUT) -> None:
    rows = {r["task_id"]: r for r in map(json.loads, dataset.read_text().splitlines())}
    lines = []
    for tid, plus in PLUS_INPUTS.items():
        row = rows[tid]
        parsed = [call_args(a) for a in row["test_list"]]
        entry = parsed[0][0]
        prompt = f'"""\n{row["text"]}\n{row["test_list"][0]}\n"""\n'
        lines.append({"task_id": f"Mbpp/{tid}", "prompt": prompt, "entry_point": entry,
                      "canonical_solution": row["code"].replace("\r\n", "\n"),
                      "base_input": [args for _, args in parsed], "plus_input": plus,
                      "atol": 0})
    out.write_text("".join(json.dumps(x) + "\n" for x in lines))
    print(f"wrote {len(lines)} tasks to {out}")


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:3]))
