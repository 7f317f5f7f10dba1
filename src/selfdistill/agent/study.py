"""Learning from denials, measured (issue 34 item 3).

`denial_probe` (agent/probe.py) is the diagnosis of the issue's case: Qwen2.5-Coder-0.5B on a two-file
repository proposed `read README.md`, the user denied it with a reason, the update ran
(loss 0.017 -> 0.052 over its 4 steps) and the same call came back. For one denied call it
measures, before and after one hindsight update (per setting of lr / steps / loss):

- log p(denied call) under the chat the update trains on (system + task) and under the
  chat the agent retries in (the denied call and the denial appended), summed and at the
  token where the teacher disliked it most;
- the teacher's own view: sum of advantages log p_teacher - log p_student over the call;
- the loss at each step and after the last step (is the optimiser overshooting?);
- the greedy proposal in the retry chat after the update, and the seconds per update.

`learning_study` (agent/learning.py) measures learning on success, not margins; this
module holds the same measurement for `assist` (`assist_rule_study`), the table of both
(`study_table`: paired bootstrap CIs and sign tests against base) and the command line.

`python -m selfdistill.agent.study probe --model SPEC --out FILE.json`
`python -m selfdistill.agent.study learn --model SPEC --out DIR --rule edit-not-write
    --condition base|in_context|learned|no_reason|all [--budget-min 14]
    [--compute-dtype bfloat16] [--base-from-bench runs/agent-bench]`  (resumable)
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from selfdistill.agent.learning import (
    CONDITIONS,
    RULES,
    base_from_bench,
    jsonl_records,
    learning_study,
    restore_version,
)
from selfdistill.agent.probe import denial_probe

# ---------------------------------------------------------------- the same for `assist`

# Requests of the corrected kind (file-system code, where os.path is the habit): the first
# ASSIST_TRAIN_N train, the rest are held out.
PATH_REQUESTS = (
    "Write a Python function that returns the names of all .txt files in a directory.",
    "Write a Python function that returns the size of a file in bytes.",
    "Write a Python function that returns the extension of a file name.",
    "Write a Python function that creates a directory and its parents if it is missing.",
    "Write a Python function that returns the parent directory of a path.",
    "Write a Python function that lists the subdirectories of a directory.",
    "Write a Python function that returns a file name without its extension.",
    "Write a Python function that finds every .py file under a directory, recursively.",
    "Write a Python function that checks whether a file exists.",
    "Write a Python function that joins a directory name and a file name into a path.",
    "Write a Python function that returns the absolute path of a relative path.",
    "Write a Python function that counts the files in a directory.",
    "Write a Python function that deletes every empty file in a directory.",
    "Write a Python function that changes the extension of a file name to .bak.",
    "Write a Python function that returns the total size of all files in a directory.",
    "Write a Python function that reads a text file given its directory and file name.",
)
ASSIST_TRAIN_N = 6
ASSIST = "assist-pathlib"  # its directory under OUT and its --rule name
ASSIST_RULE = "Use pathlib, not os.path or os.listdir."
ASSIST_NO_REASON = "That is not what I wanted."
_OS_CALL = re.compile(r"\bos\.(?:path|listdir|walk|makedirs|mkdir|remove|unlink|rename|"
                      r"scandir|stat|getcwd|rmdir)\b")


def assist_violates(answer: str) -> bool:
    """Whether an answer breaks ASSIST_RULE: it calls os.path / os.listdir / ..."""
    return _OS_CALL.search(answer) is not None


def answer_compiles(answer: str) -> bool:
    """Whether the answer's first code block (or the whole answer) is valid Python."""
    import ast

    m = re.search(r"```(?:python|py)?\s*\n(.*?)```", answer, re.S)
    try:
        ast.parse(m.group(1) if m else answer)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def assist_rule_study(model_spec: str, out: Path, condition: str, *, n_corrections: int = 4,
                      max_new_tokens: int = 256, budget_s: float | None = None,
                      lr: float = 1e-4, steps: int = 4, compute_dtype: str = "float32",
                      scripted: dict[str, str] | None = None) -> Path:
    """The agent study's measurement for `assist` (resumable by request): on training
    requests the scripted user corrects every answer that breaks ASSIST_RULE (the rule as
    the feedback; `no_reason`: ASSIST_NO_REASON) until N corrections, then the held-out
    requests are answered with learning off; `in_context` puts the rule in the system
    prompt. scripted: request -> answer, used instead of sampling (tests)."""
    from selfdistill.assist.config import session_config as _config
    from selfdistill.assist.output import PlainOutput
    from selfdistill.assist.session import Session
    from selfdistill.errors import UserError

    if condition not in CONDITIONS:
        raise UserError(f"condition must be one of {', '.join(CONDITIONS)}")
    train, test = PATH_REQUESTS[:ASSIST_TRAIN_N], PATH_REQUESTS[ASSIST_TRAIN_N:]
    cdir = out / ASSIST / condition
    cdir.mkdir(parents=True, exist_ok=True)
    results, progress = cdir / "heldout.jsonl", cdir / "train_progress.jsonl"
    train_file = cdir / "train.json"
    done = {r["task"] for r in jsonl_records(results)}
    learns = condition in ("learned", "no_reason")
    if (not learns or train_file.is_file()) and all(r in done for r in test):
        return results
    t_start = time.perf_counter()
    cfg = _config(max_new_tokens, lr, steps, 1, compute_dtype=compute_dtype)
    if condition == "in_context":
        from dataclasses import replace

        cfg = replace(cfg, system_prompt=f"{cfg.system_prompt or ''}\n\n{ASSIST_RULE}".strip())
    script = scripted or {}

    def over() -> bool:
        return budget_s is not None and time.perf_counter() - t_start > budget_s

    with Session(condition, model_spec, cfg, PlainOutput(echo=False), root=cdir / "home") as s:
        if learns and not train_file.is_file():
            if not _assist_train(s, train, condition, n_corrections, progress, train_file,
                                 script, over):
                return results
        for req in test:
            if req in done:
                continue
            if over():
                print(f"[assist {condition}] time budget reached; run again", flush=True)
                break
            t0 = time.perf_counter()
            answer = s.ask(req, script.get(req))
            bad = assist_violates(answer)
            rec = {"task": req, "condition": condition, "violations": int(bad), "proposals": 1,
                   "success": answer_compiles(answer) and not bad, "compiles":
                   answer_compiles(answer), "answer": answer, "version": s.profile.current,
                   "seconds": round(time.perf_counter() - t0, 1), "error": None}
            with results.open("a") as f:
                f.write(json.dumps(rec) + "\n")
            print(f"[assist {condition}] held-out: os.path {bad}", flush=True)
    return results


