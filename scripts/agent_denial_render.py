"""Teacher advantage on a denied call under several renderings of the denial (issue 34).

Forward passes only: for five (denied call, reason) cases on the denial probe's two-file
repository, log p(denied call) under the plain chat (the student) and under each rendering
of the denial (a teacher's chat, or the chat the agent retries in); adv_sum = that minus the
student, summed over the call's tokens. "verdict_masked" is `calls.denial_feedback` (what
the agent uses now), "current" the reason verbatim (before), "retry" the old retry chat (the
denied call, then "The user denied this action. Reason: ...").

    /work/bin/lane env PYTHONPATH=src python scripts/agent_denial_render.py - out.json
    (first argument: a model spec, or - for the embedded model)
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from selfdistill.agent.calls import ToolCall, denial_feedback, format_call
from selfdistill.agent.probe import DENIAL_NOTE, REASON, REPO, TASK
from selfdistill.agent.session import AgentConfig, AgentSession
from selfdistill.agent.study import NO_REASON, RULES
from selfdistill.assist.config import session_config
from selfdistill.assist.output import PlainOutput
from selfdistill.assist.session import request_chat
from selfdistill.assist.update import answer_token_logprobs, hindsight_chat
from selfdistill.core.console import quiet_hf

FIXED = "def mean(xs):\n    return sum(xs) / len(xs)\n"
README = ToolCall("read", {"path": "README.md"})
CASES = [
    ("readme_named", README, REASON),
    ("readme_noreason", README, NO_REASON),
    ("readme_unnamed", README, "That file will not help; look at the code the task names."),
    ("write_rule", ToolCall("write", {"path": "mathx.py", "content": FIXED}),
     RULES["edit-not-write"].text),
    ("cat_rule", ToolCall("bash", {"command": "cat mathx.py"}), RULES["read-not-cat"].text),
]


def mask(reason: str, call: ToolCall) -> str:
    """The reason with the call's words masked (denial_feedback without its verdict)."""
    return denial_feedback(call, reason).split("Reason: ", 1)[1]


def renderings(s: Any, chat0: list[dict[str, str]], y: str, call: ToolCall, reason: str
               ) -> dict[str, list[dict[str, str]]]:
    """Every chat in which the denied call y is scored."""
    sys_msg = chat0[0]["content"] + ("\n\nThe user denied an action you proposed for this "
                                     f"task. Reason: {reason}")
    verdict = "The user denied the action you proposed. Reason: "
    return {
        "student": chat0,
        "current": hindsight_chat(chat0, reason),
        "verdict": hindsight_chat(chat0, verdict + reason),
        "masked": hindsight_chat(chat0, mask(reason, call)),
        "verdict_masked": hindsight_chat(chat0, denial_feedback(call, reason)),
        "approved_control": hindsight_chat(
            chat0, f"The user approved the action you proposed. Note: {reason}"),
        "neutral": hindsight_chat(chat0, "Thanks, that answer is fine."),
        "system": [{"role": "system", "content": sys_msg}, *chat0[1:]],
        "retry": [*chat0, {"role": "assistant", "content": y},
                  {"role": s.tool_role, "content": DENIAL_NOTE.format(reason=reason)}],
        "retry_masked": [*chat0, {"role": "assistant", "content": y},
                         {"role": s.tool_role,
                          "content": DENIAL_NOTE.format(reason=mask(reason, call))}],
    }


def main(spec: str | None, out: Path) -> None:
    """Score every case under every rendering; write out (JSON) after each case."""
    quiet_hf(all_warnings=True)
    tmp = Path(tempfile.mkdtemp())
    ws = tmp / "repo"
    ws.mkdir()
    for k, v in REPO.items():
        (ws / k).write_text(v)
    rep: dict[str, Any] = {"model": spec, "cases": {}}
    t0 = time.time()
    try:
        with AgentSession("x", ws, None, spec, session_config(64, 1e-4, 4, 1),  # type: ignore[arg-type]
                          AgentConfig(), PlainOutput(echo=False), root=tmp / "home") as s:
            tok, model = s.tokenizer, s.model
            chat0 = request_chat(TASK, s.cfg.system_prompt)
            rep["native"] = s.native
            for name, call, reason in CASES:
                y = format_call(call, s.call_style)
                if s.native:  # the template's own layout of a call (Qwen: newlines inside)
                    y = y.replace("<tool_call>", "<tool_call>\n").replace(
                        "</tool_call>", "\n</tool_call>")
                chats = renderings(s, chat0, y, call, reason)
                res = answer_token_logprobs(model, tok, list(chats.values()), [y] * len(chats))
                lp = {n: r[1] for n, r in zip(chats, res, strict=True)}
                st = lp["student"]
                rep["cases"][name] = {
                    "reason": reason, "masked_reason": mask(reason, call),
                    "tokens": [tok.decode([i]) for i in res[0][0]],
                    "logp": {n: [round(x, 3) for x in v] for n, v in lp.items()},
                    "adv_sum": {n: round(sum(v) - sum(st), 3) for n, v in lp.items()},
                    "adv_neg_tokens": {n: sum((a - b) < 0 for a, b in zip(v, st, strict=True))
                                       for n, v in lp.items()}}
                print(name, json.dumps(rep["cases"][name]["adv_sum"]), flush=True)
                out.write_text(json.dumps(rep, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rep["seconds"] = time.time() - t0
    out.write_text(json.dumps(rep, indent=1))
    print("done", round(rep["seconds"], 1))


if __name__ == "__main__":
    main(None if sys.argv[1] == "-" else sys.argv[1], Path(sys.argv[2]))
