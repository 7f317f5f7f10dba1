"""The agent's learning-effect measurement: `assist demo`'s method with the agent's prompt.

A denial of the agent's first action with a reason is exactly assist's feedback update on
(task, action, reason) under the agent's system prompt, so `assist.demo.run_demo` measures
it: held-out tasks, log p(preferred action) - log p(denied kind of action) before and after
the denials, and a control run whose denials give the opposite reason.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from selfdistill.agent.session import agent_system_prompt
from selfdistill.assist.config import session_config
from selfdistill.assist.demo import run_demo
from selfdistill.assist.output import PlainOutput
from selfdistill.core.console import quiet_hf
from selfdistill.errors import UserError


def default_agent_demo_script() -> Path:
    """examples/agent_demo_turns.yaml of the source tree."""
    for parent in Path(__file__).resolve().parents:
        cand = parent / "examples" / "agent_demo_turns.yaml"
        if cand.is_file():
            return cand
    raise UserError("examples/agent_demo_turns.yaml not found; pass --script FILE.")


def run_agent_demo(script: str | Path | None = None, model_spec: str | None = None, *,
                   lr: float = 1e-4, steps: int = 4, threads: int | None = None,
                   loss: str = "topk_kl", baseline: str = "none", home: Path | None = None,
                   control: bool = True, max_new_tokens: int = 160) -> dict[str, Any]:
    """Replay the script's denials under the agent's system prompt; return the margins."""
    quiet_hf(all_warnings=True)
    cfg = replace(session_config(max_new_tokens, lr, steps, threads, loss, baseline),
                  system_prompt=agent_system_prompt())
    return run_demo(script or default_agent_demo_script(), model_spec, cfg, PlainOutput(),
                    home=home, profile="agent-demo", control=control)
