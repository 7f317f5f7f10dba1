"""Per-token credit: numbers (against a plain forward pass), records, the recorder's bounds,
the HTML/text views, the run-report section and the `credit` command's errors."""

from __future__ import annotations

import json
import math
import re

import pytest
import tiny
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from peft import LoraConfig, get_peft_model
from typer.testing import CliRunner

from selfdistill.analysis.credit import (
    CreditLogConfig,
    CreditRecord,
    CreditRecorder,
    TokenCredit,
    credit_for_answer,
    load_records,
    pick_rollouts,
    score_credit,
)
from selfdistill.analysis.credit_view import (
    credit_section,
    render_html,
    render_text,
    summary_line,
)
from selfdistill.distill.teacher_context import build_teacher_batch
from selfdistill.distill.teacher_weights import Teacher
from selfdistill.generation.chat import chat_token_ids
from selfdistill.rollouts import Group, Rollout

pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing`:FutureWarning")

CHAT = tiny.ADD_CHAT
BAD = tiny.BAD_ADD
GOOD = tiny.GOOD_ADD
FB = "Wrong answer on test 1: add(1, 2) expected 3, got -1."


tiny_llama = tiny.vocab_llama


def full_forward_logp(model, prompt_ids, completion):
    """Oracle: log-softmax of one plain forward pass over prompt + completion."""
    ids = torch.tensor([list(prompt_ids) + list(completion)])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits.float(), -1)[0]
    p = len(prompt_ids)
    return logp[p - 1: p - 1 + len(completion)]


def test_credit_matches_a_plain_forward_pass_and_teacher_weights_are_used(tok):
    model = get_peft_model(tiny_llama(tok), LoraConfig(r=4, target_modules=["q_proj", "v_proj"],
                                                       init_lora_weights=False))
    teacher = Teacher(model, kind="frozen")
    ref = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    with torch.no_grad():  # the student moves away from the frozen teacher
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.5 * torch.randn_like(p))
    s_ids = chat_token_ids(tok, CHAT)
    t_chat = [{"role": "user", "content": CHAT[0]["content"] + "\n\nfeedback: " + FB}]
    t_ids = chat_token_ids(tok, t_chat)
    comp = tok(BAD, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    model.train()
    rows = score_credit(model, tok, [s_ids], [t_ids], [comp], teacher=teacher, alternatives=4)[0]
    assert model.training  # mode restored
    assert [r.token_id for r in rows] == comp
    student = full_forward_logp(model, s_ids, comp)
    with torch.no_grad():  # the oracle teacher: the frozen weights put back by hand
        now = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        for n, p in model.named_parameters():
            if n in ref:
                p.copy_(ref[n])
        teacher_lp = full_forward_logp(model, t_ids, comp)
        for n, p in model.named_parameters():
            if n in now:
                p.copy_(now[n])
    for j, r in enumerate(rows):
        assert r.student_logp == pytest.approx(float(student[j, comp[j]]), abs=1e-4)
        assert r.teacher_logp == pytest.approx(float(teacher_lp[j, comp[j]]), abs=1e-4)
        assert r.advantage == pytest.approx(r.teacher_logp - r.student_logp)
        top = torch.topk(teacher_lp[j], 4)
        assert [a[1] for a in r.alternatives] == pytest.approx(top.values.tolist(), abs=1e-4)
        assert [a[2] for a in r.alternatives] == pytest.approx(
            student[j, top.indices].tolist(), abs=1e-4)
        assert r.alternatives[0][0] == tok.decode([int(top.indices[0])])


def test_credit_for_answer_uses_the_sdpo_reprompt_and_grpo_advantage(tok):
    model = tiny_llama(tok)
    rec = credit_for_answer(model, tok, CHAT[0]["content"], BAD, feedback=FB,
                            group_rewards=[0.0, 1.0, 1.0, 0.0])
    assert "The following is feedback from your unsuccessful earlier attempt" in \
        rec.teacher_message and FB in rec.teacher_message
    assert rec.grpo_advantage == pytest.approx(-0.5)
    assert rec.tokens[-1].token_id == tok.eos_token_id  # the answer ends as the model emits it
    both = credit_for_answer(model, tok, CHAT, BAD, feedback=FB, solution=GOOD)
    assert GOOD in both.teacher_message and FB in both.teacher_message
    with pytest.raises(ValueError):
        credit_for_answer(model, tok, CHAT, BAD)
    with pytest.raises(ValueError):
        credit_for_answer(model, tok, CHAT, BAD, feedback=FB, reward=1.0, group_rewards=[0.0])


def _rec(advs, grpo=-0.5, texts=None, meta=None):
    texts = texts or [f"t{i}" for i in range(len(advs))]
    toks = [TokenCredit(i, t, -1.0, -1.0 + a, [(t, -1.0 + a, -1.0), ("x", -2.0, -1.5)])
            for i, (t, a) in enumerate(zip(texts, advs, strict=True))]
    return CreditRecord(prompt="p", answer="".join(texts), teacher_message="p + f", tokens=toks,
                        grpo_advantage=grpo, reward=0.0, group_rewards=[0.0, 1.0],
                        feedback="f", meta=meta or {})


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-20, 20, allow_nan=False), min_size=0, max_size=12),
       st.lists(st.text(max_size=4), min_size=12, max_size=12))
def test_record_round_trip_and_most_negative(advs, texts):
    rec = _rec(advs, texts=texts[: len(advs)])
    back = CreditRecord.from_dict(json.loads(json.dumps(rec.to_dict())))
    assert [t.text for t in back.tokens] == [t.text for t in rec.tokens]
    assert back.advantages == pytest.approx(rec.advantages, abs=2e-4)
    worst = rec.most_negative(3)
    assert all(t.advantage < 0 for _, t in worst)
    negatives = sorted(a for a in rec.advantages if a < 0)
    assert [t.advantage for _, t in worst] == pytest.approx(negatives[:3])
    assert rec.peak() >= 0


def test_pick_rollouts_prefers_failures_and_one_of_each_context():
    kinds = ["none", "feedback", "feedback", "solution", "solution"]
    passed = [False, False, True, True, False]
    assert pick_rollouts(kinds, passed, 2) == [1, 4]
    assert pick_rollouts(kinds, passed, 1) == [4]
    assert pick_rollouts(kinds, passed, 10) == [1, 2, 3, 4]
    assert pick_rollouts(["none"] * 3, [False] * 3, 2) == []


def _groups(tok):
    def ro(text, passed, fb=None):
        ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        return Rollout(prompt_ids=chat_token_ids(tok, CHAT), completion_ids=ids, text=text,
                       reward=float(passed), passed=passed, feedback=fb)
    return [Group(chat=CHAT, rollouts=[ro(BAD, False, FB), ro(GOOD, True), ro(BAD, False, FB)],
                  problem_id="add")]


def test_recorder_is_bounded_and_resumes_its_count(tok, tmp_path):
    model = tiny_llama(tok)
    teacher = Teacher(model, kind="live")
    groups = _groups(tok)
    tb = build_teacher_batch(groups, tok)
    cfg = CreditLogConfig(rollouts_per_step=2, every=2, max_tokens=5, alternatives=2,
                          max_records=5)
    rec = CreditRecorder(tmp_path / "credit.jsonl", cfg, "tiny")
    for step in range(1, 7):
        rec.record(model, teacher, tok, groups, tb, step=step)
    saved = load_records(tmp_path / "credit.jsonl")
    # steps 1 (always), 2, 4, 6 -> 2 + 2 + 1 (cap) records, then nothing.
    assert len(saved) == 5 and rec.written == 5
    assert [r.meta["step"] for r in saved] == [1, 1, 2, 2, 4]
    assert all(len(r.tokens) == 5 and r.truncated > 0 for r in saved)
    assert all(len(t.alternatives) == 2 for r in saved for t in r.tokens)
    assert {r.meta["context"] for r in saved} == {"solution"}  # failures see the sibling
    assert saved[0].grpo_advantage == pytest.approx(-1 / 3, abs=1e-4)  # stored to 4 places
    again = CreditRecorder(tmp_path / "credit.jsonl", cfg)
    assert again.written == 5
    assert again.record(model, teacher, tok, groups, tb, step=8) == []


def test_html_escapes_hostile_tokens_and_has_every_token():
    hostile = ["</script><script>alert(1)</script>", "<b>", "\n", " & ", "`|`"]
    rec = _rec([-1.0, 0.5, 0.0, -0.2, 0.1], texts=hostile)
    page = render_html([rec], "t <i>")
    plain = render_html([_rec([-1.0, 0.5, 0.0, -0.2, 0.1], texts=["x"] * 5)], "t")
    for tag in ("<script", "</script", "<b>", "<i>"):  # no tag from the tokens or the title
        assert page.count(tag) == plain.count(tag), tag
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in page and "t &lt;i&gt;" in page
    assert page.count('class="tok"') == 2 * len(hostile)  # SDPO row + GRPO row
    assert len(re.findall(r"<tr[^>]*><td>\d+</td>", page)) == len(hostile)
    blob = re.search(r'id="credit-data">(.*?)</script>', page, re.S).group(1)
    assert json.loads(blob)[0]["tok"]["text"] == hostile
    assert "http" not in page.replace("http://www.w3.org", "")  # nothing fetched


def test_text_view_lists_the_most_negative_tokens():
    rec = _rec([0.1, -2.0, 0.3, -0.5], texts=["a", " n", " +", "1"])
    out = render_text(rec)
    assert len(out.splitlines()) == 2 + 4 + 1
    assert summary_line(rec).startswith("most negative A_t: ' n' -2.00 (#1), '1' -0.50 (#3)")


def test_credit_section_links_the_most_informative_pages(tmp_path):
    from selfdistill.core.records import JsonlWriter

    with JsonlWriter(tmp_path / "credit.jsonl") as w:
        for step, advs in ((1, [0.1, 0.1]), (2, [0.0, -3.0, 0.0]), (3, [-0.2, 0.2])):
            w.write(_rec(advs, meta={"step": step, "problem_id": "p|1", "sample_idx": 0,
                                     "context": "feedback"}).to_dict())
    text = credit_section(tmp_path, top=2)
    rows = [ln for ln in text.splitlines() if ln.startswith("| 1") or ln.startswith("| 2")]
    assert "| 1 | 2 |" in rows[0] and "| 2 | 3 |" in rows[1]  # ranked by peak
    pages = sorted((tmp_path / "credit").glob("*.html"))
    assert len(pages) == 2 and all(p.name in text for p in pages)
    assert credit_section(tmp_path / "nothing") == ""


def test_cli_errors_are_one_line(tmp_path):
    from selfdistill.cli.main import app

    runner = CliRunner()
    for args, msg in ((["credit", "--prompt", "q"], "Give --prompt and --answer"),
                      (["credit", "--prompt", "q", "--answer", "a"], "needs hindsight"),
                      (["credit", "--run", str(tmp_path)], "No saved credit"),
                      (["credit", "--prompt", "q", "--answer", "@/nonexistent", "--feedback",
                        "f"], "file not found"),
                      (["credit", "--profile", "x"], "needs --update")):
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert msg in r.output and "Traceback" not in r.output


def test_cli_renders_saved_run_credit(tmp_path):
    from selfdistill.cli.main import app
    from selfdistill.core.records import JsonlWriter

    with JsonlWriter(tmp_path / "credit.jsonl") as w:
        w.write(_rec([0.2, -1.5], texts=["x", "y"], meta={"step": 4}).to_dict())
    r = CliRunner().invoke(app, ["credit", "--run", str(tmp_path), "--step", "4", "--text"])
    assert r.exit_code == 0, r.output
    assert "most negative A_t: 'y' -1.50 (#1)" in r.output
    page = (tmp_path / "credit" / "view.html").read_text()
    assert "step 4" in page and math.isclose(json.loads(re.search(
        r'id="credit-data">(.*?)</script>', page, re.S).group(1))[0]["grpo"], -0.5)
    r = CliRunner().invoke(app, ["credit", "--run", str(tmp_path), "--step", "9"])
    assert r.exit_code == 2 and "step 9" in r.output


@pytest.mark.slow
def test_credit_command_on_the_embedded_model_for_the_talks_example(tmp_path):
    """The issue's example end to end on SmolLM2-135M-Instruct: the page and its table."""
    from selfdistill.cli.main import app

    out = tmp_path / "credit.html"
    answer = "```python\ndef numbers(n):\n    return list(range(1, n + 1))\n```"
    r = CliRunner().invoke(app, [
        "credit", "--prompt", "Write a python function that returns all numbers from 1 to n. "
        "Answer briefly.", "--answer", answer, "--feedback", "Don't include n.",
        "--out", str(out), "--text"])
    assert r.exit_code == 0, r.output
    page = out.read_text()
    data = json.loads(re.search(r'id="credit-data">(.*?)</script>', page, re.S).group(1))[0]
    texts = data["tok"]["text"]
    assert "".join(texts).startswith(answer) and texts[-1] == "<|im_end|>"
    assert len(re.findall(r"<tr[^>]*><td>\d+</td>", page)) == len(texts)
    advs = [t - s for s, t in zip(data["tok"]["s"], data["tok"]["t"], strict=True)]
    assert any(a < 0 for a in advs) and all(math.isfinite(a) for a in advs)
    worst = min(range(len(advs)), key=advs.__getitem__)
    assert f"{advs[worst]:+.2f} (#{worst})" in r.output  # the summary names the real minimum


def test_cli_renders_an_assistant_update_with_its_own_teacher(tmp_path, tiny_model_dir):
    """`credit --profile P --update 1` re-scores the update's answer with the pre-update
    adapter and the assistant's hindsight template; its A_t are the update's own."""
    from selfdistill.assist.config import SessionConfig
    from selfdistill.assist.output import PlainOutput
    from selfdistill.assist.session import Session
    from selfdistill.assist.update import UpdateConfig
    from selfdistill.cli.main import app

    root = tmp_path / "profiles"
    cfg = SessionConfig(max_new_tokens=8, update=UpdateConfig(steps=1, lr=1e-2, support_size=8))
    with Session("p", str(tiny_model_dir), cfg, PlainOutput(echo=False), root=root) as s:
        s.ask("add two numbers", answer=GOOD + "\n\nThis adds them.")
        res = s.feedback("no explanation after the code")
    out = tmp_path / "u.html"
    r = CliRunner().invoke(app, ["credit", "--profile", "p", "--update", "1", "--home",
                                 str(root), "--out", str(out), "--text"])
    assert r.exit_code == 0, r.output
    page = out.read_text()
    assert "Important - follow this feedback from the user" in page  # the hindsight template
    data = json.loads(re.search(r'id="credit-data">(.*?)</script>', page, re.S).group(1))[0]
    advs = [t - s for s, t in zip(data["tok"]["s"], data["tok"]["t"], strict=True)]
    assert len(advs) == res.tokens
    assert sum(advs) / len(advs) == pytest.approx(res.mean_advantage, abs=1e-3)
    worst_text, worst_adv = res.disliked[0]
    assert min(advs) == pytest.approx(worst_adv, abs=1e-3)  # the update's "teacher disliked"
    r = CliRunner().invoke(app, ["credit", "--profile", "p", "--update", "7", "--home",
                                 str(root)])
    assert r.exit_code == 2 and "no update v7" in r.output


def test_saved_credit_is_the_advantage_the_sdpo_step_trains_with(tok, tmp_path):
    """Recorded before the step, the credit's token-mean A_t equals the step's own
    advantage_mean (sampled-token SDPO advantage over the same loss tokens)."""
    from selfdistill.distill.objective import SDPOLossConfig
    from selfdistill.distill.step import sdpo_step

    model = get_peft_model(tiny_llama(tok), LoraConfig(r=4, target_modules=["q_proj", "v_proj"],
                                                       init_lora_weights=False))
    teacher = Teacher(model, kind="ema", rate=0.5)
    with torch.no_grad():  # make the EMA teacher differ from the student
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.3 * torch.randn_like(p))
    groups = _groups(tok)
    tb = build_teacher_batch(groups, tok)
    rec = CreditRecorder(tmp_path / "c.jsonl", CreditLogConfig(rollouts_per_step=3,
                                                                max_tokens=1000))
    saved = rec.record(model, teacher, tok, groups, tb, step=1)
    assert len(saved) == 2  # the passing rollout has no teacher context (no self-reprompt)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.0)
    m = sdpo_step(model, teacher, opt, groups, tok, SDPOLossConfig(support_size=5), teacher_batch=tb)
    advs = [a for r in saved for a in r.advantages]
    assert m.loss_tokens == len(advs)
    assert sum(advs) / len(advs) == pytest.approx(m.advantage_mean, abs=1e-4)
