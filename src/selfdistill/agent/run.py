"""The agent's session as a function (`run_agent`): the TUI on a terminal, plain lines when
piped, or a replayed script; `selfdistill agent` calls it (cli.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from selfdistill.agent.script import ScriptDriver, load_script, play_agent_script
from selfdistill.agent.session import AgentConfig, AgentSession
from selfdistill.agent.tui import (
    PromptDriver,
    prompt_toolkit_reader,
    rich_show,
    run_agent_tui,
    show_plain,
    stdin_reader,
)
from selfdistill.assist.config import session_config
from selfdistill.assist.output import PlainOutput
from selfdistill.assist.tui import RichOutput
from selfdistill.core.console import quiet_hf
from selfdistill.errors import UserError


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
              baseline: str = "none", home: Path | None = None,
              compute_dtype: str = "float32") -> None:
    """Start the agent: the TUI on a terminal, plain lines when piped, or replay a script."""
    quiet_hf(all_warnings=True)
    cfg = session_config(max_new_tokens, lr, steps, threads, loss, baseline, compute_dtype)
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
