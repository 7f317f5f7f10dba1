"""Teacher re-prompts, and teacher weights (EMA / trust region / frozen / live) on a tiny LoRA Llama."""

from __future__ import annotations

import copy
import random

import pytest
import torch
from tiny import tiny_llama, tiny_lora_llama

from selfdistill.distill.scoring import gather_logprobs_at, pack_sequences, token_logprobs_and_topk
from selfdistill.distill.teacher_context import (
    RepromptConfig,
    RepromptStats,
    build_teacher_chats,
    solution_text,
)
from selfdistill.distill.teacher_weights import Teacher
from selfdistill.prompts.templates import TeacherPromptTemplate

pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing`:FutureWarning")

PROMPT = [
    {"role": "system", "content": "You write Python."},
    {"role": "user", "content": "Add two numbers."},
]
INSTR = "Correctly solve the original question."


# ------------------------------------------------------------------------------ re-prompts


def user_text(chat):
    assert chat[0] == PROMPT[0] and chat[-1]["role"] == "user" and len(chat) == 2
    return chat[-1]["content"]


def test_default_template_matches_paper_text():
    t = TeacherPromptTemplate()
    assert t.render("P", "S", None) == "P\n\nCorrect solution:\n\nS\n\n" + INSTR
    assert t.render("P", None, "F") == (
        "P\n\nThe following is feedback from your unsuccessful earlier attempt:\n\nF\n\n" + INSTR
    )
    assert t.render("P", None, None) == "P" + INSTR


def test_failures_get_a_successful_sibling_and_success_not_itself():
    answers = ["wrong a", "<think>hmm</think>def add(a, b): return a + b", "wrong c", "ok d"]
    passed = [False, True, False, True]
    chats, stats = build_teacher_chats(PROMPT, answers, passed, [None, None, "fb c", None])
    # Failures get the first success, reasoning removed; feedback is dropped when a solution exists.
    assert user_text(chats[0]) == (
        "Add two numbers.\n\nCorrect solution:\n\ndef add(a, b): return a + b\n\n" + INSTR
    )
    assert user_text(chats[2]) == user_text(chats[0])
    # Successes get the *other* success.
    assert "ok d" in user_text(chats[1]) and "def add" not in user_text(chats[1])
    assert "def add" in user_text(chats[3])
    assert stats == RepromptStats(samples=4, with_solution=4, groups=1, groups_with_success=1)


def test_only_success_gets_no_solution_and_no_feedback_means_no_loss():
    answers = ["good", "bad", "bad2"]
    chats, stats = build_teacher_chats(
        PROMPT, answers, [True, False, False], [None, "AssertionError: expected 3, got 4", ""]
    )
    assert chats[0] is None  # the only success, no feedback: masked out
    assert "Correct solution:\n\ngood" in user_text(chats[1])
    assert stats.no_context == 1 and stats.with_solution == 2
    # A passing sample's judge message is not "feedback from an unsuccessful attempt".
    chats, _ = build_teacher_chats(PROMPT, ["good"], [True], ["All tests passed"])
    assert chats == [None]
    # Allowing self re-prompt gives it its own answer.
    cfg = RepromptConfig(dont_reprompt_on_self_success=False)
    chats, _ = build_teacher_chats(PROMPT, answers, [True, False, False], [None] * 3, cfg)
    assert "Correct solution:\n\ngood" in user_text(chats[0])


def test_feedback_only_when_no_sibling_succeeded():
    chats, stats = build_teacher_chats(
        "Add two numbers.", ["a", "b", "c"], [False] * 3, ["Test 1 failed: got 4", None, "  "]
    )
    assert chats[0] == [
        {
            "role": "user",
            "content": "Add two numbers.\n\nThe following is feedback from your unsuccessful "
            "earlier attempt:\n\nTest 1 failed: got 4\n\n" + INSTR,
        }
    ]
    assert chats[1] is None and chats[2] is None  # no feedback / blank feedback
    assert (stats.feedback_only, stats.no_context, stats.groups_with_success) == (1, 2, 0)
    # Feedback with a solution, when allowed, comes after it.
    cfg = RepromptConfig(feedback_only_without_solution=False)
    chats, _ = build_teacher_chats(PROMPT, ["x", "y"], [True, False], [None, "boom"], cfg)
    text = user_text(chats[1])
    assert text.index("Correct solution") < text.index("boom") < text.index(INSTR)


def test_length_cap_truncates_hindsight_keeps_instruction():
    long_fb = "E" * 500
    cfg = RepromptConfig(max_length=200)
    chats, stats = build_teacher_chats(PROMPT, ["a"], [False], [long_fb], cfg)
    text = user_text(chats[0])
    total = sum(len(m["content"]) for m in chats[0])
    assert total <= 200 and text.endswith(INSTR) and text.startswith("Add two numbers.")
    assert "[... truncated]" in text and "EEEE" in text
    assert total > 190  # the bisection keeps as much as fits
    assert stats.truncated == 1 and stats.feedback_only == 1
    # Both parts present: the longer one is cut first, the short one survives whole.
    cfg = RepromptConfig(max_length=300, feedback_only_without_solution=False)
    chats, _ = build_teacher_chats(PROMPT, ["S" * 20, "x"], [True, False], [None, long_fb], cfg)
    text = user_text(chats[1])
    assert "S" * 20 in text and "E" * 500 not in text
    # A custom length function (e.g. tokens) and a cap below the fixed text: no teacher.
    words = lambda chat: sum(len(m["content"].split()) for m in chat)  # noqa: E731
    cfg = RepromptConfig(max_length=5)
    chats, stats = build_teacher_chats(PROMPT, ["a"], [False], ["x " * 50], cfg, length_fn=words)
    assert chats == [None] and stats.too_long == 1


def test_random_sibling_choice_and_reasoning_strip():
    cfg = RepromptConfig(sibling_choice="random")
    answers = ["s0", "s1", "s2", "f"]
    seen = set()
    for seed in range(20):
        chats, _ = build_teacher_chats(
            PROMPT, answers, [True, True, True, False], [None] * 4, cfg, rng=random.Random(seed)
        )
        assert "s0" not in user_text(chats[0])
        seen.add(user_text(chats[3]).split("\n\n")[2])
    assert seen == {"s0", "s1", "s2"}
    assert solution_text("<think>a</think>\nX<think>b</think>Y") == "XY"
    assert solution_text("reasoning...</think>\nanswer") == "answer"
    assert solution_text("answer <think>unfinished") == "answer"
    # An answer that is all reasoning is no demonstration.
    chats, stats = build_teacher_chats(PROMPT, ["<think>x</think>", "f"], [True, False], [None] * 2)
    assert chats == [None, None] and stats.no_context == 2


def test_stats_add_up():
    a = RepromptStats(samples=2, with_solution=1, groups=1)
    b = RepromptStats(samples=3, no_context=2, groups=1, groups_with_success=1)
    assert (a + b).as_dict()["samples"] == 5 and (a + b).groups == 2


# -------------------------------------------------------------------------------- weights


def tiny_lora_model(seed: int = 0, dropout: float = 0.0):
    return tiny_lora_llama(seed, dropout=dropout)


def trainable(model):
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@torch.no_grad()
def fake_step(model, scale=0.1, seed=1):
    """Stand-in for an optimiser step: perturb the trainable weights."""
    g = torch.Generator().manual_seed(seed)
    for p in trainable(model).values():
        p.add_(torch.randn(p.shape, generator=g) * scale)


def batch():
    return pack_sequences([[1, 2, 3], [4, 5]], [[6, 7, 8], [9, 10, 11, 12]], pad_id=0)


def test_ema_update_math():
    model = tiny_lora_model()
    r = 0.1
    teacher = Teacher(model, "ema", rate=r)
    ema = {n: p.detach().clone() for n, p in trainable(model).items()}
    for step in range(3):
        fake_step(model, seed=step)
        teacher.update()
        for n, p in trainable(model).items():
            ema[n] = (1 - r) * ema[n] + r * p.detach()
    with teacher.weights():
        for n, p in trainable(model).items():
            torch.testing.assert_close(p, ema[n], atol=1e-6, rtol=0)  # lerp rounding
    assert teacher.steps == 3


@pytest.mark.parametrize("kind", ["ema", "trust_region", "trust_region_params", "frozen", "live"])
def test_swap_restores_student_bit_exactly(kind):
    model = tiny_lora_model(dropout=0.1)
    model.train()
    teacher = Teacher(model, kind, rate=0.5)
    fake_step(model)
    teacher.update()
    before = snapshot(model)
    ptrs = {n: p.data_ptr() for n, p in model.named_parameters()}
    with teacher.weights() as m:
        assert m is model and not model.training  # teacher scores without dropout
        assert not torch.is_grad_enabled()
        changed = any(not torch.equal(p, before[n]) for n, p in model.named_parameters())
        assert changed == (kind != "live")
    assert model.training
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]) and p.data_ptr() == ptrs[n]
    with pytest.raises(RuntimeError), teacher.weights():  # restored on error too
        raise RuntimeError("boom")
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_trust_region_and_frozen_weights():
    model = tiny_lora_model()
    init = {n: p.detach().clone() for n, p in trainable(model).items()}
    tr = Teacher(model, "trust_region_params", rate=0.25)
    frozen = Teacher(model, "frozen")
    logit_tr = Teacher(model, "trust_region", rate=0.25)  # weights(): the initial model
    assert logit_tr.logit_mix == 0.25 and tr.logit_mix is None
    for s in range(2):
        fake_step(model, seed=s)
        tr.update()
        frozen.update()
    with logit_tr.weights():
        assert all(torch.equal(p, init[n]) for n, p in trainable(model).items())
    current = {n: p.detach().clone() for n, p in trainable(model).items()}
    with tr.weights():
        for n, p in trainable(model).items():
            torch.testing.assert_close(p, 0.75 * init[n] + 0.25 * current[n], atol=1e-7, rtol=0)
    with frozen.weights():
        for n, p in trainable(model).items():
            assert torch.equal(p, init[n])


def test_frozen_teacher_scores_like_the_initial_model_after_real_updates():
    model = tiny_lora_model()
    initial = copy.deepcopy(model).eval()
    teacher = Teacher(model, "frozen")
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    ids, att, comp = batch()
    for _ in range(2):
        s = token_logprobs_and_topk(model, ids, att, comp, k=5)
        opt.zero_grad()
        (-s.logp_taken[s.mask].mean()).backward()
        opt.step()
        teacher.update()
    with torch.no_grad():
        ref = token_logprobs_and_topk(initial, ids, att, comp, k=5)
        now = token_logprobs_and_topk(model.eval(), ids, att, comp, k=5)
    assert not torch.allclose(now.logp_taken, ref.logp_taken, atol=1e-3)  # the student moved
    with teacher.weights():
        t = gather_logprobs_at(model, ids, att, comp, idx=ref.support_idx)
    torch.testing.assert_close(t.logp_taken, ref.logp_taken)
    torch.testing.assert_close(t.support_logp, ref.support_logp)
    torch.testing.assert_close(t.tail_logp, ref.tail_logp)


def test_no_gradient_reaches_teacher_and_student_backward_is_undisturbed():
    model = tiny_lora_model()
    teacher = Teacher(model, "ema", rate=0.05)
    fake_step(model)
    teacher.update()
    ids, att, comp = batch()
    params = list(trainable(model).values())

    s = token_logprobs_and_topk(model, ids, att, comp, k=5)
    ref = torch.autograd.grad(s.support_logp.sum(), params)

    # Student forward, then a teacher forward in between, then the student's backward.
    s = token_logprobs_and_topk(model, ids, att, comp, k=5)
    with teacher.weights():
        t = gather_logprobs_at(model, ids, att, comp, idx=s.support_idx)
    assert not t.support_logp.requires_grad and t.support_logp.grad_fn is None
    grads = torch.autograd.grad(s.support_logp.sum(), params)
    for g, r in zip(grads, ref, strict=True):
        torch.testing.assert_close(g, r)
    assert all(not v.requires_grad and v.grad is None for v in teacher._store.values())


def test_lora_teacher_holds_adapter_copies_only():
    model = tiny_lora_model()
    n_params_before = sum(p.numel() for p in model.parameters())
    adapter = sum(p.numel() for p in trainable(model).values())
    base = n_params_before - adapter
    assert adapter * 10 < base  # the test is meaningful: base >> adapter
    base_ptrs = {p.untyped_storage().data_ptr() for p in model.parameters()}
    for kind in ("ema", "trust_region", "trust_region_params", "frozen"):
        teacher = Teacher(model, kind)
        assert teacher.stored_numel == adapter
        assert all("lora_" in n for n in teacher._store)
        # Its tensors are its own (no aliasing of live weights) and nothing was added to the model.
        assert not {t.untyped_storage().data_ptr() for t in teacher._store.values()} & base_ptrs
        assert sum(p.numel() for p in model.parameters()) == n_params_before
    assert Teacher(model, "live").stored_numel == 0


def test_full_finetune_teacher_tracks_all_weights():
    model = tiny_llama(50, 0, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=1)
    teacher = Teacher(model, "ema", rate=0.5)
    assert teacher.stored_numel == sum(p.numel() for p in model.parameters())


def test_bf16_ema_keeps_fp32_master_copy():
    model = tiny_lora_model().to(torch.bfloat16)
    teacher = Teacher(model, "ema", rate=0.01)
    assert all(t.dtype == torch.float32 for t in teacher._store.values())
    fake_step(model, scale=1.0)
    teacher.update()
    with teacher.weights():
        assert all(p.dtype == torch.bfloat16 for p in trainable(model).values())


def test_state_dict_roundtrip_and_validation():
    model = tiny_lora_model()
    teacher = Teacher(model, "ema", rate=0.2)
    fake_step(model)
    teacher.update()
    state = teacher.state_dict()
    other = Teacher(model, "ema", rate=0.2)
    other.load_state_dict(state)
    assert other.steps == 1
    for k, v in other._store.items():
        assert torch.equal(v, teacher._store[k])
    with pytest.raises(ValueError):
        Teacher(model, "frozen").load_state_dict(state)
    with pytest.raises(ValueError):
        Teacher(model, "nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Teacher(model, "ema", rate=1.5)


@pytest.mark.parametrize("full", [False, True])
def test_trust_region_mixes_logits_of_the_initial_and_current_model(full):
    """The reference's trust-region teacher: log_softmax(lerp(z_initial, z_current, a)) on
    the teacher's context, at the student's top-K ids and the tail -- by hand here. With
    LoRA the LM head is shared (hidden states mixed); full fine-tuning trains the tied
    head too (two heads, concatenated)."""
    from selfdistill.distill.objective import LossSample, SDPOLossConfig, _mixed_teacher_scores

    model = tiny_llama(100, 0, max_position_embeddings=64, initializer_range=0.3) if full \
        else tiny_lora_model()
    initial = copy.deepcopy(model).eval()
    teacher = Teacher(model, "trust_region", rate=0.3)
    fake_step(model, seed=4)
    current = copy.deepcopy(model).eval()
    prompt, comp = [5, 6, 7, 8], [9, 10, 11]
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(0, 100, (1, 3, 4), generator=g)
    sample = LossSample(prompt_ids=[1], completion_ids=comp, teacher_ids=prompt, behaviour=None,
                     adv_seq=0.0, has_ctx=True)
    got = _mixed_teacher_scores(model, teacher, [sample], idx, SDPOLossConfig(), 0,
                                torch.device("cpu"))
    with torch.no_grad():
        ids = torch.tensor([prompt + comp])
        z = torch.lerp(initial(input_ids=ids).logits, current(input_ids=ids).logits, 0.3)[0]
        lp = torch.log_softmax(z[len(prompt) - 1 : -1], -1)
    torch.testing.assert_close(got.logp_taken[0], lp.gather(-1, torch.tensor(comp)[:, None])[:, 0],
                               atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got.support_logp[0], lp.gather(-1, idx[0]), atol=1e-5, rtol=1e-5)
    rest = lp.clone().scatter(-1, idx[0], -float("inf"))
    torch.testing.assert_close(got.tail_logp[0], torch.logsumexp(rest, -1), atol=1e-5, rtol=1e-5)
