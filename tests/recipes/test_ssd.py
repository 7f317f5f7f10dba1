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

from selfdistill.recipes.ssd import filter_samples, fit_quadratic, is_stub, sft_examples

VENV_BIN = Path(sys.executable).parent


def _rec(text: str, code: str | None, finish: str = "stop") -> dict:
    return {"text": text, "code": code, "finish_reason": finish, "n_tokens": len(text.split())}


def test_only_empty_and_stub_answers_are_dropped() -> None:
    recs = [
        _rec("", None),
        _rec("   \n", None),
        _rec("```python\nreturn 1\n```", "return 1"),  # one-line stub
        _rec("```python\ndef f(x):\n    return x + 1\n```", "def f(x):\n    return x + 1"),
        _rec("def wrong(x):\n    return x - 999", None),  # wrong but not a stub: kept
    ]
    kept, dropped = filter_samples(recs, drop_empty=True, drop_stubs=True)
    assert dropped == {"empty": 2, "stub": 1}
    assert [r["text"] for r in kept] == [recs[3]["text"], recs[4]["text"]]
    kept_all, dropped_none = filter_samples(recs, drop_empty=False, drop_stubs=False)
    assert len(kept_all) == 5 and dropped_none == {"empty": 0, "stub": 0}
    assert is_stub("pass", None) and not is_stub("a\nb", None)


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


@pytest.mark.slow
def test_sample_survives_sigkill_without_losing_or_duplicating(tiny_model_dir: Path,
                                                               tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = _cli("ssd", "sample", f"run_dir={run}", f"model.spec={tiny_model_dir}",
                "sample.source=builtin:train", "sample.limit=24", "sample.n=2",
                "sample.batch_size=4", "sample.max_new_tokens=24")
    out = run / "sample" / "samples.jsonl"
    for attempt in range(3):  # kill it mid-way, twice, at different points
        proc = subprocess.Popen(args, env=_env(tmp_path), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        want = 8 * (attempt + 1)
        while time.time() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= want:
                break
            time.sleep(0.05)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = subprocess.run(args, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = out.read_text().splitlines()
    keys = Counter((json.loads(line)["problem_id"], json.loads(line)["sample_idx"])
                   for line in lines)
    assert len(keys) == 48 and set(keys.values()) == {1}
    stats = json.loads((run / "sample" / "stats.json").read_text())
    assert stats["samples"] == 48
    assert stats["kept"] + sum(stats["dropped"].values()) == 48


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
             "sample.max_new_tokens=64", "train.batch_size=2", "train.grad_accum=1",
             "eval.limit=4", "eval.temperatures=0.0,0.8", "eval.max_new_tokens=64",
             "train.save_steps=1000"),
        env=_env(tmp_path), capture_output=True, text=True, timeout=900,
        cwd=Path(__file__).resolve().parents[2])
    assert res.returncode == 0, res.stderr[-3000:]
    report = (run / "report.md").read_text()
    assert "best-tuned base temperature" in report and "SSD" in report
    assert "data:image/png;base64," in (run / "report.html").read_text()  # report_html.py
    results = json.loads((run / "results.json").read_text())
    assert results["paired_gain"]["problems"] == 4
    for label in ("base", "ssd"):
        for t in ("T0.00", "T0.80"):
            assert (run / "eval" / label / t / "verdicts.jsonl").exists()
    assert (run / "pass1_vs_temperature.png").stat().st_size > 1000
