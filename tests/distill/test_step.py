"""The SDPO step component on a tiny random Llama with the embedded model's tokenizer."""

from __future__ import annotations

import copy

import pytest
import tiny
import torch

from selfdistill.distill.objective import SDPOLossConfig, accumulate_gradients
from selfdistill.distill.step import sdpo_step
from selfdistill.distill.teacher_context import build_teacher_batch
from selfdistill.distill.teacher_weights import Teacher
from selfdistill.execution import Verdict
from selfdistill.generation import Completion
from selfdistill.generation.chat import chat_token_ids
from selfdistill.rollouts import Group, Rollout, make_groups

pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing`:FutureWarning")

CHAT = tiny.ADD_CHAT
GOOD = tiny.GOOD_ADD
BAD = tiny.BAD_ADD
FB = "Wrong answer on test 1: add(1, 2) expected 3, got -1."


tiny_llama = tiny.vocab_llama


@pytest.fixture
def model(tok):
    return tiny.with_lora(tiny_llama(tok))


def rollout(tok, text, passed, feedback=None, behaviour=None):
    ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    return Rollout(prompt_ids=chat_token_ids(tok, CHAT), completion_ids=ids, text=text,
                   reward=float(passed), passed=passed, feedback=feedback,
                   behaviour_logprobs=behaviour)


def groups(tok):
    """Group 1: a success and two failures (solution contexts); group 2: failures only."""
    g1 = Group(CHAT, [rollout(tok, GOOD, True), rollout(tok, BAD, False, FB),
                      rollout(tok, "no idea", False, "No code was found.")], "p1")
    g2 = Group(CHAT, [rollout(tok, BAD, False, FB), rollout(tok, "x = 1", False, None)], "p2")
    return [g1, g2]


def grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters()
            if p.requires_grad and p.grad is not None}


def zero(model):
    for p in model.parameters():
        p.grad = None


def test_teacher_batch_kinds_and_counts(tok):
    tb = build_teacher_batch(groups(tok))
    assert tb.kinds == ["none", "solution", "solution", "feedback", "none"]
    s = tb.stats
    assert (s.with_solution, s.feedback_only, s.no_context) == (2, 1, 2)
    assert (s.groups, s.groups_with_success) == (2, 1)
    assert "Correct solution" in tb.chats[1][-1]["content"]
    assert FB in tb.chats[3][-1]["content"]
    # A token cap truncates or drops the hindsight.
    tb = build_teacher_batch(groups(tok), tok, max_prompt_tokens=10)
    assert tb.kinds == ["none"] * 5 and tb.stats.too_long == 3


def test_sdpo_step_lowers_loss_on_the_same_batch(model, tok):
    teacher = Teacher(model, "frozen")
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    cfg = SDPOLossConfig(support_size=5, micro_batch_size=2)
    gs = groups(tok)
    m1 = sdpo_step(model, teacher, opt, gs, tok, cfg)
    assert m1.loss > 0 and m1.teacher_student_kl > 0 and m1.grad_norm > 0
    assert (m1.with_solution, m1.feedback_only, m1.no_context, m1.loss_samples) == (2, 1, 2, 3)
    assert m1.samples == 5 and m1.groups == 2 and m1.pass_rate == pytest.approx(0.2)
    assert m1.loss_tokens == sum(len(r.completion_ids) for r in gs[0].rollouts[1:]) + len(
        gs[1].rollouts[0].completion_ids)
    losses = [m1.loss] + [sdpo_step(model, teacher, opt, gs, tok, cfg).loss for _ in range(3)]
    assert losses[1] < losses[0] and max(losses[1:]) < losses[0], losses
    assert model.training


@pytest.mark.parametrize("reduction,scale", [("token_mean", 1.0), ("seq_mean_token_mean", 0.5)])
def test_no_context_samples_contribute_zero_gradient(model, tok, reduction, scale):
    """token_mean: a sample without context changes nothing; the reference's per-sequence
    mean counts it as a zero (2 sequences, one with context: half the gradient)."""
    teacher = Teacher(model, "ema", rate=0.1)
    cfg = SDPOLossConfig(support_size=5, reduction=reduction)
    teacher_chat = [{"role": "user", "content": "Hint: " + GOOD}]
    a = rollout(tok, BAD, False, FB)
    b = rollout(tok, "nothing useful", False, None)
    accumulate_gradients(model, teacher, [Group(CHAT, [a, b])], tok, cfg, [teacher_chat, None])
    with_b = grads(model)
    zero(model)
    accumulate_gradients(model, teacher, [Group(CHAT, [a])], tok, cfg, [teacher_chat])
    alone = grads(model)
    assert with_b.keys() == alone.keys() and with_b
    for n in alone:
        torch.testing.assert_close(with_b[n], alone[n] * scale)


def test_grpo_zero_advantage_when_rewards_equal(model, tok):
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    g = Group(CHAT, [rollout(tok, BAD, False, FB), rollout(tok, "x", False, FB)])
    m = sdpo_step(model, None, opt, [g], tok, SDPOLossConfig(algorithm="grpo"))
    assert m.loss == 0 and m.loss_samples == 0 and m.advantage_mean == 0
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    # Different rewards: advantages r - mean(r) = +-0.5, the step moves the weights.
    g = Group(CHAT, [rollout(tok, GOOD, True), rollout(tok, BAD, False, FB)])
    m = sdpo_step(model, None, opt, [g], tok, SDPOLossConfig(algorithm="grpo"))
    assert m.loss_samples == 2 and m.advantage_abs_mean == pytest.approx(0.5)
    assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_micro_batching_does_not_change_gradients(model, tok):
    teacher = Teacher(model, "ema", rate=0.1)
    tb = build_teacher_batch(groups(tok))
    out = []
    for mbs in (1, 8):
        zero(model)
        cfg = SDPOLossConfig(support_size=5, micro_batch_size=mbs)
        acc = accumulate_gradients(model, teacher, groups(tok), tok, cfg, tb.chats)
        out.append((acc["loss"], grads(model)))
    assert out[0][0] == pytest.approx(out[1][0], rel=1e-5)
    for n in out[0][1]:
        torch.testing.assert_close(out[0][1][n], out[1][1][n], atol=1e-6, rtol=1e-4)


def test_hybrid_interpolates_grpo_and_sampled_token_sdpo(model, tok):
    teacher = Teacher(model, "frozen")
    tb = build_teacher_batch(groups(tok))

    def g(**kw):
        zero(model)
        accumulate_gradients(model, teacher, groups(tok), tok, SDPOLossConfig(**kw), tb.chats)
        return grads(model)

    grpo, hyb1 = g(algorithm="grpo", is_clip=None), g(algorithm="hybrid", lam=1.0, is_clip=None)
    for n in grpo:
        torch.testing.assert_close(grpo[n], hyb1[n])
    # lam = 0: only the SDPO token advantage, i.e. sampled-token SDPO (up to the denominator:
    # hybrid averages over all tokens, sdpo over tokens with a teacher context).
    hyb0 = g(algorithm="hybrid", lam=0.0, is_clip=None, reduction="token_mean")
    sdpo = g(algorithm="sdpo", support_size=0, is_clip=None, reduction="token_mean")
    flat = [r for gr in groups(tok) for r in gr.rollouts]
    all_tok = sum(len(r.completion_ids) for r in flat)
    ctx_tok = sum(len(r.completion_ids) for r, c in zip(flat, tb.chats, strict=True) if c)
    for n in sdpo:
        torch.testing.assert_close(hyb0[n] * all_tok / ctx_tok, sdpo[n], atol=1e-6, rtol=1e-4)
    # The reference's per-sequence mean divides both by all sequences: equal gradients.
    hyb0 = g(algorithm="hybrid", lam=0.0, is_clip=None)
    sdpo = g(algorithm="sdpo", support_size=0, is_clip=None)
    for n in sdpo:
        torch.testing.assert_close(hyb0[n], sdpo[n], atol=1e-6, rtol=1e-4)


def test_teacher_equal_to_student_gives_zero_loss_and_ratio_one(model, tok):
    teacher = Teacher(model, "live")
    r = rollout(tok, BAD, False, FB)
    model.eval()
    with torch.no_grad():
        from selfdistill.distill.scoring import pack_sequences, token_logprobs_and_topk

        ids, att, comp = pack_sequences([r.prompt_ids], [r.completion_ids], tok.pad_token_id)
        own = token_logprobs_and_topk(model, ids, att, comp, None).logp_taken[0].tolist()
    r.behaviour_logprobs = own
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.0)
    m = sdpo_step(model, teacher, opt, [Group(CHAT, [r])], tok, SDPOLossConfig(support_size=5),
                  teacher_chats=[CHAT])
    assert abs(m.loss) < 1e-5 and abs(m.teacher_student_kl) < 1e-5
    assert m.is_ratio_mean == pytest.approx(1.0, abs=1e-4) and m.is_clipped_frac == 0
    assert m.entropy > 0 and m.feedback_only == 1


def test_full_finetune_and_ema_teacher(tok):
    model = tiny_llama(tok, seed=1)
    ref = copy.deepcopy(model)
    teacher = Teacher(model, "ema", rate=0.5)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    m = sdpo_step(model, teacher, opt, groups(tok), tok, SDPOLossConfig(support_size=3))
    assert m.loss > 0 and teacher.steps == 1
    moved = [n for (n, p), q in zip(model.named_parameters(), ref.parameters(), strict=True)
             if not torch.equal(p, q)]
    assert moved


def test_make_groups_from_completions_and_verdicts(tok):
    class P:
        id = "p"

    c = Completion(text=GOOD, token_ids=[1, 2], prompt_token_ids=[3], base_logprobs=[-1.0, -2.0])
    ok = Verdict(passed=True, status="accepted", tests_passed=1, tests_total=1)
    bad = Verdict(passed=False, status="wrong_answer", tests_passed=0, tests_total=1,
                  failing_input="1", expected="3", actual="-1", failing_test_index=0)
    (g,) = make_groups([P()], [CHAT], [[c, c]], [[ok, bad]])
    assert g.problem_id == "p" and g.rewards == [1.0, 0.0]
    assert g.rollouts[0].behaviour_logprobs == [-1.0, -2.0]
    assert "Wrong answer" in g.rollouts[1].feedback and g.rollouts[1].status == "wrong_answer"


def test_config_validation():
    with pytest.raises(ValueError):
        SDPOLossConfig(algorithm="ppo")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SDPOLossConfig(lam=2.0)
    assert not SDPOLossConfig(algorithm="grpo").needs_teacher


def test_shared_prefix_scoring_matches_packed_scoring(model, tok):
    from selfdistill.distill.prefix_scoring import score_shared_prefix
    from selfdistill.distill.scoring import pack_sequences, score_tokens

    prefix = chat_token_ids(tok, CHAT)
    comps = [tok(t, add_special_tokens=False)["input_ids"] for t in (GOOD, BAD, "x")]
    ids, att, comp = pack_sequences([prefix] * 3, comps, tok.pad_token_id)
    params = [p for p in model.parameters() if p.requires_grad]
    ref = score_tokens(model, ids, att, comp, topk=5)
    g_ref = torch.autograd.grad((ref.support_logp.exp() * ref.mask[..., None]).sum(), params)
    got = score_shared_prefix(model, prefix, comps, topk=5, pad_id=tok.pad_token_id)
    g_got = torch.autograd.grad((got.support_logp.exp() * got.mask[..., None]).sum(), params)
    assert torch.equal(got.mask, ref.mask) and torch.equal(got.support_idx, ref.support_idx)
    for a, b in ((got.logp_taken, ref.logp_taken), (got.support_logp, ref.support_logp),
                 (got.tail_logp, ref.tail_logp), *zip(g_got, g_ref, strict=True)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        at = score_shared_prefix(model, prefix, comps, at_idx=ref.support_idx,
                                 pad_id=tok.pad_token_id)
    torch.testing.assert_close(at.support_logp, ref.support_logp.detach(), atol=1e-5, rtol=1e-4)


def test_common_prefix_with_own_middles_matches_packed_scoring(model, tok):
    """Distinct teacher prompts: the common prefix runs once, each row's own tokens after it."""
    from selfdistill.distill.prefix_scoring import score_shared_prefix
    from selfdistill.distill.scoring import pack_sequences, score_tokens

    prompts = [chat_token_ids(tok, [{"role": "user", "content": CHAT[0]["content"] + x}])
               for x in (" Feedback: " + FB, " Feedback: none.", "")]
    shared = 0
    while all(len(p) > shared and p[shared] == prompts[0][shared] for p in prompts):
        shared += 1
    assert shared >= 16 and len({len(p) for p in prompts}) == 3
    comps = [tok(t, add_special_tokens=False)["input_ids"] for t in (GOOD, BAD, "x")]
    ids, att, comp = pack_sequences(prompts, comps, tok.pad_token_id)
    params = [p for p in model.parameters() if p.requires_grad]
    ref = score_tokens(model, ids, att, comp, topk=5)
    g_ref = torch.autograd.grad((ref.support_logp.exp() * ref.mask[..., None]).sum(), params)
    got = score_shared_prefix(model, prompts[0][:shared], comps, topk=5, pad_id=tok.pad_token_id,
                              middles=[p[shared:] for p in prompts])
    g_got = torch.autograd.grad((got.support_logp.exp() * got.mask[..., None]).sum(), params)
    assert torch.equal(got.mask, ref.mask) and torch.equal(got.support_idx, ref.support_idx)
    for a, b in ((got.logp_taken, ref.logp_taken), (got.support_logp, ref.support_logp),
                 (got.tail_logp, ref.tail_logp), *zip(g_got, g_ref, strict=True)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_rows_of_very_different_lengths_run_in_groups_with_equal_scores(model, tok, monkeypatch):
    import selfdistill.distill.prefix_scoring as sdpo_mod
    from selfdistill.distill.prefix_scoring import score_shared_prefix
    from selfdistill.distill.scoring import pack_sequences, score_tokens

    plans = []
    real = sdpo_mod.plan_chunks
    monkeypatch.setattr(sdpo_mod, "plan_chunks", lambda *a, **k: plans.append(real(*a, **k))
                        or plans[-1])
    prefix = chat_token_ids(tok, CHAT)
    texts = [GOOD * 3, BAD * 3, "x", "no", GOOD, "def f(): pass"]
    mids = [tok(" feedback " * k, add_special_tokens=False)["input_ids"] for k in (9, 0, 7, 1, 0, 2)]
    comps = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    ids, att, comp = pack_sequences([prefix + m for m in mids], comps, tok.pad_token_id)
    params = [p for p in model.parameters() if p.requires_grad]
    ref = score_tokens(model, ids, att, comp, topk=5)
    g_ref = torch.autograd.grad((ref.support_logp.exp() * ref.mask[..., None]).sum(), params)
    got = score_shared_prefix(model, prefix, comps, topk=5, pad_id=tok.pad_token_id, middles=mids)
    g_got = torch.autograd.grad((got.support_logp.exp() * got.mask[..., None]).sum(), params)
    assert len(plans[-1]) > 1  # really split into length groups
    assert torch.equal(got.mask, ref.mask) and torch.equal(got.support_idx, ref.support_idx)
    for a, b in ((got.logp_taken, ref.logp_taken), (got.support_logp, ref.support_logp),
                 (got.tail_logp, ref.tail_logp), *zip(g_got, g_ref, strict=True)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_merged_lora_matches_live_adapter_and_restores_bit_exactly(model, tok):
    from selfdistill.core.merged_lora import merged_lora

    ids = torch.tensor([chat_token_ids(tok, CHAT)])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.no_grad():
        live = model(input_ids=ids).logits
        with merged_lora(model) as n_merged:
            merged = model(input_ids=ids).logits
        with model.disable_adapter():
            plain = model(input_ids=ids).logits
    assert n_merged == 4  # q_proj and v_proj in 2 layers
    torch.testing.assert_close(merged, live, atol=1e-4, rtol=0)
    assert not torch.allclose(plain, live, atol=1e-3)  # the adapter really matters here
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n
    # Gradients after a merged pass are the live adapter's gradients.
    loss = model(input_ids=ids).logits.sum()
    params = [p for p in model.parameters() if p.requires_grad]
    g_ref = torch.autograd.grad(loss, params)
    with merged_lora(model), torch.no_grad():
        model(input_ids=ids)
    g_got = torch.autograd.grad(model(input_ids=ids).logits.sum(), params)
    for a, b in zip(g_got, g_ref, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("algorithm", ["sdpo", "hybrid"])
def test_shared_prefix_step_equals_packed_step(model, tok, algorithm):
    teacher = Teacher(model, "ema", rate=0.1)
    tb = build_teacher_batch(groups(tok))
    out = []
    for share in (True, False):
        zero(model)
        cfg = SDPOLossConfig(algorithm=algorithm, support_size=5, share_prefix=share,
                             micro_batch_size=3)
        acc = accumulate_gradients(model, teacher, groups(tok), tok, cfg, tb.chats)
        out.append((acc, grads(model)))
    (a, ga), (b, gb) = out
    for key in ("loss", "kl_sum", "ent_sum", "adv_sum"):
        assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key
    for n in ga:
        torch.testing.assert_close(ga[n], gb[n], atol=1e-6, rtol=1e-3)
