"""--select-hard: pool parsing, pass@k estimates from graded samples, the choice, resume,
and discover-bench on the chosen subset (fake generator, real sandbox; fast)."""

from __future__ import annotations

import json

import pytest

from selfdistill.errors import UserError
from selfdistill.evaluation.metrics import pass_at_k
from selfdistill.generation import Completion
from selfdistill.problems.registry import load_source
from selfdistill.recipes.discover import DiscoverConfig, RunResult, run_discover_bench
from selfdistill.recipes.discover.select import (
    Estimate,
    choose,
    parse_pool,
    select_hard,
    selection_lines,
)

POOL = "builtin:dev?difficulty=easy&limit=3"


def test_parse_pool_splits_on_plus_before_a_source_only():
    assert parse_pool("builtin:all?difficulty=easy,medium+humaneval?limit=2") == [
        "builtin:all?difficulty=easy,medium", "humaneval?limit=2"]
    assert parse_pool(["builtin:dev", " mbpp:a+b.jsonl "]) == ["builtin:dev", "mbpp:a+b.jsonl"]
    with pytest.raises(UserError):
        parse_pool(" ")


def test_choose_threshold_order_cap_and_very_hard():
    es = [Estimate("a", 8, 0, 0.0), Estimate("b", 8, 2, 0.46), Estimate("c", 8, 8, 1.0),
          Estimate("d", 8, 1, 0.25)]
    s = choose(es, 2, 0.5, 0.03)
    assert s.chosen == ["a", "b", "d"] and s.very_hard == ["a"]
    s = choose(es, 2, 0.5, 0.03, max_problems=2, order="estimate")
    assert s.chosen == ["b", "d"] and s.very_hard == []
    assert "b: pass@2 = 0.460 (2/8 samples passed)" in "\n".join(selection_lines(s))


class FakeGen:
    """Answers with the reference solution for the first `wins[i]` samples of problem i."""

    def __init__(self, problems, wins):
        self.problems, self.wins = problems, wins
        self.seen = {p.id: 0 for p in problems}
        self.calls = 0

    def generate(self, chats, params, *, progress=None):
        self.calls += 1
        out = []
        for chat in chats:
            i, p = next((i, p) for i, p in enumerate(self.problems)
                        if p.statement in chat[-1]["content"])
            self.seen[p.id] += 1
            code = p.reference if self.seen[p.id] <= self.wins[i] else "def nope(): pass"
            out.append([Completion(text=f"```python\n{code}\n```\n", token_ids=[1, 2])])
        return out


def sel_cfg(tmp_path) -> DiscoverConfig:
    cfg = DiscoverConfig(run_dir=str(tmp_path), budget=4, seeds=1)
    cfg.select.pool, cfg.select.n, cfg.select.k = [POOL], 8, 2
    cfg.sampling.batch = 2
    return cfg


def test_select_hard_estimates_chooses_and_resumes(tmp_path):
    cfg = sel_cfg(tmp_path)
    problems = load_source(POOL)
    assert all(p.reference for p in problems)
    gen = FakeGen(problems, wins=[0, 2, 8])
    selection, chosen = select_hard(gen, cfg, tmp_path)
    est = {e.problem_id: e for e in selection.estimates}
    assert [(est[p.id].n, est[p.id].c) for p in problems] == [(8, 0), (8, 2), (8, 8)]
    assert est[problems[1].id].pass_at_k == pytest.approx(pass_at_k(8, 2, 2))
    assert [p.id for p in chosen] == [problems[0].id, problems[1].id]
    assert selection.very_hard == [problems[0].id]
    saved = json.loads((tmp_path / "select" / "selection.json").read_text())
    assert saved["chosen"] == selection.chosen

    class Boom:
        def generate(self, *a, **k):
            raise AssertionError("a finished selection samples nothing")

    again, _ = select_hard(Boom(), cfg, tmp_path)
    assert again.to_dict() == selection.to_dict()
    cfg.sampling.temperature = 0.5
    with pytest.raises(UserError, match="temperature"):
        select_hard(Boom(), cfg, tmp_path)


def test_selection_needs_n_at_least_k():
    from selfdistill.recipes.discover import validate

    cfg = DiscoverConfig()
    cfg.select.n, cfg.select.k = 32, 64
    with pytest.raises(UserError, match="n"):
        validate(cfg)


class FakeDiscoverer:
    """Selection through a FakeGen, then runs: sdpo solves at attempt 2, others never."""

    def __init__(self, problems):
        self.gen = FakeGen(problems, wins=[0, 2, 8])
        self.ran = []

    def base_generator(self):
        return self.gen

    def run(self, method, problem, seed, on_step=None):
        self.ran.append((method, problem.id, seed))
        first = 2 if method == "sdpo" else None
        return RunResult(method=method, problem_id=problem.id, seed=seed, budget=4, batch=2,
                         solved=first is not None, attempt_index=first, attempts_used=4,
                         n_correct=int(first is not None), steps=2, seconds=2.0,
                         seconds_sample=1.5, seconds_grade=0.5,
                         seconds_to_success=1.0 if first else None)


def test_bench_runs_the_chosen_subset_and_reports_seconds(tmp_path):
    cfg = sel_cfg(tmp_path)
    cfg.methods = ["sdpo", "best_of_k"]
    problems = load_source(POOL)
    fake = FakeDiscoverer(problems)
    report, summary = run_discover_bench(cfg, discoverer_factory=lambda: fake)
    assert {pid for _, pid, _ in fake.ran} == {problems[0].id, problems[1].id}
    assert summary["selection"]["very_hard"] == [problems[0].id]
    assert "very_hard" in summary  # its own curve: a strict subset of the runs
    sec = summary["methods"]["sdpo"]["seconds_curve"]
    assert sec[-1][1] == 1.0 and summary["methods"]["best_of_k"]["seconds_curve"][-1][1] == 0
    assert summary["seconds_horizon"] == pytest.approx(4 * 0.5)  # 0.5 s/attempt x K
    text = report.read_text()
    assert "Selection: hard for this model" in text and "Equal compute" in text
    assert (tmp_path / "discovery_vs_seconds.png").stat().st_size > 1000
