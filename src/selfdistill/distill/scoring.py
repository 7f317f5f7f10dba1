"""Log-probs of given continuations under a causal LM, computed in chunks.

The model runs once up to its final hidden states; the LM head and log-softmax then run
over the completion tokens only, a chunk of tokens at a time, so a full fp32 [B, L, V]
logits tensor never exists. With gradients on, each chunk is checkpointed: only its
hidden states are kept and its logits are recomputed in the backward pass.

Outputs are *completion-aligned*: [B, T] where row b holds its completion tokens in order,
left-aligned, T = longest completion, padding masked out. Student (prompt x) and teacher
(prompt x + feedback) sequences that share a completion therefore line up token by token
whatever their prompt lengths.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from selfdistill.core.lora import base_model
from selfdistill.distill.head_scores import fusable_head, head_scores
from selfdistill.distill.losses import log_floor

DEFAULT_CHUNK_SIZE = 512  # tokens per LM-head chunk: 512 x 151,936 fp32 = 311 MB for Qwen


@dataclass
class TokenScores:
    """Per-completion-token scores, all [B, T] or [B, T, K], aligned with `mask`.

    logp_taken: log p(y_t | context, y<t) of the token actually in the sequence.
    support_idx: the K token ids scored at each position (student top-K, or the ids given).
    support_logp: log-probs at support_idx. tail_logp: log of the mass outside support_idx.
    """

    logp_taken: Tensor
    mask: Tensor
    support_idx: Tensor | None = None
    support_logp: Tensor | None = None
    tail_logp: Tensor | None = None


def pack_sequences(
    prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]], pad_id: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Batch prompt + completion ids: prompts left-padded, completions right-padded.

    Returns input_ids, attention_mask and completion_mask, each [B, L] (long, long, bool).
    """
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
    pl = max((len(p) for p in prompts), default=0)
    cl = max((len(c) for c in completions), default=0)
    b = len(prompts)
    input_ids = torch.full((b, pl + cl), pad_id, dtype=torch.long)
    attention = torch.zeros((b, pl + cl), dtype=torch.long)
    comp = torch.zeros((b, pl + cl), dtype=torch.bool)
    for i, (p, c) in enumerate(zip(prompts, completions, strict=True)):
        start = pl - len(p)
        input_ids[i, start:pl] = torch.as_tensor(list(p), dtype=torch.long)
        input_ids[i, pl : pl + len(c)] = torch.as_tensor(list(c), dtype=torch.long)
        attention[i, start : pl + len(c)] = 1
        comp[i, pl : pl + len(c)] = True
    return input_ids, attention, comp


def pad_completion_values(
    values: Sequence[Sequence[float]], length: int | None = None, fill: float = 0.0
) -> Tensor:
    """Right-pad per-completion lists (e.g. Completion.logprobs) into a completion-aligned [B, T] tensor."""
    t = max((len(v) for v in values), default=0) if length is None else length
    out = torch.full((len(values), t), fill, dtype=torch.float32)
    for i, v in enumerate(values):
        n = min(len(v), t)
        if n:
            out[i, :n] = torch.as_tensor(list(v[:n]), dtype=torch.float32)
    return out


def _completion_index(completion_mask: Tensor) -> tuple[Tensor, Tensor, Tensor, int]:
    """Row, sequence position and completion slot of every completion token, and T."""
    cm = completion_mask.bool()
    rows, pos = cm.nonzero(as_tuple=True)  # row-major, so positions increase within a row
    slots = (cm.long().cumsum(-1) - 1)[rows, pos]
    if pos.numel() and int(pos.min()) == 0:
        raise ValueError("a completion token at position 0 has no context to be predicted from")
    t = int(cm.sum(-1).max()) if cm.numel() else 0
    return rows, pos, slots, t


def hidden_and_head(
    model: nn.Module, input_ids: Tensor, attention_mask: Tensor
) -> tuple[Tensor, nn.Module, float | None]:
    """Final hidden states [B, L, H], the LM head, and the logit soft-cap (Gemma-2 style) if any."""
    base = base_model(model)
    # Positions from the mask so left padding does not shift RoPE positions.
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    out = base.get_decoder()(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        use_cache=False,
    )
    head, softcap = head_and_softcap(base)
    return out.last_hidden_state, head, softcap


def head_and_softcap(base: nn.Module) -> tuple[nn.Module, float | None]:
    """The LM head and the logit soft-cap (Gemma-2 style) if any; a logit_scale is refused."""
    cfg = getattr(base, "config", None)
    if getattr(cfg, "logit_scale", None) not in (None, 1.0):
        raise NotImplementedError("models with a logit_scale are not supported by chunked scoring")
    return base.get_output_embeddings(), getattr(cfg, "final_logit_softcapping", None)


