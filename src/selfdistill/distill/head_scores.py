"""The LM head and the distillation scores of N positions in one autograd function.

What scoring.score_chunk computes through autograd (log p of the taken token, of K support
ids - the model's own top-K or given ids - and of the tail outside them), with the
gradient written out: d/dz of (z_y - lse) is onehot(y) - softmax, of (z_j - lse) for a
support id j is onehot(j) - softmax, of the tail (lse_rest - lse) is
[i not in S] exp(z_i - lse_rest) - softmax. So no fp32 [N, V] tensor is kept between
forward and backward, and none exists for more than a block of rows at a time
(ROW_BLOCK_ELEMENTS): autograd's version (checkpointed per chunk) holds several [N, V]
fp32 tensors at once in its backward (the fp32 copy of the logits, the tempered copy, the
scattered copy for the tail, two softmaxes and their gradients).

Only for a plain bias-free linear head without a logit soft-cap (the Llama/Qwen case);
scoring.py keeps the autograd path for anything else. Logits are computed in the head's
compute dtype (bf16 under bf16 autocast or with bf16 compute weights) and reduced in fp32,
exactly as score_chunk does; the backward's logit gradient is cast to that dtype for its
two matmuls, as autograd's would be.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from selfdistill.distill.losses import log_floor
from selfdistill.training.chunked_ce import _compute_dtype

ROW_BLOCK_ELEMENTS = 1 << 24  # fp32 logits per block: 64 MiB (341 rows of a 49k vocabulary)


def fusable_head(head: nn.Module, softcap: float | None) -> bool:
    """True for heads the fused scores reproduce: a plain nn.Linear without bias, no soft-cap."""
    return (not softcap and type(head) is nn.Linear and head.bias is None)


def _reduce_dtype(dtype: torch.dtype) -> torch.dtype:
    """Softmax statistics in at least fp32 (as score_chunk)."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _blocks(n: int, vocab: int) -> list[tuple[int, int]]:
    step = max(1, ROW_BLOCK_ELEMENTS // max(vocab, 1))
    return [(s, min(n, s + step)) for s in range(0, n, step)]


class _HeadScores(torch.autograd.Function):
    """(logp_taken [N], support_logp [N, K], support_idx [N, K], tail [N]) from h [N, H]."""

    @staticmethod
    def forward(ctx: Any, h: Tensor, weight: Tensor, targets: Tensor, idx: Tensor | None,
                k: int, temperature: float, dtype: torch.dtype) -> tuple[Tensor, ...]:
        n, vocab = h.shape[0], weight.shape[0]
        dev = h.device
        red = _reduce_dtype(dtype)
        with torch.autocast(dev.type, enabled=False):
            w = weight.to(dtype)
            kk = idx.shape[-1] if idx is not None else k
            taken = torch.empty(n, dtype=red, device=dev)
            lse = torch.empty(n, dtype=red, device=dev)
            lse_rest = torch.empty(n, dtype=red, device=dev)
            support = torch.empty((n, kk), dtype=red, device=dev)
            ids = (torch.empty((n, kk), dtype=torch.long, device=dev) if idx is None
                   else idx.clone())
            floor = log_floor(red)
            for s, e in _blocks(n, vocab):
                z = (h[s:e].to(dtype) @ w.T).to(red)
                if temperature != 1.0:
                    z.div_(temperature)
                m = torch.logsumexp(z, dim=-1)
                lse[s:e] = m
                taken[s:e] = z.gather(-1, targets[s:e, None]).squeeze(-1) - m
                if kk:
                    if idx is None:
                        vals, ids[s:e] = z.topk(kk, dim=-1)
                    else:
                        vals = z.gather(-1, idx[s:e])
                    support[s:e] = vals - m[:, None]
                    # Exact tail: logsumexp outside the support (finite fill, as score_chunk).
                    lse_rest[s:e] = torch.logsumexp(
                        z.scatter_(-1, ids[s:e], torch.finfo(z.dtype).min), dim=-1)
                del z
            tail_raw = lse_rest - lse
            tail = tail_raw.clamp(min=floor)
        ctx.save_for_backward(h, weight, targets, ids, lse, lse_rest, tail_raw >= floor)
        ctx.conf = (kk, temperature, dtype)
        ctx.mark_non_differentiable(ids)
        return taken, support, ids, tail

    @staticmethod
    def backward(ctx: Any, g_taken: Tensor | None, g_support: Tensor | None, _g_ids: Any,
                 g_tail: Tensor | None) -> tuple[Tensor | None, ...]:
        h, weight, targets, ids, lse, lse_rest, tail_live = ctx.saved_tensors
        kk, temperature, dtype = ctx.conf
        n, vocab = h.shape[0], weight.shape[0]
        red = _reduce_dtype(dtype)
        zeros = h.new_zeros(n, dtype=red)
        g_taken = zeros if g_taken is None else g_taken.to(red)
        g_tail = zeros if g_tail is None or not kk else g_tail.to(red) * tail_live
        g_support = (None if g_support is None or not kk else g_support.to(red))
        grad_h = torch.empty_like(h) if ctx.needs_input_grad[0] else None
        grad_w = (torch.zeros(weight.shape, dtype=red, device=weight.device)
                  if ctx.needs_input_grad[1] else None)
        with torch.autocast(h.device.type, enabled=False):
            w = weight.to(dtype)
            for s, e in _blocks(n, vocab):
                hb = h[s:e].to(dtype)
                z = (hb @ w.T).to(red)
                if temperature != 1.0:
                    z.div_(temperature)
                total = g_taken[s:e] + g_tail[s:e]
                if g_support is not None:
                    total = total + g_support[s:e].sum(-1)
                grad = torch.exp(z - lse[s:e, None]).mul_(-total[:, None])  # -total * softmax
                if kk and bool(g_tail[s:e].any()):
                    rest = z.sub_(lse_rest[s:e, None]).exp_()  # z is not needed after this
                    rest.scatter_(-1, ids[s:e], 0.0)
                    grad.add_(rest.mul_(g_tail[s:e, None]))
                del z
                rows = torch.arange(e - s, device=h.device)
                grad[rows, targets[s:e]] += g_taken[s:e]
                if g_support is not None:
                    grad.scatter_add_(-1, ids[s:e], g_support[s:e])
                if temperature != 1.0:
                    grad.div_(temperature)
                gd = grad.to(dtype)
                del grad
                if grad_h is not None:
                    grad_h[s:e] = (gd @ w).to(h.dtype)
                if grad_w is not None:
                    grad_w += (gd.T @ hb).to(red)
        return (grad_h, None if grad_w is None else grad_w.to(weight.dtype),
                None, None, None, None, None)


def head_scores(h: Tensor, targets: Tensor, idx: Tensor | None, head: nn.Linear,
                k: int | None, temperature: float) -> tuple[Tensor, ...]:
    """score_chunk's outputs for a fusable head: (logp_taken,) or (logp_taken, support_logp,
    support_idx, tail) when k (own top-K) or idx (given ids) asks for a support."""
    out = _HeadScores.apply(h, head.weight, targets, idx, k or 0, float(temperature),
                            _compute_dtype(h))
    if not k and idx is None:
        return (out[0],)
    return out
