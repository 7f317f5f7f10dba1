"""The denial probe (issue 34 item 3): why a denial did not change the denied call.

Qwen2.5-Coder-0.5B on a two-file repository proposed `read README.md`, the user denied it
with a reason, the update ran (loss 0.017 -> 0.052 over its 4 steps) and the same call came
back. For one denied call, before and after one hindsight update (per setting of lr / steps
/ loss): log p(denied call) under the chat the update trains on and under the chat the agent
retries in, summed and at the token the teacher disliked most; the teacher's own view (sum
of advantages over the call); the loss at each step and after the last; the greedy retry
proposal and the seconds per update.

`python -m selfdistill.agent.study probe --model SPEC --out FILE.json`
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = {"README.md": "# mathx\n\nSmall maths helpers. Run the tests with "
                     "`python3 -m unittest`.\n",
        "mathx.py": "def mean(xs):\n    return sum(xs) / (len(xs) - 1)\n",
        "test_mathx.py": "import unittest\n\nimport mathx\n\n\nclass T(unittest.TestCase):\n"
                         "    def test_mean(self):\n"
                         "        self.assertEqual(mathx.mean([1, 2, 3]), 2)\n"}
TASK = ("The test test_mean in test_mathx.py fails. Find the bug in mathx.py and fix it, then "
        "run the tests.")
REASON = "Do not read README.md again; read mathx.py, the file named in the task."
DENIAL_NOTE = "The user denied this action. Reason: {reason}"


def _lp(model: Any, tok: Any, chat: Any, text: str) -> list[float]:
    from selfdistill.assist.update import answer_token_logprobs

    return answer_token_logprobs(model, tok, [chat], [text], eos=True)[0][1]


def denial_probe(model_spec: str | None, out: Path, settings: list[dict[str, Any]] | None = None,
                 max_new_tokens: int = 96, first_call: bool = False) -> dict[str, Any]:
    """Measure what one hindsight update does to the denied call (see the module doc).

    first_call: the agent's --first-call (the first proposal and the retry open a call whose
    tool the model's scores choose).

    Each setting is an lr / steps / loss and `fix`: False is the denial as the agent handled
    it before (the reason verbatim in the teacher's context, every token in the loss, the
    retry after the denied call and the denial note), True as it does now
    (`calls.denial_feedback`, `Example.rejected`, the retry in the teacher's chat).
    Long: one measurement script (workspace, session, the denied call, then per setting:
    scores before, the update step by step, scores after, the retry), read in order.
    """
    import torch

    from selfdistill.agent.calls import ToolCall, denial_feedback, format_call
    from selfdistill.agent.session import AgentConfig, AgentSession
    from selfdistill.assist.config import session_config as _config
    from selfdistill.assist.model import load_adapter_weights
    from selfdistill.assist.output import PlainOutput
    from selfdistill.assist.session import request_chat
    from selfdistill.assist.update import (
        UpdateConfig,
        _batch,
        distill_update,
        hindsight_chat,
        hindsight_example,
        rejected_mask,
    )
    from selfdistill.distill.losses import reduce_loss, topk_tail_distill_loss
    from selfdistill.distill.scoring import gather_logprobs_at, score_tokens

    settings = settings or [{"lr": 1e-4, "steps": 4, "fix": False},
                            {"lr": 1e-4, "steps": 4, "fix": True},
                            {"lr": 3e-5, "steps": 4, "fix": True},
                            {"lr": 1e-5, "steps": 4, "fix": True}]
    tmp = Path(tempfile.mkdtemp(prefix="sd-probe-"))
    ws = tmp / "repo"
    ws.mkdir()
    for rel, text in REPO.items():
        (ws / rel).write_text(text)

    class _Approve:
        def model_output(self) -> None:
            return None

        def decide(self, call: Any) -> Any:
            raise AssertionError("the probe runs no actions")

    report: dict[str, Any] = {"model": model_spec, "task": TASK, "reason": REASON, "runs": [],
                              "first_call": first_call}
    cfg = _config(max_new_tokens, 1e-4, 4, 1)
    try:
        with AgentSession("probe", ws, _Approve(), model_spec, cfg,
                          AgentConfig(first_call=first_call),
                          PlainOutput(echo=False), root=tmp / "home") as s:
            model, tok = s.model, s.tokenizer
            chat0 = request_chat(TASK, s.cfg.system_prompt)
            own_text, own = s.next_action(TASK, chat0)
            report["native"] = s.native
            report["first_proposal"] = own_text
            call = ToolCall("read", {"path": "README.md"})
            denied = format_call(call, s.call_style)
            if s.native:  # the template's own layout of a call (Qwen: newlines inside)
                denied = denied.replace("<tool_call>", "<tool_call>\n").replace(
                    "</tool_call>", "\n</tool_call>")
            wanted = denied.replace("README.md", "mathx.py")
            feedback = {False: REASON, True: denial_feedback(call, REASON)}
            retry = {False: [*chat0, {"role": "assistant", "content": denied},
                             {"role": s.tool_role, "content": DENIAL_NOTE.format(reason=REASON)}],
                     True: hindsight_chat(chat0, feedback[True])}
            report["denied"] = denied
            report["feedback_fixed"] = feedback[True]
            report["denied_tokens"] = [tok.decode([i]) for i in
                                       tok(denied, add_special_tokens=False)["input_ids"]] + ["<eos>"]
            v0 = s.profile.current_dir()

            def measure() -> dict[str, Any]:
                out = {}
                for fix, name in ((False, "old"), (True, "fixed")):
                    d0 = _lp(model, tok, chat0, denied)
                    d1 = _lp(model, tok, retry[fix], denied)
                    out[name] = {"denied_sum": sum(d0), "denied_retry_sum": sum(d1),
                                 "wanted_sum": sum(_lp(model, tok, chat0, wanted)),
                                 "wanted_retry_sum": sum(_lp(model, tok, retry[fix], wanted))}
                return out

            report["before"] = measure()
            ex = {fix: hindsight_example(tok, chat0, denied, feedback[fix], rejected=fix)
                  for fix in (False, True)}
            stud = _lp(model, tok, chat0, denied)
            for fix, name in ((False, "old"), (True, "fixed")):
                teacher = _lp(model, tok, ex[fix].teacher_chat, denied)
                report[f"advantage_sum_{name}"] = sum(teacher) - sum(stud)
                report[f"advantage_by_token_{name}"] = [round(a - b, 3) for a, b in
                                                        zip(teacher, stud, strict=True)]
            variants = {"verdict_only": denial_feedback(ToolCall("x", {}), REASON),
                        "values_masked": denial_feedback(call, REASON, mask_tool=False)}
            for name, fb in variants.items():
                teacher = _lp(model, tok, hindsight_chat(chat0, fb), denied)
                report[f"advantage_sum_{name}"] = sum(teacher) - sum(stud)
            student = _batch(tok, [chat0], [ex[True].completion_ids])
            for st in settings:
                fix = bool(st.get("fix", True))
                load_adapter_weights(model, v0)
                ucfg = UpdateConfig(lr=st["lr"], steps=st["steps"], loss=st.get("loss", "topk_kl"))
                with torch.no_grad():  # the teacher's targets (v0 weights), as the update scores them
                    t = score_tokens(model, *_batch(tok, [ex[fix].teacher_chat],
                                                    [ex[fix].completion_ids]),
                                     topk=ucfg.support_size)
                    s0 = gather_logprobs_at(model, *student, t.support_idx)
                mask, _, _ = rejected_mask(t.mask, t.logp_taken - s0.logp_taken, [fix])
                losses: list[float] = []
                t0 = time.perf_counter()
                res = distill_update(model, tok, [ex[fix]], "feedback", ucfg,
                                     on_step=lambda i, n, v, acc=losses: acc.append(v))
                secs = time.perf_counter() - t0
                # The loss after the last step (the logged ones are taken before each step).
                with torch.no_grad():
                    sc = gather_logprobs_at(model, *student, t.support_idx)
                    final = float(reduce_loss(topk_tail_distill_loss(
                        sc.support_logp, t.support_logp, student_tail_logp=sc.tail_logp,
                        teacher_tail_logp=t.tail_logp, mask=mask), mask, "token_mean"))
                after = measure()
                text, act = s.next_action(TASK, retry[fix])
                run = {**st, "losses": [round(x, 5) for x in losses],
                       "loss_after_last_step": round(final, 5), "seconds": round(secs, 2),
                       "update_seconds": round(res.seconds, 2), "disliked": res.disliked,
                       "rejected_raised": res.rejected_raised, "steps_taken": res.steps,
                       "after": after, "retry_proposal": text,
                       "retry_repeats_denied": isinstance(act, ToolCall) and act.name == "read"
                       and act.args.get("path") == "README.md"}
                report["runs"].append(run)
                out.write_text(json.dumps(report, indent=1))
                name = "fixed" if fix else "old"
                b, a = report["before"][name], after[name]
                print(json.dumps({k: v for k, v in run.items() if k != "after"},
                                 default=str)[:700], flush=True)
                print(f"  {name}: log p(denied|chat) {b['denied_sum']:.2f} -> "
                      f"{a['denied_sum']:.2f}; in the retry chat {b['denied_retry_sum']:.2f} "
                      f"-> {a['denied_retry_sum']:.2f}; wanted in retry "
                      f"{b['wanted_retry_sum']:.2f} -> {a['wanted_retry_sum']:.2f}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out.write_text(json.dumps(report, indent=1))
    return report
