"""The shipped accelerate configs for SSD's SFT (recipes/accelerate/): FSDP2 and DeepSpeed
ZeRO-3 with fp32 master weights and bf16 compute, as the SSD GPU recipes ask."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from selfdistill.core.config import load_config

REPO = Path(__file__).resolve().parents[2]
ACC = REPO / "recipes" / "accelerate"


def _accelerate_cfg(name: str):
    """The file as accelerate itself reads it (unknown keys would raise)."""
    from accelerate.commands.config.config_args import load_config_from_file

    return load_config_from_file(str(ACC / name))


def test_fsdp2_config_is_fsdp2_with_bf16_compute_and_sharded_fp32_state():
    cfg = _accelerate_cfg("fsdp2.yaml")
    assert cfg.distributed_type == "FSDP" and cfg.mixed_precision == "bf16"
    fc = cfg.fsdp_config
    assert fc["fsdp_version"] == 2 and fc["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert fc["fsdp_offload_params"] is False and fc["fsdp_state_dict_type"] == "SHARDED_STATE_DICT"


def test_deepspeed_zero3_config_keeps_fp32_masters_and_reduces_in_fp32():
    cfg = _accelerate_cfg("deepspeed_zero3.yaml")
    assert cfg.distributed_type == "DEEPSPEED" and cfg.mixed_precision == "bf16"
    ds_file = REPO / cfg.deepspeed_config["deepspeed_config_file"]
    ds = json.loads(ds_file.read_text())
    assert ds["zero_optimization"]["stage"] == 3
    assert ds["bf16"]["enabled"] is True and ds["fp16"]["enabled"] is False
    assert ds["communication_data_type"] == "fp32"
    assert ds["data_types"]["grad_accum_dtype"] == "fp32"


@pytest.mark.parametrize("recipe", sorted(REPO.glob("recipes/ssd_*gpu.yaml")),
                         ids=lambda p: p.name)
def test_ssd_gpu_recipes_ask_for_what_the_configs_do(recipe):
    """fp32 master weights (model.dtype float32) with bf16 compute (train.bf16), sampling in bf16."""
    _, cfg = load_config(recipe)
    assert cfg.model.dtype == "float32" and cfg.train.bf16 is True
    assert cfg.model.infer_dtype == "bfloat16"
    for name in ("fsdp2.yaml", "deepspeed_zero3.yaml"):
        assert yaml.safe_load((ACC / name).read_text())["mixed_precision"] == "bf16"
    assert "recipes/accelerate/" in recipe.read_text()
