"""Fused q/k/v and gate/up projections: same results as the separate ones, cleanly undone."""

from __future__ import annotations

import torch

from selfdistill.generation import HFGenerator, SamplingParams
from selfdistill.generation.fused import fused_projections
from selfdistill.generation.testing import CharTokenizer, tiny_llama

PROMPTS = [[{"role": "user", "content": t}] for t in ["hello there", "a", "x y z w", "abc"]]


def test_fused_generation_equals_separate_projections() -> None:
    model, tok = tiny_llama(), CharTokenizer(eos_token_id=5)
    p = SamplingParams(temperature=1.3, top_k=20, top_p=0.9, max_new_tokens=20, n=2, seed=4)
    ref = HFGenerator(model, tok, batch_size=3, progress=False).generate(PROMPTS, p)
    got = HFGenerator(model, tok, batch_size=3, progress=False,
                      fuse_projections=True).generate(PROMPTS, p)
    for g1, g2 in zip(got, ref, strict=True):
        for c1, c2 in zip(g1, g2, strict=True):
            assert c1.token_ids == c2.token_ids
            assert torch.allclose(torch.tensor(c1.base_logprobs), torch.tensor(c2.base_logprobs),
                                  atol=1e-5)


def test_fused_context_patches_every_layer_and_restores() -> None:
    model = tiny_llama()
    attn = model.model.layers[0].self_attn
    x, other = torch.randn(2, 3, attn.q_proj.in_features), torch.randn(2, 3, attn.q_proj.in_features)
    want_k, want_v = attn.k_proj(x), attn.v_proj(x)
    with torch.no_grad(), fused_projections(model) as layers:
        assert layers == model.config.num_hidden_layers
        assert "forward" in vars(attn.q_proj)
        attn.q_proj(x)
        assert torch.allclose(attn.k_proj(x), want_k, atol=1e-6)  # handed over from q_proj
        assert torch.allclose(attn.v_proj(x), want_v, atol=1e-6)
        # another input is not taken from the hand-over: the module's own weight
        assert torch.allclose(attn.k_proj(other), other @ attn.k_proj.weight.T, atol=1e-6)
    assert "forward" not in vars(attn.q_proj) and "forward" not in vars(attn.k_proj)
    assert torch.equal(attn.k_proj(x), want_k)
