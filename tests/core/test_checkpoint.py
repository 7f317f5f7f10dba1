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
