"""Generation engine: sampling order, greedy, determinism, logprobs, stops, batching."""

from __future__ import annotations

import math

import pytest
import torch
from tiny import CharTokenizer
from tiny import char_llama as tiny_llama

from selfdistill.generation import HFGenerator, SamplingParams, make_generator
from selfdistill.generation import sampling as sampling_mod
from selfdistill.generation.sampling import sample_tokens, truncated_logprobs

PROMPTS = ["hello there", "a", "the quick brown fox jumps", "x y z", "abc def ghi jkl mno pq"]


def support(logp: torch.Tensor) -> set[int]:
    return set(torch.nonzero(torch.isfinite(logp)).flatten().tolist())


# ---- sampling semantics -------------------------------------------------------------

def test_order_topk_before_topp_on_renormalised_survivors() -> None:
    # p = [.30, .25, .20, .15, .10]; top-k 3 renormalises to [.40, .33, .27]
    # -> top-p .7 keeps {0, 1} (mass before token 2 is .73). Top-p first on the full
    # distribution would keep {0, 1, 2} (mass before token 2 is .55).
    logits = torch.tensor([[0.30, 0.25, 0.20, 0.15, 0.10]]).log()
    ours = truncated_logprobs(logits, SamplingParams(temperature=1.0, top_k=3, top_p=0.7))
    assert support(ours[0]) == {0, 1}
    topp_only = truncated_logprobs(logits, SamplingParams(temperature=1.0, top_p=0.7))
    assert support(topp_only[0]) == {0, 1, 2}  # the other order's support differs
    # kept tokens are renormalised
    assert torch.allclose(ours[0, :2].exp(), torch.tensor([0.30, 0.25]) / 0.55, atol=1e-6)


def test_order_temperature_before_truncation() -> None:
    # top-k 3, top-p .75. At T=1 the survivors renormalise to [.53, .32, .16]: mass before
    # token 2 is .84 -> {0, 1}. Temperature 3 applied *first* flattens them to
    # [.40, .33, .27]: mass before token 2 is .73 -> {0, 1, 2}. Truncating first and then
    # tempering would keep {0, 1}.
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    cold = truncated_logprobs(logits, SamplingParams(1.0, top_k=3, top_p=0.75))
    assert support(cold[0]) == {0, 1}
    hot = truncated_logprobs(logits, SamplingParams(3.0, top_k=3, top_p=0.75))
    assert support(hot[0]) == {0, 1, 2}
    assert torch.allclose(hot[0, :3], torch.log_softmax(logits[0, :3] / 3.0, -1), atol=1e-5)


def test_top_p_without_top_k_partial_equals_full_sort(monkeypatch: pytest.MonkeyPatch) -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 5000, generator=g) * 4
    logits[0] = torch.randn(5000, generator=g) * 0.01  # nearly flat: forces the full sort
    p = SamplingParams(temperature=1.3, top_p=0.9)
    fast = truncated_logprobs(logits, p)
    monkeypatch.setattr(sampling_mod, "PARTIAL_TOP_P_CANDIDATES", 5000)
    full = truncated_logprobs(logits, p)
    assert torch.equal(torch.isfinite(fast), torch.isfinite(full))
    assert torch.allclose(fast[torch.isfinite(fast)], full[torch.isfinite(full)], atol=1e-5)


