"""Test-time discovery: loop accounting, multi-turn window, curves, resume (fakes, fast)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from selfdistill.core.config import load_config
from selfdistill.errors import UserError
from selfdistill.evaluation.metrics import pass_at_k
from selfdistill.generation import Completion
from selfdistill.recipes.discover import (
    DiscoverConfig,
    RunResult,
    curve_with_ci,
    default_ks,
    method_curve,
    run_discovery,
    run_units,
    step_seed,
    summarize_results,
    validate,
    write_report,
)
from selfdistill.recipes.discover.multiturn import PastAttempt, build_multiturn_chat, char_length

REPO = Path(__file__).resolve().parents[2]
CHAT = [{"role": "system", "content": "sys"}, {"role": "user", "content": "solve it"}]


@dataclass
class V:
    """A minimal Verdict."""

    passed: bool
    status: str


class FakeSampler:
    """Returns 'ok' at the given global attempt indices (1-based), 'bad' elsewhere."""

    def __init__(self, ok: set[int]):
        self.ok, self.used, self.calls, self.many_calls = ok, 0, [], []

    def __call__(self, chat, n, seed):
        self.calls.append((len(chat), n, seed))
        out = []
        for _ in range(n):
            self.used += 1
            text = "ok" if self.used in self.ok else f"bad{self.used}"
            out.append(Completion(text=text, token_ids=[1, 2, 3]))
        return out

    def many(self, chats, seed):
        """One answer per chat (multi-turn conversations)."""
        self.many_calls.append(([len(c) for c in chats], seed))
        out = []
        for _ in chats:
            out += self(CHAT, 1, seed)
            self.calls.pop()
        return out


def grade(texts):
    return [V(t == "ok", "accepted" if t == "ok" else "wrong_answer") for t in texts]


def feedback(v):
    return "Accepted" if v.passed else "Wrong answer on test 1."


def run(method, ok, budget=12, batch=4, seed=0, stop=True):
    sampler = FakeSampler(ok)
    updates, contexts, steps = [], [], []

    def update(chat, comps, verdicts, fbs):
        updates.append([v.passed for v in verdicts])
        return {"loss": 0.5}

    def context(history):
        contexts.append(len(history))
        hist = [{"role": r, "content": "x"} for a in history for r in ("assistant", "user")]
        from selfdistill.recipes.discover.multiturn import MultiturnContext

        return MultiturnContext(CHAT + hist, len(history), 0, 0)

    r = run_discovery(method, CHAT, budget=budget, batch=batch, seed=seed, sample=sampler,
                      grade=grade, feedback=feedback, update=update, context=context,
                      sample_many=sampler.many,
                      stop_at_success=stop, problem_id="p", on_step=steps.append)
    return r, sampler, updates, contexts, steps


# ----------------------------------------------------------------------------- the loop


def test_sdpo_stops_at_first_success_with_its_attempt_index():
    r, sampler, updates, _, steps = run("sdpo", ok={7, 8})
    assert r.solved and r.attempt_index == 7  # step 2, third sample
    assert r.attempts_used == 8 and r.steps == 2  # the whole batch was sampled
    assert r.updates == 1 and len(updates) == 1  # one step after the failed first batch
    assert r.n_correct == 2 and r.solution == "ok"
    assert [s["first_success_in_batch"] for s in steps] == [None, 3]
    assert "metrics" in steps[0] and "metrics" not in steps[1]
    assert [c[2] for c in sampler.calls] == [step_seed(0, 0), step_seed(0, 1)]


def test_budget_spent_without_success_and_partial_last_batch():
    r, sampler, updates, _, steps = run("sdpo", ok=set(), budget=10, batch=4)
    assert not r.solved and r.attempt_index is None
    assert r.attempts_used == 10 and [c[1] for c in sampler.calls] == [4, 4, 2]
    assert r.updates == 2  # never an update after the batch that exhausts the budget
    assert [s["attempts_before"] for s in steps] == [0, 4, 8]
    assert steps[-1]["attempts"][-1]["index"] == 10


def test_success_on_the_very_first_attempt_and_exact_budget():
    r, *_ = run("sdpo", ok={1})
    assert r.attempt_index == 1 and r.updates == 0 and r.steps == 1
    r, *_ = run("sdpo", ok={12}, budget=12, batch=4)
    assert r.attempt_index == 12 and r.attempts_used == 12 and r.updates == 2


def test_best_of_k_spends_the_whole_budget_but_records_first_success():
    r, sampler, updates, _, _ = run("best_of_k", ok={2, 9})
    assert r.attempt_index == 2 and r.attempts_used == 12 and r.n_correct == 2
    assert r.updates == 0 and not updates and sampler.used == 12


def test_stop_at_success_false_keeps_training_with_successes_in_the_batch():
    r, _, updates, _, _ = run("sdpo", ok={2}, budget=12, batch=4, stop=False)
    assert r.attempt_index == 2 and r.attempts_used == 12
    assert updates[0] == [False, True, False, False]  # the sibling solution reaches SDPO


def test_multiturn_one_attempt_per_turn_in_each_of_b_conversations():
    r, sampler, updates, contexts, steps = run("multiturn", ok={11})
    assert r.attempt_index == 11 and not updates
    assert contexts == [0] * 4 + [1] * 4 + [2] * 4  # each conversation: its own turns
    # step 1: the bare prompt, B samples (the same draw as the other methods' first batch);
    # then one sample per conversation of prompt + one (answer, feedback) pair per turn
    assert sampler.calls == [(2, 4, step_seed(0, 0))]
    assert sampler.many_calls == [([4] * 4, step_seed(0, 1)), ([6] * 4, step_seed(0, 2))]
    assert steps[1]["context_kept"] == [1, 1, 1, 1]
    assert [a["index"] for a in steps[2]["attempts"]] == [9, 10, 11, 12]


def test_multiturn_conversation_sees_only_its_own_attempts():
    seen = []

    def context(history):
        from selfdistill.recipes.discover.multiturn import MultiturnContext

        seen.append([a.answer for a in history])
        return MultiturnContext(CHAT + [{"role": "assistant", "content": a.answer}
                                        for a in history], len(history), 0, 0)

    sampler = FakeSampler(set())
    run_discovery("multiturn", CHAT, budget=6, batch=3, seed=0, sample=sampler, grade=grade,
                  feedback=feedback, context=context, sample_many=sampler.many)
    assert seen[3:] == [["bad1"], ["bad2"], ["bad3"]]  # conversation j: its attempt j only


def test_seconds_to_success_counts_the_steps_up_to_the_success():
    r, *_ = run("sdpo", ok={7})
    assert r.seconds_to_success is not None
    assert r.seconds_to_success == pytest.approx(r.seconds_sample + r.seconds_grade
                                                 + r.seconds_update)
    r, *_ = run("sdpo", ok=set())
    assert r.seconds_to_success is None


def test_seeds_change_sampling_seeds():
    _, s0, *_ = run("best_of_k", ok=set(), seed=0)
    _, s1, *_ = run("best_of_k", ok=set(), seed=1)
    assert {c[2] for c in s0.calls}.isdisjoint({c[2] for c in s1.calls})


def test_method_requirements():
    with pytest.raises(ValueError):
        run_discovery("sdpo", CHAT, budget=4, batch=2, seed=0, sample=FakeSampler(set()),
                      grade=grade, feedback=feedback)
    with pytest.raises(ValueError):
        run_discovery("nope", CHAT, budget=4, batch=2, seed=0, sample=FakeSampler(set()),
                      grade=grade, feedback=feedback)


# ------------------------------------------------------------------------- multi-turn


def hist(n, size=10):
    return [PastAttempt(answer=f"a{i}".ljust(size, "."), feedback=f"f{i}".ljust(size, "."))
            for i in range(n)]


def test_multiturn_layout_prompt_then_answer_feedback_pairs():
    ctx = build_multiturn_chat(CHAT, hist(2), max_prompt_length=None)
    roles = [m["role"] for m in ctx.chat]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert ctx.chat[2]["content"].startswith("a0") and "f0" in ctx.chat[3]["content"]
    assert ctx.chat[-1]["content"].endswith("Correctly solve the original question.")
    assert ctx.kept == 2 and ctx.dropped == 0


def test_multiturn_fifo_drops_oldest_first_to_fit():
    h = hist(6)
    full = build_multiturn_chat(CHAT, h, max_prompt_length=None)
    pair = (full.length - char_length(CHAT)) // 6
    limit = char_length(CHAT) + 3 * pair + pair // 2  # room for 3.5 attempts
    ctx = build_multiturn_chat(CHAT, h, max_prompt_length=limit)
    assert ctx.kept == 3 and ctx.dropped == 3 and ctx.length <= limit
    answers = [m["content"][:2] for m in ctx.chat if m["role"] == "assistant"]
    assert answers == ["a3", "a4", "a5"]  # the most recent ones, in order
    # exactly at the limit: everything fits
    assert build_multiturn_chat(CHAT, h, max_prompt_length=full.length).kept == 6


def test_multiturn_bare_prompt_when_nothing_fits():
    ctx = build_multiturn_chat(CHAT, hist(3), max_prompt_length=1)
    assert ctx.chat == CHAT and ctx.kept == 0 and ctx.dropped == 3
    assert build_multiturn_chat(CHAT, [], max_prompt_length=1).chat == CHAT


# ----------------------------------------------------------------------------- curves


def rr(method, pid, seed, first, used=8, correct=None, budget=8, batch=4):
    return RunResult(method=method, problem_id=pid, seed=seed, budget=budget, batch=batch,
                     solved=first is not None, attempt_index=first, attempts_used=used,
                     n_correct=(first is not None) if correct is None else correct,
                     steps=2, seconds=1.0, solution=None if first is None else "x = 1")


def test_sdpo_curve_is_fraction_of_runs():
    rs = [rr("sdpo", "p", 0, 2), rr("sdpo", "p", 1, 5), rr("sdpo", "p", 2, None)]
    np.testing.assert_allclose(method_curve("sdpo", rs, [1, 2, 5, 8]), [0, 1 / 3, 2 / 3, 2 / 3])


def test_best_of_k_curve_is_unbiased_estimator_over_pooled_samples():
    rs = [rr("best_of_k", "p", 0, 3, correct=2), rr("best_of_k", "p", 1, None, correct=0),
          rr("best_of_k", "q", 0, None, correct=0), rr("best_of_k", "q", 1, 8, correct=1)]
    got = method_curve("best_of_k", rs, [1, 4, 16])
    want = [(pass_at_k(16, 2, k) + pass_at_k(16, 1, k)) / 2 for k in (1, 4, 16)]
    np.testing.assert_allclose(got, want)


@pytest.mark.parametrize("method", ["sdpo", "best_of_k"])
def test_curve_ci_brackets_the_mean_and_is_monotone(method):
    rs = [rr(method, f"p{i % 3}", i, (i % 5) + 1 if i % 4 else None, correct=i % 2)
          for i in range(12)]
    pts = curve_with_ci(method, rs, [1, 2, 4, 8], conf=0.9, n_boot=300)
    means = [p[1] for p in pts]
    assert all(lo - 1e-9 <= m <= hi + 1e-9 for _, m, lo, hi in pts)
    assert means == sorted(means)


def test_summary_speedups_and_report_files(tmp_path):
    rs = [rr("best_of_k", "p", s, f, correct=int(f is not None)) for s, f in
          [(0, None), (1, 6), (2, None)]]
    rs += [rr("sdpo", "p", s, f) for s, f in [(0, 2), (1, 4), (2, None)]]
    rs += [rr("multiturn", "p", s, None) for s in range(3)]
    s = summarize_results(rs, ["sdpo", "best_of_k", "multiturn"], budget=8, batch=4,
                          n_boot=200)
    p = s["problems"]["p"]
    assert p["sdpo"]["mean_censored"] == pytest.approx((2 + 4 + 8) / 3)
    assert p["sdpo"]["speedup_vs_best_of_k"] == pytest.approx(((8 + 6 + 8) / 3) / (14 / 3))
    assert s["methods"]["sdpo"]["attempts"]["solved"] == 2
    assert s["methods"]["multiturn"]["attempts"]["mean_solved"] is None
    cfg = DiscoverConfig(budget=8)
    cfg.sampling.batch = 4
    report = write_report(tmp_path, s, cfg, 1, "t")
    text = report.read_text()
    assert "discovery@k" in text and "speed-up" in text and "multiturn" in text
    assert (tmp_path / "discovery_at_k.png").stat().st_size > 1000
    assert json.loads((tmp_path / "summary.json").read_text())["budget"] == 8


def test_default_ks():
    assert default_ks(64, 16) == [1, 2, 4, 8, 16, 32, 48, 64]
    ks = default_ks(2750, 16)
    assert ks[0] == 1 and ks[-1] == 2750 and len(ks) < 50


# ----------------------------------------------------------------------------- resume


@dataclass
class P:
    id: str


class FakeDiscoverer:
    """Deterministic runs; raises (a 'kill') on a chosen unit."""

    def __init__(self, kill_at: tuple | None = None):
        self.kill_at, self.ran = kill_at, []

    def run(self, method, problem, seed, on_step=None):
        if (method, problem.id, seed) == self.kill_at:
            on_step({"kind": "step", "attempts_before": 0, "n": 2})
            raise KeyboardInterrupt
        self.ran.append((method, problem.id, seed))
        on_step({"kind": "step", "attempts_before": 0, "n": 2})
        first = 2 if method == "sdpo" else None
        return rr(method, problem.id, seed, first, used=4, budget=4, batch=2)


def small_cfg(**kw):
    cfg = DiscoverConfig(budget=4, seeds=2, methods=["sdpo", "best_of_k"], **kw)
    cfg.sampling.batch = 2
    return cfg


def test_resume_replays_finished_and_restarts_unfinished(tmp_path):
    cfg = small_cfg()
    probs = [P("a"), P("b")]
    first = FakeDiscoverer(kill_at=("best_of_k", "a", 1))
    with pytest.raises(KeyboardInterrupt):
        run_units(cfg, probs, tmp_path, discoverer_factory=lambda: first)
    assert first.ran == [("sdpo", "a", 0), ("best_of_k", "a", 0), ("sdpo", "a", 1)]
    killed_log = tmp_path / "runs" / "best_of_k" / "a" / "seed-1.jsonl"
    assert killed_log.is_file()
    partial = run_units(cfg, probs, tmp_path, report_only=True,
                        discoverer_factory=lambda: pytest.fail("report_only runs nothing"))
    assert [(r.method, r.problem_id, r.seed) for r in partial] == first.ran
    second = FakeDiscoverer()
    out = run_units(cfg, probs, tmp_path, discoverer_factory=lambda: second)
    assert len(out) == 8 and second.ran[0] == ("best_of_k", "a", 1) and len(second.ran) == 5
    rows = [json.loads(x) for x in killed_log.read_text().splitlines()]
    assert [r["kind"] for r in rows] == ["step", "done"]  # restarted, not appended
    assert (tmp_path / "solutions" / "sdpo" / "a" / "seed-0.py").is_file()

    def boom():
        raise AssertionError("the model must not load when every run is finished")

    again = run_units(cfg, probs, tmp_path, discoverer_factory=boom)
    assert [r.to_dict() for r in again] == [r.to_dict() for r in out]


def test_resume_refuses_other_settings(tmp_path):
    run_units(small_cfg(), [P("a")], tmp_path, discoverer_factory=FakeDiscoverer)
    with pytest.raises(UserError, match="budget"):
        run_units(DiscoverConfig(budget=8, seeds=2), [P("a")], tmp_path,
                  discoverer_factory=FakeDiscoverer)


# ----------------------------------------------------------------------------- config


def test_validation_rejects_bad_settings():
    for kw in [dict(methods=["sdpo", "grpo"]), dict(budget=0), dict(seeds=0),
               dict(methods=[])]:
        with pytest.raises(UserError):
            validate(DiscoverConfig(**kw))
    cfg = DiscoverConfig()
    cfg.sampling.backend = "tpu"
    with pytest.raises(UserError, match="sampling.backend"):
        validate(cfg)
    cfg = DiscoverConfig()
    cfg.loss.algorithm = "grpo"
    with pytest.raises(UserError, match="sdpo"):
        validate(cfg)


@pytest.mark.parametrize("path", sorted((REPO / "recipes").glob("discover_*.yaml")),
                         ids=lambda p: p.name)
def test_discover_recipes_resolve_and_validate(path):
    name, cfg = load_config(path)
    assert name == "discover"
    validate(cfg)


def test_paper_settings_in_gpu_recipe():
    _, cfg = load_config(REPO / "recipes" / "discover_paper_gpu.yaml")
    assert cfg.sampling.batch == 16 and cfg.optim.lr == pytest.approx(1e-6)
    assert cfg.loss.support_size == 20 and cfg.loss.divergence == "reverse_kl"
    assert cfg.teacher.kind == "ema" and cfg.teacher.rate == pytest.approx(0.01)
    assert cfg.sampling.temperature == 1.0


def test_cli_flags_override_recipe():
    from selfdistill.recipes.discover.cli import _build_cfg

    cfg = _build_cfg(str(REPO / "recipes" / "discover_cpu.yaml"), ["optim.lr=0.5"],
                     {"budget": 7, "batch": 3, "methods": "sdpo,multiturn", "model": "x/y",
                      "problem": "builtin/easy-clamp"})
    assert (cfg.budget, cfg.sampling.batch, cfg.methods) == (7, 3, ["sdpo", "multiturn"])
    assert cfg.model.spec == "x/y" and cfg.optim.lr == 0.5 and cfg.problem == "builtin/easy-clamp"
    with pytest.raises(UserError, match="unknown method"):
        _build_cfg(None, [], {"methods": "sdpo,foo"})
    with pytest.raises(UserError):
        _build_cfg(None, ["nokey"], {})


def test_resume_tolerates_config_fields_added_since(tmp_path):
    run_units(small_cfg(), [P("a")], tmp_path, discoverer_factory=FakeDiscoverer)
    fp = json.loads((tmp_path / "fingerprint.json").read_text())
    fp.pop("loss.support_size")  # as if SDPOLossConfig had gained a field after the run
    (tmp_path / "fingerprint.json").write_text(json.dumps(fp))
    out = run_units(small_cfg(), [P("a")], tmp_path, discoverer_factory=FakeDiscoverer)
    assert len(out) == 4