def _assist_train(s: Any, train: tuple[str, ...], condition: str, n_corrections: int,
                  progress: Path, train_file: Path, script: dict[str, str], over: Any) -> bool:
    """Training requests until n corrections, one progress line each (resumable as the
    agent's); True when done (train.json written)."""
    past = jsonl_records(progress)
    restore_version(s, past[-1]["version"] if past else 0)
    n = sum(r["corrected"] for r in past)
    for req in train:
        if n >= n_corrections or req in {r["task"] for r in past}:
            continue
        if over():
            print(f"[assist {condition}] time budget reached; run again", flush=True)
            return False
        answer = s.ask(req, script.get(req))
        bad = assist_violates(answer)
        secs = None
        if bad:
            res = s.feedback(ASSIST_RULE if condition == "learned" else ASSIST_NO_REASON)
            secs, n = res.seconds, n + 1
        line = {"task": req, "violates": bad, "corrected": bad,
                "version": s.profile.current, "update_seconds": secs}
        with progress.open("a") as f:
            f.write(json.dumps(line) + "\n")
        past.append(line)
    ups = [r["update_seconds"] for r in past if r["update_seconds"] is not None]
    train_file.write_text(json.dumps({
        "tasks": [r["task"] for r in past], "denials": n, "version": s.profile.current,
        "violations": sum(r["violates"] for r in past), "proposals": len(past),
        "repeats_after_denial": None, "update_seconds": ups}))
    return True


