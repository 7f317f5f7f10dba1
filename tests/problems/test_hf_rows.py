"""hf: and prompts: sources: every local format `datasets` reads, the field mapping, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfdistill.errors import UserError
from selfdistill.problems.registry import load_source

ROWS = {"question": ["Write add(a, b).", "Write sub(a, b)."],
        "tests": [["assert add(1, 2) == 3", "assert add(0, 0) == 0"], "assert sub(3, 1) == 2"],
        "qid": ["a1", "a2"], "fn": ["add", "sub"]}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import datasets

    root = tmp_path_factory.mktemp("hf")
    rows = [{k: v[i] for k, v in ROWS.items()} for i in range(2)]
    rows[1]["tests"] = [rows[1]["tests"]]  # parquet wants one type per column
    ds = datasets.Dataset.from_list(rows)
    ds.to_parquet(str(root / "train.parquet"))
    ds.to_json(str(root / "train.jsonl"))
    ds.to_csv(str(root / "train.csv"))
    ds.save_to_disk(str(root / "saved"))
    datasets.DatasetDict({"train": ds, "test": ds.select([0])}).save_to_disk(str(root / "dict"))
    (root / "prompts.jsonl").write_text(
        json.dumps({"prompt": "Reverse a string."}) + "\n\n"
        + json.dumps({"prompt": "Sum a list.", "id": 7}) + "\n")
    return root


@pytest.mark.parametrize("name", ["train.parquet", "train.jsonl", "saved", "dict"])
def test_every_local_format_gives_the_same_problems_with_the_mapping(files: Path, name: str
                                                                    ) -> None:
    ps = load_source(f"hf:{files / name}?tests=tests&id=qid&entry_point=fn")
    assert [p.id for p in ps] == [f"{name.split('.')[0]}/a1", f"{name.split('.')[0]}/a2"]
    assert [p.statement for p in ps] == ROWS["question"]  # found as the 'question' column
    assert [p.entry_point for p in ps] == ["add", "sub"]
    assert [[t.input for t in p.tests] for p in ps] == [
        ["assert add(1, 2) == 3\n", "assert add(0, 0) == 0\n"], ["assert sub(3, 1) == 2\n"]]
    assert all(t.kind == "assert" for p in ps for t in p.tests)


def test_split_limit_and_prompt_only_rows(files: Path) -> None:
    assert len(load_source(f"hf:{files / 'dict'}?split=test")) == 1
    assert len(load_source(f"hf:{files / 'train.csv'}?prompt=question&limit=1")) == 1
    plain = load_source(f"hf:{files / 'train.parquet'}")
    assert [p.id for p in plain] == ["train/0", "train/1"] and plain[0].tests == []
    ps = load_source(f"prompts:{files / 'prompts.jsonl'}")
    assert [(p.id, p.statement, p.tests) for p in ps] == [
        ("prompts/0", "Reverse a string.", []), ("prompts/1", "Sum a list.", [])]
    assert [p.id for p in load_source(f"prompts:{files / 'prompts.jsonl'}?limit=1")] == [
        "prompts/0"]


@pytest.mark.parametrize(("spec", "needle"), [
    ("hf:{d}/train.parquet?prompt=nope", "no column 'nope'"),
    ("hf:{d}/train.parquet?id=fn&tests=nope", "no column 'nope' (given as tests=)"),
    ("hf:{d}/missing.parquet", "no such file or directory"),
    ("hf:{d}/train.parquet?colour=red", "unknown filter colour for hf"),
    ("hf:{d}/dict?split=validation", "cannot load"),
    ("hf:", "hf needs a dataset"),
    ("prompts:{d}/nothing.jsonl", "file not found for prompts"),
    ("prompts:{d}/train.jsonl?id=fn&prompt=tests", "is empty or not a string"),
])
def test_bad_input_is_one_user_error(files: Path, spec: str, needle: str) -> None:
    with pytest.raises(UserError, match=None) as exc:
        load_source(spec.format(d=files))
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_repeated_ids_are_refused(tmp_path: Path) -> None:
    p = tmp_path / "dup.jsonl"
    p.write_text("".join(json.dumps({"prompt": f"task {i}", "id": 1}) + "\n" for i in range(2)))
    with pytest.raises(UserError, match="repeats ids"):
        load_source(f"prompts:{p}?id=id")
