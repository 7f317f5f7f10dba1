"""scripts/chaos.py, CI size: every long command killed at random moments (at least twice,
SIGKILL and a SIGINT/SIGTERM) and resumed to the end gives the uninterrupted run's records
and weights, with no temporary file, process or lock left behind.

On a tiny random model (the harness and resume logic are what is tested; the embedded
model's table, N >= 20, is `python scripts/chaos.py --kills 20`, docs/results.md).
"""

from __future__ import annotations

import importlib.util
import json
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
    assert int(cells[2]) >= 2 and sum(int(x.split()[0]) for x in cells[4].split(",")) >= 2
    assert cells[6:11] == ["0", "0", "0", "0", "0"], row


_WRITER = """
import json, sys, time
from pathlib import Path
try:
    out = Path(sys.argv[1]) / "rows.jsonl"
    data = out.read_bytes() if out.exists() else b""
    if not data.endswith(b"\\n"):  # a torn last line: cut, as the real readers do
        out.write_bytes(data[: data.rfind(b"\\n") + 1])
    have = len(out.read_bytes().splitlines()) if out.exists() else 0
    with out.open("a") as fh:
        for i in range(have, 12):
            time.sleep(0.04)
            fh.write(json.dumps({"problem_id": "p", "sample_idx": i, "text": str(i * i)}) + "\\n")
            fh.flush()
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_a_campaign_stopped_mid_start_continues_where_it_stopped(tmp_path, monkeypatch):
    """--budget: state after every start; a harness stopped in the middle of a start (its
    job limit) continues in a new process to the same N, nothing lost or counted twice."""
    fake = chaos.Command("fake", lambda d: [sys.executable, "-c", _WRITER, str(d)],
                         [chaos.jsonl("rows.jsonl", chaos._key_sample)])
    monkeypatch.setitem(chaos.COMMANDS, "fake", fake)
    real_step, calls = chaos.step, []

    def stop_at_the_fourth(*a, **kw):
        calls.append(1)
        if len(calls) == 4:
            raise chaos._Stop
        return real_step(*a, **kw)

    monkeypatch.setattr(chaos, "step", stop_at_the_fourth)
    args = ["--commands", "fake", "--kills", "5", "--seed", "3", "--root", str(tmp_path),
            "--budget", "30", "--out", str(tmp_path / "t.md")]
    assert chaos.main(args) == 3
    saved = json.loads((tmp_path / "chaos-state.json").read_text())
    assert saved["progress"]["fake"]["in_flight"] and not saved["progress"]["fake"]["done"]
    monkeypatch.setattr(chaos, "step", real_step)
    assert chaos.main(args) == 0
    row = [x for x in (tmp_path / "t.md").read_text().splitlines() if x.startswith("| fake")][0]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "5" and cells[6:11] == ["0", "0", "0", "0", "0"], row
    assert "1 start(s) cut short" in (tmp_path / "t.md").read_text()
    # another campaign's settings are refused, not mixed in
    with pytest.raises(SystemExit):
        chaos.main([*args[:4], "6", *args[5:]])


_SWALLOWS = """
import json, signal, sys, time
from pathlib import Path
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C swallowed: the run carries on
signal.signal(signal.SIGTERM, signal.SIG_IGN)
out = Path(sys.argv[1]) / "rows.jsonl"
have = len(out.read_bytes().splitlines()) if out.exists() else 0
with out.open("a") as fh:
    for i in range(have, 30):
        time.sleep(0.1)
        fh.write(json.dumps({"problem_id": "p", "sample_idx": i}) + "\\n")
        fh.flush()
"""

_FINISHED = """
import json, signal, sys, time
from pathlib import Path
out = Path(sys.argv[1]) / "rows.jsonl"
have = len(out.read_bytes().splitlines()) if out.exists() else 0
with out.open("a") as fh:
    for i in range(have, 12):
        fh.write(json.dumps({"problem_id": "p", "sample_idx": i}) + "\\n")
signal.signal(signal.SIGINT, signal.SIG_IGN)  # the work is done: a slow tear-down
signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep(2)
"""


def _signal_mid_window(name: str) -> int:
    """A seed whose first trial's signal (SIGINT/SIGTERM: one kill asked) falls at 20-40% of
    the kill window: after start-up, before the end of the work or tear-down."""
    import random
    import signal

    for seed in range(1000):
        rng = random.Random(f"{seed}/{name}/1/0")
        rng.choice([signal.SIGINT, signal.SIGTERM])
        if 0.2 <= rng.random() <= 0.4:
            return seed
    raise AssertionError("no seed")


@pytest.mark.parametrize("script,flagged", [(_SWALLOWS, True), (_FINISHED, False)],
                         ids=["swallows-ctrl-c", "finished-before-the-signal"])
def test_exit_0_after_sigint_is_judged_by_what_was_written_after_it(script, flagged, tmp_path):
    """Exit 0 after SIGINT/SIGTERM: a finding when the run's records were still being written
    after the signal (it swallowed Ctrl-C and carried on), not when they all predate it (the
    signal landed in a finished run's tear-down). Both runs' records equal the reference's."""
    name = "swallow" if flagged else "finished"
    fake = chaos.Command(name, lambda d: [sys.executable, "-c", script, str(d)],
                         [chaos.jsonl("rows.jsonl", chaos._key_sample)])
    st, refs, said = chaos.Progress(chaos.Row(name)), {}, []
    seed = _signal_mid_window(name)
    while not st.done:
        chaos.step(fake, st, tmp_path, refs, kills=1, seed=seed, say=said.append)
    row = st.row
    assert row.n_kills == 1 and row.trials == 1 and row.resumes == 0, said
    assert (row.lost, row.duplicated, row.different, row.leftovers) == (0, 0, 0, [])
    if flagged:
        assert len(row.errors) == 1 and "carried on" in row.errors[0], row.errors
        assert "rows.jsonl" in row.errors[0]
    else:
        assert row.errors == [], row.errors
        assert any("landed after the work was done" in s for s in said), said
