"""Constrained decoding (agent/decode.py): the choice follows the scores, the structure holds.

Fast tests run the tiny random model (its text is noise, which is the point: the decoder
must still give a call of the chosen tool, an answer, or a Malformed -- never a crash).
The slow test runs the embedded model on the three probe tasks of docs/results.md.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfdistill.agent import decode
from selfdistill.agent.calls import TOOLS, Answer, Malformed, ToolCall, parse_action
from selfdistill.agent.decode import (
    ANSWER,
    assemble,
    call_prefill,
    candidates,
    choose,
    propose,
)
from selfdistill.agent.session import AgentConfig, AgentSession, Decision
from selfdistill.assist.config import SessionConfig
from selfdistill.assist.output import PlainOutput
from selfdistill.assist.session import request_chat
from selfdistill.assist.update import UpdateConfig
from selfdistill.core.records import read_jsonl

ONE_ARG = [t for t, s in TOOLS.items() if len(s.required) <= 1]


@given(st.sampled_from(sorted(TOOLS)), st.text(max_size=200), st.booleans())
@settings(max_examples=300, deadline=None)
def test_assemble_never_raises_and_keeps_the_chosen_tool(tool: str, gen: str,
                                                         closed: bool) -> None:
    text, act = assemble(tool, gen, closed)
    assert isinstance(act, ToolCall | Malformed)
    if isinstance(act, ToolCall):
        assert act.name == tool
        again = parse_action(text)  # the text is what was executed, and it re-parses
        assert isinstance(again, ToolCall) and again.name == tool and again.args == act.args
    else:
        assert text.startswith(call_prefill(tool))
    if tool in ONE_ARG:  # one argument to fill: any text gives a usable call
        assert isinstance(act, ToolCall)


@given(st.text(alphabet=st.characters(blacklist_characters='"\\',
                                      blacklist_categories=("Cc", "Cs")), max_size=60))
def test_assemble_keeps_a_well_formed_completion_verbatim(path: str) -> None:
    text, act = assemble("read", f'{path}"', True)
    assert text == '<tool_call>{"name": "read", "arguments": {"path": "' + path + '"}}</tool_call>'
    assert isinstance(act, ToolCall) and act.args == {"path": path}


def test_assemble_reads_a_multi_argument_edit() -> None:
    text, act = assemble("edit", 'a.py", "old": "x", "new": "y"', True)
    assert isinstance(act, ToolCall) and act.args == {"path": "a.py", "old": "x", "new": "y"}
    assert parse_action(text).args == act.args  # type: ignore[union-attr]


@given(st.dictionaries(st.sampled_from(sorted(candidates())),
                       st.floats(-1e4, 0, allow_nan=False), min_size=1))
def test_greedy_choice_is_the_best_score(scores: dict[str, float]) -> None:
    assert scores[choose(scores)] == max(scores.values())


def test_sampled_choice_follows_the_normalised_scores() -> None:
    rng = random.Random(0)
    scores = {"read": -1.0, "bash": -1.0 - 0.6931471805599453, "answer": -200.0}
    picks = [choose(scores, 1.0, rng) for _ in range(3000)]
    assert "answer" not in picks
    assert 0.62 < picks.count("read") / len(picks) < 0.72  # 2:1 odds -> 2/3


class _Driver:
    """No scripted replies (the model decides); denies the first call, then stops."""

    def __init__(self) -> None:
        self.seen: list[ToolCall] = []

    def model_output(self) -> str | None:
        return None

    def decide(self, call: ToolCall) -> Decision:
        self.seen.append(call)
        return Decision("deny", "use pathlib") if len(self.seen) == 1 else Decision("stop")


def _session(tmp_path: Path, model: str, driver: Any, **acfg: Any) -> AgentSession:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    (ws / "app.py").write_text('import os\ndata_path = os.path.join("data", "in.csv")\n')
    cfg = SessionConfig(max_new_tokens=12, update=UpdateConfig(steps=1, lr=1e-3))
    return AgentSession("dec", ws, driver, model, cfg, AgentConfig(**acfg), PlainOutput(),
                        root=tmp_path / "home")


@pytest.mark.parametrize("pick", sorted(TOOLS) + [ANSWER])
def test_propose_follows_the_scores_on_the_tiny_model(
        tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, pick: str) -> None:
    fake = {k: (-1.0 if k == pick else -5.0) for k in candidates()}
    monkeypatch.setattr(decode, "score_candidates", lambda *a, **k: dict(fake))
    with _session(tmp_path, str(tiny_model_dir), _Driver()) as s:
        assert s.constrained  # SmolLM2's template has no tool format
        p = propose(s, request_chat("List the files.", s.cfg.system_prompt))
    assert p.choice == pick
    if pick == ANSWER:
        assert not isinstance(p.action, ToolCall) or parse_action(p.text) == p.action
        return
    assert isinstance(p.action, ToolCall | Malformed)
    if isinstance(p.action, ToolCall):
        assert p.action.name == pick
    if pick in ONE_ARG:
        assert isinstance(p.action, ToolCall)


def test_successive_tool_choices_are_fresh_draws_from_the_session_stream(
        tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two near-tied tools: a session's choices vary (one stream), and replay from the seed."""
    fake = {k: (-1.0 if k in ("read", "list") else -30.0) for k in candidates()}
    monkeypatch.setattr(decode, "score_candidates", lambda *a, **k: dict(fake))
    monkeypatch.setattr(decode, "call_prefill", lambda pick: "")  # choices only: no decoding
    monkeypatch.setattr(decode, "assemble", lambda pick, text, ended: (text, None))
    chat = request_chat("List the files.", "")
    runs = []
    for _ in range(2):
        with _session(tmp_path, str(tiny_model_dir), _Driver()) as s:
            s.cfg.temperature, s.cfg.max_new_tokens = 1.0, 1
            runs.append([propose(s, chat).choice for _ in range(12)])
    assert set(runs[0]) == {"read", "list"}  # not the same draw every call
    assert runs[0] == runs[1]  # the same seed replays the same session