def study_table(out: Path, rule_name: str) -> str:
    """Held-out violation rate and success per condition, paired against base: mean
    difference with a bootstrap 95% CI over held-out tasks and the sign test's p."""
    from selfdistill.evaluation.metrics import bootstrap_ci, sign_test_p

    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for cond in CONDITIONS:
        recs = jsonl_records(out / rule_name / cond / "heldout.jsonl")
        if recs:
            rows[cond] = {r["task"]: r for r in recs}
    if "base" not in rows:
        return "no base condition yet"

    def paired(d: list[float]) -> str:
        lo, hi = bootstrap_ci(d)
        p = sign_test_p(sum(x > 0 for x in d), sum(x < 0 for x in d))
        return f"{100 * sum(d) / len(d):+6.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}] p={p:.2f}"

    text = RULES[rule_name].text if rule_name in RULES else ASSIST_RULE
    lines = [f"rule {rule_name}: {text}",
             "condition     tasks  violating tasks  viol./proposal  success   "
             "d(violating tasks) vs base [95% CI] sign p   d(success) vs base [95% CI] sign p"]
    for cond, recs in rows.items():
        common = [t for t in recs if t in rows["base"]]
        if not common:
            continue
        base = rows["base"]
        viol = [float(recs[t]["violations"] > 0) for t in common]
        succ = [float(recs[t]["success"]) for t in common]
        props = sum(recs[t]["proposals"] for t in common)
        vrate = sum(recs[t]["violations"] for t in common) / max(props, 1)
        dv = [v - float(base[t]["violations"] > 0) for v, t in zip(viol, common, strict=True)]
        ds = [v - float(base[t]["success"]) for v, t in zip(succ, common, strict=True)]
        lines.append(f"{cond:12} {len(common):6}  {100 * sum(viol) / len(viol):14.1f}%  "
                     f"{vrate:14.3f}  {100 * sum(succ) / len(succ):6.1f}%   "
                     f"{paired(dv):36}  {paired(ds)}")
        tf = out / rule_name / cond / "train.json"
        if tf.is_file():
            t = json.loads(tf.read_text())
            ups = t["update_seconds"]
            again = "" if t.get("repeats_after_denial") is None else (
                f"denied call proposed again unchanged in the same task: "
                f"{t['repeats_after_denial']} (as the next proposal: "
                f"{t.get('repeats_next', '?')}), ")
            lines.append(f"    training: {len(t['tasks'])} tasks, {t['denials']} denials, "
                         f"{t['violations']} violations / {t['proposals']} proposals, "
                         f"{again}s/update {sum(ups) / max(len(ups), 1):.1f} over {len(ups)}")
    return "\n".join(lines)


def _learn(a: Any, p: Any) -> None:
    """`learn`: run the conditions asked for (within the budget), then print the table."""
    t0 = time.perf_counter()
    if a.rule == ASSIST and a.base_from_bench is not None:
        p.error(f"--base-from-bench is for the agent's rules, not {ASSIST}")
    if a.base_from_bench is not None:
        base_from_bench(a.base_from_bench, a.bench_label, a.out, a.rule)
    if not a.table and a.condition is not None:
        conds = CONDITIONS if a.condition == "all" else (a.condition,)
        for cond in conds:
            if cond == "base" and a.base_from_bench is not None:
                continue
            left = None if a.budget_min is None else \
                60 * a.budget_min - (time.perf_counter() - t0)
            if left is not None and left <= 0:
                print("time budget reached; run again to continue", flush=True)
                break
            if a.rule == ASSIST:
                assist_rule_study(a.model, a.out, cond, n_corrections=a.denials,
                                  max_new_tokens=a.max_new_tokens, lr=a.lr, steps=a.steps,
                                  compute_dtype=a.compute_dtype, budget_s=left)
                continue
            learning_study(a.model, a.out, a.rule, cond, n_denials=a.denials,
                           max_actions=a.max_actions, max_new_tokens=a.max_new_tokens,
                           lr=a.lr, steps=a.steps, compute_dtype=a.compute_dtype,
                           test_n=a.test_n, budget_s=left, first_call=a.first_call)
    elif not a.table and a.base_from_bench is None:
        p.error("--condition is needed unless --table or --base-from-bench")
    print(study_table(a.out, a.rule), flush=True)


