"""SDPO and discover runs save per-token credit before each step and link it from report.html
(tiny random Llama: seconds, not minutes)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from selfdistill.analysis.credit import load_records

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing`:FutureWarning")]


def test_sdpo_run_saves_bounded_credit_and_writes_html_report(tiny_model_dir, tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes"))
    from test_sdpo import tiny_config  # tests/recipes/test_sdpo.py

    from selfdistill.recipes import sdpo as sdpo_recipe

    run = tmp_path / "run"
    cfg = tiny_config(tiny_model_dir, 2, ["credit.rollouts_per_step=1", "credit.max_tokens=6"])
    sdpo_recipe.run_sdpo_train(cfg, run)
    recs = load_records(run / "credit.jsonl")
    assert [r.meta["step"] for r in recs] == [1, 2]  # one rollout per step, as configured
    assert all(0 < len(r.tokens) <= 6 and r.meta["context"] in ("solution", "feedback")
               for r in recs)
    assert all(r.model == str(tiny_model_dir) and r.teacher_message != r.prompt for r in recs)
    md = (run / "report.md").read_text()
    assert "# SDPO report" in md and "## Token credit" in md
    html = (run / "report.html").read_text()
    assert "data:image/png;base64," in html and "selfdistill sdpo train" in html
    linked = sorted((run / "credit").glob("*.html"))
    assert linked and all(p.name in html for p in linked)


def test_discover_sdpo_saves_credit_per_update(tiny_model_dir, tmp_path):
    from test_discover_model import tiny_cfg

    from selfdistill.recipes.discover import run_discover

    cfg = tiny_cfg(problem="builtin/easy-count-positives", methods=["sdpo"])
    cfg.model.spec = str(tiny_model_dir)
    cfg.credit.rollouts_per_step = 1
    results = run_discover(cfg, tmp_path)
    recs = load_records(tmp_path / "credit.jsonl")
    assert len(recs) == results[0].updates  # one saved rollout before every SDPO update
    assert [r.meta["step"] for r in recs] == list(range(1, len(recs) + 1))
    assert all(r.meta["method"] == "sdpo" and r.meta["seed"] == 0 for r in recs)
    assert (tmp_path / "report.html").is_file()
    if recs:
        assert "## Token credit" in (tmp_path / "report.md").read_text()
