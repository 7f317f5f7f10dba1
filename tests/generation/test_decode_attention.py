"""Decode-step attention: equals transformers' SDPA path; row chunks skip only padding."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from selfdistill.generation.attention import (
    _CHUNKS,
    NAME,
    decode_attention,
    decode_attention_forward,
    own_key_chunks,
    plan_chunks,
)


class _Module(torch.nn.Module):
    def __init__(self, groups: int) -> None:
        super().__init__()
        self.num_key_value_groups = groups
        self.is_causal = True


def _inputs(b: int = 6, h: int = 6, kv: int = 2, length: int = 11, d: int = 8):
    torch.manual_seed(0)
    q = torch.randn(b, h, 1, d)
    base_k = torch.randn(b, kv, length + 5, d)  # a cache buffer with spare capacity
    base_v = torch.randn(b, kv, length + 5, d)
    k, v = base_k[:, :, :length], base_v[:, :, :length]  # views, as the KV cache passes them
    first = [0, 0, 3, 4, 7, 9][:b]
    mask = torch.zeros(b, 1, 1, length)
    for r, c in enumerate(first):
        mask[r, ..., :c] = torch.finfo(torch.float32).min
    return q, k, v, mask, first


@pytest.mark.parametrize("max_chunks", [1, 2, 3])
def test_decode_attention_equals_sdpa(max_chunks: int) -> None:
    q, k, v, mask, first = _inputs()
    module = _Module(groups=3)
    ref, _ = sdpa_attention_forward(module, q, k, v, mask, scaling=0.3)
    chunks = plan_chunks(first, k.shape[2], max_chunks=max_chunks, min_saving=0.0)
    token = _CHUNKS.set(chunks)
    try:
        got, _ = decode_attention_forward(module, q, k, v, mask, scaling=0.3)
    finally:
        _CHUNKS.reset(token)
    assert got.shape == ref.shape == (6, 1, 6, 8)
    assert torch.allclose(got, ref, atol=1e-5)


def test_prefill_and_outside_the_context_fall_back_to_sdpa() -> None:
    q, k, v, mask, _ = _inputs()
    module = _Module(groups=3)
    ref, _ = sdpa_attention_forward(module, q, k, v, mask)
    got, _ = decode_attention_forward(module, q, k, v, mask)  # no chunks set: SDPA
    assert torch.equal(got, ref)


def test_context_switches_and_restores_the_implementation() -> None:
    from tiny import char_llama as tiny_llama

    model = tiny_llama()
    before = model.config._attn_implementation
    with pytest.raises(RuntimeError), decode_attention(model, [(0, 1, 0)]) as on:
        assert on and model.config._attn_implementation == NAME
        raise RuntimeError("boom")
    assert model.config._attn_implementation == before
    model.config._attn_implementation = "flash_attention_2"  # never replaced
    with decode_attention(model, [(0, 1, 0)]) as on:
        assert not on and model.config._attn_implementation == "flash_attention_2"


@given(st.lists(st.integers(0, 50), min_size=1, max_size=40), st.integers(1, 5))
def test_plan_chunks_cover_rows_and_skip_only_padding(first: list[int], max_chunks: int) -> None:
    width = 60
    plan = plan_chunks(first, width, max_chunks=max_chunks)
    assert 1 <= len(plan) <= max_chunks
    assert plan[0][0] == 0 and plan[-1][1] == len(first)
    for (_, z, _), (a, _, _) in zip(plan, plan[1:], strict=False):
        assert z == a  # contiguous, no gaps, no overlaps
    for a, z, c in plan:
        assert a < z and c == min(first[a:z])  # never skips a real column
    cost = sum((z - a) * (width - c) for a, z, c in plan)
    assert cost <= len(first) * (width - min(first))


@given(st.lists(st.integers(0, 50), min_size=0, max_size=40))
def test_own_key_chunks_give_every_row_exactly_its_own_keys(first: list[int]) -> None:
    assert own_key_chunks(first) == [(r, r + 1, c) for r, c in enumerate(first)]
