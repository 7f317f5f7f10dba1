"""Token scoring of many completions that share a prompt: the prompt runs once.

The student's G rollouts of a group share their prompt; teacher re-prompts share either
the whole prompt (one sibling solution) or its beginning (system prompt and question,
then each rollout's own feedback). score_rows routes a micro-batch to the cheapest exact
form: one shared prefix, per-prompt prefixes, or packed rows (scoring.score_tokens).
Outputs are completion-aligned exactly like scoring.score_tokens.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from transformers.cache_utils import DynamicCache

from selfdistill.core.lora import base_model
from selfdistill.core.models import cache_kwarg
from selfdistill.distill.scoring import (
    DEFAULT_CHUNK_SIZE,
    TokenScores,
    head_and_softcap,
    pack_sequences,
    score_tokens,
    scores_from_hidden,
)
from selfdistill.generation.attention import plan_chunks


class ScoringSettings(Protocol):
    """What scoring reads of the loss settings (objective.SDPOLossConfig has all five)."""

    chunk_size: int
    scoring_temperature: float
    share_prefix: bool
    min_shared_prefix: int
    keep_logits_max_elements: int


def score_shared_prefix(
    model: nn.Module,
    prefix_ids: Sequence[int],
    completions: Sequence[Sequence[int]],
    *,
    topk: int | None = None,
    at_idx: Tensor | None = None,
    temperature: float = 1.0,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    pad_id: int = 0,
    checkpoint_chunks: bool | None = None,
    middles: Sequence[Sequence[int]] | None = None,
) -> TokenScores:
    """Like scoring.score_tokens for n completions of ONE prompt: the prompt runs once.

    The prompt's KV cache (with its autograd graph) is repeated over the n completions, so
    the prompt's cost is paid once instead of n times; gradients flow into it through the
    cache. middles[i] (optional): row i's own unscored tokens between the shared prefix
    and its completion (e.g. teacher re-prompts sharing their question but not their
    feedback). Output is completion-aligned [n, T(, K)], T = longest completion.
    """
    if topk is not None and at_idx is not None:
        raise ValueError("pass either topk or at_idx, not both")
    if not prefix_ids:
        raise ValueError("a shared prefix needs at least one token")
    base = base_model(model)
    device = next(model.parameters()).device
    head, softcap = head_and_softcap(base)
    n = len(completions)
    t = max((len(c) for c in completions), default=0)
    mids = [list(m) for m in middles] if middles is not None else [[] for _ in completions]
    if len(mids) != n:
        raise ValueError(f"{len(mids)} middles for {n} completions")
    comp = torch.full((n, t), pad_id, dtype=torch.long, device=device)
    cmask = torch.zeros((n, t), dtype=torch.bool, device=device)
    for i, c in enumerate(completions):
        comp[i, : len(c)] = torch.as_tensor(list(c), dtype=torch.long)
        cmask[i, : len(c)] = True
    hh, rows, slots = _completion_hidden(base.get_decoder(), prefix_ids, mids, completions,
                                         cmask, pad_id, device)
    idx = at_idx[rows, slots].long() if at_idx is not None else None
    k = topk if topk is not None else (at_idx.shape[-1] if at_idx is not None else 0)
    # Scores are placed back by (row, slot), so the length groups' order does not matter.
    return scores_from_hidden(hh, comp[rows, slots], idx, rows, slots, (n, t), head, softcap,
                              topk=topk, k=k, temperature=temperature, chunk_size=chunk_size,
                              checkpoint_chunks=checkpoint_chunks)


def _completion_hidden(
    decoder: nn.Module, prefix_ids: Sequence[int], mids: list[list[int]],
    completions: Sequence[Sequence[int]], cmask: Tensor, pad_id: int, device: torch.device,
) -> tuple[Tensor, Tensor, Tensor]:
    """Hidden states predicting every completion token after the shared prefix, with their
    (row, slot): the prefix runs once, its KV cache is repeated over the rows."""
    n, p = len(completions), len(prefix_ids)
    seqs = [m + list(c) for m, c in zip(mids, completions, strict=True)]
    width = max((len(x) for x in seqs), default=0)
    pre = torch.tensor([list(prefix_ids)], dtype=torch.long, device=device)
    out = decoder(input_ids=pre, attention_mask=torch.ones_like(pre),
                  position_ids=torch.arange(p, device=device)[None], use_cache=True)
    cache = out.past_key_values
    h_last = out.last_hidden_state[:, -1:]  # predicts each row's first own token
    # Rows with their own middles (teacher re-prompts: feedback of very different lengths)
    # run in length groups, so little compute goes to right padding; each group gets its
    # own copy of the prefix cache. Completions alone (the student) stay one batch.
    order = sorted(range(n), key=lambda i: -len(seqs[i]))
    groups = [order[a:z] for a, z, _ in
              plan_chunks([width - len(seqs[i]) for i in order], width, max_chunks=3,
                          min_saving=0.10)] if n > 1 and any(mids) else [list(range(n))]
    prefix_kv = [(layer.keys, layer.values) for layer in cache.layers] if len(groups) > 1 \
        else None
    hh_parts, row_parts, slot_parts = [], [], []
    for g in groups:
        g_rows = torch.tensor(g, dtype=torch.long, device=device)
        w = max(len(seqs[i]) for i in g)
        if w > 1:
            g_cache = _group_cache(cache, prefix_kv, len(g))
            seq = torch.full((len(g), w), pad_id, dtype=torch.long, device=device)
            smask = torch.zeros((len(g), w), dtype=torch.long, device=device)
            for r, i in enumerate(g):
                seq[r, : len(seqs[i])] = torch.as_tensor(seqs[i], dtype=torch.long)
                smask[r, : len(seqs[i])] = 1
            att = torch.cat([smask.new_ones((len(g), p)), smask], 1)
            pos = (p + torch.arange(w - 1, device=device)).expand(len(g), w - 1)
            # The last token of a row predicts nothing: feed tokens 0..W-2 only.
            hs = decoder(input_ids=seq[:, :-1], attention_mask=att[:, :-1], position_ids=pos,
                         use_cache=True, **{cache_kwarg(decoder): g_cache}).last_hidden_state
            h = torch.cat([h_last.expand(len(g), 1, -1), hs], dim=1)  # h[:, s] predicts seq[:, s]
        else:
            h = h_last.expand(len(g), 1, -1)
        r_loc, s_loc = cmask[g_rows].nonzero(as_tuple=True)
        offsets = torch.tensor([len(mids[i]) for i in g], dtype=torch.long, device=device)
        hh_parts.append(h[r_loc, s_loc + offsets[r_loc]])
        row_parts.append(g_rows[r_loc])
        slot_parts.append(s_loc)
    del cache
    return torch.cat(hh_parts), torch.cat(row_parts), torch.cat(slot_parts)


def _group_cache(cache: Any, prefix_kv: list[tuple[Tensor, Tensor]] | None, rows: int) -> Any:
    """The prefix cache for a group of rows: repeated in place when there is one group,
    else a fresh cache over expanded views of the prefix's keys and values."""
    if prefix_kv is None:
        cache.batch_repeat_interleave(rows)
        return cache
    g_cache = DynamicCache()
    for li, (k, v) in enumerate(prefix_kv):
        shape = (rows, -1, -1, -1)
        g_cache.update(k.expand(shape), v.expand(shape), li)
    return g_cache


