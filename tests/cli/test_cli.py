"""The command line as a user meets it: outputs, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfdistill.cli.main import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_config_prints_resolved_yaml() -> None:
    res = _run("config", str(REPO / "recipes" / "ssd_cpu.yaml"), "train.lr=2e-5")
    assert res.exit_code == 0
    assert "recipe: ssd" in res.stdout and "lr: 2.0e-05" in res.stdout


@pytest.mark.parametrize("override,needle", [("no_such_key=1", "no_such_key"),
                                             ("train.lr=abc", "train.lr")])
def test_config_errors_exit_2_with_one_line(override: str, needle: str) -> None:
    res = _run("config", str(REPO / "recipes" / "ssd_cpu.yaml"), override)
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in res.output


def test_problems_list_json_and_table() -> None:
    res = _run("problems", "list", "builtin", "--json")
    assert res.exit_code == 0
    records = json.loads(res.stdout)
    assert len(records) >= 150
    assert {r["tests"][0]["kind"] for r in records} == {"assert", "call", "stdio"}
    table = _run("problems", "list", "humaneval")
    assert table.exit_code == 0 and "164 problems" in table.stdout


def test_problems_list_fixture_sources(shared_fixtures: Path) -> None:
    for spec in (f"lcb:{shared_fixtures / 'lcb_code_generation_lite_sample.jsonl'}",
                 f"mbpp:{shared_fixtures / 'mbpp_train_sample.jsonl'}"):
        res = _run("problems", "list", spec, "--json")
        assert res.exit_code == 0, res.output
        assert len(json.loads(res.stdout)) >= 20


def test_problems_show() -> None:
    res = _run("problems", "show", "HumanEval/0")
    assert res.exit_code == 0
    assert "has_close_elements" in res.stdout and "prompt: user" in res.stdout


@pytest.mark.parametrize("args", [
    ("problems", "list", "nosuch"),
    ("problems", "list", "lcb:/no/such/file.jsonl"),
    ("problems", "show", "HumanEval/9999"),
    ("model", "info", "no-such-model-alias"),
    ("evaluate", "--temperatures", "a,b"),
    ("evaluate", "--chat-template-kwargs", "{enable_thinking: false"),
    ("evaluate", "--chat-template-kwargs", "[1, 2]"),
    ("ssd", "sample", "/no/such/recipe.yaml"),
])
def test_bad_input_exits_2_without_traceback(args: tuple[str, ...]) -> None:
    res = _run(*args)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "error" in res.output.lower()


_INTERRUPT_WHILE_IMPORTING = """
import os, signal, sys
# as a terminal starts it (a parent that ignores SIGINT would pass SIG_IGN on to us)
signal.signal(signal.SIGINT, signal.default_int_handler)
class Interrupt:  # a real SIGINT, delivered while the app's imports run
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(1000))  # the handler runs between bytecodes: here, mid-import
        return None
sys.meta_path.insert(0, Interrupt())
from selfdistill.cli import start
start()
"""


@pytest.mark.parametrize("module", ["typer", "selfdistill.core.console"])
def test_ctrl_c_during_startup_imports_is_one_line_and_exit_130(module: str) -> None:
    import subprocess
    import sys

    from selfdistill.cli import STARTUP_INTERRUPTED

    res = subprocess.run([sys.executable, "-c", _INTERRUPT_WHILE_IMPORTING.format(module=module),
                          "--help"], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "PYTHONPATH": str(REPO / "src")})
    assert res.returncode == 130, res.stderr
    assert res.stderr.strip() == STARTUP_INTERRUPTED and res.stdout == ""


def test_console_script_is_the_light_entry_point() -> None:
    """pyproject's `selfdistill` script is cli:start (imports the app inside its try)."""
    import tomllib

    from selfdistill.cli import start

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["selfdistill"] == "selfdistill.cli:start"
    assert start.__module__ == "selfdistill.cli"
