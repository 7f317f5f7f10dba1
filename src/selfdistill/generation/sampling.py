"""Exact, vectorised sampling: logits -> /temperature -> top-k -> top-p -> draw.

Every backend follows this order (the SSD paper's): the logits are divided by the
temperature, the top-k largest survive, the survivors are renormalised and top-p keeps
the smallest prefix (in descending probability) whose mass reaches top_p; the token that
crosses top_p is kept. temperature 0 is greedy (argmax of the raw logits).

Top-p never sorts the whole vocabulary when top_k > 0 (it works on the k survivors,
which is exact). With top_k == 0 and top_p < 1 a partial top-k of 256 candidates is
tried first and is used only if it already holds top_p of the mass for every row
(then the kept set provably lies inside it); otherwise the full vocabulary is sorted.
"""

from __future__ import annotations

import threading

import torch

from selfdistill.generation.params import SamplingParams

PARTIAL_TOP_P_CANDIDATES = 256
SCRATCH_MIN = 1 << 20  # vocabulary-sized temporaries from this many elements reuse buffers
_SCRATCH = threading.local()  # per thread: two samplers never share a buffer


def _scratch(name: str, like: torch.Tensor) -> torch.Tensor:
    """An fp32 CPU buffer shaped like `like`, reused from call to call.

    Why: a fresh vocabulary-sized tensor per decode step (32 rows x 152k = 19 MB) is
    page-faulted in by the kernel every time: measured 4,748 minor faults and 7-9 ms of
    system time for one `x / T` of that size on this machine, about as long as the
    division itself. The same kernels write into the buffer, so the numbers are the same.
    """
    n = like.numel()
    bufs: dict[str, torch.Tensor] = _SCRATCH.__dict__.setdefault("bufs", {})
    buf = bufs.get(name)
    if buf is None or buf.numel() < n:
        buf = bufs[name] = torch.empty(n, dtype=torch.float32)
    return buf[:n].view(like.shape)


def _float(logits: torch.Tensor, name: str = "float",
           divide_by: float | None = None) -> torch.Tensor:
    """logits.float() (then / divide_by), into a reused buffer when large on CPU."""
    # out= buffers carry no autograd history: a tensor that needs gradients gets fresh ones.
    if logits.device.type != "cpu" or logits.numel() < SCRATCH_MIN or logits.requires_grad:
        x = logits.float()
        return x / divide_by if divide_by is not None else x
    x = logits if logits.dtype == torch.float32 else _scratch(name, logits).copy_(logits)
    if divide_by is None:
        return x
    return torch.div(x, divide_by, out=_scratch(name + "/t", x))


