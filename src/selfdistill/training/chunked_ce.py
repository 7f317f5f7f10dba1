"""Cross-entropy through the LM head in token chunks: the (tokens x vocab) logits never exist.

The forward keeps only each scored token's log-sum-exp; the backward recomputes one chunk of
logits at a time. Only positions with a label are projected (prompt tokens cost nothing).
"""

from __future__ import annotations

import functools
import types
from typing import Any

import torch
from torch import Tensor

DEFAULT_CHUNK = 1024  # tokens per chunk: 1024 x 49,152 fp32 logits = 192 MiB transient


def _compute_dtype(hidden: Tensor) -> torch.dtype:
    """bf16 under CPU/CUDA autocast to bf16, else the hidden states' own dtype."""
    dev = hidden.device.type
    if torch.is_autocast_enabled(dev) and torch.get_autocast_dtype(dev) == torch.bfloat16:
        return torch.bfloat16
    return hidden.dtype


class _ChunkedNLL(torch.autograd.Function):
    """Per-token NLL of labels under softmax(hidden @ weight.T), computed chunk by chunk."""

    @staticmethod
    def forward(ctx: Any, hidden: Tensor, weight: Tensor, labels: Tensor, chunk: int,
                dtype: torch.dtype) -> Tensor:
        with torch.autocast(hidden.device.type, enabled=False):
            w = weight.to(dtype)
            n = hidden.shape[0]
            lse = torch.empty(n, dtype=torch.float32, device=hidden.device)
            target = torch.empty(n, dtype=torch.float32, device=hidden.device)
            for s in range(0, n, chunk):
                logits = (hidden[s:s + chunk].to(dtype) @ w.T).float()
                lse[s:s + chunk] = torch.logsumexp(logits, dim=-1)
                target[s:s + chunk] = logits.gather(1, labels[s:s + chunk, None]).squeeze(1)
                del logits
        ctx.save_for_backward(hidden, weight, labels, lse)
        ctx.chunk, ctx.dtype = chunk, dtype
        return lse - target

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        hidden, weight, labels, lse = ctx.saved_tensors
        chunk, dtype = ctx.chunk, ctx.dtype
        grad_h = torch.empty_like(hidden) if ctx.needs_input_grad[0] else None
        grad_w = (torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
                  if ctx.needs_input_grad[1] else None)
        w = weight.to(dtype)
        grad_out = grad_out.float()
        for s in range(0, hidden.shape[0], chunk):
            h = hidden[s:s + chunk].to(dtype)
            # d NLL / d logits = softmax - onehot(label), scaled by the incoming gradient
            g = (h @ w.T).float().sub_(lse[s:s + chunk, None]).exp_()
            rows = torch.arange(g.shape[0], device=g.device)
            g[rows, labels[s:s + chunk]] -= 1.0
            g.mul_(grad_out[s:s + chunk, None])
            g = g.to(dtype)
            if grad_h is not None:
                grad_h[s:s + chunk] = (g @ w).to(hidden.dtype)
            if grad_w is not None:
                grad_w += (g.T @ h).float()
            del g
        return (grad_h, None if grad_w is None else grad_w.to(weight.dtype), None, None, None)


def chunked_nll(hidden: Tensor, weight: Tensor, labels: Tensor, chunk: int = DEFAULT_CHUNK
                ) -> Tensor:
    """Per-token negative log-likelihood (float32, shape (N,)) of labels for (N, H) hidden states.

    hidden @ weight.T are the logits (no bias, no scaling: the Llama-family LM head). Under
    bf16 autocast the projections run in bf16 and the softmax statistics in float32.
    """
    if hidden.shape[0] == 0:
        return hidden.sum(-1).float()  # empty but still connected to the graph
    return _ChunkedNLL.apply(hidden, weight, labels, max(1, int(chunk)), _compute_dtype(hidden))


def supports_chunked_loss(model: Any) -> bool:
    """True for heads chunked_nll reproduces exactly: a plain Linear with no bias or logit scaling."""
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    head = model.get_output_embeddings()
    if head is None or getattr(head, "bias", None) is not None:
        return False
    for name in ("final_logit_softcapping", "logit_scale", "logits_scaling", "output_multiplier",
                 "lm_head_multiplier"):
        if getattr(cfg, name, None) not in (None, 1.0):
            return False
    return True


def add_chunked_loss(model: Any, chunk: int = DEFAULT_CHUNK) -> None:
    """Patch model.forward: with chunked_loss=True it returns only the loss (sum of label NLLs over
    num_items_in_batch, or their count), computed by chunked_nll from the backbone's hidden states.

    Without the flag the forward is the one it replaces (generation is unchanged). Patch the
    base model, before or after PEFT wrapping: PEFT and DDP call through to it.
    """
    from transformers.modeling_outputs import CausalLMOutputWithPast

    original = model.forward
    backbone_name = model.base_model_prefix

    @functools.wraps(type(model).forward)
    def forward(self: Any, *args: Any, chunked_loss: bool = False, labels: Tensor | None = None,
                num_items_in_batch: Any = None, **kwargs: Any) -> Any:
        if not chunked_loss:
            if labels is not None:
                kwargs["labels"] = labels
            if num_items_in_batch is not None:
                kwargs["num_items_in_batch"] = num_items_in_batch
            return original(*args, **kwargs)
        kwargs["use_cache"] = False
        out = getattr(self, backbone_name)(*args, **kwargs)
        hidden = out.last_hidden_state[:, :-1]
        target = labels[:, 1:].to(hidden.device)
        mask = target != -100
        nll = chunked_nll(hidden[mask], self.get_output_embeddings().weight, target[mask], chunk)
        denom = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        return CausalLMOutputWithPast(loss=nll.sum() / denom)

    model.forward = types.MethodType(forward, model)