def test_sampling_frequencies_follow_truncated_distribution() -> None:
    logits = torch.tensor([[2.0, 1.5, 1.0, 0.5, 0.0, -1.0]]).repeat(40000, 1)
    p = SamplingParams(temperature=1.5, top_k=4, top_p=0.85)
    u = torch.rand(40000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    tok, lp, base = sample_tokens(logits, p, u)
    target = truncated_logprobs(logits[:1], p)[0].exp()
    freq = torch.bincount(tok, minlength=6).float() / len(tok)
    assert torch.allclose(freq, target, atol=0.01)
    assert torch.allclose(lp, target.log()[tok])
    assert torch.allclose(base, torch.log_softmax(logits[:1], -1)[0][tok])


# ---- the HF engine on a tiny random Llama -------------------------------------------

@pytest.fixture(scope="module")
def tiny() -> tuple:
    return tiny_llama(), CharTokenizer(eos_token_id=5)


def chats(texts: list[str]) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": t}] for t in texts]


def ids_of(c) -> list[list[int]]:
    return [[x.token_ids for x in g] for g in c]


def test_greedy_matches_argmax_and_model_generate(tiny) -> None:
    model, tok = tiny
    gen = HFGenerator(model, tok, batch_size=3, progress=False)
    p = SamplingParams(temperature=0.0, max_new_tokens=12)
    out = gen.generate(chats(PROMPTS), p)
    for group in out:
        c = group[0]
        prompt = torch.tensor([c.prompt_token_ids])
        ref = model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                             max_new_tokens=12, eos_token_id=5, pad_token_id=0)
        ref_ids = ref[0, prompt.shape[1]:].tolist()
        assert c.token_ids == ref_ids[: len(c.token_ids)]
        # argmax check by re-scoring
        full = torch.tensor([c.prompt_token_ids + c.token_ids])
        with torch.no_grad():
            logits = model(full).logits[0, len(c.prompt_token_ids) - 1: -1]
        assert logits.argmax(-1).tolist() == c.token_ids
        assert all(lp == 0.0 for lp in c.logprobs)


def test_deterministic_for_seed_and_batch_independent(tiny) -> None:
    model, tok = tiny
    p = SamplingParams(temperature=1.2, top_k=20, top_p=0.9, max_new_tokens=20, n=2, seed=7)
    a = HFGenerator(model, tok, batch_size=10, progress=False).generate(chats(PROMPTS), p)
    b = HFGenerator(model, tok, batch_size=10, progress=False).generate(chats(PROMPTS), p)
    c = HFGenerator(model, tok, batch_size=3, progress=False).generate(chats(PROMPTS), p)
    assert ids_of(a) == ids_of(b) == ids_of(c)
    p.seed = 8
    d = HFGenerator(model, tok, batch_size=10, progress=False).generate(chats(PROMPTS), p)
    assert ids_of(d) != ids_of(a)


def test_logprobs_match_rescoring_forward(tiny) -> None:
    model, tok = tiny
    p = SamplingParams(temperature=1.4, top_k=15, top_p=0.8, max_new_tokens=16, n=2, seed=1)
    out = HFGenerator(model, tok, batch_size=4, progress=False).generate(chats(PROMPTS), p)
    for group in out:
        for c in group:
            full = torch.tensor([c.prompt_token_ids + c.token_ids])
            with torch.no_grad():
                logits = model(full).logits[0, len(c.prompt_token_ids) - 1: -1]
            tgt = torch.tensor(c.token_ids)
            base = torch.log_softmax(logits, -1).gather(-1, tgt[:, None]).squeeze(-1)
            samp = truncated_logprobs(logits, p).gather(-1, tgt[:, None]).squeeze(-1)
            assert torch.allclose(torch.tensor(c.base_logprobs), base, atol=1e-4)
            assert torch.allclose(torch.tensor(c.logprobs), samp, atol=1e-4)


def test_finish_reasons_eos_and_length(tiny) -> None:
    model, tok = tiny
    p = SamplingParams(temperature=2.0, max_new_tokens=30, n=4, seed=0)
    out = HFGenerator(model, tok, batch_size=8, progress=False).generate(chats(PROMPTS), p)
    flat = [c for g in out for c in g]
    reasons = {c.finish_reason for c in flat}
    assert reasons == {"stop", "length"}, reasons
    for c in flat:
        if c.finish_reason == "stop":
            assert c.token_ids[-1] == 5 and 5 not in c.token_ids[:-1]
        else:
            assert len(c.token_ids) == 30 and 5 not in c.token_ids