def score_chunk(
    h: Tensor,
    targets: Tensor,
    idx: Tensor | None,
    head: nn.Module,
    k: int | None,
    temperature: float,
    softcap: float | None,
) -> tuple[Tensor, ...]:
    """Scores for N positions from their hidden states [N, H]; the only place logits exist."""
    logits = head(h)
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()  # log-softmax in at least fp32
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    if temperature != 1.0:
        logits = logits / temperature
    lse = torch.logsumexp(logits, dim=-1, keepdim=True)
    logp_taken = (logits.gather(-1, targets.unsqueeze(-1)) - lse).squeeze(-1)
    if k is None and idx is None:
        return (logp_taken,)
    if idx is None:
        vals, idx = logits.topk(k, dim=-1)
        support = vals - lse
    else:
        support = logits.gather(-1, idx) - lse
    # Exact tail: logsumexp of the logits *outside* the support (no 1 - sum cancellation).
    # A finite fill, not -inf, keeps the backward of an empty tail (K = V) free of NaN.
    rest = logits.scatter(-1, idx, torch.finfo(logits.dtype).min)
    tail = (torch.logsumexp(rest, dim=-1) - lse.squeeze(-1)).clamp(min=log_floor(logits.dtype))
    return logp_taken, support, idx, tail


def score_tokens(
    model: nn.Module,
    input_ids: Tensor,
    attention_mask: Tensor,
    completion_mask: Tensor,
    *,
    topk: int | None = None,
    at_idx: Tensor | None = None,
    temperature: float = 1.0,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    checkpoint_chunks: bool | None = None,
) -> TokenScores:
    """Score the completion tokens of a batch: log p of each token, plus a K-token support.

    topk: also return the model's own top-K ids, their log-probs and the tail (student side).
    at_idx [B, T, K]: instead return log-probs at these ids and the tail outside them
    (teacher side: the student's top-K ids). Gradients flow unless called under no_grad.
    checkpoint_chunks: recompute chunk logits in backward (default: whenever grad is on).
    """
    if topk is not None and at_idx is not None:
        raise ValueError("pass either topk (own support) or at_idx (given support), not both")
    rows, pos, slots, t = _completion_index(completion_mask)
    hidden, head, softcap = hidden_and_head(model, input_ids, attention_mask)
    h = hidden[rows, pos - 1]  # the state *before* a token predicts it
    targets = input_ids[rows, pos]
    idx = at_idx[rows, slots].long() if at_idx is not None else None
    k = topk if topk is not None else (at_idx.shape[-1] if at_idx is not None else 0)
    return scores_from_hidden(h, targets, idx, rows, slots, (input_ids.shape[0], t), head,
                              softcap, topk=topk, k=k, temperature=temperature,
                              chunk_size=chunk_size, checkpoint_chunks=checkpoint_chunks)


def scores_from_hidden(
    h: Tensor, targets: Tensor, idx: Tensor | None, rows: Tensor, slots: Tensor,
    shape: tuple[int, int], head: nn.Module, softcap: float | None, *, topk: int | None,
    k: int, temperature: float, chunk_size: int, checkpoint_chunks: bool | None,
) -> TokenScores:
    """TokenScores [B, T(, K)] from the hidden states h [N, H] that predict N completion tokens.

    Token i is targets[i] at (rows[i], slots[i]); idx [N, K] (optional) are given support
    ids. The LM head runs a chunk of tokens at a time (checkpointed when grad is on); a
    plain linear head runs head_scores.py's fused version (no fp32 [N, V] kept for backward).
    """
    if checkpoint_chunks is None:
        checkpoint_chunks = torch.is_grad_enabled() and h.requires_grad
    fused = fusable_head(head, softcap)
    parts: list[tuple[Tensor, ...]] = []
    for s in range(0, h.shape[0], chunk_size):
        e = s + chunk_size
        args = (h[s:e], targets[s:e], None if idx is None else idx[s:e])
        if fused:
            parts.append(head_scores(*args, head, topk, temperature))
        elif checkpoint_chunks:  # recompute the chunk's logits in backward instead of keeping them
            parts.append(checkpoint(score_chunk, *args, head, topk, temperature, softcap,
                                    use_reentrant=False))
        else:
            parts.append(score_chunk(*args, head, topk, temperature, softcap))
    mask = torch.zeros(shape, dtype=torch.bool, device=h.device)
    mask[rows, slots] = True

    def place(j: int, trailing: tuple[int, ...], dtype: torch.dtype) -> Tensor:
        # Scatter the packed per-token values back to [B, T, ...]; index_put keeps the graph.
        flat = (torch.cat([p[j] for p in parts]) if parts
                else torch.zeros((0, *trailing), dtype=dtype, device=h.device))
        full = torch.zeros((*shape, *trailing), dtype=flat.dtype, device=flat.device)
        return full.index_put((rows, slots), flat)

    scores = TokenScores(logp_taken=place(0, (), torch.float32), mask=mask)
    if k:
        scores.support_logp = place(1, (k,), torch.float32)
        scores.support_idx = place(2, (k,), torch.long)
        scores.tail_logp = place(3, (), torch.float32)
    return scores


