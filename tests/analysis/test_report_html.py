"""report.html from report.md: embedded plots, tables, config, reproduce commands; the SDPO
and assistant-demo reports."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from selfdistill.assist.report import write_demo_report
from selfdistill.core.records import JsonlWriter
from selfdistill.evaluation.report import markdown_table
from selfdistill.evaluation.report_html import (
    embed_images,
    render_html_report,
    reproduce_commands,
    write_html_report,
)
from selfdistill.recipes.sdpo.report import write_sdpo_report

PNG = base64.b64decode(  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def test_markdown_tables_images_and_escaping(tmp_path: Path):
    (tmp_path / "plot.png").write_bytes(PNG)
    md = "\n\n".join([
        "# Eval <script>x</script>", markdown_table(["T", "pass@1"], [["0.7", "12.5%"]]),
        "![plot](plot.png)", "![gone](missing.png)", "![web](https://example.org/a.png)",
        "<img src=x onerror=alert(1)>"])
    page = render_html_report(md, tmp_path, config_text="recipe: ssd\nx: <b>",
                              commands=["selfdistill ssd run c.yaml"])
    assert "<title>Eval &lt;script&gt;x&lt;/script&gt;</title>" in page
    assert "<script" not in page  # the report page runs no script at all
    assert "<td>0.7</td><td>12.5%</td>" in re.sub(r"\s+", "", page)
    assert f'src="data:image/png;base64,{base64.b64encode(PNG).decode()}"' in page
    assert 'src="missing.png"' in page and 'src="https://example.org/a.png"' in page
    assert "&lt;img src=x onerror" in page and "x: &lt;b&gt;" in page
    assert "selfdistill ssd run c.yaml" in page


def test_embed_images_leaves_data_uris_and_unknown_files():
    body = '<p><img src="data:image/png;base64,AAAA" alt="a" /><img src="nope.png" /></p>'
    assert embed_images(body, Path("/nonexistent")) == body


@pytest.mark.parametrize("cfg,expected", [
    ({"recipe": "ssd"}, "selfdistill ssd run RUN/config.yaml"),
    ({"recipe": "sdpo"}, "selfdistill sdpo train RUN/config.yaml"),
    ({"recipe": "discover", "problem": "builtin/x"}, "selfdistill discover --recipe RUN/config.yaml"),
    ({"recipe": "discover", "problem": ""}, "selfdistill discover-bench --recipe RUN/config.yaml"),
    ({"recipe": "evaluate", "model": {"spec": "m", "dtype": "float32"},
      "eval": {"benchmark": "humaneval", "n": 4, "temperatures": [0.0, 0.8], "top_k": 20,
               "top_p": 0.8, "max_new_tokens": 384, "k_values": [1, 2], "seed": 0,
               "limit": 10}},
     "selfdistill evaluate --model m --benchmark humaneval --n 4 --temperatures 0,0.8 --top-k 20 "
     "--top-p 0.8 --max-new-tokens 384 --k 1,2 --seed 0 --dtype float32 --run-dir RUN --limit 10"),
])
def test_reproduce_commands(cfg, expected):
    assert expected in reproduce_commands(Path("RUN"), cfg)


def test_evaluate_command_flags_exist():
    """The reproduce command for evaluate only uses flags the CLI has."""
    from typer.testing import CliRunner

    from selfdistill.cli.main import app

    help_text = CliRunner().invoke(app, ["evaluate", "--help"], terminal_width=200).output
    cmd = reproduce_commands(Path("RUN"), {"recipe": "evaluate", "model": {}, "eval": {
        "temperatures": [0.0], "k_values": [1], "limit": 3}})[-1]
    for flag in re.findall(r"--[a-z-]+", cmd):
        assert flag in help_text, flag


def test_write_html_report_beside_the_markdown(tmp_path: Path):
    (tmp_path / "config.yaml").write_text("recipe: ssd\nrun_dir: r\n")
    (tmp_path / "report.md").write_text("# SSD report\n\nok\n")
    out = write_html_report(tmp_path / "report.md")
    assert out == tmp_path / "report.html"
    page = out.read_text()
    assert "recipe: ssd" in page and f"selfdistill ssd run {tmp_path}/config.yaml" in page


def test_sdpo_report_from_metrics_and_credit(tmp_path: Path):
    from test_credit import _rec

    (tmp_path / "config.yaml").write_text(
        "recipe: sdpo\nsteps: 3\nmodel: {spec: tiny}\nloss: {algorithm: sdpo, top_k: 20}\n")
    with JsonlWriter(tmp_path / "metrics.jsonl") as w:
        for s in (1, 2, 3):
            w.write({"step": s, "kind": "train", "reward_mean": 0.1 * s, "pass_rate": 0.1 * s,
                     "loss": 1.0 / s, "teacher_student_kl": 0.5, "with_solution": 2,
                     "feedback_only": 1, "no_context": 5})
        w.write({"step": 3, "kind": "eval", "pass@1_T0": 0.25})
    with JsonlWriter(tmp_path / "credit.jsonl") as w:
        w.write(_rec([0.0, -2.0], meta={"step": 2, "problem_id": "p", "sample_idx": 1,
                                        "context": "feedback"}).to_dict())
    md = write_sdpo_report(tmp_path).read_text()
    assert "Reward 0.100 at step 1 -> 0.300 at step 3" in md
    assert "| 3 | 0.3 | 0.3 | 0.3333 | 0.5 |" in md and "2/1/5" in md
    assert "| 3 | 0.25 |" in md
    assert "## Token credit" in md and "[open](credit/p-2-1.html)" in md
    page = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in page and 'href="credit/p-2-1.html"' in page
    assert (tmp_path / "credit" / "p-2-1.html").is_file()


def test_demo_report(tmp_path: Path):
    res = {"updates": 3, "sequence": {"before": [1.0, -1.0], "after": [2.0, -0.5], "rose": 2,
                                      "n": 2, "control_after": [0.5, -1.5]},
           "decision": {"before": [0.1, 0.2], "after": [0.0, 0.3], "rose": 1, "n": 2}}
    md = write_demo_report(tmp_path, ["a | b", "c"], res, "demo.yaml").read_text()
    assert "| a \\| b | 1.000 | 2.000 | +1.000 | 0.500 | -0.500 |" in md
    assert "| **mean** | 0.000 | 0.750 | +0.750 | -0.500 | -0.500 |" in md
    assert "rose on 1/2 prompts" in md
    page = (tmp_path / "report.html").read_text()
    assert "selfdistill assist demo --script demo.yaml" in page  # not run from the CLI here


def test_evaluate_report_is_also_html(tmp_path: Path):
    """recipes/evaluate's report hook: report.html beside report.md, plot embedded."""
    from selfdistill.core.config import ModelConfig, write_run_config
    from selfdistill.evaluation.config import EvalConfig
    from selfdistill.evaluation.metrics import TemperatureResult
    from selfdistill.problems import Problem
    from selfdistill.recipes.evaluate.config import EvaluateConfig
    from selfdistill.recipes.evaluate.report import write_eval_report

    cfg = EvalConfig(benchmark="builtin:dev", temperatures=[0.0, 0.8], k_values=[1])
    write_run_config(tmp_path, EvaluateConfig(run_dir=str(tmp_path), model=ModelConfig("m"),
                                              eval=cfg), "evaluate")
    summ = {"overall": {"n_problems": 4, "pass@1": {"mean": 0.25, "ci": [0.0, 0.75]}}}
    res = [TemperatureResult(t, 1, summ, 0.0, 0.0, {"passed": 1, "failed": 3})
           for t in (0.0, 0.8)]
    problems = [Problem(id=f"p{i}", statement="", tests=[]) for i in range(4)]
    md, _ = write_eval_report(tmp_path, "m", "builtin:dev", problems, res, cfg)
    page = (tmp_path / "report.html").read_text()
    assert md.read_text().startswith("# Evaluation: m on builtin:dev")
    assert "data:image/png;base64," in page and "25.0% [0.0, 75.0]" in page
    assert "selfdistill evaluate --model m --benchmark builtin:dev" in page
