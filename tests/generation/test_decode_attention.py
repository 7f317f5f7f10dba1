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
    """Every row in exactly one chunk whose first column is its own; a chunk of several
    rows only where they share that column (then their key spans are the same)."""
    chunks = own_key_chunks(first)
    rows = [r for a, z, _ in chunks for r in range(a, z)]
    assert rows == list(range(len(first)))
    for a, z, c in chunks:
        assert all(first[r] == c for r in range(a, z))
    for (_, z, c), (a2, _, c2) in zip(chunks, chunks[1:], strict=False):
        assert z == a2 and c != c2  # maximal runs
    assert own_key_chunks(first, group=False) == [(r, r + 1, c) for r, c in enumerate(first)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("length", [1, 5, 16, 17, 63, 64, 65, 127, 257])
def test_a_group_of_rows_with_one_key_span_equals_each_row_alone(dtype, length) -> None:
    """Bit for bit, for fp32 and bf16 queries: grouping a prompt's samples changes nothing."""
    torch.manual_seed(length)
    n, kv, grp, d = 5, 2, 7, 64
    q = torch.randn(n, kv * grp, 1, d).to(dtype)
    k = torch.randn(n, kv, length + 9, d)[:, :, 4 : length + 4]
    v = torch.randn(n, kv, length + 9, d)[:, :, 4 : length + 4]
    mask = torch.zeros(n, 1, 1, length, dtype=dtype)
    outs = []
    for chunks in ([(r, r + 1, 0) for r in range(n)], [(0, 2, 0), (2, 5, 0)], [(0, n, 0)]):
        token = _CHUNKS.set(chunks)
        try:
            outs.append(decode_attention_forward(_Module(grp), q, k, v, mask,
                                                 scaling=d**-0.5)[0])
        finally:
            _CHUNKS.reset(token)
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])


def _plain_decode_attention(query, key, value, mask, chunks, scale):
    """The decode attention as it was before issue 37's trims (one row per chunk, mask
    added, a fresh output per chunk copied in): the bits the engine must keep."""
    b, h, _, d = query.shape
    kv = key.shape[1]
    g = h // kv
    out = torch.empty((b, kv, g, d), dtype=key.dtype)
    q = query.reshape(b, kv, g, d).to(key.dtype)
    for r0, r1, c0 in chunks:
        n = r1 - r0
        k, v = key[r0:r1, :, c0:], value[r0:r1, :, c0:]
        length = k.shape[2]
        s = torch.bmm(q[r0:r1].reshape(n * kv, g, d), k.reshape(n * kv, length, d).transpose(1, 2))
        s = s.view(n, kv, g, length).mul_(scale).add_(mask[r0:r1, :, :, c0:])
        e = (s - s.amax(-1, keepdim=True)).exp_()
        total = e.sum(-1, keepdim=True)
        if query.dtype != key.dtype:
            e = e.to(query.dtype).to(key.dtype)
        o = torch.bmm(e.view(n * kv, g, length), v.reshape(n * kv, length, d))
        out[r0:r1] = o.view(n, kv, g, d).div_(total)
    return out.view(b, h, d).unsqueeze(1).to(query.dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_grouped_unmasked_attention_keeps_the_old_bits(dtype) -> None:
    """Rows grouped by first column, the zero mask not added, the output written in place:
    bit for bit the old one-row-per-chunk computation."""
    from selfdistill.generation.attention import _UNMASKED

    torch.manual_seed(1)
    b, kv, grp, d, width = 7, 2, 7, 64, 90
    first = [3, 3, 3, 10, 10, 0, 41]
    q = torch.randn(b, kv * grp, 1, d).to(dtype)
    k = torch.randn(b, kv, width + 6, d)[:, :, :width]
    v = torch.randn(b, kv, width + 6, d)[:, :, :width]
    k[:, :, 0] = -0.0  # a zero score: -0.0 + 0.0 is +0.0, which must change nothing
    mask = torch.zeros(b, 1, 1, width, dtype=dtype)
    for r, c in enumerate(first):
        mask[r, ..., :c] = torch.finfo(dtype).min
    want = _plain_decode_attention(q, k, v, mask, [(r, r + 1, c) for r, c in enumerate(first)],
                                   d**-0.5)
    for unmasked in (False, True):
        token, token_u = _CHUNKS.set(own_key_chunks(first)), _UNMASKED.set(unmasked)
        try:
            got = decode_attention_forward(_Module(grp), q, k, v, mask, scaling=d**-0.5)[0]
        finally:
            _CHUNKS.reset(token)
            _UNMASKED.reset(token_u)
        assert torch.equal(got, want), unmasked
