"""Decode-step attention for the HF backend: grouped-query attention as two batched matmuls.

Why: at decode time (one query per row) attention is bound by reading the KV cache, and
torch's CPU flash kernel for q_len=1 with a padding mask spends ~3.5x as long as two plain
`bmm`s over the cache in place (bf16, batch 64, 400 cached positions; torch 2.13). The
query heads of one KV group are stacked as the matmul's rows, so K/V are read once per
group and never repeated (no `repeat_kv` copy). A bf16 model's cache is stored in fp32
(kvcache.py): bf16 `bmm` would copy the cache views first.

Rows can be split into contiguous chunks that each skip the leading columns that are
padding for all of their rows (left padding of short prompts), so a batch of mixed prompt
lengths does not pay for its longest prompt in every row.

Prefill (q_len > 1), and anything unusual (softcap, sliding window, dropout, a mask that is
not ours), goes to transformers' own SDPA path, so results there are unchanged.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

NAME = "selfdistill_decode"
# Row chunks of the current decode step: (row_start, row_end, first_column) triples.
_CHUNKS: contextvars.ContextVar[list[tuple[int, int, int]] | None] = contextvars.ContextVar(
    "selfdistill_decode_chunks", default=None)
# True while every chunk's columns are unmasked (each row over its own keys, no padding
# between them): the mask then adds +0.0, which changes no exp below, and is skipped.
_UNMASKED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "selfdistill_decode_unmasked", default=False)
SWITCHABLE = {"sdpa", "eager"}  # implementations computing exactly this maths


def decode_reads_store() -> bool:
    """True while a decode step whose attention reads the stored KV cache as it is runs."""
    return _CHUNKS.get() is not None


def decode_attention_forward(module: Any, query: torch.Tensor, key: torch.Tensor,
                             value: torch.Tensor, attention_mask: torch.Tensor | None,
                             scaling: float | None = None, dropout: float = 0.0,
                             **kwargs: Any) -> tuple[torch.Tensor, None]:
    """Attention for [B, H, 1, D] queries over a [B, KV, L, D] cache; SDPA otherwise."""
    chunks = _CHUNKS.get()
    b, h, q_len, d = query.shape
    kv = key.shape[1]
    usable = (chunks is not None and q_len == 1 and dropout == 0.0 and h % kv == 0
              and attention_mask is not None and attention_mask.dtype.is_floating_point
              and attention_mask.dim() == 4 and attention_mask.shape[-1] == key.shape[2]
              and kwargs.get("softcap") is None and kwargs.get("sliding_window") is None
              and key.shape[-1] == value.shape[-1] == d)
    if not usable:
        if key.dtype != query.dtype:  # a cache stored in fp32 (kvcache.py)
            key, value = key.to(query.dtype), value.to(query.dtype)
        return sdpa_attention_forward(module, query, key, value, attention_mask,
                                      dropout=dropout, scaling=scaling, **kwargs)
    g = h // kv
    scale = scaling if scaling is not None else d**-0.5
    # Computed in the cache's dtype: fp32 for a bf16 model on CPU (kvcache.py), whose bmm
    # reads the cache views in place; scores and softmax in fp32 as in SDPA's bf16 kernel.
    out = torch.empty((b, kv, g, d), dtype=key.dtype, device=query.device)
    q = query.reshape(b, kv, g, d).to(key.dtype)
    unmasked = _UNMASKED.get()
    for r0, r1, c0 in chunks:
        n = r1 - r0
        k = key[r0:r1, :, c0:]
        v = value[r0:r1, :, c0:]
        length = k.shape[2]
        s = torch.bmm(q[r0:r1].reshape(n * kv, g, d), k.reshape(n * kv, length, d).transpose(1, 2))
        # [n, 1, 1, L] additive mask broadcast over the kv heads and their query groups
        # (all +0.0 when unmasked: s + 0.0 only turns -0.0 into +0.0, and exp(s - max)
        # is the same either way).
        s = s.view(n, kv, g, length).mul_(scale)
        if not unmasked:
            s.add_(attention_mask[r0:r1, :, :, c0:])
        # Softmax as SDPA's flash kernel: unnormalised exp (in the model's dtype for the
        # matmul with V), normalised after it (bf16 greedy then differs from plain generate
        # at near-ties only: tests/generation/test_bf16_generation.py).
        e = (s - s.amax(-1, keepdim=True)).exp_()
        total = e.sum(-1, keepdim=True)
        if query.dtype != key.dtype:
            e = e.to(query.dtype).to(key.dtype)
        o = out[r0:r1]  # contiguous: the matmul writes its rows in place
        torch.bmm(e.view(n * kv, g, length), v.reshape(n * kv, length, d),
                  out=o.view(n * kv, g, d))
        o.div_(total)
    # Same layout as SDPA's output after its transpose: [B, q_len, H, D].
    return out.view(b, h, d).unsqueeze(1).to(query.dtype), None


AttentionInterface.register(NAME, decode_attention_forward)
ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, sdpa_mask)  # prefill masks as for SDPA


def plan_chunks(first_col: list[int], width: int, max_chunks: int = 4,
                min_saving: float = 0.05) -> list[tuple[int, int, int]]:
    """Split rows into <= max_chunks equal contiguous ranges, each skipping its shared padding.

    first_col[r] is row r's first unmasked column of a width-column cache. A split is kept
    only if it cuts the attended cells by at least min_saving of the whole (each chunk costs
    two more small matmuls per layer).
    """
    rows = len(first_col)
    if rows == 0:
        return []
    whole = [(0, rows, min(first_col))]
    full = rows * (width - whole[0][2])
    best, best_cost = whole, full
    for k in range(2, max_chunks + 1):
        if rows < 2 * k:
            break
        bounds = [round(i * rows / k) for i in range(k + 1)]
        plan = [(a, z, min(first_col[a:z])) for a, z in zip(bounds, bounds[1:], strict=False)]
        cost = sum((z - a) * (width - c) for a, z, c in plan)
        if cost < best_cost:
            best, best_cost = plan, cost
    if full - best_cost < min_saving * full:
        return whole
    return best


def own_key_chunks(first_col: list[int], group: bool = True) -> list[tuple[int, int, int]]:
    """Chunks over exactly each row's own keys (no padding column): with group, runs of
    adjacent rows with the same first column share one chunk (a prompt's n samples),
    others are alone (group is for CPU, where it was measured; elsewhere one row each).

    Why: a row's numbers must not depend on its neighbours (HFGenerator(batch_invariant)).
    Chunks mixing rows with different first columns changed bf16 answers on the embedded
    model although each op alone ignored the leading masked columns. Rows with the same
    first column attend over the same key span (no masked column): every op then runs the
    same per-row shapes, and a group gives each row the numbers it gets alone, bit for bit
    (measured: 332 shapes, spans 1-1000, groups of 2-8, fp32 and bf16 queries; checked
    once per process at run time by `_grouping_is_exact`, one row per chunk otherwise).
    """
    if not group or not _grouping_is_exact():
        return [(r, r + 1, c) for r, c in enumerate(first_col)]
    chunks: list[tuple[int, int, int]] = []
    for r, c in enumerate(first_col):
        if chunks and chunks[-1][2] == c and chunks[-1][1] == r:
            chunks[-1] = (chunks[-1][0], r + 1, c)
        else:
            chunks.append((r, r + 1, c))
    return chunks


_GROUPING_CHECKED: list[bool] = []


def _grouping_is_exact() -> bool:
    """Once per process: rows attended as one group equal the same rows attended alone."""
    if not _GROUPING_CHECKED:
        g = torch.Generator().manual_seed(0)
        ok = True
        for n, kv, grp, d, length in ((5, 2, 7, 64, 37), (3, 2, 7, 64, 300), (4, 3, 3, 64, 129)):
            q = torch.randn(n, kv * grp, 1, d, generator=g).to(torch.bfloat16)
            k = torch.randn(n, kv, length + 3, d, generator=g)[:, :, :length]
            v = torch.randn(n, kv, length + 3, d, generator=g)[:, :, :length]
            mask = torch.zeros(n, 1, 1, length, dtype=torch.bfloat16)
            outs = []
            for chunks in ([(r, r + 1, 0) for r in range(n)], [(0, n, 0)]):
                token = _CHUNKS.set(chunks)
                try:
                    outs.append(decode_attention_forward(None, q, k, v, mask,
                                                         scaling=d**-0.5)[0])
                finally:
                    _CHUNKS.reset(token)
            ok = ok and torch.equal(outs[0], outs[1])
        _GROUPING_CHECKED.append(ok)
    return _GROUPING_CHECKED[0]


@contextlib.contextmanager
def decode_attention(model: Any, chunks: list[tuple[int, int, int]] | None,
                     unmasked: bool = False) -> Iterator[bool]:
    """Route model's attention through decode_attention_forward with these row chunks
    (unmasked: the mask is 0 over every chunk's columns, so it is not added).

    Yields False (and changes nothing) when the model uses an implementation we must not
    replace (flash attention, flex, paged, ...).
    """
    cfg = model.config
    current = getattr(cfg, "_attn_implementation", None)
    if current not in SWITCHABLE and current != NAME:
        yield False
        return
    token = _CHUNKS.set(chunks)
    token_u = _UNMASKED.set(unmasked)
    cfg._attn_implementation = NAME
    try:
        yield True
    finally:
        cfg._attn_implementation = current
        _CHUNKS.reset(token)
        _UNMASKED.reset(token_u)
