"""selfdistill assist: profiles, updates, /undo bit-exactness, crash safety, scripts, learn, demo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from selfdistill.assist.config import SessionConfig
from selfdistill.assist.model import adapter_state
from selfdistill.assist.offline import parse_logged_turn
from selfdistill.assist.output import PlainOutput
from selfdistill.assist.profile import Profile
from selfdistill.assist.session import Session
from selfdistill.assist.update import UpdateConfig
from selfdistill.errors import UserError

REPO = Path(__file__).resolve().parents[2]
ANSWER = "```python\ndef add(a, b):\n    return a + b\n```\n\nThis function adds two numbers."


def _cfg() -> SessionConfig:
    return SessionConfig(max_new_tokens=8, update=UpdateConfig(steps=2, lr=1e-2, support_size=8))


def _session(root: Path, model: Path | None, name: str = "p") -> Session:
    return Session(name, str(model) if model else None, _cfg(), PlainOutput(echo=False), root=root)


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _file_state(d: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(d / "adapter_model.safetensors"))


def test_update_undo_is_bit_exact_and_restart_continues(tmp_path: Path, tiny_model_dir: Path):
    root = tmp_path / "profiles"
    with _session(root, tiny_model_dir) as s:
        v0 = adapter_state(s.model)
        assert _same(v0, _file_state(s.profile.version_dir(0)))
        s.ask("add two numbers", answer=ANSWER)
        res = s.feedback("no explanation after the code, please")
        assert res.steps == 2 and res.tokens > 0 and s.profile.current == 1
        v1 = adapter_state(s.model)
        assert not _same(v0, v1)  # the update moved the adapter
        assert _same(v1, _file_state(s.profile.version_dir(1)))
        s.demonstrate("```python\ndef add(a, b):\n    return a + b\n```")
        assert s.profile.current == 2 and not _same(v1, adapter_state(s.model))
        assert s.undo() == 1
        assert _same(v1, adapter_state(s.model))  # bit-exact, in memory
        assert s.undo() == 0
        assert _same(v0, adapter_state(s.model))
        assert s.undo() is None
        s.ask("add two numbers", answer=ANSWER)
        s.feedback("shorter")
        v3 = adapter_state(s.model)
        assert s.profile.current == 3 and [r["version"] for r in s.history()] == [3]
    # Starting again with the same profile continues where it stopped (no --model needed).
    with _session(root, None) as s2:
        assert s2.profile.current == 3
        assert _same(v3, adapter_state(s2.model))
        s2.reset()
        assert s2.profile.current == 0 and _same(v0, adapter_state(s2.model))
    log = [json.loads(x) for x in (root / "p" / "updates.jsonl").read_text().splitlines()]
    assert [r["event"] for r in log] == ["update", "update", "undo", "undo", "update", "reset"]
    assert log[0]["followup"] == "no explanation after the code, please"
    assert log[0]["answer"] == ANSWER and "loss_first" in log[0]["result"]


@pytest.mark.parametrize("loss,baseline", [("topk_kl", "none"), ("advantage", "none"),
                                           ("topk_kl", "neutral"), ("advantage", "neutral")])
def test_update_losses_report(tmp_path: Path, tiny_model_dir: Path, loss: str, baseline: str):
    cfg = _cfg()
    cfg.update.loss = loss  # type: ignore[assignment]
    cfg.update.baseline = baseline  # type: ignore[assignment]
    with Session("l", str(tiny_model_dir), cfg, PlainOutput(echo=False), root=tmp_path) as s:
        s.ask("add two numbers", answer=ANSWER)
        res = s.feedback("no explanation")
        assert res.steps == 2 and len(res.disliked) == 3
        assert all(a <= b for (_, a), (_, b) in zip(res.disliked, res.disliked[1:], strict=False))
        assert "teacher disliked" in res.summary()


def test_profile_errors(tmp_path: Path, tiny_model_dir: Path):
    with pytest.raises(UserError):
        Profile("../evil", tmp_path)
    with _session(tmp_path, tiny_model_dir) as s:
        with pytest.raises(UserError, match="in use"):
            _session(tmp_path, tiny_model_dir)
        assert s.handle("/fb x")  # no answer yet: shown as an error, the session goes on
        assert s.handle("/bogus")
        assert not s.handle("/quit")
    with pytest.raises(UserError, match="created with model"):
        Session("p", "smollm2-135m-instruct", _cfg(), root=tmp_path)


def _prepare_v1(root: Path, model: Path) -> dict[str, torch.Tensor]:
    with _session(root, model) as s:
        s.ask("add two numbers", answer=ANSWER)
        s.feedback("no explanation")
        return adapter_state(s.model)


@pytest.mark.parametrize("point", ["train", "save", "pointer"])
def test_kill_during_update_leaves_previous_adapter(tmp_path: Path, tiny_model_dir: Path,
                                                    point: str):
    root = tmp_path / "profiles"
    v1 = _prepare_v1(root, tiny_model_dir)
    script = tmp_path / "turns.yaml"
    script.write_text(json.dumps([{"user": "add", "answer": ANSWER}, {"feedback": "shorter"}]))
    env = {**os.environ, "SELFDISTILL_ASSIST_PAUSE_AT": point, "SELFDISTILL_ASSIST_PAUSE_S": "60"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "selfdistill.assist.cli", "--profile", "p", "--home", str(root),
         "--script", str(script), "--steps", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        seen = ""
        while f"[pause:{point}]" not in seen:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, f"exited early: {seen}"
            seen += line
            assert time.time() < deadline
        proc.send_signal(signal.SIGKILL)  # kill -9 in the middle of the update
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    prof = Profile("p", root)
    assert prof.state() == {"current": 1, "stack": [0, 1]}
    assert _same(v1, _file_state(prof.current_dir()))
    # The pointed-at adapter loads as a plain model spec (load_model on the adapter dir).
    from selfdistill.core.models import load_model

    model, _ = load_model(str(prof.current_dir()))
    assert _same(v1, adapter_state(model))
    # Reopening recovers (drops half-written / uncommitted dirs) and learns on.
    with _session(root, None) as s:
        assert _same(v1, adapter_state(s.model))
        assert not list(prof.adapters_dir.glob(".tmp-*"))
        assert sorted(p.name for p in prof.adapters_dir.iterdir()) == ["v0000", "v0001"]
        s.ask("add", answer=ANSWER)
        s.feedback("shorter")
        assert s.profile.current == 2


def test_script_mode_with_sandbox_run(tmp_path: Path, tiny_model_dir: Path):
    script = tmp_path / "s.yaml"
    script.write_text(
        "turns:\n"
        "  - user: print a sum\n"
        "    answer: \"```python\\nprint(1 + 1)\\n```\"\n"
        "  - run: null\n"
        "  - run: 'assert 1 + 1 == 3'\n"
        "  - fb: null\n"          # learn from the failing sandbox result
        "  - /history\n"
        "  - undo: true\n"
        "  - hello there\n"       # a generated answer from the tiny model
        "  - accept: true\n")
    r = subprocess.run(
        [sys.executable, "-m", "selfdistill.assist.cli", "--model", str(tiny_model_dir),
         "--profile", "s", "--home", str(tmp_path / "h"), "--script", str(script),
         "--max-new-tokens", "6", "--steps", "1"],
        capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout
    assert "[ok] exit code 0\nstdout:\n2" in out
    assert "[failed] Wrong answer" in out
    assert "v1: feedback update: loss" in out and "teacher disliked" in out
    assert "undone: live adapter is v0" in out and "accepted" in out
    log = (tmp_path / "h" / "s" / "updates.jsonl").read_text()
    assert '"source": "sandbox"' in log


def test_cli_bad_input_exits_2(tmp_path: Path):
    from typer.testing import CliRunner

    from selfdistill.assist.cli import assist_app

    runner = CliRunner()
    r = runner.invoke(assist_app, ["--profile", "x", "--home", str(tmp_path),
                                   "--script", str(tmp_path / "missing.yaml")])
    assert r.exit_code == 2 and "Script not found" in r.output
    r = runner.invoke(assist_app, ["learn", "--profile", "bad name!", "--log", "x.jsonl",
                                   "--home", str(tmp_path)])
    assert r.exit_code == 2 and "Profile name" in r.output


def test_piped_stdin_and_bad_script_turn(tmp_path: Path, tiny_model_dir: Path):
    base = [sys.executable, "-m", "selfdistill.assist.cli", "--model", str(tiny_model_dir),
            "--home", str(tmp_path), "--max-new-tokens", "4", "--steps", "1"]
    r = subprocess.run([*base, "--profile", "pipe"], input="hello\n/fb shorter\n/quit\n",
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "v1: feedback update" in r.stdout, r.stderr[-1500:]
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {user: hi, feedback: x}\n")
    r = subprocess.run([*base, "--profile", "bad", "--script", str(bad)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2 and "exactly one of" in r.stderr


def test_learn_from_log(tmp_path: Path, tiny_model_dir: Path):
    log = tmp_path / "conv.jsonl"
    rows = [
        {"prompt": "add numbers", "answer": ANSWER, "followup": "no prose after code"},
        {"messages": [{"role": "user", "content": "sub"}, {"role": "assistant",
                      "content": "a - b"}, {"role": "user", "content": "use a function"}]},
        {"prompt": "mul", "answer": "a*b", "followup": "name it mul"},
        {"prompt": "broken record"},
    ]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    from selfdistill.assist.run import run_assist_learn

    results = run_assist_learn("l", log, model_spec=str(tiny_model_dir), batch_size=2,
                               steps=1, home=tmp_path / "h")
    assert len(results) == 2 and results[0].sequences == 2 and results[1].sequences == 1
    prof = Profile("l", tmp_path / "h")
    assert prof.current == 2 and len(prof.history()) == 2
    assert prof.history()[0]["turns"][1]["followup"] == "use a function"
    chat, ans, fu = parse_logged_turn(rows[1])
    assert chat == [{"role": "user", "content": "sub"}] and ans == "a - b"


def test_demo_reports_margins(tmp_path: Path, tiny_model_dir: Path, capsys):
    script = tmp_path / "demo.yaml"
    script.write_text(json.dumps({
        "turns": [{"user": "add", "answer": ANSWER}, {"feedback": "code only"}],
        "heldout": [{"prompt": "sub", "preferred": "a - b", "dispreferred": "a - b. Done."},
                    {"prompt": "mul", "preferred": "a * b", "dispreferred": "a * b ok"}],
        "control_feedback": ["explain more"]}))
    from selfdistill.assist.demo import run_demo

    res = run_demo(script, str(tiny_model_dir), _cfg(), PlainOutput(echo=False),
                   home=tmp_path / "h", show=1)
    assert res["updates"] == 1 and res["n"] == 2 and len(res["after"]) == 2
    assert res["before"] != res["after"] and len(res["sequence"]["control_after"]) == 2
    assert len(res["decision"]["after"]) == 2
    out = capsys.readouterr().out
    assert "held-out preference margin" in out and "opposite-feedback control" in out
    assert "control (opposite feedback)" in (tmp_path / "h" / "report.html").read_text()


def _spawn_tui(args: list[str], home: Path):
    pexpect = pytest.importorskip("pexpect")
    env = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm", "COLUMNS": "160"}
    child = pexpect.spawn(sys.executable, ["-m", "selfdistill.assist.cli", *args, "--home",
                                          str(home)], env=env, encoding="utf-8",
                         dimensions=(40, 160), timeout=120)
    child.logfile_read = (home / "tty.log").open("w")  # the screen, for post-mortems
    return child


def _drive_tui(child, expect_prompt_after_update: float = 120) -> None:
    child.expect(r"you \(v0\)>")
    child.sendline("write a function that adds two numbers")
    child.expect("assistant")
    child.expect(r"you \(v0\)>")
    child.sendline("/fb name variables in snake_case")
    child.expect("v1: feedback update: loss", timeout=expect_prompt_after_update)
    child.expect(r"you \(v1\)>")
    child.sendline("/history")
    child.expect("v1 feedback")
    child.expect(r"you \(v1\)>")
    child.sendline("/undo")
    child.expect("undone: live adapter is v0")
    child.expect(r"you \(v0\)>")
    child.sendline("/demo")
    child.expect("finish with a line /end")
    for line in ("def add(a, b):", "    return a + b", "/end"):
        child.expect("demo>")
        child.sendline(line)
    child.expect("v2: demonstration update", timeout=expect_prompt_after_update)
    child.expect(r"you \(v2\)>")
    child.sendline("/quit")
    child.expect("bye")
    child.expect(pexpect_eof())
    child.close()
    assert child.exitstatus == 0


def pexpect_eof():
    import pexpect

    return pexpect.EOF


def test_tui_in_pseudo_terminal(tmp_path: Path, tiny_model_dir: Path):
    child = _spawn_tui(["--model", str(tiny_model_dir), "--profile", "tty",
                        "--max-new-tokens", "8", "--steps", "1"], tmp_path)
    _drive_tui(child)
    assert Profile("tty", tmp_path).current == 2


@pytest.mark.slow
def test_tui_in_pseudo_terminal_real_model(tmp_path: Path):
    child = _spawn_tui(["--profile", "tty-real", "--max-new-tokens", "24", "--steps", "1",
                        "--threads", "1"], tmp_path)
    _drive_tui(child, expect_prompt_after_update=240)


@pytest.mark.slow
def test_demo_real_model(tmp_path: Path):
    from selfdistill.assist.run import run_assist_demo

    res = run_assist_demo(REPO / "examples" / "assist_demo_turns.yaml", threads=1,
                          home=tmp_path, control=False)
    assert res["updates"] == 5 and res["n"] == 6
    # Measured: sequence 13.6 -> 32.1, decision -5.7 -> +1.4 (6/6 prompts each).
    assert res["sequence"]["mean_after"] > res["sequence"]["mean_before"] + 5
    assert res["decision"]["mean_after"] > res["decision"]["mean_before"] + 3


def test_learn_resumed_after_a_kill_learns_each_batch_once(tmp_path: Path, tiny_model_dir: Path):
    """Regression (chaos): a rerun after a kill learned the committed batches a second time."""
    from selfdistill.assist.run import run_assist_learn

    log = tmp_path / "conv.jsonl"
    rows = [{"prompt": f"task {i}", "answer": ANSWER, "followup": f"fix {i}"} for i in range(3)]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    once = run_assist_learn("a", log, model_spec=str(tiny_model_dir), batch_size=1, steps=1,
                            home=tmp_path / "h1")
    # "Killed" after the first batch: its version is committed but its log line is lost.
    log1 = tmp_path / "first.jsonl"
    log1.write_text(json.dumps(rows[0]) + "\n")
    run_assist_learn("a", log1, model_spec=str(tiny_model_dir), batch_size=1, steps=1,
                     home=tmp_path / "h2")
    prof = Profile("a", tmp_path / "h2")
    prof.log_path.write_text("")
    again = run_assist_learn("a", log, model_spec=str(tiny_model_dir), batch_size=1, steps=1,
                             home=tmp_path / "h2")
    assert len(once) == 3 and len(again) == 2  # the first batch was not learned twice
    ref = Profile("a", tmp_path / "h1")
    assert prof.state()["stack"] == ref.state()["stack"] == [0, 1, 2, 3]
    assert [e["batch_key"] for e in prof.history()] == [e["batch_key"] for e in ref.history()]
    assert _same(_file_state(prof.current_dir()), _file_state(ref.current_dir()))
    assert run_assist_learn("a", log, model_spec=str(tiny_model_dir), batch_size=1, steps=1,
                            home=tmp_path / "h2") == []


def test_bf16_compute_updates_fp32_masters_like_fp32(tmp_path: Path, tiny_model_dir: Path):
    """optim.compute_dtype bfloat16 (`--compute-dtype`): the update's matmuls run in bf16
    while the adapter (the master weights) stays fp32 and moves; its first loss is within
    bf16 rounding of the fp32 run's. (This random tiny model's loss is ~1e-7, its update
    all noise, so the update's direction is compared on a real step in
    tests/training/test_fsdp.py's bf16 test, not here.)"""
    seen, losses = {}, {}
    for dtype in ("float32", "bfloat16"):
        cfg = _cfg()
        cfg.lora.compute_dtype = dtype
        with Session("c", str(tiny_model_dir), cfg, PlainOutput(echo=False),
                     root=tmp_path / dtype) as s:
            v0 = adapter_state(s.model)
            s.ask("add two numbers", answer=ANSWER)
            dtypes: set[torch.dtype] = set()
            lin = next(m for m in s.model.modules() if type(m) is torch.nn.Linear)
            hook = lin.register_forward_hook(lambda m, i, o, d=dtypes: d.add(o.dtype))
            try:
                res = s.feedback("no explanation after the code, please")
            finally:
                hook.remove()
            v1 = adapter_state(s.model)
            assert all(t.dtype == torch.float32 for t in v1.values())
            assert not _same(v0, v1)
            seen[dtype], losses[dtype] = dtypes, res.loss_first
    assert seen == {"float32": {torch.float32}, "bfloat16": {torch.bfloat16}}
    assert abs(losses["bfloat16"] - losses["float32"]) < 0.05 * abs(losses["float32"]) + 1e-3


def test_cli_bad_compute_dtype_exits_2(tmp_path: Path):
    from typer.testing import CliRunner

    from selfdistill.assist.cli import assist_app

    r = CliRunner().invoke(assist_app, ["learn", "--profile", "x", "--log", "x.jsonl",
                                        "--home", str(tmp_path), "--compute-dtype", "float16"])
    assert r.exit_code == 2 and "--compute-dtype must be float32 or bfloat16" in r.output
