"""`ssd analyze` (recipes/ssd/analyze.py): the maths against brute force, scoring, the command."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from selfdistill.generation.params import SamplingParams
from selfdistill.generation.sampling import candidate_logprobs
from selfdistill.recipes.ssd.analyze import (
    Analysis,
    bootstrap_delta,
    classify,
    position_stats,
    reference_answer,
    summarize,
)

# ---------------------------------------------------------------- brute force


def brute(logits: list[float], target: int, t: float, k: int, p: float) -> dict[str, float]:
    """The same statistics in plain Python, straight from the definitions."""
    z = sum(math.exp(v) for v in logits)
    probs = [math.exp(v) / z for v in logits]
    ent = -sum(q * math.log(q) for q in probs if q > 0)
    zt = sum(math.exp(v / t) for v in logits)
    tempered = sorted((math.exp(v / t) / zt for v in logits), reverse=True)
    survivors = tempered[:k] if 0 < k < len(logits) else tempered
    s = sum(survivors)
    renorm = [q / s for q in survivors]
    kept, before = 0, 0.0
    for q in renorm:
        if kept and before >= p:
            break
        kept += 1
        before += q
    kept_mass = sum(survivors[:kept])
    inside = [q / kept_mass for q in survivors[:kept]]
    return {"entropy": ent, "top1": max(probs), "nll": -math.log(probs[target]),
            "support": kept, "tail": 1.0 - kept_mass,
            "trunc_entropy": -sum(q * math.log(q) for q in inside if q > 0)}


def _prefix_masses(logits: list[float], t: float, k: int) -> list[float]:
    zt = sum(math.exp(v / t) for v in logits)
    tempered = sorted((math.exp(v / t) / zt for v in logits), reverse=True)
    survivors = tempered[:k] if 0 < k < len(logits) else tempered
    s, acc, out = sum(survivors), 0.0, []
    for q in survivors:
        acc += q / s
        out.append(acc)
    return out


_logits = st.lists(st.floats(-8, 8, allow_nan=False), min_size=2, max_size=12)


@settings(max_examples=200, deadline=None)
@given(_logits, st.data(), st.floats(0.2, 3.0), st.integers(0, 14), st.floats(0.05, 1.0))
def test_position_stats_match_brute_force(logits, data, t, k, p):
    target = data.draw(st.integers(0, len(logits) - 1))
    # top-p at an exact prefix-mass boundary is decided by rounding; keep clear of it.
    assume(all(abs(m - p) > 1e-9 for m in _prefix_masses(logits, t, k)))
    got = position_stats(torch.tensor([logits], dtype=torch.float64),
                         torch.tensor([target]), t, k, p)
    want = brute(logits, target, t, k, p)
    for name, value in want.items():
        assert float(got[name][0]) == pytest.approx(value, rel=1e-9, abs=1e-9), name


@settings(max_examples=100, deadline=None)
@given(_logits, st.floats(0.2, 3.0), st.integers(0, 14), st.floats(0.05, 1.0))
def test_support_is_the_samplers_kept_set(logits, t, k, p):
    """Same support size as generation/sampling.py, the sampler the recipe trains from."""
    assume(all(abs(m - p) > 1e-6 for m in _prefix_masses(logits, t, k)))
    x = torch.tensor([logits], dtype=torch.float32)
    got = position_stats(x, torch.tensor([0]), t, k, p)
    logp, _ = candidate_logprobs(x, SamplingParams(temperature=t, top_k=k, top_p=p))
    assert int(got["support"][0]) == int(torch.isfinite(logp).sum())


def test_tail_mass_is_exact_for_tiny_tails():
    """1 - kept mass computed as -expm1(log kept), so a 1e-12 tail is not rounded to 0."""
    x = torch.tensor([[30.0, 2.4, 0.0]], dtype=torch.float64)
    got = position_stats(x, torch.tensor([0]), 1.0, 1, 1.0)
    want = (math.exp(2.4) + 1.0) / (math.exp(30.0) + math.exp(2.4) + 1.0)
    assert float(got["tail"][0]) == pytest.approx(want, rel=1e-9)
    assert int(got["support"][0]) == 1


def test_no_truncation_means_no_tail_and_full_support():
    x = torch.randn(5, 9, dtype=torch.float64)
    got = position_stats(x, torch.zeros(5, dtype=torch.long), 1.0, 0, 1.0)
    assert torch.equal(got["support"], torch.full((5,), 9.0, dtype=torch.float64))
    assert torch.allclose(got["tail"], torch.zeros(5, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(got["trunc_entropy"], got["entropy"])  # T=1: same distribution


def test_zero_temperature_is_rejected():
    with pytest.raises(ValueError):
        position_stats(torch.zeros(1, 3), torch.tensor([0]), 0.0, 0, 1.0)


@given(st.lists(st.floats(0, 1), min_size=1, max_size=20), st.floats(0, 1))
def test_classify_top1_rule(top1, thr):
    base = {"top1": torch.tensor(top1, dtype=torch.float64)}
    assert classify(base, "top1", thr).tolist() == [v >= thr for v in top1]


@given(st.lists(st.integers(1, 20), min_size=1, max_size=20), st.integers(1, 5))
def test_classify_support_rule(support, thr):
    base = {"support": torch.tensor(support, dtype=torch.float64)}
    assert classify(base, "support", thr).tolist() == [v <= thr for v in support]


def test_classify_rejects_unknown_rule():
    with pytest.raises(ValueError):
        classify({"top1": torch.ones(1)}, "entropy", 0.5)


def test_bootstrap_ci_brackets_the_mean_and_is_degenerate_for_constants():
    delta = torch.tensor([1.0, 1.0, 3.0, 3.0, 5.0])
    groups = torch.tensor([0, 0, 1, 1, 2])
    lo, hi = bootstrap_delta(delta, groups)
    assert lo <= float(delta.mean()) <= hi
    assert bootstrap_delta(torch.full((4,), 0.5), torch.tensor([0, 1, 2, 3])) == \
        pytest.approx([0.5, 0.5])


def test_summarize_splits_classes_and_counts_transitions():
    base = {m: torch.tensor([0.95, 0.5, 0.2, 0.99], dtype=torch.float64)
            for m in ("entropy", "top1", "nll", "support", "tail", "trunc_entropy")}
    ssd = {m: v.clone() for m, v in base.items()}
    ssd["top1"] = torch.tensor([0.97, 0.92, 0.1, 0.8], dtype=torch.float64)
    lock = classify(base, "top1", 0.9)
    a = Analysis(base, ssd, lock, torch.tensor([0, 0, 1, 1]),
                 {"lock_by": "top1", "lock_threshold": 0.9})
    s = summarize(a)
    assert s["classes"]["lock"]["positions"] == 2 and s["classes"]["fork"]["positions"] == 2
    assert s["classes"]["lock"]["top1"]["base"] == pytest.approx(0.97)
    assert s["classes"]["lock"]["top1"]["ssd"] == pytest.approx(0.885)
    assert s["lock_rate"] == {"base": 0.5, "ssd": 0.5, "fork_to_lock": 0.25,
                              "lock_to_fork": 0.25}


def test_reference_answer_is_one_python_fence():
    from selfdistill.prompts.task import extract_code

    text = reference_answer("def f(x):\n    return x\n\n")
    assert text.startswith("```python\n") and text.endswith("\n```")
    assert extract_code(text, "f") == "def f(x):\n    return x"


# ---------------------------------------------------------------- scoring


def test_score_references_matches_a_plain_forward(tiny_model_dir):
    """Chunked scoring of packed references equals full logits of each sequence alone."""
    from transformers import AutoModelForCausalLM

    from selfdistill.recipes.ssd.analyze import Reference, score_references

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    refs = [Reference("a", [1, 5, 9], [11, 12, 13, 14]), Reference("b", [3, 4], [20, 21]),
            Reference("c", [7, 8, 9, 10, 11], [30])]
    scored: list[int] = []
    got = score_references(model, refs, pad_id=0, temperature=1.3, top_k=5, top_p=0.7,
                           batch_size=2, chunk_size=3, on_batch=scored.append)
    assert scored == [2, 1]  # progress: references per forward pass, all of them
    want = []
    with torch.no_grad():
        for r in refs:
            ids = torch.tensor([r.prompt_ids + r.answer_ids])
            logits = model(ids).logits[0, len(r.prompt_ids) - 1 : -1]
            want.append(position_stats(logits, torch.tensor(r.answer_ids), 1.3, 5, 0.7))
    for m in want[0]:
        assert torch.allclose(got[m], torch.cat([w[m] for w in want]), atol=1e-4), m


# ---------------------------------------------------------------- command


def _ssd_like_run(root: Path, tiny: Path) -> Path:
    """A run dir as `ssd run` leaves it: config.yaml, a training sample, train/final."""
    import json
    import shutil

    from transformers import AutoModelForCausalLM

    run = root / "run"
    (run / "sample").mkdir(parents=True)
    # Sharpened copies of the random tiny model, so both locks and forks occur; the SSD
    # stand-in is sharper still (what SSD's support compression should look like).
    for name, scale in (("base", 40.0), ("train/final", 80.0)):
        shutil.copytree(tiny, run / name)
        model = AutoModelForCausalLM.from_pretrained(run / name)
        with torch.no_grad():
            model.lm_head.weight.mul_(scale)
        model.save_pretrained(run / name)
    (run / "config.yaml").write_text(
        f"recipe: ssd\nrun_dir: elsewhere\nmodel:\n  spec: {run / 'base'}\n"
        "sample:\n  source: builtin:train\n  temperature: 1.6\n  top_k: 20\n  top_p: 0.8\n")
    # HumanEval/1 "was trained on": analyze must leave it out.
    (run / "sample" / "samples.jsonl").write_text(json.dumps({"problem_id": "HumanEval/1"}) + "\n")
    return run


@pytest.mark.slow
def test_ssd_analyze_command_end_to_end(tiny_model_dir, tmp_path):
    from typer.testing import CliRunner

    from selfdistill.cli.main import app

    run = _ssd_like_run(tmp_path, tiny_model_dir)
    res = CliRunner().invoke(app, ["ssd", "analyze", str(run), "--limit", "3",
                                   "--lock-threshold", "0.5"],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "lock/fork" in res.output and "support compression" in res.output
    out = run / "analyze"
    import json

    summary = json.loads((out / "lockfork.json").read_text())
    assert summary["settings"]["problems"] == 3 and summary["settings"]["excluded"] == 1
    c = summary["classes"]
    assert c["lock"]["positions"] + c["fork"]["positions"] == c["all"]["positions"] > 30
    assert c["lock"]["positions"] > 0 and c["fork"]["positions"] > 0
    # The sharper stand-in compresses the support and cuts less tail: the signs must show it.
    assert c["all"]["support"]["ssd"] < c["all"]["support"]["base"]
    assert c["all"]["support"]["ci"][1] < 0
    assert c["lock"]["tail"]["ssd"] < c["lock"]["tail"]["base"]
    for m in ("entropy", "top1", "support", "tail"):
        assert (out / f"lockfork_{m}.png").stat().st_size > 1000
    assert "| what |" in (out / "lockfork.md").read_text()
    assert not (run / "elsewhere").exists()  # the run dir given wins over config's run_dir


def test_ssd_analyze_errors_are_one_line(tmp_path):
    from typer.testing import CliRunner

    from selfdistill.cli.main import app

    runner = CliRunner()
    res = runner.invoke(app, ["ssd", "analyze", str(tmp_path)])
    assert res.exit_code != 0 and "config.yaml" in res.output
    (tmp_path / "config.yaml").write_text("recipe: ssd\nsample:\n  top_k: 20\n")
    res = runner.invoke(app, ["ssd", "analyze", str(tmp_path)])
    assert res.exit_code != 0 and "No SSD model" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(app, ["ssd", "analyze", str(tmp_path), "--lock-by", "entropy"])
    assert res.exit_code != 0 and "--lock-by" in res.output
