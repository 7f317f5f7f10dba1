"""scripts/qwen05b_tables.py prints every study table from compact files alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from selfdistill.analysis.study_results import write_rows

REPO = Path(__file__).resolve().parents[2]


def _row(model: str, bench: str, t: float, counts: dict, **extra) -> dict:
    n = sum(c[1] for c in counts.values())
    return {"exp": "x", "model": model, "benchmark": bench, "harness": "selfdistill",
            "t_eval": t, "samples": n, "graded": n, "truncated": 1, "no_code": 0,
            "new_tokens": 100 * n, "counts": counts, **extra}


def test_tables_from_compact_files(tmp_path):
    ids = [f"HumanEval/{i}" for i in range(24)]
    base = {i: [k % 6, 5] for k, i in enumerate(ids)}
    ssd = {i: [min(5, k % 6 + 1), 5] for k, i in enumerate(ids)}
    greedy_a = {i: [k % 2, 1] for k, i in enumerate(ids)}
    greedy_b = {i: [1, 1] for i in ids}
    write_rows(tmp_path / "base.jsonl", [_row("base", "humaneval", 0.4, base)])
    write_rows(tmp_path / "ssd.jsonl", [_row("ssd-paper-T1.6", "humaneval", 0.4, ssd,
                                             policy="paper", t_train=1.6)])
    write_rows(tmp_path / "harness_check.jsonl",
               [{**_row("base", "humaneval[:40]", 0.0, greedy_a), "harness": "selfdistill"},
                {**_row("base", "humaneval[:40]", 0.0, greedy_b), "harness": "evalplus-style"}])
    write_rows(tmp_path / "rates.jsonl", [{
        "part": "sample", "batch_size": 8, "temperature": 1.0, "prompts": 16,
        "new_tokens": 3000, "seconds": 100.0, "cpu_seconds": 50.0, "tokens_per_s": 30.0,
        "load_before": [4.0, 4.0, 3.0], "load_after": [4.5, 4.0, 3.0]}])
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "qwen05b_tables.py"),
                          "--docs", str(tmp_path)], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}).stdout
    assert "| selfdistill harness | 24 | 50.0 [" in out  # greedy pass@1 of the first harness
    assert "only selfdistill solves 0, only the other 12" in out
    assert "| sample, HF bf16, batch 8, T 1 | 16 prompts, 3000 new tokens | 100.0 | 50.0 |" in out
    assert "| humaneval | 24 of 164 measured at T 0.4 (n=5) | 5 |" in out  # an MDE row
    # SSD beats base on every problem not already at 5/5: 20 better, 0 worse
    assert "| humaneval | ssd-paper-T1.6 | 24 | 0.4 / 0.4 | 5 |" in out and "20 / 0, p 0.00" in out
    assert "| humaneval | 24 of 164 measured at T 0.4 (n=5) | 3 |" in out  # n=3 is planned too


def test_ssd_table_pairs_on_the_common_problems_with_pass_at_n(tmp_path):
    """A base sweep ahead of the SSD one is compared on the SSD's problems only, and with
    n = 3 samples per problem the table shows pass@3 (pass@5 cannot be estimated)."""
    ids = [f"HumanEval/{i}" for i in range(30)]
    base = {i: [3 if k < 10 else 0, 3] for k, i in enumerate(ids)}  # 10 of 30 always solved
    ssd = {i: [3, 3] for i in ids[:10]}  # SSD reached only the first 10: same as base there
    write_rows(tmp_path / "base.jsonl", [_row("base", "humaneval", 0.4, base)])
    write_rows(tmp_path / "ssd.jsonl", [_row("ssd-paper-T1.6", "humaneval", 0.4, ssd)])
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "qwen05b_tables.py"),
                          "--docs", str(tmp_path)], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}).stdout
    row = next(x for x in out.splitlines() if x.startswith("| humaneval | ssd-paper-T1.6 |"))
    # 10 problems paired; base 100.0 on them (not 33.3 over its 30); k = 3; no difference
    assert row.startswith("| humaneval | ssd-paper-T1.6 | 10 | 0.4 / 0.4 | 3 | 100.0 [")
    assert "| 3 | 100.0 [100.0, 100.0] | 100.0 [100.0, 100.0] | +0.0 [+0.0, +0.0] |" in row
    assert "0 / 0, p 1.00" in row
    assert "| humaneval | overall | 30 | 0.4 | 3 | 33.3 [" in out  # the base table: all 30
    assert "| 3: 33.3 [" in out  # its pass@3


def test_mde_is_not_estimated_from_one_sample_per_problem(tmp_path):
    """Rates from n=1 are 0 or 1 (no variance): the MDE table says so instead of printing 0."""
    ids = [f"HumanEval/{i}" for i in range(40)]
    write_rows(tmp_path / "base.jsonl",
               [_row("base", "humaneval", 0.4, {i: [k % 2, 1] for k, i in enumerate(ids)})])
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "qwen05b_tables.py"),
                          "--docs", str(tmp_path)], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}).stdout
    assert "| humaneval | base model's sampled rates: n=1 per problem so far (>= 2 needed) |" in out
    assert "measured at T 0.4 (n=1)" not in out
