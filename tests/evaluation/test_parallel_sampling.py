"""Sampling in several one-thread processes: complete, resumable, same records as in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfdistill.core.records import read_jsonl
from selfdistill.errors import UserError
from selfdistill.evaluation.parallel import (
    LazyGenerator,
    SampleJob,
    fold_parts,
    presample,
    resolve_workers,
)
from selfdistill.evaluation.stages import sample_stage
from selfdistill.generation import SamplingParams
from selfdistill.problems.registry import load_source


def _problems(k: int = 5):
    return load_source("builtin:dev")[:k]


def _job(spec: str, out: Path, t: float, n: int = 2, **kw) -> SampleJob:
    params = SamplingParams(temperature=t, top_k=0, top_p=1.0, max_new_tokens=6, n=n, seed=3)
    return SampleJob(spec=spec, dtype="float32", problems=_problems(), params=params,
                     out_path=out, batch_size=4, chunk_size=4, **kw)


def _keys(path: Path) -> list[tuple[str, int]]:
    return [(r["problem_id"], r["sample_idx"]) for r in read_jsonl(path)]


def test_two_processes_fill_every_file_once_with_full_records(tiny_model_dir, tmp_path):
    jobs = [_job(str(tiny_model_dir), tmp_path / f"T{t}" / "samples.jsonl", t,
                 harness="official", extra={"temperature": t}) for t in (0.0, 1.0)]
    presample(jobs, workers=2)
    for job in jobs:
        keys = _keys(job.out_path)
        assert sorted(keys) == sorted((p.id, i) for p in job.problems for i in range(2))
        assert len(keys) == len(set(keys))
        rec = read_jsonl(job.out_path)[0]
        assert {"text", "code", "n_tokens", "finish_reason"} <= set(rec)
        assert rec["temperature"] == job.params.temperature
        assert not list(job.out_path.parent.glob("*.part*"))


def test_greedy_answers_match_the_in_process_stage(tiny_model_dir, tmp_path):
    job = _job(str(tiny_model_dir), tmp_path / "par" / "samples.jsonl", 0.0, n=1)
    presample([job], workers=2)  # one job, two workers: cut into two shards
    from selfdistill.core.models import load_model
    from selfdistill.generation import make_generator

    model, tok = load_model(str(tiny_model_dir))
    gen = make_generator("hf", model=model, tokenizer=tok, batch_size=4, progress=False)
    alone = sample_stage(gen, job.problems, job.params, tmp_path / "one.jsonl", chunk_size=4)
    par = {(r["problem_id"], r["sample_idx"]): r["text"] for r in read_jsonl(job.out_path)}
    assert par == {(r["problem_id"], r["sample_idx"]): r["text"] for r in alone}


def test_a_killed_runs_parts_are_kept_and_only_the_rest_is_sampled(tiny_model_dir, tmp_path):
    out = tmp_path / "samples.jsonl"
    job = _job(str(tiny_model_dir), out, 1.0)
    first = job.problems[0].id
    done = [{"problem_id": first, "sample_idx": i, "text": f"kept {i}", "code": None,
             "n_tokens": 1, "finish_reason": "stop"} for i in range(2)]
    part = tmp_path / "samples.part0.jsonl"
    part.write_text("".join(json.dumps(r) + "\n" for r in done) + '{"problem_id": "to')  # torn
    presample([job], workers=2)
    rows = read_jsonl(out)
    assert [r["text"] for r in rows if r["problem_id"] == first] == ["kept 0", "kept 1"]
    assert len(rows) == len(job.problems) * 2 == len(set(_keys(out)))


def test_fold_parts_never_duplicates_a_record(tmp_path):
    out = tmp_path / "s.jsonl"
    out.write_text(json.dumps({"problem_id": "a", "sample_idx": 0, "text": "main"}) + "\n")
    (tmp_path / "s.part0.jsonl").write_text(
        json.dumps({"problem_id": "a", "sample_idx": 0, "text": "dup"}) + "\n"
        + json.dumps({"problem_id": "a", "sample_idx": 1, "text": "new"}) + "\n")
    (tmp_path / "s.part1.jsonl").write_text(
        json.dumps({"problem_id": "a", "sample_idx": 1, "text": "dup again"}) + "\n")
    fold_parts(out)
    assert [r["text"] for r in read_jsonl(out)] == ["main", "new"]
    assert not list(tmp_path.glob("s.part*"))


def test_a_worker_failure_is_one_clear_error(tmp_path):
    job = _job(str(tmp_path / "no-such-model"), tmp_path / "s.jsonl", 1.0)
    with pytest.raises(UserError, match="no-such-model"):
        presample([job], workers=2)


def test_nothing_to_sample_loads_no_model(tmp_path):
    built = []
    gen = LazyGenerator(lambda: built.append(1))
    params = SamplingParams(temperature=0.0, max_new_tokens=4, n=1)
    probs = _problems(2)
    out = tmp_path / "s.jsonl"
    out.write_text("".join(json.dumps({"problem_id": p.id, "sample_idx": 0, "text": "x"}) + "\n"
                           for p in probs))
    assert len(sample_stage(gen, probs, params, out)) == 2
    assert built == []


def test_worker_counts(monkeypatch):
    from selfdistill.evaluation import parallel

    monkeypatch.setattr(parallel, "available_cores", lambda: 8)
    monkeypatch.setattr(parallel, "available_memory", lambda: 64 * 2**30)
    assert resolve_workers(0) == 8  # one per core
    monkeypatch.setattr(parallel, "available_memory", lambda: 10 * 2**30)
    assert resolve_workers(0) == 3  # as many as fit in memory at 3 GB each
    monkeypatch.setattr(parallel, "available_memory", lambda: 2**30)
    assert resolve_workers(0) == 1
    assert resolve_workers(3) == 3
    assert resolve_workers(4, backend="vllm") == 1
    with pytest.raises(UserError):
        resolve_workers(-1)


def test_inference_dtype():
    from selfdistill.core.models import inference_dtype, native_bf16

    assert inference_dtype("float32") == "float32"
    assert inference_dtype("float32", "bfloat16") == "bfloat16"
    assert inference_dtype("float32", "auto") == ("bfloat16" if native_bf16() else "float32")
    with pytest.raises(UserError, match="dtype"):
        inference_dtype("float32", "bf17")
