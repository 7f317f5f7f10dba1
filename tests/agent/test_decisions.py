"""Approval input: the typed decision grammar and the script driver's checks (no model)."""

from __future__ import annotations

import pytest

from selfdistill.agent.calls import ToolCall, format_call
from selfdistill.agent.script import ScriptDriver
from selfdistill.agent.session import Decision, parse_decision
from selfdistill.agent.tui import PromptDriver
from selfdistill.errors import UserError

CALL = ToolCall("bash", {"command": "pytest -q"})


def test_parse_decision() -> None:
    assert parse_decision("y") == Decision("approve")
    assert parse_decision("Always") == Decision("always")
    assert parse_decision("n   use pathlib ") == Decision("deny", "use pathlib")
    assert parse_decision("q").verdict == "stop"  # type: ignore[union-attr]
    d = parse_decision("e " + format_call(ToolCall("read", {"path": "a"})))
    assert isinstance(d, Decision) and d.edited == ToolCall("read", {"path": "a"}, d.edited.raw)
    assert "needs a reason" in parse_decision("n")  # type: ignore[operator]
    assert "could not be read" in parse_decision("e nonsense {")  # type: ignore[operator]
    assert "answer y" in parse_decision("maybe")  # type: ignore[operator]


def test_script_driver_order_and_errors() -> None:
    d = ScriptDriver([{"model": "m1"}, "approve", {"deny": "why"}], echo=False)
    assert d.model_output() == "m1" and d.model_output() is None
    assert d.decide(CALL).verdict == "approve"
    assert d.decide(CALL) == Decision("deny", "why")
    with pytest.raises(UserError, match="no decision for the proposed bash"):
        d.decide(CALL)
    with pytest.raises(UserError, match="deny needs a reason"):
        ScriptDriver([{"deny": None}], echo=False).decide(CALL)


def test_prompt_driver_asks_again_then_takes_reason_and_edit() -> None:
    answers = iter(["what", "n", "too slow", "e", "", "e", format_call(CALL), None])
    seen: list[str] = []

    def read(msg: str, default: str) -> str | None:
        seen.append(msg)
        return next(answers)

    d = PromptDriver(read, lambda c: None, replay=["r1"])
    assert d.model_output() == "r1" and d.model_output() is None
    assert d.decide(CALL) == Decision("deny", "too slow")
    assert d.decide(CALL).edited == ToolCall("bash", {"command": "pytest -q"},
                                             format_call(CALL))
    assert d.decide(CALL).verdict == "stop"  # EOF
    assert seen.count("reason> ") == 1 and seen.count("edit> ") == 2


@pytest.mark.parametrize("item", ["deny: use pathlib", "  Approve:", "edit: x", "deny",
                                  {"user": "deny: no"}])
def test_a_string_that_reads_as_a_decision_is_an_error_not_a_task(item: object) -> None:
    with pytest.raises(UserError, match=r"script item 2: .* reads as a decision.*write"):
        ScriptDriver(["fix the bug", item], echo=False)


def test_tasks_that_merely_start_with_a_decision_word_are_tasks() -> None:
    ScriptDriver(["stop the server in app.py", "edit app.py to log", "approve"], echo=False)


def test_left_over_decisions_are_skipped_with_a_warning(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    from selfdistill.agent.script import play_agent_script

    handled: list[str] = []

    class Session:
        def handle(self, line: str) -> bool:
            handled.append(line)
            return True

    driver = ScriptDriver(["read the file", "approve", {"deny": "why"}, "/undo", "approve"],
                          echo=False)
    play_agent_script(Session(), driver)  # type: ignore[arg-type]
    assert handled == ["read the file", "/undo"]
    err = capsys.readouterr().err
    assert "script item 2: decision 'approve' left over" in err
    assert "script item 3" in err and "script item 5" in err