def test_stop_strings_cut_text_and_stop_decoding(tiny) -> None:
    model, tok = tiny
    base = HFGenerator(model, tok, batch_size=4, progress=False)
    g = base.generate(chats(["hello there"]), SamplingParams(0.0, max_new_tokens=20))[0][0]
    text = tok.decode(g.token_ids)
    assert len(text) >= 6
    stop = text[3:5]
    first = text.find(stop)
    out = base.generate(chats(["hello there"]), SamplingParams(0.0, max_new_tokens=20,
                                                                stop=[stop, "never-seen"]))[0][0]
    assert out.finish_reason == "stop"
    assert out.text == text[:first]
    assert tok.decode(out.token_ids).endswith(stop)  # decoding stopped at the stop string
    assert len(out.token_ids) == first + len(stop)


def test_n_grouping(tiny) -> None:
    model, tok = tiny
    p = SamplingParams(temperature=1.0, max_new_tokens=10, n=3, seed=2)
    out = HFGenerator(model, tok, batch_size=4, progress=False).generate(chats(PROMPTS[:2]), p)
    assert [len(g) for g in out] == [3, 3]
    assert out[0][0].prompt_token_ids == tok("user: hello there\nassistant:")["input_ids"]
    assert out[1][0].prompt_token_ids != out[0][0].prompt_token_ids
    assert len({tuple(c.token_ids) for c in out[0]}) > 1  # independent samples


@pytest.mark.parametrize("kw", [dict(drop_finished=False, refill=False),
                                dict(drop_finished=True, refill=False),
                                dict(drop_finished=True, refill=True, compact_fraction=0.0)])
def test_dropping_and_refilling_rows_does_not_change_results(tiny, kw) -> None:
    model, tok = tiny
    p = SamplingParams(temperature=1.8, top_k=30, max_new_tokens=40, n=3, seed=11)
    ref = HFGenerator(model, tok, batch_size=64, progress=False, drop_finished=False,
                      refill=False).generate(chats(PROMPTS), p)
    lengths = {len(c.token_ids) for g in ref for c in g}
    assert len(lengths) > 3  # rows really finish at different steps
    got = HFGenerator(model, tok, batch_size=4, progress=False, **kw).generate(chats(PROMPTS), p)
    assert ids_of(got) == ids_of(ref)
    for g1, g2 in zip(got, ref, strict=True):
        for c1, c2 in zip(g1, g2, strict=True):
            assert c1.finish_reason == c2.finish_reason
            assert torch.allclose(torch.tensor(c1.logprobs), torch.tensor(c2.logprobs), atol=1e-4)
            assert torch.allclose(torch.tensor(c1.base_logprobs), torch.tensor(c2.base_logprobs),
                                  atol=1e-4)


SYSTEM = "You are a careful programmer. Answer with one code block. "


@pytest.mark.parametrize("kw", [dict(), dict(prefill_chunk=2), dict(batch_size=3),
                                dict(fast_attention=False, prefill_chunk=1, batch_size=4)])
def test_shared_prefix_and_chunked_prefill_do_not_change_results(tiny, kw) -> None:
    """The fast path (batch_invariant=False): same tokens, logprobs within 1e-4."""
    model, tok = tiny
    prompts = [[{"role": "system", "content": SYSTEM}, {"role": "user", "content": t}]
               for t in PROMPTS]
    p = SamplingParams(temperature=1.5, top_k=25, top_p=0.95, max_new_tokens=24, n=2, seed=3)
    plain = HFGenerator(model, tok, batch_size=kw.get("batch_size", 10), progress=False,
                        fast_attention=False, prefill_chunk=0, min_shared_prefix=0,
                        batch_invariant=False)
    ref = plain.generate(prompts, p)
    gen = HFGenerator(model, tok, **{"batch_size": 10, "progress": False,
                                     "batch_invariant": False, **kw})
    got = gen.generate(prompts, p)
    assert ids_of(got) == ids_of(ref)
    for g1, g2 in zip(got, ref, strict=True):
        for c1, c2 in zip(g1, g2, strict=True):
            assert torch.allclose(torch.tensor(c1.base_logprobs), torch.tensor(c2.base_logprobs),
                                  atol=1e-4)
    # The system prompt really ran once per prefill instead of once per prompt.
    assert gen.last_stats["prefill_tokens"] < plain.last_stats["prefill_tokens"]


