"""scripts/rewrite_imports.py ports code written against the layouts before issues 20 and 33."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("rewrite_imports",
                                                  REPO / "scripts" / "rewrite_imports.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


OLD = '''from selfdistill.recipes.evaluate import evaluate_at_temperatures, write_eval_report
from selfdistill.recipes import ssd
from selfdistill.recipes.ssd import run_evaluate, run_sample
from selfdistill.core.config import SSDConfig, ModelConfig
from selfdistill.stages import console
from selfdistill.cli.errors import friendly
from selfdistill.distill.objective import _Sample
from selfdistill.generation.testing import tiny_llama


def f(monkeypatch):
    monkeypatch.setattr("selfdistill.recipes.sdpo.train.load_model", None)
'''

NEW = '''from selfdistill.evaluation.sweep import evaluate_at_temperatures
from selfdistill.recipes.evaluate.report import write_eval_report
from selfdistill.recipes.ssd import run as ssd
from selfdistill.recipes.ssd.run import run_compare as run_evaluate, run_sample
from selfdistill.recipes.ssd.config import SSDConfig
from selfdistill.core.config import ModelConfig
from selfdistill.core.console import console
from selfdistill.core.console import friendly
from selfdistill.distill.objective import LossSample as _Sample
from tiny import char_llama as tiny_llama


def f(monkeypatch):
    monkeypatch.setattr("selfdistill.recipes.sdpo.run.load_model", None)
'''


def test_old_imports_reach_todays_modules_and_names(tmp_path):
    path = tmp_path / "old.py"
    path.write_text(OLD)
    assert _script().rewrite(str(path))
    assert path.read_text() == NEW


def test_rewriting_twice_changes_nothing(tmp_path):
    path = tmp_path / "new.py"
    path.write_text(NEW)
    assert not _script().rewrite(str(path))
    assert path.read_text() == NEW


def test_todays_tree_is_left_alone():
    script = _script()
    for f in sorted((REPO / "src").rglob("*.py")):
        text = f.read_text()
        for moves, names in script.STAGES:
            script._use(moves, names)
            text = script.rewrite_text(text)
        assert text == f.read_text(), f"rewrite_imports would change {f}"
