"""Script mode: replay a YAML session (tasks, approvals, optional model replies) in an agent.

A script is a list of items (or {workspace:, model:, profile:, turns: [...]})::

    - user: rename greet() to hello() in app.py     # a task (a plain string works too)
    - model: '<tool_call>{"name": "read", ...}</tool_call>'   # optional: the model's next
                                                            # reply, instead of sampling
    - approve          # or: always / stop
    - deny: use pathlib, not os.path
    - edit: '<tool_call>{"name": "edit", ...}</tool_call>'
    - /undo            # any slash command

Decisions are bare words (approve / always / stop) or mappings (deny: REASON, edit: CALL).
A quoted string that reads as a decision (`- "deny: use pathlib"`) is an error naming the
item, never a new task. While a task runs, the agent takes `model` replies and decisions
from the front of the remaining items; a proposed action with no decision next ends the
task with an error. A decision that no action waited for (read-only actions are approved
automatically) is skipped with a warning.
"""

from __future__ import annotations

import collections
import re
import sys
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
# A string that starts like a decision: `deny: ...`, `approve:`, or a bare deny / edit.
_LOOKS_LIKE_DECISION = re.compile(r"^\s*(?:(approve|always|stop|deny|edit)\s*:|(deny|edit)\s*$)",
                                  re.IGNORECASE)

__all__ = ["ScriptDriver", "load_script", "play_agent_script"]


def _is_decision(item: Any) -> bool:
    if isinstance(item, str):
        return item.strip().lower() in _DECISION_WORDS
    return isinstance(item, dict) and len(item) == 1 and next(iter(item)) in _DECISION_KEYS


def check_items(items: list[Any]) -> None:
    """One clear error for an item that cannot mean what it seems to (before anything runs)."""
    for i, item in enumerate(items, 1):
        if isinstance(item, dict) and set(item) == {"user"}:
            item = item["user"]
        if isinstance(item, str) and (m := _LOOKS_LIKE_DECISION.match(item)):
            word = (m.group(1) or m.group(2)).lower()
            rest = item.split(":", 1)[1].strip() if ":" in item else "REASON"
            fix = (f"write it unquoted as a mapping, `- {word}: {rest}`"
                   if word in _DECISION_KEYS else f"write the bare word, `- {word}`")
            raise UserError(f"script item {i}: {item!r} is a string that reads as a "
                            f"decision, not a task; {fix}")


class ScriptDriver:
    """Model replies and decisions taken from the front of a script's remaining items."""

    def __init__(self, items: list[Any] | None = None, echo: bool = True) -> None:
        """items: the script's items (more can be appended with feed)."""
        check_items(list(items or []))
        self.items: collections.deque[Any] = collections.deque(items or [])
        self.echo = echo
        self.taken = 0  # items consumed so far: the number of the last one, for messages

    def take(self) -> Any:
        """The next item, counted (script item numbers in messages start at 1)."""
        self.taken += 1
        return self.items.popleft()

    def model_output(self) -> str | None:
        """The next item's `model` text, if the next item is one."""
        head = self.items[0] if self.items else None
        if isinstance(head, dict) and set(head) == {"model"}:
            self.take()
            return str(head["model"])
        return None

    def decide(self, call: ToolCall) -> Decision:
        """The next item as a decision (UserError when the script has none here)."""
        if not self.items or not _is_decision(self.items[0]):
            raise UserError(f"the script has no decision for the proposed {call.name} action "
                            "(approve / always / stop / deny: / edit: expected next)")
        item = self.take()
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
    while driver.items:
        item = driver.take()
        i = driver.taken
        if isinstance(item, dict) and set(item) == {"user"}:
            item = str(item["user"])
        if _is_decision(item):  # e.g. an approval for a read that was approved by itself
            print(f"warning: script item {i}: decision {item!r} left over, no action was "
                  "waiting for it; skipped", file=sys.stderr, flush=True)
            continue
        if not isinstance(item, str):
            raise UserError(f"script item {i}: {item!r} is not a task or command here "
                            "(model replies and decisions belong after a task)")
        print(f"you> {item}", flush=True)
        if not session.handle(item):
            break


def script_settings(path: str | Path) -> tuple[dict[str, Any], list[Any]]:
    """The script's settings mapping and its items."""
    return load_script(path)
