"""The sampler on a large vocabulary (reused buffers) is the plain computation it replaced,
bit for bit, also on the second call (issue 37)."""

from __future__ import annotations

import pytest
import torch

from selfdistill.generation.params import SamplingParams
from selfdistill.generation.sampling import candidate_logprobs, sample_tokens


def _rows(kind: str, rows: int = 6, vocab: int = 151_936, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, vocab, generator=g) * 2.5
    if kind == "bf16":  # the model's logits: few distinct values near the top, many ties
        x = x.to(torch.bfloat16).float()
    elif kind == "coarse":  # heavy ties everywhere
        x = (x * 2).round() / 4
    elif kind == "edges":
        x = x.to(torch.bfloat16).float()
        x[0] = float("-inf")
        x[1] = 1.0
        x[2, 7000:7100] = x[2].max()  # a tie crossing the k-th place
        x[3, -40:] = 50.0  # the winners in the tail
        x[4, :5] = 60.0  # the winners in the heap's first elements
        x[5, ::3] = float("-inf")
    return x


def _old_logprobs(logits: torch.Tensor, params: SamplingParams) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The candidate_logprobs this module had before the fast paths (plain torch ops)."""
    x = logits.float()
    if params.temperature > 0 and params.temperature != 1.0:
        x = x / params.temperature
    vocab = x.shape[-1]
    k = params.top_k if 0 < params.top_k < vocab else 0
    if k == 0 and params.top_p >= 1.0:
        return torch.log_softmax(x, dim=-1), None
    if k > 0:
        vals, ids = torch.topk(x, k, dim=-1)
        logp = torch.log_softmax(vals, dim=-1)
    else:
        lse = torch.logsumexp(x, dim=-1, keepdim=True)
        vals, ids = torch.topk(x, 256, dim=-1)
        logp = vals - lse
        if bool((logp.exp().sum(-1) < params.top_p).any()):
            vals, ids = torch.sort(x, dim=-1, descending=True)
            logp = vals - lse
    if params.top_p < 1.0:
        probs = logp.exp()
        keep = (torch.cumsum(probs, dim=-1) - probs) < params.top_p
        keep[..., 0] = True
        logp = torch.log_softmax(torch.where(keep, logp, torch.full_like(logp, float("-inf"))), -1)
    return logp, ids


def _old_sample(logits: torch.Tensor, params: SamplingParams, u: torch.Tensor | None):
    raw = logits.float()
    base_lse = torch.logsumexp(raw, dim=-1)
    if params.greedy or u is None:
        tok = raw.argmax(-1)
        samp = torch.zeros(tok.shape)
    else:
        logp, ids = _old_logprobs(raw, params)
        cdf = torch.cumsum(logp.exp(), dim=-1)
        idx = torch.searchsorted(cdf, (u.to(cdf.dtype) * cdf[:, -1]).unsqueeze(-1),
                                 right=True).squeeze(-1)
        if ids is not None:
            idx = torch.minimum(idx, torch.isfinite(logp).sum(-1) - 1)
        else:
            idx = idx.clamp_max(cdf.shape[-1] - 1)
        samp = logp.gather(-1, idx.unsqueeze(-1)).squeeze(-1)
        tok = idx if ids is None else ids.gather(-1, idx.unsqueeze(-1)).squeeze(-1)
    return tok, samp, raw.gather(-1, tok.unsqueeze(-1)).squeeze(-1) - base_lse


@pytest.mark.parametrize("params", [
    SamplingParams(temperature=0.4, top_k=20, top_p=0.8),
    SamplingParams(temperature=1.6, top_k=20, top_p=0.8),
    SamplingParams(temperature=0.8, top_k=0, top_p=0.95),
    SamplingParams(temperature=1.0, top_k=0, top_p=1.0),
    SamplingParams(temperature=0.0),
])
def test_sample_tokens_equals_the_plain_implementation(params: SamplingParams) -> None:
    """Twice in a row too: the reused buffers carry nothing from one call to the next."""
    g = torch.Generator().manual_seed(5)
    for kind in ("bf16", "edges"):
        logits = _rows(kind, rows=8)[1:].to(torch.bfloat16)  # (an all -inf row has no sample)
        u = torch.rand(7, generator=g, dtype=torch.float64)
        for _ in range(2):
            got = sample_tokens(logits, params, None if params.greedy else u)
            want = _old_sample(logits, params, None if params.greedy else u)
            for a, b in zip(got, want, strict=True):
                assert torch.equal(a, b)


def test_candidate_logprobs_do_not_alias_the_buffers() -> None:
    """Results of one call survive the next call (they are not views of a reused buffer)."""
    p = SamplingParams(temperature=1.0, top_k=0, top_p=1.0)
    a = _rows("bf16", rows=8).to(torch.bfloat16)
    first, _ = candidate_logprobs(a, p)
    kept = first.clone()
    candidate_logprobs(_rows("bf16", rows=8, seed=9).to(torch.bfloat16), p)
    assert torch.equal(first, kept)


def test_threads_sampling_at_once_do_not_share_buffers() -> None:
    import threading

    p = SamplingParams(temperature=0.4, top_k=20, top_p=0.8)
    inputs = [_rows("bf16", rows=8, seed=s).to(torch.bfloat16) for s in range(4)]
    u = torch.rand(8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    want = [_old_sample(x, p, u) for x in inputs]
    got: dict[int, list] = {}
    barrier = threading.Barrier(len(inputs))

    def work(i: int) -> None:
        barrier.wait()
        got[i] = [sample_tokens(inputs[i], p, u) for _ in range(3)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, w in enumerate(want):
        for res in got[i]:
            assert all(torch.equal(a, b) for a, b in zip(res, w, strict=True))
