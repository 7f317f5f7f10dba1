"""SSD: filtering, SFT example construction, the T_eff fit, kill-safe sampling, 2-process training."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfdistill.analysis.t_eff import fit_quadratic
from selfdistill.errors import UserError
from selfdistill.recipes.ssd.data import (
    REPETITIVE_ZLIB_RATIO,
    STUB_RULES,
    TRUNCATED_POLICIES,
    check_policy,
    degenerate_reason,
    drop_reason,
    sample_stats,
    select_samples,
    sft_examples,
    zlib_ratio,
)

VENV_BIN = Path(sys.executable).parent


def _rec(text: str, code: str | None, finish: str = "stop") -> dict:
    return {"text": text, "code": code, "finish_reason": finish, "n_tokens": len(text.split())}


def test_degenerate_rule_drops_empty_loops_placeholders_and_prose_not_short_code() -> None:
    loop = "```python\n" + "print(1)\n" * 60 + "```"
    recs = [
        _rec("", None),
        _rec("   \n", None),
        _rec("```python\nreturn 1\n```", "return 1"),  # short: kept (old rule dropped it)
        _rec("```python\ndef f(x):\n    return x + 1\n```", "def f(x):\n    return x + 1"),
        _rec("def wrong(x):\n    return x - 999", None),  # wrong, no fence, code: kept
        _rec(loop, "print(1)\n" * 60),
        _rec("```python\ndef f(x):\n    pass\n```", "def f(x):\n    pass"),
        _rec("I cannot solve this problem, sorry.", None),
    ]
    kept, dropped = select_samples(recs, truncated="drop", stub_rule="degenerate")
    assert dropped == {"empty": 2, "repetitive": 1, "placeholder": 1, "prose": 1}
    assert [r["text"] for r in kept] == [recs[i]["text"] for i in (2, 3, 4)]
    _, old = select_samples(recs, truncated="drop", stub_rule="oneline")
    assert old["stub"] == 2  # the old rule drops the short answer (and the prose)
    kept_all, dropped_none = select_samples(recs, truncated="keep", stub_rule="none")
    assert len(kept_all) == 6 and dropped_none == {"empty": 2}


def test_truncated_answers_are_dropped_kept_or_flagged() -> None:
    code = "def f(x):\n    y = x\n    return y"
    recs = [_rec(f"```python\n{code}\n```", code), _rec(f"```python\n{code}", code, "length")]
    kept, dropped = select_samples(recs, truncated="drop")
    assert len(kept) == 1 and dropped == {"truncated": 1}
    for policy in ("keep", "flag"):
        kept, dropped = select_samples(recs, truncated=policy)
        assert dropped == {} and [bool(r.get("truncated")) for r in kept] == [False, True]
    stats = sample_stats(recs, kept, {}, "flag", "degenerate")
    assert stats["kept_truncated"] == 1 and stats["truncation_rate"] == 0.5
    assert stats["policy"] == {"truncated": "flag", "stub_rule": "degenerate"}
    with pytest.raises(UserError, match="sample.truncated must be one of drop, keep, flag"):
        check_policy("cut", "degenerate")
    with pytest.raises(UserError, match="sample.stub_rule"):
        check_policy("drop", "short")


@given(st.text(max_size=400))
def test_drop_reason_is_total_and_empty_is_always_dropped(text: str) -> None:
    for truncated in TRUNCATED_POLICIES:
        for rule in STUB_RULES:
            reason = drop_reason(_rec(text, None), truncated, rule)
            assert (reason == "empty") == (not text.strip())


def test_repetition_threshold_separates_loops_from_ordinary_code() -> None:
    ordinary = ("def count_vowels(s):\n    total = 0\n    for ch in s.lower():\n"
                "        if ch in 'aeiou':\n            total += 1\n    return total\n")
    assert zlib_ratio(ordinary) > REPETITIVE_ZLIB_RATIO
    assert zlib_ratio(ordinary + "    x = x + 1\n" * 40) < REPETITIVE_ZLIB_RATIO
    assert degenerate_reason(ordinary, ordinary) is None


def test_sft_examples_mask_the_prompt_and_teach_stopping() -> None:
    recs = [{"prompt_token_ids": [1, 2, 3], "token_ids": [7, 8], "finish_reason": "stop"},
            {"prompt_token_ids": [1, 2], "token_ids": [7, 8, 99], "finish_reason": "stop"},
            {"prompt_token_ids": [1], "token_ids": [5, 6], "finish_reason": "length"}]
    ex = sft_examples(recs, eos_id=99, max_len=100)
    assert ex[0] == {"input_ids": [1, 2, 3, 7, 8, 99], "labels": [-100, -100, -100, 7, 8, 99]}
    assert ex[1]["input_ids"] == [1, 2, 7, 8, 99]  # EOS already there: not doubled
    assert ex[2]["labels"] == [-100, 5, 6]  # truncated answers get no EOS
    # an answer cut away entirely by max_len gives no example
    assert sft_examples([{"prompt_token_ids": [1] * 10, "token_ids": [2],
                          "finish_reason": "stop"}], eos_id=99, max_len=5) == []


@given(a=st.floats(-3, -0.1), b=st.floats(-2, 4), c=st.floats(-1, 1))
def test_quadratic_fit_recovers_an_exact_parabola(a: float, b: float, c: float) -> None:
    xs = [0.2, 0.5, 0.8, 1.0, 1.3, 1.7, 2.0]
    fit = fit_quadratic(xs, [a * x * x + b * x + c for x in xs])
    assert fit["a"] == pytest.approx(a, abs=1e-6)
    assert fit["r2"] == pytest.approx(1.0, abs=1e-9)
    assert fit["best_t_eff"] == pytest.approx(-b / (2 * a), rel=1e-6, abs=1e-6)


def _cli(*args: str, env: dict | None = None) -> list[str]:
    return [str(VENV_BIN / "selfdistill"), *args]


def _env(tmp_path: Path) -> dict:
    env = dict(os.environ)
    env["SELFDISTILL_CACHE"] = os.environ.get("SELFDISTILL_CACHE", "")
    if not env["SELFDISTILL_CACHE"]:
        env.pop("SELFDISTILL_CACHE")
    env["HF_HUB_OFFLINE"] = "1"
    return env


def _no_orphan_workers(since: float) -> None:
    """No sampling worker of a killed parent keeps running (it would write to part files)."""
    import psutil

    def orphans() -> list[int]:
        found = []
        for p in psutil.process_iter(["cmdline", "ppid", "create_time"]):
            cmd = " ".join(p.info["cmdline"] or [])
            if ("multiprocessing.spawn" in cmd and p.info["ppid"] == 1
                    and p.info["create_time"] >= since):
                found.append(p.pid)
        return found

    deadline = time.time() + 10
    while orphans() and time.time() < deadline:
        time.sleep(0.2)
    assert not orphans(), "a killed run left sampling workers running"


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sample_survives_sigkill_without_losing_or_duplicating(tiny_model_dir: Path,
                                                               tmp_path: Path, workers: int) -> None:
    run = tmp_path / "run"
    args = _cli("ssd", "sample", f"run_dir={run}", f"model.spec={tiny_model_dir}",
                "sample.source=builtin:train", "sample.limit=24", "sample.n=2",
                "sample.batch_size=4", "sample.max_new_tokens=24", f"sample.workers={workers}")
    out = run / "sample" / "samples.jsonl"

    started = time.time() - 1

    def on_disk() -> int:  # with workers, rows land in part files until a shard is done
        return sum(p.read_bytes().count(b"\n") for p in out.parent.glob("samples*.jsonl"))

    for attempt in range(3):  # kill it mid-way, twice, at different points
        proc = subprocess.Popen(args, env=_env(tmp_path), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        want = 8 * (attempt + 1)
        while time.time() < deadline and proc.poll() is None:
            if on_disk() >= want:
                break
            time.sleep(0.05)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        _no_orphan_workers(started)
    done = subprocess.run(args, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not list(out.parent.glob("samples.part*"))
    lines = out.read_text().splitlines()
    keys = Counter((json.loads(line)["problem_id"], json.loads(line)["sample_idx"])
                   for line in lines)
    assert len(keys) == 48 and set(keys.values()) == {1}
    stats = json.loads((run / "sample" / "stats.json").read_text())
    assert stats["samples"] == 48
    assert stats["kept"] + sum(stats["dropped"].values()) == 48
    kept = (run / "sample" / "kept.jsonl").read_text().splitlines()
    assert len(kept) == stats["kept"]


@pytest.mark.slow
def test_two_process_training_through_accelerate(tiny_model_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "sample").mkdir(parents=True)
    with (run / "sample" / "samples.jsonl").open("w") as fh:
        for i in range(16):
            fh.write(json.dumps({
                "problem_id": f"p{i}", "sample_idx": 0, "text": "def f():\n    return 1",
                "code": "def f():\n    return 1", "n_tokens": 4, "finish_reason": "stop",
                "prompt_token_ids": [1, 2, 3, 4 + i], "token_ids": [5, 6, 7, 8]}) + "\n")
    cmd = [str(VENV_BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "-m", "selfdistill.cli", "ssd", "train", f"run_dir={run}",
           f"model.spec={tiny_model_dir}", "train.batch_size=2", "train.grad_accum=1",
           "train.save_steps=100"]
    res = subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    log = json.loads((run / "train" / "train_log.json").read_text())
    # 16 examples, 2 per device, 2 processes -> 4 optimiser steps (1 process would take 8)
    assert log[-1]["step"] == 4
    from selfdistill.core.models import load_model

    model, _ = load_model(str(run / "train" / "final"))
    assert model.config.num_hidden_layers == 2


@pytest.mark.slow
def test_ssd_run_end_to_end_on_the_embedded_model(tmp_path: Path) -> None:
    """sample -> train -> evaluate on the real model, tiny sizes; the report is complete."""
    run = tmp_path / "run"
    res = subprocess.run(
        _cli("ssd", "run", "recipes/ssd_cpu.yaml", f"run_dir={run}", "sample.limit=6",
             "sample.max_new_tokens=64", "sample.truncated=keep", "train.batch_size=2",
             "train.grad_accum=1",
             "eval.limit=4", "eval.temperatures=0.0,0.8", "eval.max_new_tokens=64",
             "train.save_steps=1000"),
        env=_env(tmp_path), capture_output=True, text=True, timeout=900,
        cwd=Path(__file__).resolve().parents[2])
    assert res.returncode == 0, res.stderr[-3000:]
    report = (run / "report.md").read_text()
    assert "best-tuned base temperature" in report and "SSD" in report
    assert "truncated answers: keep, stub rule: degenerate" in report  # the data policy
    assert "Answers cut at the token limit: base" in report and "**Reading it:**" in report
    assert "data:image/png;base64," in (run / "report.html").read_text()  # report_html.py
    results = json.loads((run / "results.json").read_text())
    assert results["paired_gain"]["problems"] == 4
    for label in ("base", "ssd"):
        for t in ("T0.00", "T0.80"):
            assert (run / "eval" / label / t / "verdicts.jsonl").exists()
    assert (run / "pass1_vs_temperature.png").stat().st_size > 1000


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["parquet", "prompts"])
def test_ssd_sample_from_a_parquet_file_and_a_prompt_only_jsonl(tiny_model_dir: Path,
                                                                tmp_path: Path, fmt: str) -> None:
    """`selfdistill ssd sample` reads a local parquet file through `datasets` (hf:) and a
    prompt-only JSONL (prompts:); no tests are needed."""
    prompts = ["Write a function that reverses a string.", "Write a function that sums a list.",
               "Write a function that returns the largest of three numbers."]
    if fmt == "parquet":
        import datasets

        src = tmp_path / "train.parquet"
        datasets.Dataset.from_dict({"instruction": prompts, "uid": ["r", "s", "m"]}).to_parquet(
            str(src))
        spec, ids = f"hf:{src}?prompt=instruction&id=uid", ["train/r", "train/s", "train/m"]
    else:
        src = tmp_path / "mine.jsonl"
        src.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
        spec, ids = f"prompts:{src}", ["mine/0", "mine/1", "mine/2"]
    run = tmp_path / "run"
    res = subprocess.run(
        _cli("ssd", "sample", f"run_dir={run}", f"model.spec={tiny_model_dir}",
             f"sample.source={spec}", "sample.n=2", "sample.max_new_tokens=8",
             "sample.batch_size=4", "sample.truncated=flag", "sample.stub_rule=none"),
        env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    recs = [json.loads(line) for line in (run / "sample" / "samples.jsonl").open()]
    assert sorted({r["problem_id"] for r in recs}) == sorted(ids) and len(recs) == 6
    assert all(r["token_ids"] and r["prompt_token_ids"] for r in recs)
    stats = json.loads((run / "sample" / "stats.json").read_text())
    assert stats["policy"] == {"truncated": "flag", "stub_rule": "none"}
    cut = sum(r["finish_reason"] == "length" and bool(r["text"].strip()) for r in recs)
    assert stats["kept_truncated"] == cut  # flag keeps every cut answer that has text
    kept = [json.loads(line) for line in (run / "sample" / "kept.jsonl").open()]
    assert sum(k["truncated"] for k in kept) == cut


def test_bad_data_policy_is_one_line_error(tmp_path: Path) -> None:
    res = subprocess.run(_cli("ssd", "sample", f"run_dir={tmp_path}/run",
                              "sample.truncated=cut"), env=_env(tmp_path), capture_output=True,
                         text=True, timeout=120)
    assert res.returncode != 0 and "sample.truncated must be one of drop, keep, flag" in res.stderr
    assert "Traceback" not in res.stderr


def test_report_sentences_state_the_policy_and_the_ci_width() -> None:
    from types import SimpleNamespace

    from selfdistill.recipes.ssd.report import _data_line, _reading_note

    stats = {"truncation_rate": 0.25, "no_code_rate": 0.05, "dropped": {"truncated": 4, "prose": 1},
             "policy": {"truncated": "drop", "stub_rule": "degenerate"}}
    line = _data_line(stats)
    assert "25.0% hit the token limit" in line and "dropped: 1 prose, 4 truncated" in line
    assert _data_line({}) == ""
    note = _reading_note({"gain": 0.0, "ci": [-0.1, 0.05]}, SimpleNamespace(n=2), 40)
    assert "40 problems and 2 sample(s)" in note and "±7.5 points" in note
    assert note.count(". ") == 1  # two sentences
    assert "rests on" not in note  # how many problems differ: not known here
    assert "135M" not in note  # the report does not know the model's size (0.5B runs read it)
    few = _reading_note({"gain": 0.0125, "ci": [0.0, 0.038], "differing": 1},
                        SimpleNamespace(n=2), 40)
    assert "rests on the 1 problem(s) where the two models' pass rates differ" in few
    assert few.count(". ") == 1
    split = _reading_note({"gain": 0.0125, "ci": [-0.006, 0.02], "differing": 6, "better": 4,
                           "worse": 2, "sign_p": 0.6875}, SimpleNamespace(n=4), 164)
    assert "4 better, 2 worse, exact sign test p = 0.69" in split and split.count(". ") == 1
    many = _reading_note({"gain": 0.0, "ci": [-0.1, 0.05], "differing": 25},
                         SimpleNamespace(n=2), 40)
    assert "rests on" not in many


def test_paired_gain_counts_problems_that_moved_and_their_sign_test() -> None:
    """Per-problem pass rates: gain, how many problems got better/worse, the sign test."""
    from types import SimpleNamespace

    from selfdistill.evaluation.metrics import paired_gain as _paired_gain

    def res(cs):
        return SimpleNamespace(per_problem=[{"problem_id": f"P{i}", "n": 4, "c": c}
                                            for i, c in enumerate(cs)])

    g = _paired_gain(res([0, 0, 4, 2, 1, 0]), res([1, 2, 4, 0, 1, 0]))
    assert (g["better"], g["worse"], g["differing"], g["problems"]) == (2, 1, 3, 6)
    assert g["gain"] == pytest.approx((0.25 + 0.5 - 0.5) / 6)
    assert g["sign_p"] == pytest.approx(1.0)
    assert g["ci"][0] <= g["gain"] <= g["ci"][1]
    empty = _paired_gain(res([]), res([]))
    assert empty["problems"] == 0 and empty["sign_p"] == 1.0


def test_only_ssd_sweeps_the_ssd_model_alone_and_writes_no_report(tmp_path: Path,
                                                                  monkeypatch) -> None:
    """`ssd evaluate --only-ssd`: the base model is not loaded or sampled (its sweep came
    from elsewhere); the SSD model is swept exactly as in the paired run (same function)."""
    from selfdistill.recipes.ssd import run as ssd_run
    from selfdistill.recipes.ssd.config import SSDConfig

    seen: list[dict] = []
    monkeypatch.setattr(ssd_run, "_sweep_models",
                        lambda cfg, problems, specs, run_dir: seen.append(specs) or {})
    monkeypatch.setattr(ssd_run, "write_report", lambda *a, **k: pytest.fail("report written"))
    adapter = tmp_path / "train" / "final"
    adapter.mkdir(parents=True)
    cfg = SSDConfig(run_dir=str(tmp_path))
    cfg.eval.benchmark, cfg.eval.limit = "builtin:dev", 2
    out = ssd_run.run_compare(cfg, tmp_path, only_ssd=True)
    assert seen == [{"ssd": str(adapter)}]
    assert out == tmp_path / "eval" / "ssd" / "summary.json"


def test_only_ssd_is_a_cli_flag_of_ssd_evaluate(tmp_path: Path) -> None:
    """The flag is part of `ssd evaluate` (scripts/qwen05b_study.sh passes it with SSD_ONLY)."""
    res = subprocess.run(_cli("ssd", "evaluate", "--help"), env=_env(tmp_path),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "--only-ssd" in res.stdout
