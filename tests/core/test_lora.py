"""core/lora.py: the one LoRA construction and unwrap, on a tiny random Llama."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_llama

from selfdistill.core.lora import (
    add_lora,
    base_model,
    lora_targets,
    make_trainable,
    merge_for_inference,
    reset_lora,
)
from selfdistill.errors import UserError

pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing`:FutureWarning")


class Optim:
    method = "lora"
    lora_r, lora_alpha, lora_dropout = 4, 8, 0.0
    lora_targets = ["q_proj", "v_proj", "c_attn"]  # c_attn: a GPT-2 name this model lacks
    gradient_checkpointing = False


def test_targets_are_filtered_to_the_model_and_none_is_a_user_error():
    model = tiny_llama(50)
    assert lora_targets(model, ["c_attn", "v_proj", "q_proj"]) == ["v_proj", "q_proj"]
    with pytest.raises(UserError, match="none of the LoRA target modules"):
        lora_targets(model, ["c_attn"])


def test_make_trainable_lora_starts_at_the_base_model_and_unwraps():
    base = tiny_llama(50)
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        before = base(input_ids=ids).logits
    model = make_trainable(base, Optim())
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    assert base_model(model) is base  # the same object, LoRA layers injected
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, before)  # B = 0 at init


def test_reset_is_seeded_and_merge_keeps_the_function():
    model = add_lora(tiny_llama(50), 4, 8, ["q_proj", "v_proj"], base_spec="some/spec")
    assert model.peft_config["default"].base_model_name_or_path == "some/spec"
    reset_lora(model, 3)
    a = {n: p.clone() for n, p in model.named_parameters() if "lora_A" in n}
    reset_lora(model, 3)
    assert all(torch.equal(a[n], p) for n, p in model.named_parameters() if "lora_A" in n)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_()  # a non-trivial adapter
        ids = torch.tensor([[4, 5, 6, 7]])
        live = model(input_ids=ids).logits
        merged = merge_for_inference(model)
        assert not hasattr(merged, "peft_config")
        torch.testing.assert_close(merged(input_ids=ids).logits, live, atol=1e-5, rtol=1e-5)
