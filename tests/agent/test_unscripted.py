"""The embedded model's own proposals drive the loop (issue 34 item 4).

No scripted replies: the embedded SmolLM2-135M, greedy, proposes a handful of actions on a
tiny workspace. Whatever it proposes, these must hold: no exception escapes, every action
is logged (proposal, decision, result), nothing outside the workspace changes, and /undo
puts back every byte of the workspace and the adapter as it was before the task.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from selfdistill.agent.calls import TOOLS
from selfdistill.agent.session import AgentConfig, AgentSession, Decision
from selfdistill.assist.config import SessionConfig
from selfdistill.assist.output import PlainOutput
from selfdistill.assist.update import UpdateConfig
from selfdistill.core.records import read_jsonl

pytestmark = pytest.mark.slow

FILES = {"README.md": "# mathx\n\nRun the tests with `python3 -m unittest`.\n",
         "mathx.py": "def mean(xs):\n    return sum(xs) / (len(xs) - 1)\n",
         "test_mathx.py": "import unittest\n\nimport mathx\n\n\nclass T(unittest.TestCase):\n"
                          "    def test_mean(self):\n        self.assertEqual(mathx.mean([1, 2, 3]), 2)\n"}
TASK = ("The test test_mean in test_mathx.py fails. Find the bug in mathx.py and fix it, "
        "then run the tests.")


class Policy:
    """No scripted replies; approves everything, or denies every asking action with a reason."""

    def __init__(self, deny: bool) -> None:
        self.deny = deny
        self.asked: list[str] = []

    def model_output(self) -> str | None:
        return None

    def decide(self, call: Any) -> Decision:
        self.asked.append(call.name)
        if self.deny:
            return Decision("deny", "Read mathx.py first; change only mathx.py.")
        return Decision("approve")


def tree(root: Path) -> dict[str, str]:
    """Every file under root (hidden ones too) -> sha256 of its bytes."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def adapter_bytes(session: AgentSession) -> dict[str, bytes]:
    from selfdistill.assist.model import adapter_state

    return {k: v.numpy().tobytes() for k, v in adapter_state(session.model).items()}


@pytest.mark.parametrize("deny", [False, True], ids=["approve-all", "deny-all"])
def test_model_driven_loop_invariants(tmp_path: Path, deny: bool) -> None:
    box = tmp_path / "box"
    ws = box / "ws"
    ws.mkdir(parents=True)
    for rel, text in FILES.items():
        (ws / rel).write_text(text)
    outside = box / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("do not touch\n")
    (box / "sibling.py").write_text("x = 1\n")
    ws_before = tree(ws)
    outside_before = {k: v for k, v in tree(box).items() if not k.startswith("ws/")}

    policy = Policy(deny)
    cfg = SessionConfig(max_new_tokens=48, update=UpdateConfig(steps=1))
    with AgentSession("free", ws, policy, None, cfg, AgentConfig(max_actions=4),
                      PlainOutput(echo=False), root=tmp_path / "home") as s:
        a0 = adapter_bytes(s)
        s.run_task(TASK)  # whatever it proposes: no exception
        s.handle("/history")
        log = list(read_jsonl(s.profile.log_path))
        actions = [r for r in log if r.get("event") == "agent_action"]
        decisions = [r for r in log if r.get("event") == "agent_decision"]
        results = [r for r in log if r.get("event") == "agent_result"]
        others = [r for r in log if r.get("event") in ("agent_malformed", "agent_answer")]
        assert 1 <= len(actions) + len(others) <= 4
        assert len(decisions) == len(actions)  # every proposal has its verdict logged
        ran = [d for d in decisions if d["verdict"] != "deny"]
        assert len(results) == len(ran)  # every action that ran has its result logged
        updates = [r for r in log if r.get("event") == "update"]
        if deny:  # only reads run (approved without asking); every denial was an update
            assert all(TOOLS[r["tool"]].read_only for r in results), results
            assert len(updates) == len(policy.asked)
        # Nothing outside the workspace changed, whatever was proposed and run.
        assert {k: v for k, v in tree(box).items() if not k.startswith("ws/")} == outside_before
        while s.steps:
            s.undo()
        assert tree(ws) == ws_before  # every byte back (files created by the model deleted)
        assert adapter_bytes(s) == a0 and s.profile.current == 0
    print({"deny": deny, "actions": [(a["tool"], a["args"]) for a in actions],
           "others": [r["event"] for r in others], "updates": len(updates)})
