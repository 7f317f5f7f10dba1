"""scripts/qwen05b_tables.py prints every study table from compact files alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from selfdistill.analysis.study_results import read_rows, write_rows

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


def _tables(docs: Path) -> str:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "qwen05b_tables.py"),
                           "--docs", str(docs)], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}).stdout


def test_policy_table_pairs_default_against_paper_and_says_if_samples_differ(tmp_path):
    """default - paper per problem on the problems both answered; 'same training samples'
    compares the two runs' sample-set fingerprints."""
    ids = [f"HumanEval/{i}" for i in range(30)]
    paper = {i: [1, 3] for i in ids}
    default = {i: [2, 3] for i in ids[:20]}  # better on its 20 problems
    write_rows(tmp_path / "base.jsonl", [_row("base", "humaneval", 0.4, paper)])
    data = {"samples": 128, "kept": 126}
    write_rows(tmp_path / "ssd.jsonl", [
        _row("ssd-paper-T1.6", "humaneval", 0.4, paper, sample_set="old",
             train_data={"samples": 128, "kept": 128}),
        _row("ssd-default-T1.6", "humaneval", 0.4, default, sample_set="new",
             train_data=data)])
    out = _tables(tmp_path)
    row = next(x for x in out.splitlines() if x.startswith("| humaneval | T1.6 |"))
    assert row.startswith("| humaneval | T1.6 | 20 | 0.4 / 0.4 | 128 of 128 / 126 of 128 |")
    assert "| +33.3 [+33.3, +33.3] | 20 / 0, p 0.00 | no (old / new) |" in row
    # both SSD models against the base, each labelled with its training samples
    assert "| 20 / 0, p 0.00 | new |" in out and "| 0 / 0, p 1.00 | old |" in out
    write_rows(tmp_path / "ssd.jsonl", [
        _row("ssd-paper-T1.6", "humaneval", 0.4, paper, sample_set="s"),
        _row("ssd-default-T1.6", "humaneval", 0.4, default, sample_set="s")])
    assert "| yes |" in _tables(tmp_path)


def test_collect_adds_new_runs_without_erasing_committed_rows(tmp_path):
    """A machine without the old run directories collects its own runs: the committed rows
    stay, the new SSD model is added with the fingerprint of the samples it trained on."""
    import json

    sys.path.insert(0, str(REPO / "scripts"))
    import qwen05b_tables as qt

    docs = tmp_path / "docs"
    committed = _row("ssd-paper-T1.6", "humaneval", 0.4, {"HumanEval/0": [1, 3]},
                     sample_set="session8")
    write_rows(docs / "ssd.jsonl", [committed])
    write_rows(docs / "base.jsonl", [_row("base", "humaneval", 0.4, {"HumanEval/0": [2, 3]})])
    write_rows(docs / "ssd_samples.jsonl", [{"benchmark": "train", "t_train": 1.6,
                                             "samples": 128, "sample_set": "session8"}])
    root = tmp_path / "runs"
    samples = [{"problem_id": "mbpp/1", "sample_idx": 0, "text": "x", "n_tokens": 3,
                "finish_reason": "stop", "code": "x"}]
    (root / "samples-T1.6").mkdir(parents=True)
    (root / "samples-T1.6" / "samples.jsonl").write_text(json.dumps(samples[0]) + "\n")
    run = root / "ssd-default-T1.6"
    (run / "sample").mkdir(parents=True)
    (run / "sample" / "samples.jsonl").symlink_to("../../samples-T1.6/samples.jsonl")
    tdir = run / "eval" / "ssd" / "T0.40"
    tdir.mkdir(parents=True)
    (tdir / "samples.jsonl").write_text(json.dumps(
        {"problem_id": "HumanEval/0", "sample_idx": 0, "temperature": 0.4, "n_tokens": 5,
         "finish_reason": "stop", "code": "x"}) + "\n")
    (tdir / "verdicts.jsonl").write_text(json.dumps(
        {"problem_id": "HumanEval/0", "sample_idx": 0, "passed": True}) + "\n")
    (root / "base-humaneval" / "model").mkdir(parents=True)  # made by qwen05b_study.sh: empty
    before = qt.DOCS
    qt.set_docs(docs)
    try:
        qt.collect(root)
    finally:
        qt.set_docs(before)
    ssd = read_rows(docs / "ssd.jsonl")
    assert ssd[0] == committed and len(ssd) == 2
    new_id = qt.sample_set_id(samples)
    assert ssd[1]["model"] == "ssd-default-T1.6" and ssd[1]["sample_set"] == new_id
    assert ssd[1]["counts"] == {"HumanEval/0": [1, 1]}
    assert len(read_rows(docs / "base.jsonl")) == 1  # no base sweep here: committed one kept
    sets = [r["sample_set"] for r in read_rows(docs / "ssd_samples.jsonl")]
    assert sets == ["session8", new_id]


def test_a_base_t_eval_swept_on_a_prefix_is_not_taken_as_the_best_tuned_base(tmp_path):
    """The base at T 0.8 on 10 of 30 problems scores higher there than T 0.4 over all 30; the
    SSD comparison stays on all 30 problems against T 0.4 (the only T_eval that covers them)."""
    ids = [f"HumanEval/{i}" for i in range(30)]
    write_rows(tmp_path / "base.jsonl", [
        _row("base", "humaneval", 0.4, {i: [1 if k < 10 else 0, 2] for k, i in enumerate(ids)}),
        _row("base", "humaneval", 0.8, {i: [2, 2] for i in ids[:10]})])
    write_rows(tmp_path / "ssd.jsonl", [_row("ssd-paper-T1.6", "humaneval", 0.4,
                                             {i: [1, 2] for i in ids})])
    out = _tables(tmp_path)
    assert "| humaneval | ssd-paper-T1.6 | 30 | 0.4 / 0.4 | 2 |" in out
    assert "| humaneval | overall | 10 | 0.8 | 2 | 100.0 [" in out  # the prefix row is shown
    # T 0.8 against T 0.4 on the 10 problems both swept: +50 points, 10 better
    assert "| humaneval | 10 | 0.4 / 0.8 | 2 / 2 | 50.0 [50.0, 50.0] | 100.0 [100.0, 100.0] " \
        "| +50.0 [+50.0, +50.0] | 10 / 0, p 0.00 |" in out