def test_identical_prompts_sent_separately_share_one_prefill(tiny) -> None:
    """A problem's n samples sent as n prompts (the sampling stages do) prefill once and
    sample exactly what one-row-at-a-time decoding samples."""
    model, tok = tiny
    prompts = chats([PROMPTS[0]] * 3 + [PROMPTS[1]] + [PROMPTS[0]])
    p = SamplingParams(temperature=1.5, top_k=25, max_new_tokens=16, n=1, seed=5)
    alone = HFGenerator(model, tok, batch_size=1, progress=False)  # never two rows at once
    ref = alone.generate(prompts, p)
    apart = HFGenerator(model, tok, batch_size=8, progress=False, share_identical_prompts=False)
    assert ids_of(apart.generate(prompts, p)) == ids_of(ref)
    gen = HFGenerator(model, tok, batch_size=8, progress=False)
    got = gen.generate(prompts, p)
    assert ids_of(got) == ids_of(ref)
    assert len({tuple(g[0].token_ids) for g in got[:3]}) > 1  # still independent samples
    lengths = [len(g[0].prompt_token_ids) for g in got]
    assert alone.last_stats["prefill_tokens"] == sum(lengths)
    # two unique prompts, each prefilled once, on its own (no padding)
    assert gen.last_stats["prefill_tokens"] == lengths[0] + lengths[3]
    assert apart.last_stats["prefill_tokens"] == sum(lengths)


def test_top_k_zero_top_p_one_samples_full_distribution(tiny) -> None:
    model, tok = tiny
    p = SamplingParams(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=8, seed=0)
    out = HFGenerator(model, tok, progress=False).generate(chats(PROMPTS), p)
    for g in out:
        assert g[0].logprobs == pytest.approx(g[0].base_logprobs, abs=1e-4)


def test_make_generator_wraps_loaded_model(tiny) -> None:
    model, tok = tiny
    gen = make_generator("hf", model, tok, batch_size=2, progress=False)
    assert isinstance(gen, HFGenerator)
    with pytest.raises(ValueError):
        make_generator("nope", model, tok)
    with pytest.raises(ValueError):
        make_generator("hf", model)  # a loaded model needs its tokenizer


def test_sampling_params_validation() -> None:
    with pytest.raises(ValueError):
        SamplingParams(temperature=-1)
    with pytest.raises(ValueError):
        SamplingParams(top_p=0.0)
    assert SamplingParams(temperature=0).greedy


# ---- the real embedded model --------------------------------------------------------

@pytest.mark.slow
def test_embedded_model_generates_a_few_tokens() -> None:
    from selfdistill.core.models import load_model
    from selfdistill.generation import render_chat

    model, tok = load_model("smollm2-135m-instruct")
    chat = [{"role": "user", "content": "Write a Python function that adds two numbers."}]
    assert render_chat(tok, chat).rstrip().endswith("assistant")
    gen = make_generator("hf", model, tok, progress=False)
    out = gen.generate([chat, chat], SamplingParams(temperature=1.6, top_k=20, top_p=0.8,
                                                    max_new_tokens=8, seed=0, n=2))
    assert [len(g) for g in out] == [2, 2]
    assert all(len(c.token_ids) == 8 or c.finish_reason == "stop" for g in out for c in g)
    assert all(math.isfinite(x) for g in out for c in g for x in c.base_logprobs)
    greedy = gen.generate([chat], SamplingParams(temperature=0, max_new_tokens=8))[0][0]
    ref = model.generate(torch.tensor([greedy.prompt_token_ids]), do_sample=False,
                         max_new_tokens=8, pad_token_id=tok.pad_token_id)
    assert greedy.token_ids == ref[0, len(greedy.prompt_token_ids):].tolist()[:len(greedy.token_ids)]