def token_logprobs_and_topk(
    model: nn.Module,
    input_ids: Tensor,
    attention_mask: Tensor,
    completion_mask: Tensor,
    k: int | None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    temperature: float = 1.0,
) -> TokenScores:
    """Student side: log p of the taken tokens and of the model's own top-K ids (+ tail)."""
    return score_tokens(model, input_ids, attention_mask, completion_mask, topk=k,
                        temperature=temperature, chunk_size=chunk_size)


def gather_logprobs_at(
    model: nn.Module,
    input_ids: Tensor,
    attention_mask: Tensor,
    completion_mask: Tensor,
    idx: Tensor,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    temperature: float = 1.0,
) -> TokenScores:
    """Teacher side: log p of the taken tokens and at given ids idx [B, T, K] (+ tail outside them)."""
    return score_tokens(model, input_ids, attention_mask, completion_mask, at_idx=idx,
                        temperature=temperature, chunk_size=chunk_size)


class _ConcatHead(nn.Module):
    """Logits (1 - a) * W0 h0 + a * W1 h1 (+ mixed biases) from the concatenation [h0, h1]."""

    def __init__(self, heads: list[tuple[Tensor, Tensor | None]], coef: float):
        super().__init__()
        (w0, b0), (w1, b1) = heads
        self.weight = torch.cat([(1.0 - coef) * w0, coef * w1], dim=1)
        self.bias = None if b0 is None else torch.lerp(b0, b1, coef)

    def forward(self, h: Tensor) -> Tensor:  # noqa: D102 - a linear layer
        return torch.nn.functional.linear(h, self.weight.to(h.dtype), self.bias)


@torch.no_grad()
def score_tokens_mixed(
    model: nn.Module, input_ids: Tensor, attention_mask: Tensor, completion_mask: Tensor,
    passes: Sequence[Callable[[], AbstractContextManager[Any]]], coef: float, *,
    at_idx: Tensor | None = None, temperature: float = 1.0,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> TokenScores:
    """score_tokens under logits lerp(z_0, z_1, coef), z_i the model's logits inside passes[i]().

    The trust-region teacher in log-prob space (log_softmax of mixed logits = renormalised
    mix of log-probs). Exact: with one LM head for both (LoRA leaves it untouched) the
    mix of logits is the head applied to the mixed hidden states; with two heads (full
    fine-tuning) a concatenated head [(1 - a) W0, a W1] is applied to [h0, h1].
    """
    rows, pos, slots, t = _completion_index(completion_mask)
    hs, heads = [], []
    for ctx in passes:
        with ctx():
            hidden, head, softcap = hidden_and_head(model, input_ids, attention_mask)
            if softcap:
                raise NotImplementedError("logit mixing with a logit soft-cap is not supported")
            hs.append(hidden[rows, pos - 1])
            heads.append((head.weight.detach(), None if getattr(head, "bias", None) is None
                          else head.bias.detach()))
    (w0, b0), (w1, b1) = heads
    same = torch.equal(w0, w1) and (b0 is None or torch.equal(b0, b1))
    if same:
        h, mixed_head = torch.lerp(hs[0], hs[1], coef), head
    else:
        h, mixed_head = torch.cat(hs, dim=-1), _ConcatHead(heads, coef)
    targets = input_ids[rows, pos]
    idx = at_idx[rows, slots].long() if at_idx is not None else None
    k = at_idx.shape[-1] if at_idx is not None else 0
    return scores_from_hidden(h, targets, idx, rows, slots, (input_ids.shape[0], t), mixed_head,
                              None, topk=None, k=k, temperature=temperature,
                              chunk_size=chunk_size, checkpoint_chunks=False)