def test_real_scores_on_the_tiny_model_give_an_action(tmp_path: Path,
                                                      tiny_model_dir: Path) -> None:
    with _session(tmp_path, str(tiny_model_dir), _Driver()) as s:
        chat = request_chat("Run the command `ls`.", s.cfg.system_prompt)
        scores = decode.score_candidates(s.model, s.tokenizer, chat)
        p = propose(s, chat)
    assert set(scores) == set(candidates()) and all(v < 0 for v in scores.values())
    assert p.choice == max(scores, key=lambda k: scores[k])
    assert isinstance(p.action, ToolCall | Answer | Malformed)


def test_cached_candidate_scores_equal_full_sequence_scores(tmp_path: Path,
                                                            tiny_model_dir: Path) -> None:
    """The chat encoded once (KV cache) gives each opening the scores of a full forward."""
    from selfdistill.assist.update import answer_token_logprobs

    with _session(tmp_path, str(tiny_model_dir), _Driver()) as s:
        chat = request_chat("Fix the bug in a.py.", s.cfg.system_prompt)
        texts = [*candidates().values(), "x", ""]
        cached = decode.continuation_logprobs(s.model, s.tokenizer, chat, texts)
        full = answer_token_logprobs(s.model, s.tokenizer, [chat] * 8, texts[:-1], eos=False)
        again = decode.continuation_logprobs(s.model, s.tokenizer, chat, texts[::-1])
    assert cached[-1] == []
    for (_, lp), c in zip(full, cached[:-1], strict=True):
        assert len(c) == len(lp) and c == pytest.approx(lp, abs=1e-4)
    for a, c in zip(again[::-1], cached, strict=True):  # the cache is cut back after each text
        assert a == pytest.approx(c, abs=1e-5)


def test_denied_constrained_call_trains_on_the_full_text(
        tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = {k: (-1.0 if k == "bash" else -9.0) for k in candidates()}
    monkeypatch.setattr(decode, "score_candidates", lambda *a, **k: dict(fake))
    driver = _Driver()
    with _session(tmp_path, str(tiny_model_dir), driver) as s:
        trained: list[str] = []
        orig = s._learn_feedback

        def spy(step: Any, task: str, chat: Any, action: str, *rest: Any) -> Any:
            trained.append(action)
            return orig(step, task, chat, action, *rest)

        monkeypatch.setattr(s, "_learn_feedback", spy)
        v0 = s.profile.current
        s.run_task("Run ls")
        assert len(driver.seen) == 2 and s.profile.current == v0 + 1  # denied, then stopped
    assert trained and trained[0].startswith(call_prefill("bash"))
    log = list(read_jsonl(tmp_path / "home" / "dec" / "updates.jsonl"))
    choice = [r for r in log if r.get("event") == "agent_choice"]
    assert choice and choice[0]["choice"] == "bash"
    assert [r for r in log if r.get("event") == "agent_action"][0]["output"] == trained[0]


def test_free_decoding_skips_the_scores(tmp_path: Path, tiny_model_dir: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: Any, **k: Any) -> Any:
        raise AssertionError("scored under --decode free")

    monkeypatch.setattr(decode, "score_candidates", boom)
    with _session(tmp_path, str(tiny_model_dir), _Driver(), decode="free",
                  max_actions=1) as s:
        assert not s.constrained
        s.run_task("List the files.")


PROBES = ["Read app.py, then change data_path to use pathlib.",
          "List the files in the workspace.", "Run the command `python3 app.py`."]


@pytest.mark.slow
def test_embedded_model_proposes_parseable_calls(tmp_path: Path) -> None:
    """The docs/results.md probe: greedy, 96 new tokens, the embedded model."""
    made = []
    with _session(tmp_path, None, _Driver()) as s:  # type: ignore[arg-type]
        s.cfg.max_new_tokens = 96
        assert s.constrained
        for task in PROBES:
            p = propose(s, request_chat(task, s.cfg.system_prompt))
            made.append({"task": task, "choice": p.choice, "text": p.text,
                         "scores": {k: round(v, 2) for k, v in p.scores.items()}})
    print(json.dumps(made, indent=1))
    # Constrained decoding never yields a malformed call: a scored "call" is a parseable call
    # of a known tool; "answer" is prose. Since the system prompt lost its copyable example
    # call (issue 34), the 135M model answers the shell task in prose, so not every probe acts.
    for m in made:
        act = parse_action(m["text"])
        if m["choice"] == "answer":
            assert not isinstance(act, ToolCall), m
        else:
            assert isinstance(act, ToolCall) and act.name in TOOLS, m
    assert sum(m["choice"] != "answer" for m in made) >= 2, made
