"""A denial lowers the denied call (issue 34 item 3): how it is rendered and what it trains.

The diagnosis (docs/results.md): the reason as the teacher read it named the denied call
("Do not read README.md again"), so the teacher rated that call *higher* and the update
raised it; and the retry came after the denied call itself, which a small model copies.
Checked here: `denial_feedback` hides the call's own words, the update leaves out every
token of a rejected answer that the teacher raised (so it can only lower it), and the agent
retries in the teacher's chat, without the denied call in it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdistill.agent.calls import ToolCall, denial_feedback, format_call
from selfdistill.agent.script import ScriptDriver, play_agent_script
from selfdistill.agent.session import AgentConfig, AgentSession
from selfdistill.assist.config import SessionConfig
from selfdistill.assist.output import PlainOutput
from selfdistill.assist.update import (
    UpdateConfig,
    answer_logprob,
    distill_update,
    hindsight_example,
    rejected_mask,
)
from selfdistill.core.records import read_jsonl

_NAME = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{2,12}\.(py|md|txt)", fullmatch=True)


@given(_NAME, _NAME)
@settings(max_examples=200, deadline=None)
def test_denial_feedback_hides_the_denied_path_and_keeps_the_other(denied: str, other: str
                                                                   ) -> None:
    if denied == other or denied in other or other in denied:
        return
    call = ToolCall("read", {"path": denied})
    text = denial_feedback(call, f"Do not read {denied} again; read {other}, the file named "
                                 f"in the task. ({denied}!)")
    assert text.startswith("The user denied the action you proposed. Reason: ")
    assert not re.search(rf"(?<![\w.]){re.escape(denied)}(?!\w)", text)
    assert other in text and "the file named in the task" in text


def test_denial_feedback_hides_the_program_and_the_tool_but_not_longer_words() -> None:
    call = ToolCall("bash", {"command": "cat mathx.py"})
    text = denial_feedback(call, "Look at files with the read tool, not with cat or head; "
                                 "concatenate nothing. Never use bash for that.")
    assert "cat " not in text and "that command or head" in text
    assert "concatenate" in text and "bash" not in text and "that tool for that" in text
    write = ToolCall("write", {"path": "a.py", "content": "x = 1\n"})
    assert "rewrite" in denial_feedback(write, "never rewrite a file with write")
    assert denial_feedback(write, "never rewrite a file with write").endswith("that tool")
    # A reason that names nothing of the call is kept whole.
    assert denial_feedback(write, "I deny this action.").endswith("Reason: I deny this action.")


@given(st.lists(st.lists(st.floats(-5, 5, allow_nan=False), min_size=4, max_size=4),
                min_size=1, max_size=4), st.data())
@settings(max_examples=200, deadline=None)
def test_rejected_mask_keeps_only_what_the_teacher_dislikes(rows: list[list[float]],
                                                           data: st.DataObject) -> None:
    adv = torch.tensor(rows)
    mask = torch.tensor(data.draw(st.lists(st.lists(st.booleans(), min_size=4, max_size=4),
                                           min_size=len(rows), max_size=len(rows))))
    rejected = data.draw(st.lists(st.booleans(), min_size=len(rows), max_size=len(rows)))
    out, summed, raised = rejected_mask(mask, adv, rejected)
    for b, rej in enumerate(rejected):
        if rej:  # kept: in the old mask and disliked by the teacher
            assert torch.equal(out[b], mask[b] & (adv[b] < 0))
        else:
            assert torch.equal(out[b], mask[b])
    on_rej = mask & torch.tensor(rejected)[:, None]
    assert raised == int((on_rej & (adv >= 0)).sum())
    assert summed == pytest.approx(float((adv * on_rej).sum()), abs=1e-4)


def _cfg(lr: float = 1e-2, steps: int = 2) -> SessionConfig:
    return SessionConfig(max_new_tokens=8, update=UpdateConfig(steps=steps, lr=lr))


CHAT = [{"role": "system", "content": "You act with tools."},
        {"role": "user", "content": "Fix the bug in mathx.py."}]
DENIED = format_call(ToolCall("read", {"path": "README.md"}))


def test_rejected_update_trains_only_on_disliked_tokens(tmp_path: Path, tiny_model_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The loss mask the update uses is exactly the disliked tokens of the rejected call."""
    from selfdistill.assist import update as upd

    seen: list[torch.Tensor] = []
    real = upd._student_loss

    def spy(model: Any, student: Any, tg: Any, cfg: Any, mask: torch.Tensor) -> Any:
        seen.append(mask.clone())
        return real(model, student, tg, cfg, mask)

    monkeypatch.setattr(upd, "_student_loss", spy)
    ws = tmp_path / "ws"
    ws.mkdir()
    with AgentSession("d", ws, ScriptDriver([], echo=False), str(tiny_model_dir), _cfg(),
                      AgentConfig(), PlainOutput(echo=False), root=tmp_path / "home") as s:
        ex = hindsight_example(s.tokenizer, CHAT, DENIED, "Do not read README.md.",
                               rejected=True)
        teacher = upd.answer_token_logprobs(s.model, s.tokenizer, [ex.teacher_chat], [DENIED])
        student = upd.answer_token_logprobs(s.model, s.tokenizer, [CHAT], [DENIED])
        adv = torch.tensor(teacher[0][1]) - torch.tensor(student[0][1])
        res = distill_update(s.model, s.tokenizer, [ex], "feedback", s.cfg.update)
        plain = hindsight_example(s.tokenizer, CHAT, DENIED, "Do not read README.md.")
        distill_update(s.model, s.tokenizer, [plain], "feedback", s.cfg.update)
    n = len(adv)
    assert seen and all(torch.equal(m[0, :n], adv < 0) for m in seen[: res.steps])
    assert res.rejected_raised == int((adv >= 0).sum())
    assert res.rejected_advantage == pytest.approx(float(adv.sum()), abs=1e-3)
    assert bool(seen[-1][0, :n].all())  # not rejected: every token trains


