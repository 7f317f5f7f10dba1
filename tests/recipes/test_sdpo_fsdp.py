"""`selfdistill sdpo train` on 2 processes under torchrun (FSDP2 over gloo): three steps on
the embedded model through the CLI, and a kill -9 of one rank resumed bit-for-bit.

Both tests take the two CPU lanes (two processes at once) and are slow.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from selfdistill.core.records import read_jsonl

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning")]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(args: list[str], env: dict[str, str] | None = None, timeout: int = 900
             ) -> subprocess.CompletedProcess:
    """`torchrun --nproc-per-node 2 -m selfdistill.cli ARGS` (how users launch N processes)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
           "--master-addr", "127.0.0.1", "--master-port", str(_port()),
           "-m", "selfdistill.cli", *args]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
                "PYTHONPATH": str(REPO / "src"), **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env)


SMALL = ["data.source=builtin:train?difficulty=easy", "data.prompts_per_step=2",
         "rollout.n=2", "rollout.max_new_tokens=24", "rollout.timeout_s=2",
         "loss.micro_batch_size=2", "credit.enabled=false"]


def test_three_sdpo_steps_on_the_embedded_model_with_two_processes(tmp_path):
    run = tmp_path / "run"
    res = torchrun(["sdpo", "train", str(REPO / "recipes" / "sdpo_cpu.yaml"),
                    f"run_dir={run}", "steps=3", "save_every=1", *SMALL])
    assert res.returncode == 0, res.stderr[-4000:]
    rows = [r for r in read_jsonl(run / "metrics.jsonl") if r["kind"] == "train"]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(r["samples"] == 4 and r["groups"] == 2 for r in rows)  # both ranks counted
    recs = read_jsonl(run / "rollouts.jsonl")
    assert {r["rank"] for r in recs} == {0, 1} and len(recs) == 12
    ckpt = run / "checkpoints" / "step-3"
    assert (ckpt / "dcp" / ".metadata").is_file()
    assert {p.name for p in ckpt.glob("rank-*.pt")} == {"rank-0.pt", "rank-1.pt"}
    assert (run / "final" / "adapter_config.json").is_file()  # a plain PEFT adapter
    from selfdistill.core.models import load_model

    model, _ = load_model(str(run / "final"))
    assert hasattr(model, "peft_config")


def _tiny_args(run: Path, tiny_model_dir: Path, steps: int) -> list[str]:
    return ["sdpo", "train", str(REPO / "recipes" / "sdpo_cpu.yaml"), f"run_dir={run}",
            f"model.spec={tiny_model_dir}", f"steps={steps}", "save_every=1",
            "keep_checkpoints=1", "optim.method=full", "optim.lr=1e-3",
            "rollout.max_new_tokens=12", "loss.top_k=5", *SMALL]


def _records(run: Path) -> tuple[list, list]:
    rows = [{k: v for k, v in r.items() if "seconds" not in k and k != "time"}
            for r in read_jsonl(run / "metrics.jsonl")]
    return rows, read_jsonl(run / "rollouts.jsonl")


def test_kill_one_rank_and_resume_equals_an_uninterrupted_run(tmp_path, tiny_model_dir):
    """kill -9 of rank 1 as step 3 begins; the rerun resumes from step 2's sharded
    checkpoint: the same records and final weights as an uninterrupted run."""
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    res = torchrun(_tiny_args(whole, tiny_model_dir, 4))
    assert res.returncode == 0, res.stderr[-4000:]
    res = torchrun(_tiny_args(cut, tiny_model_dir, 4), env={"SELFDISTILL_KILL_AT": "3:1"},
                   timeout=300)
    assert res.returncode != 0
    assert [p.name for p in (cut / "checkpoints").glob("step-*")] == ["step-2"]
    assert not (cut / "final").exists()
    res = torchrun(_tiny_args(cut, tiny_model_dir, 4))
    assert res.returncode == 0, res.stderr[-4000:]
    assert "resuming SDPO" in res.stdout + res.stderr
    assert _records(cut) == _records(whole)
    from safetensors.torch import load_file

    a = load_file(whole / "final" / "model.safetensors")
    b = load_file(cut / "final" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
