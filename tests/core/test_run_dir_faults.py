"""Full disks, read-only run directories and damaged run files: one clear line, a non-zero
exit, and a run that resumes intact once the fault is gone (never a mix of records)."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfdistill.cli.main import app
from selfdistill.core.records import JsonlWriter, read_jsonl

runner = CliRunner()


def _evaluate(model: Path, run: Path):
    return runner.invoke(app, ["evaluate", "--model", str(model), "--benchmark", "builtin:dev",
                               "--limit", "3", "--n", "2", "--temperature", "1.0",
                               "--max-new-tokens", "6", "--batch-size", "2",
                               "--run-dir", str(run)])


def _records(run: Path) -> tuple[list, list]:
    t = run / "model" / "T1.00"
    return (sorted((r["problem_id"], r["sample_idx"], r["text"])
                   for r in read_jsonl(t / "samples.jsonl")),
            sorted((r["problem_id"], r["sample_idx"], r["passed"], r["status"])
                   for r in read_jsonl(t / "verdicts.jsonl")))


def _one_error_line(res, needle: str) -> None:
    lines = [x for x in res.output.splitlines() if x.strip()]
    errs = [x for x in lines if x.startswith("error:")]
    assert len(errs) == 1 and needle in errs[0], res.output
    assert "Traceback" not in res.output


@pytest.mark.parametrize("code,needle", [(errno.ENOSPC, "no space left"),
                                         (errno.EROFS, "read-only")])
def test_a_disk_fault_mid_run_is_one_line_and_the_rerun_resumes_intact(
        tiny_model_dir, tmp_path, monkeypatch, code, needle):
    ref = tmp_path / "ref"
    assert _evaluate(tiny_model_dir, ref).exit_code == 0
    calls = {"n": 0}
    real = JsonlWriter.write_many

    def failing(self, records):  # the second flush of the run hits the fault
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(code, "injected", str(self.path))
        return real(self, records)

    monkeypatch.setattr(JsonlWriter, "write_many", failing)
    run = tmp_path / "run"
    res = _evaluate(tiny_model_dir, run)
    assert res.exit_code == 1
    _one_error_line(res, needle)
    monkeypatch.setattr(JsonlWriter, "write_many", real)  # space again
    assert _evaluate(tiny_model_dir, run).exit_code == 0
    assert _records(run) == _records(ref)
    assert not list(run.rglob("*.tmp"))


def _can_mount() -> bool:
    probe = Path("/tmp") / f"sd-mount-probe-{id(object())}"
    probe.mkdir(exist_ok=True)
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                            capture_output=True).returncode == 0
        if ok:
            subprocess.run(["umount", str(probe)], check=True)
        return ok
    except OSError:
        return False
    finally:
        probe.rmdir()


@pytest.mark.skipif(shutil.which("mount") is None or not _can_mount(),
                    reason="needs root and tmpfs mounts (the fault-injecting test covers it)")
def test_a_real_full_tmpfs_then_room_again(tiny_model_dir, tmp_path):
    """A 256 KiB tmpfs filled up mid-run: one line, exit 1; freed: the rerun finishes intact."""
    ref = tmp_path / "ref"
    assert _evaluate(tiny_model_dir, ref).exit_code == 0
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], check=True)
    try:
        config = sum(p.stat().st_size for p in ref.glob("*.yaml"))
        samples = (ref / "model" / "T1.00" / "samples.jsonl").stat().st_size
        filler = mnt / "filler"
        room = config + 8192 + samples // 3  # config and a first chunk fit; the rest does not
        with filler.open("wb") as fh:
            try:
                fh.write(b"\0" * (256 * 1024 - room))
            except OSError:
                pass
        run = mnt / "run"
        res = _evaluate(tiny_model_dir, run)
        assert res.exit_code != 0
        _one_error_line(res, "no space left")
        filler.unlink()
        assert _evaluate(tiny_model_dir, run).exit_code == 0
        assert _records(run) == _records(ref)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        res = _evaluate(tiny_model_dir, mnt / "other")
        assert res.exit_code != 0
        _one_error_line(res, "read-only")
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_damaged_line_in_the_middle_names_file_and_line(tmp_path):
    from selfdistill.errors import UserError

    p = tmp_path / "samples.jsonl"
    p.write_text('{"a": 1}\n{"a": 2, "tex\n{"a": 3}\n')
    with pytest.raises(UserError, match=r"samples.jsonl:2: not a JSON record"):
        read_jsonl(p)
    p.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(UserError, match=r"samples.jsonl:2: expected a JSON object"):
        read_jsonl(p)
    p.write_text('{"a": 1}\n{"a": 2, "torn')  # a torn tail is a kill: dropped, not an error
    assert read_jsonl(p) == [{"a": 1}]


def test_a_damaged_run_file_stops_the_command_with_one_line(tiny_model_dir, tmp_path):
    run = tmp_path / "run"
    assert _evaluate(tiny_model_dir, run).exit_code == 0
    samples = run / "model" / "T1.00" / "samples.jsonl"
    lines = samples.read_text().splitlines(keepends=True)
    samples.write_text(lines[0] + lines[1][: len(lines[1]) // 2] + "\n" + "".join(lines[2:]))
    res = _evaluate(tiny_model_dir, run)
    assert res.exit_code == 2
    _one_error_line(res, "samples.jsonl:2")


def test_an_edited_config_snapshot_is_refused(tiny_model_dir, tmp_path):
    run = tmp_path / "run"
    assert _evaluate(tiny_model_dir, run).exit_code == 0
    cfg = run / "config.yaml"
    cfg.write_text(cfg.read_text().replace("max_new_tokens: 6", "max_new_tokens: 60"))
    res = _evaluate(tiny_model_dir, run)
    assert res.exit_code == 2
    _one_error_line(res, "config.yaml was edited")
    before = json.loads(json.dumps(_records(run)))
    assert json.loads(json.dumps(_records(run))) == before  # nothing was written


def test_a_damaged_sdpo_checkpoint_is_skipped_for_the_one_before(tmp_path):
    """A checkpoint whose files were cut (a disk fault, a copy gone wrong): the run resumes
    from the newest checkpoint that loads, and the damaged one is moved aside."""
    import torch

    from selfdistill.core.checkpoint import latest_checkpoint

    ck = tmp_path / "checkpoints"
    for step in (2, 4):
        d = ck / f"step-{step}"
        (d / "model").mkdir(parents=True)
        torch.save({"optimizer": {}}, d / "trainer_state.pt")
        (d / "model" / "adapter_model.safetensors").write_bytes(b"w" * 100)
        files = {"trainer_state.pt": (d / "trainer_state.pt").stat().st_size,
                 "model/adapter_model.safetensors": 100}
        (d / "state.json").write_text(json.dumps({"step": step, "files": files}))
    data = (ck / "step-4" / "trainer_state.pt").read_bytes()
    (ck / "step-4" / "trainer_state.pt").write_bytes(data[: len(data) // 2])
    best = latest_checkpoint(ck)
    assert best is not None and best.name == "step-2"
    assert (ck / "step-4.damaged").is_dir() and not (ck / "step-4").exists()
    assert latest_checkpoint(ck).name == "step-2"  # the damaged one is never picked up again