def test_advantage_loss_on_a_rejected_call_never_raises_it(tmp_path: Path,
                                                           tiny_model_dir: Path) -> None:
    """With the sampled-token loss a denial's gradient only pushes disliked tokens down; one
    small step lowers the denied call's log-probability."""
    ws = tmp_path / "ws"
    ws.mkdir()
    cfg = SessionConfig(max_new_tokens=8, update=UpdateConfig(steps=1, lr=1e-3,
                                                              loss="advantage"))
    with AgentSession("d", ws, ScriptDriver([], echo=False), str(tiny_model_dir), cfg,
                      AgentConfig(), PlainOutput(echo=False), root=tmp_path / "home") as s:
        before = answer_logprob(s.model, s.tokenizer, [CHAT], [DENIED])[0]
        ex = hindsight_example(s.tokenizer, CHAT, DENIED, "Do not read README.md.",
                               rejected=True)
        res = distill_update(s.model, s.tokenizer, [ex], "feedback", s.cfg.update)
        after = answer_logprob(s.model, s.tokenizer, [CHAT], [DENIED])[0]
    assert res.steps == 1
    assert after < before


def test_agent_retries_in_the_teachers_chat_without_the_denied_call(
        tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "README.md").write_text("# x\n")
    script = [{"user": "Fix the bug in mathx.py."},
              {"model": DENIED}, {"deny": "Do not read README.md again; read mathx.py."},
              {"model": "Done."}]
    driver = ScriptDriver(list(script), echo=False)
    chats: list[Any] = []
    with AgentSession("d", ws, driver, str(tiny_model_dir), _cfg(1e-3, 1),
                      AgentConfig(auto_approve_reads=False), PlainOutput(echo=False),
                      root=tmp_path / "home") as s:
        real = s.fit_context
        monkeypatch.setattr(s, "fit_context", lambda c: chats.append(c) or real(c))
        play_agent_script(s, driver)
        log = list(read_jsonl(s.profile.log_path))
    retry = chats[1]
    assert all(DENIED not in m["content"] for m in retry)
    assert [m["role"] for m in retry] == [m["role"] for m in chats[0]]  # nothing appended
    assert retry[-1]["content"].startswith("Fix the bug in mathx.py.")
    assert "The user denied the action you proposed. Reason: Do not that tool that again; " \
           "that tool mathx.py." in retry[-1]["content"]
    up = [r for r in log if r["event"] == "update"][0]
    assert up["source"] == "denial" and up["result"]["rejected_raised"] >= 0
    dec = [r for r in log if r["event"] == "agent_decision"][0]
    assert dec["reason"] == "Do not read README.md again; read mathx.py."  # logged as typed


def test_denial_probe_runs_old_and_fixed_on_the_tiny_model(tmp_path: Path,
                                                           tiny_model_dir: Path) -> None:
    import json

    from selfdistill.agent.probe import denial_probe

    out = tmp_path / "probe.json"
    rep = denial_probe(str(tiny_model_dir), out, [{"lr": 1e-3, "steps": 1, "fix": False},
                                                  {"lr": 1e-3, "steps": 1, "fix": True}],
                       max_new_tokens=8)
    saved = json.loads(out.read_text())["runs"]
    assert [(r["lr"], r["fix"]) for r in saved] == [(1e-3, False), (1e-3, True)]
    assert "README.md" not in rep["feedback_fixed"] and "mathx.py" in rep["feedback_fixed"]
    n = len(rep["denied_tokens"])
    fixed = rep["runs"][1]
    adv = rep["advantage_by_token_fixed"]  # rounded to 3 decimals
    assert sum(a > 0.001 for a in adv) <= fixed["rejected_raised"] <= sum(a >= -0.001 for a in adv)
    assert fixed["steps_taken"] == (1 if fixed["rejected_raised"] < n else 0)
    assert rep["runs"][0]["rejected_raised"] == 0
    for run in rep["runs"]:
        assert set(run["after"]) == {"old", "fixed"} and isinstance(run["retry_proposal"], str)
