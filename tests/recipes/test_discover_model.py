"""Discoverer on a tiny random Llama (fast) and one slow end-to-end run on the real model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from selfdistill.problems.registry import find_problem
from selfdistill.recipes.discover import DiscoverConfig, Discoverer, run_discover

pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing`:FutureWarning")


def tiny_cfg(**kw) -> DiscoverConfig:
    cfg = DiscoverConfig(budget=4, seeds=1, **kw)
    cfg.sampling.batch = 2
    cfg.sampling.max_new_tokens = 8
    cfg.sampling.gen_batch_size = 2
    cfg.optim.lr = 1e-2
    cfg.optim.lora_r = 4
    cfg.optim.lora_targets = ["q_proj", "v_proj"]
    cfg.teacher.max_prompt_tokens = 1024
    cfg.multiturn.max_context_tokens = 400
    return cfg


@pytest.fixture(scope="module")
def disc(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    return Discoverer(tiny_cfg(), model=model, tokenizer=tok)


def lora_state(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}


def test_reset_is_seeded_and_starts_from_the_base_model(disc):
    disc.reset(0)
    a0 = lora_state(disc.model)
    disc.reset(1)
    a1 = lora_state(disc.model)
    disc.reset(0)
    assert all(torch.equal(a0[n], p) for n, p in lora_state(disc.model).items())
    assert any(not torch.equal(a0[n], a1[n]) for n in a0 if "lora_A" in n)
    assert all(float(p.abs().max()) == 0.0 for n, p in a0.items() if "lora_B" in n)
    ids = torch.tensor([[1, 2, 3, 4]])
    disc.model.eval()
    with torch.no_grad():
        live = disc.model(input_ids=ids).logits
        with disc.model.disable_adapter():
            base = disc.model(input_ids=ids).logits
    assert torch.equal(live, base)


def test_sdpo_run_updates_the_adapter_and_resets_between_runs(disc):
    problem = find_problem("builtin/easy-clamp")
    steps: list[dict] = []
    r = disc.run("sdpo", problem, 0, on_step=steps.append)
    assert r.attempts_used == 4 and r.steps == 2
    if not r.solved:  # a random model: practically never
        assert r.updates == 1 and steps[0]["metrics"]["loss_samples"] == 2
        assert any(float(p.abs().max()) > 0 for n, p in lora_state(disc.model).items()
                   if "lora_B" in n)
    disc.reset(0)
    assert all(float(p.abs().max()) == 0 for n, p in lora_state(disc.model).items()
               if "lora_B" in n)


def test_methods_share_the_first_batch(disc):
    problem = find_problem("builtin/easy-clamp")
    first: dict[str, list[str]] = {}
    for m in ("sdpo", "best_of_k", "multiturn"):
        recs: list[dict] = []
        disc.run(m, problem, 3, on_step=recs.append)
        first[m] = [a["text"] for a in recs[0]["attempts"]]
        if m == "multiturn" and len(recs) > 1:  # one attempt per turn per conversation
            assert [k + d for k, d in zip(recs[1]["context_kept"], recs[1]["context_dropped"],
                                          strict=True)] == [1, 1]
    assert first["sdpo"] == first["best_of_k"] == first["multiturn"]


@pytest.mark.parametrize("method", ["full", "lora"])
def test_baselines_after_an_sdpo_run_sample_from_the_initial_weights(tiny_model_dir, method):
    """The runs of a (problem, seed) share initial weights whatever the fine-tuning method:
    a baseline run after an sdpo run draws exactly what it drew before it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = tiny_cfg()
    cfg.optim.method, cfg.optim.lr = method, 5e-2
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    d = Discoverer(cfg, model=AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                   tokenizer=tok)
    problem = find_problem("builtin/easy-clamp")

    def texts(m: str) -> list[str]:
        recs: list[dict] = []
        d.run(m, problem, 0, on_step=recs.append)
        return [a["text"] for r in recs for a in r["attempts"]]

    init = {n: p.detach().clone() for n, p in d.model.named_parameters()}
    before = {m: texts(m) for m in ("best_of_k", "multiturn")}
    r = d.run("sdpo", problem, 0)
    assert r.updates == 1 and not r.solved
    trained = {n: p.detach().clone() for n, p in d.model.named_parameters()}
    assert any(not torch.equal(init[n], trained[n]) for n in init)  # SDPO moved the weights
    chat = [{"role": "user", "content": "hi"}]
    # The test has teeth: the trained weights draw something else than the initial ones.
    drawn = d._sampler(adapter=True)(chat, 2, 7)
    d.restore_initial_weights(0)
    assert [c.text for c in drawn] != [c.text for c in d._sampler(adapter=True)(chat, 2, 7)]
    d.run("sdpo", problem, 0)  # trained weights again, then the baselines
    for m in ("best_of_k", "multiturn"):
        assert texts(m) == before[m], m
    if method == "full":
        assert all(torch.equal(init[n], p) for n, p in d.model.named_parameters())


