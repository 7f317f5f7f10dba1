"""`selfdistill plan`: the memory arithmetic's properties, the meta-device shape, the CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from selfdistill.cli.main import app
from selfdistill.errors import UserError
from selfdistill.planning.memory import (
    GiB,
    ModelShape,
    PlanInputs,
    activation_bytes,
    plan_memory,
    plan_with_advice,
)

REPO = Path(__file__).resolve().parents[2]
QWEN3_8B = REPO / "tests" / "fixtures" / "qwen3-8b" / "config.json"
runner = CliRunner()

# SmolLM2-135M's numbers (its config.json; 30 layers of 3.54M, tied 28.3M embedding).
SMOL = ModelShape(name="smol", n_params=134_515_008, layer_params=3_540_096,
                  root_params=28_311_552 + 576, n_layers=30, hidden=576, intermediate=1536,
                  q_dim=576, kv_dim=192, vocab=49152, lora_params=4_884_480)

shapes = st.builds(
    lambda layers, h, mult, vocab, r: ModelShape(
        name="x", n_params=layers * 12 * h * h + 2 * vocab * h, layer_params=12 * h * h,
        root_params=2 * vocab * h, n_layers=layers, hidden=h, intermediate=mult * h,
        q_dim=h, kv_dim=h // 4, vocab=vocab, lora_params=layers * 7 * r * 2 * h),
    st.integers(1, 64), st.sampled_from([256, 576, 1024, 4096]), st.integers(2, 4),
    st.integers(1000, 200_000), st.sampled_from([4, 8, 16, 64]))
inputs = st.builds(
    PlanInputs, method=st.sampled_from(["lora", "full"]),
    dtype=st.sampled_from(["float32", "bfloat16"]), strategy=st.sampled_from(["fsdp", "replica"]),
    ranks=st.integers(1, 16), device=st.sampled_from(["cpu", "cuda"]),
    budget_bytes=st.integers(1, 200).map(lambda g: g * GiB), micro_batch=st.integers(1, 16),
    prompt_tokens=st.integers(0, 4096), completion_tokens=st.integers(1, 8192),
    teacher_prompt_tokens=st.integers(0, 8192),
    teacher=st.sampled_from(["ema", "frozen", "trust_region", "live", "none"]),
    share_prefix=st.booleans(), checkpointing=st.booleans(),
    backend=st.sampled_from(["hf", "vllm"]), vllm_sleep=st.booleans())


@settings(max_examples=200, deadline=None)
@given(shapes, inputs, st.integers(1, 8), st.integers(1, 4096))
def test_peak_grows_with_micro_batch_and_length(s, i, more_mb, more_len) -> None:
    base = plan_memory(s, i).peak_bytes
    assert plan_memory(s, dataclasses.replace(i, micro_batch=i.micro_batch + more_mb)).peak_bytes >= base
    longer = dataclasses.replace(i, completion_tokens=i.completion_tokens + more_len)
    assert plan_memory(s, longer).peak_bytes >= base
    assert plan_memory(s, dataclasses.replace(i, prompt_tokens=i.prompt_tokens + more_len)
                       ).peak_bytes >= base


@settings(max_examples=200, deadline=None)
@given(shapes, inputs)
def test_checkpointing_never_costs_activation_memory(s, i) -> None:
    assert activation_bytes(s, i, True) <= activation_bytes(s, i, False)


@settings(max_examples=200, deadline=None)
@given(shapes, inputs, st.integers(2, 64))
def test_fsdp_divides_the_sharded_state_by_the_ranks(s, i, n) -> None:
    one = plan_memory(s, dataclasses.replace(i, strategy="fsdp", ranks=1))
    many = plan_memory(s, dataclasses.replace(i, strategy="fsdp", ranks=n))
    for name in ("optimizer", "teacher"):
        assert many.row(name).bytes == -(-one.row(name).bytes // n)
    if i.method == "full":
        assert many.row("weights").bytes == -(-one.row("weights").bytes // n)
    # replica: every rank holds everything, whatever the rank count
    r1 = plan_memory(s, dataclasses.replace(i, strategy="replica", ranks=1))
    rn = plan_memory(s, dataclasses.replace(i, strategy="replica", ranks=n))
    assert r1.peak_bytes == rn.peak_bytes


@settings(max_examples=200, deadline=None)
@given(shapes, inputs)
def test_lora_needs_less_than_full_fine_tuning(s, i) -> None:
    lora = plan_memory(s, dataclasses.replace(i, method="lora"))
    full = plan_memory(s, dataclasses.replace(i, method="full"))
    assert lora.peak_bytes < full.peak_bytes
    persistent = sum(r.bytes for r in lora.rows if r.phase == "persistent")
    assert persistent < sum(r.bytes for r in full.rows if r.phase == "persistent")


@settings(max_examples=100, deadline=None)
@given(shapes, inputs)
def test_a_suggested_change_fits_and_a_fitting_plan_has_none(s, i) -> None:
    p = plan_with_advice(s, i)
    if p.fits:
        assert p.suggestion is None
    elif p.suggestion is not None:
        assert p.suggestion_peak is not None and p.suggestion_peak <= i.budget_bytes


def test_ema_teacher_is_fp32_and_live_costs_nothing() -> None:
    i = PlanInputs(method="full", dtype="bfloat16", strategy="replica", budget_bytes=80 * GiB)
    assert plan_memory(SMOL, i).row("teacher").bytes == SMOL.n_params * 4
    assert plan_memory(SMOL, dataclasses.replace(i, teacher="live")).row("teacher").bytes == 0


def test_qwen3_8b_shape_from_its_config_on_meta_device() -> None:
    from selfdistill.planning.shape import model_shape

    s = model_shape("Qwen/Qwen3-8B", config=str(QWEN3_8B), lora_r=16)
    # The model card: 8.2B parameters, 6.95B non-embedding, 36 layers.
    assert round(s.n_params / 1e9, 1) == 8.2 and s.n_layers == 36
    assert round((s.n_params - 2 * s.vocab * s.hidden) / 1e9, 2) == 6.95
    assert s.q_dim == 4096 and s.kv_dim == 1024 and s.vocab == 151936
    # LoRA r=16 on the 7 projections of 36 layers: r * (in + out) each
    per_layer = 16 * ((4096 + 4096) * 2 + (4096 + 1024) * 2 + 3 * (4096 + 12288))
    assert s.lora_params == 36 * per_layer


def test_replica_full_fine_tuning_of_qwen3_8b_matches_the_issue_arithmetic() -> None:
    """Issue 29: 16 weights + 16 gradients + 33 AdamW + 33 EMA ~ 98 GB per rank."""
    from selfdistill.planning.shape import model_shape

    s = model_shape("Qwen/Qwen3-8B", config=str(QWEN3_8B))
    p = plan_memory(s, PlanInputs(method="full", dtype="bfloat16", strategy="replica",
                                  ranks=8, device="cuda", budget_bytes=80 * GiB))
    state = sum(p.row(n).bytes for n in ("weights", "gradients", "optimizer", "teacher"))
    assert 97e9 < state < 99e9


def _plan(*args: str):
    return runner.invoke(app, ["plan", *args], catch_exceptions=False)


def test_cli_plan_qwen3_8b_on_8_gpus_prints_table_and_verdict() -> None:
    recipe = str(REPO / "recipes" / "sdpo_qwen3_8b_lcb_v6.yaml")
    # as shipped: per-layer gathering (FSDP2 hooks), the engine asleep during updates: fits
    res = _plan(recipe, "--gpus", "8", "--gpu-mem", "80", "--model-config", str(QWEN3_8B))
    assert res.exit_code == 0, res.output
    for word in ("weights", "gradients", "optimizer", "teacher", "activations",
                 "logits chunk", "vllm engine", "peak per rank", "FITS"):
        assert word in res.output
    # with the engine resident (per-layer gathering is the default: what training/fsdp.py
    # runs) its 24 GiB tips it over; the cheapest change is the engine's sleep
    res = _plan(recipe, "rollout.vllm_sleep=false", "--gpus", "8", "--gpu-mem", "80",
                "--model-config", str(QWEN3_8B))
    assert res.exit_code == 1 and "gathered layers" in res.output
    assert "DOES NOT FIT" in res.output and "vllm_sleep" in res.output
    # the whole model gathered per update (the engine before session 8): a full bf16 copy
    # + full fp32 gradients on every rank; the advice keeps full fine-tuning (micro-batch 1)
    res = _plan(recipe, "rollout.vllm_sleep=false", "--gpus", "8", "--gpu-mem", "80",
                "--model-config", str(QWEN3_8B), "--fsdp-gather", "update")
    assert res.exit_code == 1 and "gathered model" in res.output
    assert "DOES NOT FIT" in res.output and "micro-batch 1" in res.output


def test_cli_plan_replica_does_not_fit_and_names_a_change() -> None:
    res = _plan(str(REPO / "recipes" / "sdpo_qwen3_8b_lcb_v6.yaml"), "--gpus", "8",
                "--gpu-mem", "80", "--strategy", "replica", "--model-config", str(QWEN3_8B),
                "--json", "model.dtype=bfloat16")
    assert res.exit_code == 1
    out = json.loads(res.stdout)
    assert not out["fits"] and out["suggestion"] and out["suggestion_peak"] <= 80 * GiB


def test_cli_plan_bad_input_is_one_line() -> None:
    res = _plan(str(REPO / "recipes" / "sdpo_cpu.yaml"), "--gpus", "0")
    assert res.exit_code != 0 and "--gpus" in res.output and "Traceback" not in res.output
    with pytest.raises(UserError, match="config not found"):
        from selfdistill.planning.shape import model_shape

        model_shape("x", config="/nonexistent/config.json")


def test_layer_gathering_models_what_training_fsdp_runs() -> None:
    """Per-layer gathering (the default): the root + 2 layers in the compute dtype, the root's
    and one layer's unsharded gradients, no merged LoRA copies (the adapter runs live on
    shards), packed rows with several ranks; far below the whole-model gather."""
    full = PlanInputs(method="full", dtype="bfloat16", strategy="fsdp", ranks=2, device="cuda",
                      budget_bytes=80 * GiB, micro_batch=4, prompt_tokens=256,
                      completion_tokens=256, teacher_prompt_tokens=512, backend="vllm")
    p = plan_memory(SMOL, full)
    assert p.row("gathered layers").bytes == (SMOL.root_params + 2 * SMOL.layer_params) * 2
    assert p.row("unsharded gradients").bytes == (SMOL.root_params + SMOL.layer_params) * 6
    assert p.row("teacher root").bytes == SMOL.root_params * 2
    whole = plan_memory(SMOL, dataclasses.replace(full, fsdp_gather="update"))
    assert whole.row("gathered model").bytes == SMOL.n_params * 2 + SMOL.n_params * 4
    assert p.peak_bytes < whole.peak_bytes
    # 2 ranks pack rows (4 x (256 + 256) tokens); 1 rank shares the prompt (256 + 4 x 256)
    one = plan_memory(SMOL, dataclasses.replace(full, ranks=1))
    assert "= 2048 tokens" in p.row("activations").note
    assert "= 1280 tokens" in one.row("activations").note
    lora = plan_memory(SMOL, dataclasses.replace(full, method="lora"))
    names = {r.name for r in lora.rows}
    assert "teacher merged weights" not in names and "unsharded gradients" not in names


def test_plan_cli_one_gpu_with_bf16_compute_is_sharded() -> None:
    """optim.compute_dtype bfloat16 on one GPU trains through FSDP2 (a 1-rank group)."""
    recipe = str(REPO / "recipes" / "sdpo_qwen3_8b_lcb_v6.yaml")
    res = _plan(recipe, "--gpus", "1", "--gpu-mem", "80", "--model-config", str(QWEN3_8B),
                "--json")
    assert json.loads(res.stdout)["inputs"]["strategy"] == "fsdp"
    res = _plan(recipe, "optim.compute_dtype=float32", "--gpus", "1", "--gpu-mem", "80",
                "--model-config", str(QWEN3_8B), "--json")
    assert json.loads(res.stdout)["inputs"]["strategy"] == "replica"
