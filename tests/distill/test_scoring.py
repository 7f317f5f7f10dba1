"""Chunked token scoring equals a naive full-logits computation, values and gradients."""

from __future__ import annotations

import pytest
import torch
from tiny import tiny_llama, tiny_lora_llama

from selfdistill.distill.losses import topk_tail_distill_loss
from selfdistill.distill.scoring import (
    gather_logprobs_at,
    pack_sequences,
    pad_completion_values,
    score_tokens,
    token_logprobs_and_topk,
)

# peft 0.21 calls a transformers 5 deprecated property on every get_peft_model.
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing`:FutureWarning")

V = 100
PROMPTS = [[1, 2, 3, 4, 5], [6, 7], [8, 9, 10]]
COMPLETIONS = [[11, 12, 13], [14, 15, 16, 17, 18], [19]]


def tiny_lora_model(seed: int = 0):
    """A 2-layer Llama (hidden 32, vocab 100) with a non-zero LoRA on q/v."""
    return tiny_lora_llama(seed, vocab_size=V).eval()


def full_logp(model, prompt, completion):
    """Full-vocabulary log-probs [n, V] predicting each completion token (one unpadded row)."""
    ids = torch.tensor([prompt + completion])
    logp = torch.log_softmax(model(input_ids=ids).logits[0], -1)
    return logp[len(prompt) - 1 : len(prompt) + len(completion) - 1]


def naive_scores(model, prompt, completion, k=None, idx=None):
    """One unpadded row through model(...).logits, then a full log-softmax."""
    ids = torch.tensor([prompt + completion])
    logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    rows = logp[len(prompt) - 1 : len(prompt) + len(completion) - 1]  # state before each token
    taken = rows.gather(-1, torch.tensor(completion)[:, None]).squeeze(-1)
    if k is None and idx is None:
        return taken, None, None, None
    if idx is None:
        vals, idx = rows.topk(k, -1)
    else:
        vals = rows.gather(-1, idx)
    outside = torch.ones_like(rows, dtype=torch.bool).scatter(-1, idx, False)
    tail = rows.masked_fill(~outside, float("-inf")).logsumexp(-1)
    return taken, vals, idx, tail


def test_pack_sequences_layout():
    ids, att, comp = pack_sequences(PROMPTS, COMPLETIONS, pad_id=0)
    assert ids.shape == (3, 5 + 5)
    assert ids[1].tolist() == [0, 0, 0, 6, 7, 14, 15, 16, 17, 18]
    assert att[1].tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1, 1]
    assert comp[2].tolist() == [False] * 5 + [True] + [False] * 4
    vals = pad_completion_values([[0.5, 0.25], [], [1.0]])
    assert vals.tolist() == [[0.5, 0.25], [0.0, 0.0], [1.0, 0.0]]


@pytest.mark.parametrize("chunk_size", [1, 4, 512])
def test_scores_equal_naive_full_forward(chunk_size):
    model = tiny_lora_model()
    ids, att, comp = pack_sequences(PROMPTS, COMPLETIONS, pad_id=0)
    with torch.no_grad():
        got = token_logprobs_and_topk(model, ids, att, comp, k=7, chunk_size=chunk_size)
        assert got.mask.tolist() == [[i < len(c) for i in range(5)] for c in COMPLETIONS]
        for b, (p, c) in enumerate(zip(PROMPTS, COMPLETIONS, strict=True)):
            taken, vals, idx, tail = naive_scores(model, p, c, k=7)
            n = len(c)
            torch.testing.assert_close(got.logp_taken[b, :n], taken, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(got.support_logp[b, :n], vals, atol=1e-5, rtol=1e-5)
            assert torch.equal(got.support_idx[b, :n], idx)
            torch.testing.assert_close(got.tail_logp[b, :n], tail, atol=1e-5, rtol=1e-5)
            assert (got.logp_taken[b, n:] == 0).all()  # padding is zero, not garbage


def test_gather_at_given_ids_matches_naive_and_other_context():
    # Teacher side: a different (longer) prompt, the same completion, the student's ids.
    model = tiny_lora_model()
    student = pack_sequences(PROMPTS, COMPLETIONS, pad_id=0)
    teacher_prompts = [[30, 31, 32, *p] for p in PROMPTS]
    teacher = pack_sequences(teacher_prompts, COMPLETIONS, pad_id=0)
    with torch.no_grad():
        s = token_logprobs_and_topk(model, *student, k=5)
        t = gather_logprobs_at(model, *teacher, idx=s.support_idx, chunk_size=3)
        assert torch.equal(t.mask, s.mask)
        assert torch.equal(t.support_idx, s.support_idx)
        for b, (p, c) in enumerate(zip(teacher_prompts, COMPLETIONS, strict=True)):
            n = len(c)
            taken, vals, _, tail = naive_scores(model, p, c, idx=s.support_idx[b, :n])
            torch.testing.assert_close(t.logp_taken[b, :n], taken, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(t.support_logp[b, :n], vals, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(t.tail_logp[b, :n], tail, atol=1e-5, rtol=1e-5)
        # Same context and the model's own top-K: identical to the student scores.
        same = gather_logprobs_at(model, *student, idx=s.support_idx)
        torch.testing.assert_close(same.support_logp, s.support_logp)
        torch.testing.assert_close(same.tail_logp, s.tail_logp)


def test_checkpointed_chunk_gradients_equal_naive():
    model = tiny_lora_model()
    params = [p for p in model.parameters() if p.requires_grad]
    ids, att, comp = pack_sequences(PROMPTS, COMPLETIONS, pad_id=0)
    s = score_tokens(model, ids, att, comp, topk=4, chunk_size=2)
    w = torch.linspace(0.5, 1.5, 4)
    obj = s.logp_taken.sum() + (s.support_logp * w).sum() + s.tail_logp.sum()
    grads = torch.autograd.grad(obj, params)

    ref = 0.0
    for p, c in zip(PROMPTS, COMPLETIONS, strict=True):
        taken, vals, _, tail = naive_scores(model, p, c, k=4)
        ref = ref + taken.sum() + (vals * w).sum() + tail.sum()
    ref_grads = torch.autograd.grad(ref, params)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", ["reverse_kl", "forward_kl", "jsd"])
def test_scored_topk_loss_at_full_vocab_equals_full_divergence(kind):
    # End to end in float64: student scores on (x, y), teacher on (x + hindsight, y).
    model = tiny_lora_model().double()
    student = pack_sequences(PROMPTS, COMPLETIONS, pad_id=0)
    teacher_prompts = [[30, 31, *p] for p in PROMPTS]
    teacher = pack_sequences(teacher_prompts, COMPLETIONS, pad_id=0)
    with torch.no_grad():
        s = token_logprobs_and_topk(model, *student, k=V, chunk_size=3)
        t = gather_logprobs_at(model, *teacher, idx=s.support_idx, chunk_size=3)
        loss = topk_tail_distill_loss(
            s.support_logp,
            t.support_logp,
            student_tail_logp=s.tail_logp,
            teacher_tail_logp=t.tail_logp,
            divergence=kind,
            alpha=0.5,
            mask=s.mask,
        )
        for b in range(len(PROMPTS)):
            n = len(COMPLETIONS[b])

            p = full_logp(model, PROMPTS[b], COMPLETIONS[b])
            q = full_logp(model, teacher_prompts[b], COMPLETIONS[b])
            kl = lambda a, c: (a.exp() * (a - c)).sum(-1)  # noqa: E731
            m = torch.logaddexp(p + torch.tensor(0.5).log(), q + torch.tensor(0.5).log())
            ref = {
                "reverse_kl": kl(p, q),
                "forward_kl": kl(q, p),
                "jsd": 0.5 * kl(q, m) + 0.5 * kl(p, m),
            }[kind]
            torch.testing.assert_close(loss[b, :n], ref, atol=1e-6, rtol=0)
            assert (loss[b, n:] == 0).all()


def test_full_vocab_topk_has_finite_gradient():
    model = tiny_lora_model()
    ids, att, comp = pack_sequences(PROMPTS[:1], COMPLETIONS[:1], pad_id=0)
    s = score_tokens(model, ids, att, comp, topk=V)
    (s.support_logp.sum() + s.tail_logp.sum()).backward()
    assert s.tail_logp[s.mask].max() < -80  # empty tail, floored
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_temperature_and_plain_logprobs():
    model = tiny_lora_model()
    ids, att, comp = pack_sequences(PROMPTS, COMPLETIONS, pad_id=0)
    with torch.no_grad():
        plain = score_tokens(model, ids, att, comp)
        assert plain.support_logp is None and plain.tail_logp is None
        hot = score_tokens(model, ids, att, comp, temperature=2.0)
        logits = model(input_ids=torch.tensor([PROMPTS[0] + COMPLETIONS[0]])).logits[0]
        ref = torch.log_softmax(logits / 2.0, -1)[4:7].gather(-1, torch.tensor([[11], [12], [13]]))
        torch.testing.assert_close(hot.logp_taken[0, :3], ref.squeeze(-1), atol=1e-5, rtol=1e-5)


def test_bad_inputs():
    model = tiny_lora_model()
    ids, att, comp = pack_sequences([[]], [[1, 2]], pad_id=0)
    with pytest.raises(ValueError, match="position 0"):
        score_tokens(model, ids, att, comp)
    ids, att, comp = pack_sequences(PROMPTS, COMPLETIONS, pad_id=0)
    with pytest.raises(ValueError, match="not both"):
        score_tokens(model, ids, att, comp, topk=2, at_idx=torch.zeros(3, 5, 2, dtype=torch.long))


def _saved_bytes_during(fn) -> int:
    """Bytes autograd saves for backward while fn runs (distinct storages counted once)."""
    seen: dict[int, int] = {}

    def pack(t):
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def test_checkpointed_chunks_do_not_keep_full_logits_for_backward(monkeypatch):
    import selfdistill.distill.scoring as scoring

    vocab = 4096
    model = tiny_llama(vocab, 0, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=1)
    completions = [list(range(5, 205)), list(range(300, 400))]
    ids, att, comp = pack_sequences([[1, 2], [3]], completions, pad_id=0)
    full_logits_bytes = 300 * vocab * 4
    chunked = _saved_bytes_during(
        lambda: score_tokens(model, ids, att, comp, topk=8, chunk_size=32)
    )
    plain = _saved_bytes_during(
        lambda: score_tokens(model, ids, att, comp, topk=8, chunk_size=32, checkpoint_chunks=False)
    )
    assert chunked < full_logits_bytes / 4
    assert plain < full_logits_bytes / 4  # the fused head (head_scores.py) keeps none either
    # The autograd path (heads the fused one does not cover): checkpointing is what saves.
    monkeypatch.setattr(scoring, "fusable_head", lambda head, softcap: False)
    chunked = _saved_bytes_during(
        lambda: score_tokens(model, ids, att, comp, topk=8, chunk_size=32)
    )
    plain = _saved_bytes_during(
        lambda: score_tokens(model, ids, att, comp, topk=8, chunk_size=32, checkpoint_chunks=False)
    )
    assert plain > full_logits_bytes  # without checkpointing every chunk's logits are kept
    assert chunked < full_logits_bytes / 4


def test_bf16_model_scores_in_fp32():
    model = tiny_lora_model().to(torch.bfloat16)
    ids, att, comp = pack_sequences(PROMPTS, COMPLETIONS, pad_id=0)
    with torch.no_grad():
        s = token_logprobs_and_topk(model, ids, att, comp, k=3)
    assert s.support_logp.dtype == torch.float32 and torch.isfinite(s.tail_logp).all()