def test_select_hard_samples_the_initial_weights_through_the_real_generator(disc, tmp_path):
    from selfdistill.recipes.discover.select import select_hard

    cfg = tiny_cfg()
    cfg.select.pool, cfg.select.n, cfg.select.k = ["builtin:dev?difficulty=easy&limit=2"], 3, 2
    disc.cfg = cfg
    try:
        selection, chosen = select_hard(disc.base_generator(), cfg, tmp_path)
    finally:
        disc.cfg = tiny_cfg()
    assert [(e.n, e.c) for e in selection.estimates] == [(3, 0), (3, 0)]  # a random model
    assert len(chosen) == 2 and selection.very_hard == selection.chosen
    rows = [json.loads(x) for x in (tmp_path / "select" / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all(r["n_tokens"] <= 8 for r in rows)


# ------------------------------------------------------------------------------- slow


@pytest.mark.slow
def test_discover_end_to_end_on_the_embedded_model(tmp_path: Path):
    """A tiny-budget discover + resume on SmolLM2-135M (< 2 min on 2 CPU cores)."""
    os.environ.setdefault("SELFDISTILL_CACHE", "/tmp/sdcache")
    cfg = DiscoverConfig(problem="builtin/easy-clamp", methods=["sdpo", "multiturn"],
                         budget=4, seeds=1, run_dir=str(tmp_path))
    cfg.sampling.batch = 2
    cfg.sampling.max_new_tokens = 64
    cfg.optim.lr = 1e-4
    cfg.multiturn.max_context_tokens = 1024
    results = run_discover(cfg)
    assert len(results) == 2
    for r in results:
        assert r.attempts_used <= 4
        assert r.solved == (r.attempt_index is not None)
    rows = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 2
    assert (tmp_path / "report.md").is_file() and (tmp_path / "discovery_at_k.png").is_file()
    again = run_discover(cfg, discoverer_factory=lambda: pytest.fail("must replay from disk"))
    assert [r.to_dict() for r in again] == [r.to_dict() for r in results]


def test_merged_sampling_matches_the_live_adapter_and_restores_weights(disc):
    disc.reset(5)
    with torch.no_grad():  # a non-trivial adapter
        for n, p in disc.model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
    base = {n: p.detach().clone() for n, p in disc.model.named_parameters() if "lora_" not in n}
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    disc.model.eval()
    with torch.no_grad():
        live = disc.model(input_ids=ids).logits
        disc.model.merge_adapter()
        merged = disc.gen_model(input_ids=ids).logits
        disc.model.unmerge_adapter()
    torch.testing.assert_close(merged, live, atol=1e-5, rtol=1e-4)
    chat = [{"role": "user", "content": "hi"}]
    disc._sampler(adapter=True)(chat, 2, 0)
    for n, p in disc.model.named_parameters():
        if n in base:
            torch.testing.assert_close(p, base[n], atol=1e-6, rtol=0)


def test_bf16_compute_sdpo_run_trains_fp32_master_adapter(tiny_model_dir):
    """optim.compute_dtype bfloat16: the run trains through FSDP2 on one process; the
    adapter stays fp32 (master), a second run starts again from B = 0."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from selfdistill.training import fsdp

    cfg = tiny_cfg()
    cfg.optim.compute_dtype = "bfloat16"
    d = Discoverer(cfg, model=AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                   tokenizer=AutoTokenizer.from_pretrained(tiny_model_dir))
    assert fsdp.is_sharded(d.model)
    r = d.run("sdpo", find_problem("builtin/easy-clamp"), 0)
    assert r.attempts_used == 4
    full = dict(fsdp.iter_full_parameters(d.model))
    assert all(t.dtype == torch.float32 for t in full.values())
    if not r.solved:
        assert any(float(t.abs().max()) > 0 for n, t in full.items() if "lora_B" in n)
    d.reset(0)
    assert all(float(t.abs().max()) == 0 for n, t in fsdp.iter_full_parameters(d.model)
               if "lora_B" in n)
