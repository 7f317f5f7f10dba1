"""Script mode: replay a YAML session (tasks, approvals, optional model replies) in an agent.

A script is a list of items (or {workspace:, model:, profile:, turns: [...]})::

    - user: rename greet() to hello() in app.py     # a task (a plain string works too)
    - model: '<tool_call>{"name": "read", ...}</tool_call>'   # optional: the model's next
                                                            # reply, instead of sampling
    - approve          # or: always / stop
    - deny: use pathlib, not os.path
    - edit: '<tool_call>{"name": "edit", ...}</tool_call>'
    - /undo            # any slash command

While a task runs, the agent takes `model` replies and decisions from the front of the
remaining items; a proposed action with no decision next ends the task with an error.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selfdistill.agent.session import Decision, parse_decision
from selfdistill.assist.script import load_script
from selfdistill.errors import UserError

if TYPE_CHECKING:
    from selfdistill.agent.calls import ToolCall
    from selfdistill.agent.session import AgentSession

_DECISION_WORDS = {"approve": "y", "always": "a", "stop": "q"}
_DECISION_KEYS = {"deny": "n", "edit": "e"}

__all__ = ["ScriptDriver", "load_script", "play_agent_script"]


def _is_decision(item: Any) -> bool:
    if isinstance(item, str):
        return item.strip().lower() in _DECISION_WORDS
    return isinstance(item, dict) and len(item) == 1 and next(iter(item)) in _DECISION_KEYS


class ScriptDriver:
    """Model replies and decisions taken from the front of a script's remaining items."""

    def __init__(self, items: list[Any] | None = None, echo: bool = True) -> None:
        """items: the script's items (more can be appended with feed)."""
        self.items: collections.deque[Any] = collections.deque(items or [])
        self.echo = echo

    def model_output(self) -> str | None:
        """The next item's `model` text, if the next item is one."""
        head = self.items[0] if self.items else None
        if isinstance(head, dict) and set(head) == {"model"}:
            self.items.popleft()
            return str(head["model"])
        return None

    def decide(self, call: ToolCall) -> Decision:
        """The next item as a decision (UserError when the script has none here)."""
        if not self.items or not _is_decision(self.items[0]):
            raise UserError(f"the script has no decision for the proposed {call.name} action "
                            "(approve / always / stop / deny: / edit: expected next)")
        item = self.items.popleft()
        if isinstance(item, str):
            line = _DECISION_WORDS[item.strip().lower()]
        else:
            key, val = next(iter(item.items()))
            line = f"{_DECISION_KEYS[key]} {val if val is not None else ''}"
        d = parse_decision(line)
        if isinstance(d, str):
            raise UserError(f"script decision {item!r}: {d}")
        if self.echo:
            print(f"decision> {line}", flush=True)
        return d


def play_agent_script(session: AgentSession, driver: ScriptDriver) -> None:
    """Run every task and command of the script; decisions are consumed by the tasks."""
    i = 0
    while driver.items:
        i += 1
        item = driver.items.popleft()
        if isinstance(item, dict) and set(item) == {"user"}:
            item = str(item["user"])
        if not isinstance(item, str):
            raise UserError(f"script item {i}: {item!r} is not a task or command here "
                            "(model replies and decisions belong after a task)")
        if _is_decision(item):
            raise UserError(f"script item {i}: decision '{item}' with no proposed action")
        print(f"you> {item}", flush=True)
        if not session.handle(item):
            break


def script_settings(path: str | Path) -> tuple[dict[str, Any], list[Any]]:
    """The script's settings mapping and its items."""
    return load_script(path)
