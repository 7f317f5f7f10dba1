"""The rows of an HF decode batch: finished rows dropped, refilled rows merged in.

Dropping copies the KV cache (index_select), so it is lazy: only once at least
compact_fraction of the rows are done. Merging left-pads the shorter cache and mask;
explicit per-row positions keep RoPE right.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from selfdistill.generation.kvcache import GrowCache


@dataclass
class Seq:
    """One (prompt, sample) sequence being decoded and what it produced so far."""

    index: int  # position in the flattened (prompt, sample) list
    prompt_index: int
    sample_index: int
    prompt_ids: list[int]
    uniforms: torch.Tensor | None
    prefill_index: int = -1  # the first prompt with the same token ids: prefilled once
    out: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    base_logprobs: list[float] = field(default_factory=list)
    finish: str | None = None


@dataclass
class Batch:
    """The rows decoded together: their cache, mask, positions and next input tokens."""

    seqs: list[Seq]
    cache: GrowCache
    mask: torch.Tensor  # [B, L] over cached positions
    pos: torch.Tensor  # [B] position id of the next input token
    next_tok: torch.Tensor  # [B] next input token (sampled, not yet in the cache)
    uniforms: torch.Tensor | None  # [B, max_new]
    alive: list[bool]


def maybe_compact(b: Batch, drop_finished: bool, compact_fraction: float) -> Batch | None:
    """None when every row is done; the batch without its finished rows once enough are."""
    n_alive = sum(b.alive)
    if n_alive == 0:
        return None
    dead = len(b.alive) - n_alive
    if dead and drop_finished and dead >= max(1.0, compact_fraction * len(b.alive)):
        return compact(b)
    return b


def compact(b: Batch) -> Batch:
    """Drop finished rows from the batch and its cache, and all-padding leading columns."""
    keep_rows = [r for r, a in enumerate(b.alive) if a]
    if len(keep_rows) == len(b.alive):
        return b
    keep = torch.tensor(keep_rows, device=b.mask.device)
    b.cache.batch_select_indices(keep)
    b.mask = b.mask.index_select(0, keep)
    b.pos, b.next_tok = b.pos[keep], b.next_tok[keep]
    if b.uniforms is not None:
        b.uniforms = b.uniforms.index_select(0, keep)
    b.seqs = [b.seqs[r] for r in keep_rows]
    b.alive = [True] * len(keep_rows)
    # Drop leading columns that are padding for every remaining row.
    lead = int((b.mask.cumsum(1) == 0).all(0).sum())
    if lead:
        b.mask = b.mask[:, lead:]
        for layer in b.cache.layers:
            layer.trim_left(lead)
    return b


def merge(a: Batch, *news: Batch) -> Batch:
    """Append the rows of news to a, in order (every cache and mask left-padded to the
    widest), with one copy of each cache: merging k prefilled prompts one at a time
    copied the growing cache k times."""
    parts = [a, *news]
    if len(parts) == 1:
        return a
    n = max(p.mask.shape[1] for p in parts)
    mask = torch.zeros((sum(len(p.seqs) for p in parts), n), dtype=a.mask.dtype,
                       device=a.mask.device)
    r = 0
    for p in parts:
        mask[r : r + len(p.seqs), n - p.mask.shape[1]:] = p.mask
        r += len(p.seqs)
    for layers in zip(*(p.cache.layers for p in parts), strict=True):
        layers[0].merge(*layers[1:])
    a.mask = mask
    a.seqs = [s for p in parts for s in p.seqs]
    a.alive = [x for p in parts for x in p.alive]
    a.pos = torch.cat([p.pos for p in parts])
    a.next_tok = torch.cat([p.next_tok for p in parts])
    if a.uniforms is not None:
        a.uniforms = torch.cat([p.uniforms for p in parts])
    return a
