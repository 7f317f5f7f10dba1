"""core/checkpoint.py and core/optim.py: newest complete checkpoint, schedule shape."""

from __future__ import annotations

import json
import math

from selfdistill.core.checkpoint import checkpoint_step, latest_checkpoint
from selfdistill.core.optim import lr_lambda


def test_latest_checkpoint_skips_unfinished_and_temporary_directories(tmp_path):
    ck = tmp_path / "checkpoints"
    assert latest_checkpoint(ck) is None
    for name, step, done in (("step-2", 2, True), ("step-10", 10, True), ("step-12", 12, False),
                             ("step-14.tmp", 14, True)):
        (ck / name).mkdir(parents=True)
        if done:
            (ck / name / "state.json").write_text(json.dumps({"step": step}))
    best = latest_checkpoint(ck)
    assert best is not None and best.name == "step-10" and checkpoint_step(best) == 10


def test_lr_schedule_warmup_then_cosine_or_constant():
    f = lr_lambda("cosine", warmup_steps=2, total_steps=10)
    assert [f(0), f(1)] == [0.5, 1.0]
    assert f(2) == 1.0 and math.isclose(f(6), 0.5) and f(10) == 0.0 and f(20) == 0.0
    g = lr_lambda("constant", warmup_steps=0, total_steps=10)
    assert {g(s) for s in range(12)} == {1.0}


def test_a_trainer_checkpoint_cut_in_the_middle_is_never_resumed_from(tmp_path):
    """Regression (chaos): ssd train resumed from a checkpoint-N killed while being written."""
    from selfdistill.core.checkpoint import latest_trainer_checkpoint

    assert latest_trainer_checkpoint(tmp_path) is None
    for step, state in ((2, '{"global_step": 2}'), (4, '{"global_step": 4}'), (6, '{"glob'),
                        (8, None)):
        d = tmp_path / f"checkpoint-{step}"
        d.mkdir()
        (d / "model.safetensors").write_bytes(b"x")
        if state is not None:
            (d / "trainer_state.json").write_text(state)
    assert latest_trainer_checkpoint(tmp_path) == str(tmp_path / "checkpoint-4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2", "checkpoint-4"]


def test_a_resumed_run_drops_the_log_rows_it_writes_again(tmp_path):
    """Regression (chaos): sdpo train killed between checkpoints logged those steps twice."""
    from selfdistill.core.records import read_jsonl
    from selfdistill.core.tracking import drop_rows_after

    (tmp_path / "metrics.jsonl").write_text("".join(
        json.dumps({"step": s, "kind": k}) + "\n" for s, k in
        ((0, "eval"), (1, "train"), (2, "train"), (2, "eval"), (3, "train"))) + '{"step": 4')
    (tmp_path / "rollouts.jsonl").write_text("".join(
        json.dumps({"step": s, "sample_idx": 0}) + "\n" for s in (1, 2, 3)))
    (tmp_path / "credit.jsonl").write_text(json.dumps({"meta": {"step": 3}}) + "\n")
    drop_rows_after(tmp_path, 2)
    assert [(r["step"], r["kind"]) for r in read_jsonl(tmp_path / "metrics.jsonl")] == [
        (0, "eval"), (1, "train"), (2, "train"), (2, "eval")]
    assert [r["step"] for r in read_jsonl(tmp_path / "rollouts.jsonl")] == [1, 2]
    assert read_jsonl(tmp_path / "credit.jsonl") == []
    drop_rows_after(tmp_path, 0)  # from scratch: the step-0 evaluation is logged again
    assert read_jsonl(tmp_path / "metrics.jsonl") == []
    assert not list(tmp_path.glob("*.tmp"))