def score_rows(
    model: nn.Module,
    prompts: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    cfg: ScoringSettings,
    pad_id: int,
    *,
    topk: int | None = None,
    at_idx: Tensor | None = None,
) -> TokenScores:
    """Score rows (prompt_i, completion_i): per distinct prompt with a shared prefix, or packed.

    Returns completion-aligned [n, T(, K)] with T = the longest completion; at_idx must
    be [n, >= T, K].

    Long: the two scoring paths (shared prefix, packed fallback under activation
    checkpointing) share their set-up and their output assembly.
    """
    device = next(model.parameters()).device
    n = len(completions)
    t = max((len(c) for c in completions), default=0)
    vocab = base_model(model).get_output_embeddings().weight.shape[0]
    ckpt = None
    if torch.is_grad_enabled():  # small micro-batches keep their logits: no recomputation
        ckpt = sum(len(c) for c in completions) * vocab > cfg.keep_logits_max_elements
    if cfg.share_prefix and _checkpointing(model):
        # Activation checkpointing turns the KV cache off in training mode: no prefix cache.
        cfg = dataclasses.replace(cfg, share_prefix=False)
    if cfg.share_prefix and len({tuple(p) for p in prompts}) == n > 1:
        # Distinct prompts (teacher re-prompts): share their common prefix, if long enough.
        shared = len(os.path.commonprefix([list(p) for p in prompts]))
        if shared >= cfg.min_shared_prefix:
            return score_shared_prefix(
                model, prompts[0][:shared], completions, topk=topk,
                at_idx=None if at_idx is None else at_idx[:, :t], temperature=cfg.score_temperature,
                chunk_size=cfg.chunk_size, pad_id=pad_id, checkpoint_chunks=ckpt,
                middles=[p[shared:] for p in prompts])
    if not cfg.share_prefix or len({tuple(p) for p in prompts}) == n:
        ids, att, comp = pack_sequences(prompts, completions, pad_id)
        return score_tokens(model, ids.to(device), att.to(device), comp.to(device), topk=topk,
                            at_idx=None if at_idx is None else at_idx[:, :t],
                            temperature=cfg.score_temperature, chunk_size=cfg.chunk_size,
                            checkpoint_chunks=ckpt)
    by_prompt: dict[tuple[int, ...], list[int]] = {}
    for i, p in enumerate(prompts):
        by_prompt.setdefault(tuple(p), []).append(i)
    if len(by_prompt) == 1:
        return score_shared_prefix(model, prompts[0], completions, topk=topk,
                                   at_idx=None if at_idx is None else at_idx[:, :t],
                                   temperature=cfg.score_temperature, chunk_size=cfg.chunk_size,
                                   pad_id=pad_id, checkpoint_chunks=ckpt)
    k = topk if topk is not None else (at_idx.shape[-1] if at_idx is not None else 0)
    out = TokenScores(logp_taken=torch.zeros((n, t), device=device),
                      mask=torch.zeros((n, t), dtype=torch.bool, device=device))
    if k:
        out.support_logp = torch.zeros((n, t, k), device=device)
        out.support_idx = torch.zeros((n, t, k), dtype=torch.long, device=device)
        out.tail_logp = torch.zeros((n, t), device=device)
    for prefix, rows in by_prompt.items():
        sub_idx = None if at_idx is None else at_idx[rows]
        sub = score_shared_prefix(model, prefix, [completions[i] for i in rows], topk=topk,
                                  at_idx=None if sub_idx is None else
                                  sub_idx[:, : max(len(completions[i]) for i in rows)],
                                  temperature=cfg.score_temperature, chunk_size=cfg.chunk_size,
                                  pad_id=pad_id, checkpoint_chunks=ckpt)
        r = torch.tensor(rows, device=device)
        w = sub.mask.shape[1]
        # index_put keeps the autograd graph of every sub-batch.
        out.logp_taken = _put_rows(out.logp_taken, r, sub.logp_taken, w)
        out.mask[r, :w] = sub.mask
        if k:
            out.support_logp = _put_rows(out.support_logp, r, sub.support_logp, w)
            out.support_idx[r, :w] = sub.support_idx
            out.tail_logp = _put_rows(out.tail_logp, r, sub.tail_logp, w)
    return out


def _checkpointing(model: nn.Module) -> bool:
    """Is the model in training mode with transformers' activation checkpointing on?"""
    base = base_model(model)
    if not base.training:
        return False
    for name in ("is_activation_checkpointing", "is_gradient_checkpointing"):
        if hasattr(type(base), name) or hasattr(base, name):
            return bool(getattr(base, name))
    return False


def _put_rows(full: Tensor, rows: Tensor, part: Tensor, width: int) -> Tensor:
    """full with full[rows, :width] = part, out of place (keeps part's autograd graph)."""
    pad = [0, 0] * (part.dim() - 2) + [0, full.shape[1] - width]
    return full.index_put((rows,), torch.nn.functional.pad(part, pad))
