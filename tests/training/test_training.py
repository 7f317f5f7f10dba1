"""The fast SFT path (selfdistill.training): chunked loss numerics and the trainer set-up."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdistill.training.chunked_ce import add_chunked_loss, chunked_nll, supports_chunked_loss
from selfdistill.training.config import TrainConfig
from selfdistill.training.sft import make_sft_trainer, micro_batching, use_bf16


def _grads(model: Any) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp(min=1e-12))


# ------------------------------------------------------------------ chunked_nll vs F.cross_entropy


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), chunk=st.integers(1, 50), seed=st.integers(0, 10_000))
def test_chunked_nll_matches_cross_entropy_fp32(n: int, chunk: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, 16, generator=g, requires_grad=True)
    w = (torch.randn(97, 16, generator=g) * 0.3).requires_grad_()
    lab = torch.randint(0, 97, (n,), generator=g)
    scale = torch.rand(n, generator=g)  # a non-uniform upstream gradient
    ref = torch.nn.functional.cross_entropy(h @ w.T, lab, reduction="none")
    gh, gw = torch.autograd.grad((ref * scale).sum(), (h, w))
    out = chunked_nll(h, w, lab, chunk=chunk)
    ch, cw = torch.autograd.grad((out * scale).sum(), (h, w))
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-5)
    assert torch.allclose(ch, gh, atol=1e-5, rtol=1e-4)
    assert torch.allclose(cw, gw, atol=1e-5, rtol=1e-4)


def test_chunked_nll_bf16_autocast_within_bf16_tolerance() -> None:
    g = torch.Generator().manual_seed(0)
    h = torch.randn(200, 64, generator=g, requires_grad=True)
    w = (torch.randn(1000, 64, generator=g) * 0.1).requires_grad_()
    lab = torch.randint(0, 1000, (200,), generator=g)
    ref = torch.nn.functional.cross_entropy(h @ w.T, lab, reduction="none")
    gh, gw = torch.autograd.grad(ref.sum(), (h, w))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = chunked_nll(h, w, lab, chunk=64)
    assert out.dtype == torch.float32  # softmax statistics stay in fp32
    ch, cw = torch.autograd.grad(out.sum(), (h, w))
    assert _rel(out.detach(), ref.detach()) < 1e-2
    assert _rel(ch, gh) < 2e-2 and _rel(cw, gw) < 2e-2


def test_chunked_nll_no_tokens_is_a_connected_zero() -> None:
    h = torch.zeros(0, 8, requires_grad=True)
    out = chunked_nll(h, torch.randn(5, 8), torch.zeros(0, dtype=torch.long))
    assert out.sum().item() == 0.0
    out.sum().backward()  # no error: still part of the graph


# ------------------------------------------------------------------ the patched model forward


def _tiny(tiny_model_dir: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return (AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32),
            AutoTokenizer.from_pretrained(tiny_model_dir))


def _fixed_batch(vocab: int) -> dict[str, torch.Tensor]:
    """3 right-padded rows of different lengths, prompts masked out of the labels."""
    g = torch.Generator().manual_seed(1)
    lens, prompts = [23, 9, 16], [7, 3, 10]
    ids = torch.zeros(3, max(lens), dtype=torch.long)
    att = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for i, (n, p) in enumerate(zip(lens, prompts, strict=True)):
        ids[i, :n] = torch.randint(5, vocab, (n,), generator=g)
        att[i, :n] = 1
        labels[i, p:n] = ids[i, p:n]
    return {"input_ids": ids, "attention_mask": att, "labels": labels}


def test_patched_forward_matches_the_models_own_loss_and_grads(tiny_model_dir: Path) -> None:
    model, _ = _tiny(tiny_model_dir)
    assert supports_chunked_loss(model)
    batch = _fixed_batch(model.config.vocab_size)
    ref = model(**batch).loss  # transformers' own loss: mean NLL over label tokens
    ref.backward()
    g_ref = _grads(model)
    model.zero_grad(set_to_none=True)
    add_chunked_loss(model, chunk=5)
    out = model(**batch, chunked_loss=True)
    assert out.logits is None  # nothing vocabulary-sized is returned
    out.loss.backward()
    g = _grads(model)
    assert math.isclose(out.loss.item(), ref.item(), rel_tol=1e-5)
    assert g.keys() == g_ref.keys()
    for name in g_ref:
        assert torch.allclose(g[name], g_ref[name], atol=1e-6, rtol=1e-4), name
    # Without the flag the forward is the original one (generation unchanged).
    assert model(input_ids=batch["input_ids"]).logits.shape[-1] == model.config.vocab_size


def test_patched_forward_bf16_autocast_close_to_fp32(tiny_model_dir: Path) -> None:
    model, _ = _tiny(tiny_model_dir)
    batch = _fixed_batch(model.config.vocab_size)
    ref = model(**batch).loss
    ref.backward()
    g_ref = _grads(model)
    model.zero_grad(set_to_none=True)
    add_chunked_loss(model)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(**batch, chunked_loss=True).loss
    loss.backward()
    g = _grads(model)
    assert abs(loss.item() - ref.item()) / ref.item() < 1e-2
    flat = torch.cat([g[n].flatten() for n in g_ref])
    flat_ref = torch.cat([g_ref[n].flatten() for n in g_ref])
    assert _rel(flat, flat_ref) < 5e-2
    assert torch.nn.functional.cosine_similarity(flat, flat_ref, dim=0) > 0.999


def test_unsupported_heads_are_detected(tiny_model_dir: Path) -> None:
    model, _ = _tiny(tiny_model_dir)
    model.config.final_logit_softcapping = 30.0
    assert not supports_chunked_loss(model)


# ------------------------------------------------------------------ trainer set-up


def test_micro_batching_keeps_the_optimiser_batch() -> None:
    assert micro_batching(TrainConfig(batch_size=4, grad_accum=2)) == (4, 2)
    assert micro_batching(TrainConfig(batch_size=8, grad_accum=1, micro_batch_size=2)) == (2, 4)
    assert micro_batching(TrainConfig(batch_size=4, grad_accum=2, micro_batch_size=3)) == (3, 3)
    assert micro_batching(TrainConfig(batch_size=2, grad_accum=1, micro_batch_size=8)) == (2, 1)


def test_use_bf16_only_when_requested() -> None:
    assert use_bf16(False) is False


def _examples(tok: Any, n: int) -> list[dict[str, list[int]]]:
    g = torch.Generator().manual_seed(2)
    out = []
    for i in range(n):
        p, a = 4 + i % 5, 6 + (3 * i) % 11
        ids = torch.randint(5, len(tok), (p + a,), generator=g).tolist()
        out.append({"input_ids": ids, "labels": [-100] * p + ids[p:]})
    return out


def test_trainer_loss_on_a_collated_batch_matches_the_plain_path(
        tiny_model_dir: Path, tmp_path: Path) -> None:
    model, tok = _tiny(tiny_model_dir)
    tc = TrainConfig(batch_size=4, grad_accum=1, bf16=False, max_seq_len=64)
    trainer = make_sft_trainer(model, tok, _examples(tok, 8), tc, tmp_path, report_to=[])
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    assert (batch["labels"] == -100).any()  # prompts (and padding) are masked
    fast = trainer.compute_loss(trainer.model, dict(batch))
    plain = trainer.model(**{k: v for k, v in batch.items()})  # the unpatched path
    assert math.isclose(fast.item(), plain.loss.item(), rel_tol=1e-5)


def test_trainer_trains_and_the_loss_falls(tiny_model_dir: Path, tmp_path: Path) -> None:
    model, tok = _tiny(tiny_model_dir)
    ex = _examples(tok, 4)
    tc = TrainConfig(batch_size=4, grad_accum=1, micro_batch_size=2, lr=1e-2, lr_end=1e-2,
                     epochs=15, bf16=False, max_seq_len=64, logging_steps=1, save_steps=1000)
    trainer = make_sft_trainer(model, tok, ex, tc, tmp_path, report_to=[])
    assert trainer.args.gradient_accumulation_steps == 2
    assert trainer.args.train_sampling_strategy == "group_by_length"
    trainer.train()
    losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
    assert len(losses) == 15 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < 0.6 * losses[0]


# ------------------------------------------------------------------ the real embedded model


@pytest.mark.slow
def test_real_model_fast_path_matches_plain_path_on_a_fixed_batch() -> None:
    """SmolLM2-135M, 2 prompt-masked (prompt, reference answer) rows: the chunked loss matches
    transformers' fp32 loss to fp32 precision, and under bf16 autocast within bf16 tolerance."""
    from selfdistill.core.models import load_model
    from selfdistill.generation.chat import chat_token_ids
    from selfdistill.problems.registry import load_source
    from selfdistill.prompts.task import build_chat

    model, tok = load_model("smollm2-135m-instruct")
    probs = [p for p in load_source("builtin:train?difficulty=easy") if p.reference][:2]
    rows = []
    for p in probs:
        prompt = chat_token_ids(tok, build_chat(p))
        answer = tok(f"```python\n{p.reference.strip()}\n```", add_special_tokens=False)[
            "input_ids"] + [tok.eos_token_id]
        rows.append((prompt + answer, [-100] * len(prompt) + answer))
    width = max(len(r[0]) for r in rows)
    ids = torch.full((2, width), tok.pad_token_id or 0)
    att = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for i, (x, y) in enumerate(rows):
        ids[i, :len(x)], att[i, :len(x)], labels[i, :len(y)] = (
            torch.tensor(x), 1, torch.tensor(y))
    batch = {"input_ids": ids, "attention_mask": att, "labels": labels}
    ref = model(**batch).loss
    ref.backward()
    g_ref = _grads(model)
    flat_ref = torch.cat([g.flatten() for g in g_ref.values()])
    add_chunked_loss(model, chunk=64)
    for autocast in (False, True):
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = model(**batch, chunked_loss=True).loss
        loss.backward()
        g = _grads(model)
        flat = torch.cat([g[n].flatten() for n in g_ref])
        cos = float(torch.nn.functional.cosine_similarity(flat, flat_ref, dim=0))
        if not autocast:
            assert math.isclose(loss.item(), ref.item(), rel_tol=1e-5)
            assert _rel(flat, flat_ref) < 1e-4
        else:
            assert abs(loss.item() - ref.item()) / ref.item() < 2e-2
            assert _rel(flat, flat_ref) < 0.1 and cos > 0.995, (_rel(flat, flat_ref), cos)


def test_bf16_request_is_accepted_on_this_machine(tmp_path: Path) -> None:
    from selfdistill.core.models import cpu_has_fast_bf16
    from selfdistill.training.sft import sft_config

    args = sft_config(TrainConfig(bf16=True), tmp_path, report_to=[])
    expected = torch.cuda.is_bf16_supported() if torch.cuda.is_available() else cpu_has_fast_bf16()
    assert args.bf16 == expected
