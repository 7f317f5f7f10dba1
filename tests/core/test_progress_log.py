"""Progress in logs: when the output is not a terminal, long stages print plain lines."""

from __future__ import annotations

import io
import subprocess
import sys
import time

from selfdistill.core.console import ProgressLog

STAGE = """
import time
from selfdistill.core.console import progress_bar
with progress_bar() as bar:
    task = bar.add_task("grading", total=10, info="")
    for _ in range(10):
        time.sleep(0.4)
        bar.advance(task)
time.sleep(1.0)
"""


def test_a_stage_piped_to_a_log_prints_progress_lines_before_it_ends() -> None:
    proc = subprocess.Popen([sys.executable, "-c", STAGE], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    try:
        first = proc.stderr.readline()  # the start line
        second = proc.stderr.readline()  # 10%: one item done
        running = proc.poll() is None
        rest = proc.stderr.read()
    finally:
        proc.wait(timeout=30)
    assert first.startswith("grading: 0/10 (0%)"), first
    assert second.startswith("grading: 1/10 (10%)") and "/s, elapsed 0:00:00, eta 0:00:0" in second
    assert running, "the progress line must arrive while the stage still runs"
    lines = [first, second, *rest.splitlines()]
    assert lines[-1].startswith("grading: 10/10 (100%)")
    assert len(lines) == 11  # one per 10% and the start: bounded, never one per item twice
    assert "\r" not in rest and "\x1b[" not in rest  # plain text, no bar redraws


def test_progress_log_is_rate_bounded() -> None:
    out = io.StringIO()
    log = ProgressLog("sampling", 1000, every_s=3600, every_frac=0.1, file=out)
    for i in range(1, 1001):
        log.update(i)
    lines = out.getvalue().splitlines()
    assert len(lines) == 10  # every 10%, not 1000 lines
    assert lines[-1].startswith("sampling: 1000/1000 (100%)")
    log.update(1000)
    assert len(out.getvalue().splitlines()) == 10  # the end is printed once


def test_progress_log_prints_on_time_without_a_known_total() -> None:
    out = io.StringIO()
    log = ProgressLog("updates", None, every_s=0.05, file=out)
    log.update(1)
    time.sleep(0.06)
    log.update(2, "loss 0.5")
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("updates: 2, ") and lines[-1].endswith("loss 0.5")
    assert "eta ?" in lines[-1]


def test_decode_progress_in_a_log_reports_tokens_per_second() -> None:
    code = """
import time
from selfdistill.core.console import Progress
with Progress(True, 4) as bar:
    for i in range(4):
        bar.tokens(100 * (i + 1), 0.6 * (i + 1))
        bar.advance()
"""
    res = subprocess.run([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True,
                         timeout=60)
    lines = res.stderr.splitlines()
    assert lines[0].startswith("generating: 0/4")
    assert lines[-1].startswith("generating: 4/4 (100%)") and "tok/s" in lines[-1]


def test_a_resumed_stage_rates_only_the_work_done_now() -> None:
    out = io.StringIO()
    log = ProgressLog("sampling", 164, every_s=3600, file=out)
    log.update(80, force=True)  # 80 rows were already on disk
    assert "0.00/s" in out.getvalue() and "eta ?" in out.getvalue()
    time.sleep(0.05)
    log.update(100)
    rate = float(out.getvalue().splitlines()[-1].split(", ")[1].removesuffix("/s"))
    assert rate < 20 / 0.05 * 1.01  # 20 rows in ~0.05 s, not 100
