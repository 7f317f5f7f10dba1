"""scripts/chaos.py, CI size: every long command killed at random moments (at least twice,
SIGKILL and a SIGINT/SIGTERM) and resumed to the end gives the uninterrupted run's records
and weights, with no temporary file, process or lock left behind.

On a tiny random model (the harness and resume logic are what is tested; the embedded
model's table, N >= 20, is `python scripts/chaos.py --kills 20`, docs/results.md).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _chaos():
    spec = importlib.util.spec_from_file_location("chaos", REPO / "scripts" / "chaos.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["chaos"] = mod
    spec.loader.exec_module(mod)
    return mod


chaos = _chaos()


def test_compare_counts_lost_duplicated_and_different():
    ref = {"a": 1, "b": 2, "c": 3}
    got = {"a": 1, "b": 5, "d": 4, "a#DUP9": 1}
    assert chaos.compare(ref, got) == {"lost": ["c"], "extra": ["d"], "duplicated": ["a#DUP9"],
                                       "different": ["b"]}
    assert chaos._strip({"seconds_total": 3, "x": {"time": 1, "y": 2}}) == {"x": {"y": 2}}


def test_leftovers_finds_temp_files_and_held_locks(tmp_path):
    import fcntl

    (tmp_path / "a" / "final.tmp").mkdir(parents=True)
    (tmp_path / "s.part0.jsonl").write_text("")
    (tmp_path / ".lock").write_text("")
    with (tmp_path / ".lock").open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        found = chaos.leftovers(tmp_path)
    assert "a/final.tmp" in found and "s.part0.jsonl" in found and ".lock (held)" in found
    assert chaos.leftovers(tmp_path) == ["a/final.tmp", "s.part0.jsonl"]


@pytest.mark.slow
@pytest.mark.parametrize("command", list(chaos.COMMANDS))
def test_every_long_command_survives_random_kills(command, tiny_model_dir, tmp_path, capsys):
    rc = chaos.main(["--commands", command, "--kills", "2", "--seed", "7",
                     "--model", str(tiny_model_dir), "--root", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    row = [x for x in out.splitlines() if x.startswith(f"| {command} |")][-1]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3] != "0" and sum(int(x.split()[0]) for x in cells[3].split(",")) >= 2
    assert cells[5:10] == ["0", "0", "0", "0", "0"], row