def main(argv: list[str] | None = None) -> None:
    """python -m selfdistill.agent.study probe --model SPEC --out FILE"""
    import argparse

    p = argparse.ArgumentParser(prog="python -m selfdistill.agent.study")
    sub = p.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("probe")
    pr.add_argument("--model", default=None, help="model spec (default: the embedded model)")
    pr.add_argument("--out", type=Path, required=True)
    pr.add_argument("--first-call", action="store_true", help="the agent's --first-call")
    pr.add_argument("--lrs", default=None, help="comma-separated learning rates of the fixed "
                    "denial (default 1e-4,3e-5,1e-5; the old handling runs at the first)")
    le = sub.add_parser("learn")
    le.add_argument("--model", required=True)
    le.add_argument("--out", type=Path, required=True)
    le.add_argument("--rule", default="edit-not-write", choices=[*sorted(RULES), ASSIST],
                    help=f"{ASSIST}: the same measurement for `assist` (ASSIST_RULE on "
                    "file-system requests; --denials is the number of corrections)")
    le.add_argument("--condition", choices=(*CONDITIONS, "all"),
                    help="all: every condition not yet finished, in order (base from "
                    "--base-from-bench when given), until --budget-min")
    le.add_argument("--denials", type=int, default=4)
    le.add_argument("--max-actions", type=int, default=8)
    le.add_argument("--max-new-tokens", type=int, default=256)
    le.add_argument("--lr", type=float, default=1e-4)
    le.add_argument("--steps", type=int, default=4)
    le.add_argument("--compute-dtype", default="float32", choices=("float32", "bfloat16"),
                    help="the updates' compute dtype (fp32 adapter and AdamW either way)")
    le.add_argument("--first-call", action="store_true", help="the agent's --first-call "
                    "(a setting of its own: use a separate --out)")
    le.add_argument("--test-n", type=int, default=None, help="only the first N held-out tasks")
    le.add_argument("--base-from-bench", type=Path, help="bench OUT dir: take the base "
                    "condition from its records of --bench-label (same settings)")
    le.add_argument("--bench-label", default="qwen2.5-coder-0.5b-instruct")
    le.add_argument("--budget-min", type=float)
    le.add_argument("--table", action="store_true", help="only print the table")
    a = p.parse_args(argv)
    from selfdistill.core.console import quiet_hf

    quiet_hf(all_warnings=True)
    if a.cmd == "learn":
        _learn(a, p)
    if a.cmd == "probe":
        lrs = [float(x) for x in a.lrs.split(",")] if a.lrs else [1e-4, 3e-5, 1e-5]
        sets = [{"lr": lrs[0], "steps": 4, "fix": False},
                *({"lr": lr, "steps": 4, "fix": True} for lr in lrs)]
        from selfdistill.core.models import DEFAULT_MODEL

        r = denial_probe(a.model or DEFAULT_MODEL, a.out, sets, first_call=a.first_call)
        print(json.dumps({k: r[k] for k in ("native", "first_proposal", "before",
                                            "advantage_sum_old", "advantage_sum_fixed",
                                            "advantage_by_token_fixed")},
                         default=str), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