def candidate_logprobs(
    logits: torch.Tensor, params: SamplingParams
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Truncated sampling distribution as (logprobs [B,K], token ids [B,K] or None for full vocab).

    Rows of the returned logprobs are normalised over the kept tokens; removed tokens are
    -inf. When ids is None the K axis is the vocabulary itself (no truncation).
    """
    t = params.temperature
    x = _float(logits, "cand", t if t > 0 and t != 1.0 else None)
    vocab = x.shape[-1]
    k = params.top_k if 0 < params.top_k < vocab else 0
    top_p = params.top_p
    if k == 0 and top_p >= 1.0:
        return torch.log_softmax(x, dim=-1), None
    if k > 0:
        vals, ids = torch.topk(x, k, dim=-1)  # sorted descending
        logp = torch.log_softmax(vals, dim=-1)  # renormalised over the top-k survivors
    else:
        lse = torch.logsumexp(x, dim=-1, keepdim=True)
        m = min(PARTIAL_TOP_P_CANDIDATES, vocab)
        vals, ids = torch.topk(x, m, dim=-1)
        logp = vals - lse  # full-vocabulary normalisation
        if m < vocab and bool((logp.exp().sum(-1) < top_p).any()):
            vals, ids = torch.sort(x, dim=-1, descending=True)
            logp = vals - lse
    if top_p < 1.0:
        probs = logp.exp()
        mass_before = torch.cumsum(probs, dim=-1) - probs
        keep = mass_before < top_p
        keep[..., 0] = True
        logp = torch.where(keep, logp, torch.full_like(logp, float("-inf")))
        logp = torch.log_softmax(logp, dim=-1)
    elif k == 0:  # unreachable (handled above) but keeps the contract obvious
        logp = torch.log_softmax(logp, dim=-1)
    return logp, ids


def truncated_logprobs(logits: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """Full-vocabulary [B,V] log-probs of the sampling distribution (-inf outside the support)."""
    if params.greedy:
        out = torch.full_like(logits, float("-inf"), dtype=torch.float32)
        return out.scatter(-1, logits.argmax(-1, keepdim=True), 0.0)
    logp, ids = candidate_logprobs(logits, params)
    if ids is None:
        return logp
    out = torch.full(logits.shape, float("-inf"), dtype=torch.float32, device=logits.device)
    return out.scatter(-1, ids, logp)


def sample_tokens(
    logits: torch.Tensor, params: SamplingParams, uniforms: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw one token per row by inverse CDF with the given uniforms in [0,1).

    Returns (token ids [B], logprob under the sampling distribution [B], logprob under the
    raw untempered model [B]). Greedy rows get sampling logprob 0 (a point mass).
    """
    raw = _float(logits)  # a buffer reused by the next call: nothing returned points into it
    base_lse = torch.logsumexp(raw, dim=-1)
    if params.greedy or uniforms is None:
        tok = raw.argmax(-1)
        samp = torch.zeros(tok.shape, dtype=torch.float32, device=raw.device)
    else:
        logp, ids = candidate_logprobs(raw, params)
        probs = logp.exp()
        cdf = torch.cumsum(probs, dim=-1)
        target = (uniforms.to(cdf.dtype) * cdf[:, -1]).unsqueeze(-1)
        idx = torch.searchsorted(cdf, target, right=True).squeeze(-1)
        if ids is not None:  # kept tokens form a prefix: never step past the last kept one
            n_kept = torch.isfinite(logp).sum(-1)
            idx = torch.minimum(idx, n_kept - 1)
        else:
            idx = idx.clamp_max(cdf.shape[-1] - 1)
        samp = logp.gather(-1, idx.unsqueeze(-1)).squeeze(-1)
        tok = idx if ids is None else ids.gather(-1, idx.unsqueeze(-1)).squeeze(-1)
    base = raw.gather(-1, tok.unsqueeze(-1)).squeeze(-1) - base_lse
    return tok, samp, base


def sequence_seed(seed: int, prompt_index: int, sample_index: int) -> int:
    """A per-sequence seed from (call seed, prompt index, sample index): batch-independent."""
    h = (seed & 0xFFFFFFFFFFFF) * 1_000_003 + prompt_index
    h = (h * 1_000_003 + sample_index) * 0x9E3779B1
    return h % (2**63 - 1)


def prompt_seeds(params: SamplingParams, n_prompts: int, seed: int) -> list[tuple[int, int]]:
    """(seed, prompt index) that prompt i's streams come from: params.seeds[i] alone when
    given (position-independent), else the call seed and i."""
    if params.seeds is None:
        return [(seed, i) for i in range(n_prompts)]
    if len(params.seeds) != n_prompts:
        raise ValueError(f"SamplingParams.seeds has {len(params.seeds)} seeds for "
                         f"{n_prompts} prompts")
    return [(int(s), 0) for s in params.seeds]


def sequence_uniforms(seed: int, prompt_index: int, sample_index: int, length: int) -> torch.Tensor:
    """The per-step uniforms one sequence uses, from its own seeded torch.Generator."""
    g = torch.Generator().manual_seed(sequence_seed(seed, prompt_index, sample_index))
    return torch.rand(length, generator=g, dtype=torch.float64)
