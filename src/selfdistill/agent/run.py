"""The agent's commands as functions: the session (`run_agent`) and the learning-effect
measurement (`run_agent_demo`: `assist demo`'s method with the agent's prompt).

A denial of the agent's first action with a reason is exactly assist's feedback update on
(task, action, reason) under the agent's system prompt, so `assist.demo.run_demo` measures
it: held-out tasks, log p(preferred action) - log p(denied kind of action) before and after
the denials, and a control run whose denials give the opposite reason.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from selfdistill.agent.script import ScriptDriver, load_script, play_agent_script
from selfdistill.agent.session import AgentConfig, AgentSession, agent_system_prompt
from selfdistill.agent.tui import (
    PromptDriver,
    prompt_toolkit_reader,
    rich_show,
    run_agent_tui,
    show_plain,
    stdin_reader,
)
from selfdistill.assist.config import session_config
from selfdistill.assist.demo import run_demo
from selfdistill.assist.output import PlainOutput
from selfdistill.assist.tui import RichOutput
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


def _replay(path: Path | None) -> list[str]:
    """--replay: a YAML list of model replies used (in order) before sampling."""
    if path is None:
        return []
    if not path.is_file():
        raise UserError(f"Replay file not found: {path}")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
        raise UserError(f"{path}: expected a YAML list of model replies (strings).")
    return data


def run_agent(workspace: str | Path | None, model_spec: str | None, profile: str,
              script: str | Path | None = None, *, replay: Path | None = None,
              agent: AgentConfig | None = None, max_new_tokens: int = 256, lr: float = 1e-4,
              steps: int = 4, threads: int | None = None, loss: str = "topk_kl",
              baseline: str = "none", home: Path | None = None) -> None:
    """Start the agent: the TUI on a terminal, plain lines when piped, or replay a script."""
    quiet_hf(all_warnings=True)
    cfg = session_config(max_new_tokens, lr, steps, threads, loss, baseline)
    items: list[Any] | None = None
    if script is not None:
        settings, items = load_script(script)
        model_spec = model_spec or settings.get("model")
        workspace = workspace or settings.get("workspace")
    workspace = Path(workspace or ".")
    if not workspace.is_dir():
        raise UserError(f"Workspace {workspace} is not a directory.")
    interactive = script is None and sys.stdin.isatty() and sys.stdout.isatty()
    out: Any = PlainOutput()
    prompt = None
    if items is not None:
        driver: Any = ScriptDriver(items)
    elif interactive:
        from prompt_toolkit import PromptSession  # only for the interactive screen

        out = RichOutput()
        prompt = PromptSession()
        driver = PromptDriver(prompt_toolkit_reader(prompt), rich_show(out.console),
                              _replay(replay))
    else:
        driver = PromptDriver(stdin_reader, show_plain, _replay(replay))
    with AgentSession(profile, workspace, driver, model_spec, cfg, agent, out,
                      root=home) as session:
        print(f"profile {profile}: adapter v{session.profile.current}; workspace "
              f"{session.ws.root}", flush=True)
        if items is not None:
            play_agent_script(session, driver)
            print(f"done: adapter v{session.profile.current}", flush=True)
        elif interactive:
            run_agent_tui(session, driver, prompt)
        else:
            while (line := stdin_reader("", "")) is not None:
                if not session.handle(line):
                    break
