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

`learning_study` measures learning on success, not margins: a scripted rule-user denies
the actions that break a written rule, with the rule as the reason, on training tasks
(bench tasks) until N denials; then, on held-out bench tasks with every action approved
and learning off, the rule-violation rate and task success are compared with the model
before learning and with two baselines: the rule in the system prompt (in-context) and N
denials whose reason says nothing ("no reason"). Paired bootstrap CIs over held-out tasks.
Also logged: how often a denied call is proposed again unchanged in the same task, and the
seconds per adapter update.

`python -m selfdistill.agent.study probe --model SPEC --out FILE.json`
`python -m selfdistill.agent.study learn --model SPEC --out DIR --rule edit-not-write
    --condition base|in_context|learned|no_reason [--budget-min 14]`  (resumable)
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfdistill.agent.probe import denial_probe

# ---------------------------------------------------------------- the learning study


@dataclass(frozen=True)
class Rule:
    """A written rule and the calls that break it."""

    name: str
    text: str

    def broken_by(self, call: Any, ws: Path) -> bool:
        """Whether this call breaks the rule (ws: the workspace as it is before the call)."""
        cmd = str(call.args.get("command", "")).strip()
        if self.name == "edit-not-write":
            return call.name == "write" and (ws / str(call.args.get("path", ""))).is_file()
        if self.name == "read-not-cat":
            return call.name == "bash" and cmd.split(" ", 1)[0] in ("cat", "head", "tail",
                                                                     "less", "more", "nl")
        if self.name == "no-bash-ls":
            return call.name == "bash" and cmd.split(" ", 1)[0] in ("ls", "find", "tree")
        raise ValueError(f"unknown rule {self.name}")


RULES = {r.name: r for r in (
    Rule("edit-not-write", "Change an existing file with the edit tool; never rewrite an "
         "existing file with write."),
    Rule("read-not-cat", "Look at files with the read tool, not with shell commands such as "
         "cat or head."),
    Rule("no-bash-ls", "Find files with the list tool, not with shell commands such as ls or "
         "find."),
)}
NO_REASON = "I deny this action."
CONDITIONS = ("base", "in_context", "learned", "no_reason")


class RuleUser:
    """Denies every call that breaks the rule (reason: the rule, or NO_REASON), approves the
    rest; counts violations and whether a denied call is proposed again unchanged."""

    def __init__(self, rule: Rule, ws_of: Any, deny: bool, reason: str | None = None) -> None:
        self.rule, self.ws_of, self.deny = rule, ws_of, deny
        self.reason = reason or rule.text
        self.proposals = 0
        self.violations = 0
        self.denials = 0
        self.repeats = 0
        self._last_denied: tuple[str, str] | None = None

    def model_output(self) -> None:
        """The model always proposes."""
        return None

    def observe(self, call: Any) -> bool:
        """Count a proposal (read-only ones too); True when it breaks the rule."""
        key = (call.name, json.dumps(call.args, sort_keys=True))
        self.proposals += 1
        if self._last_denied is not None and key == self._last_denied:
            self.repeats += 1
        self._last_denied = None
        bad = self.rule.broken_by(call, self.ws_of())
        self.violations += bad
        if bad and self.deny:
            self._last_denied = key
        return bad

    def decide(self, call: Any) -> Any:
        """Deny a rule-breaking call (when denying), else approve."""
        from selfdistill.agent.session import Decision

        if self.observe(call) and self.deny:
            self.denials += 1
            return Decision("deny", self.reason)
        return Decision("approve")


def _split(train_n: int) -> tuple[list[Any], list[Any]]:
    """Training and held-out bench tasks: kinds interleaved, so both get every kind."""
    from selfdistill.agent.bench_tasks import TASKS

    code = [t for t in TASKS if t.kind != "question"]
    return code[::2][:train_n], code[1::2]


def learning_study(model_spec: str, out: Path, rule_name: str, condition: str, *,
                   n_denials: int = 4, train_n: int = 12, max_actions: int = 8,
                   max_new_tokens: int = 256, budget_s: float | None = None,
                   lr: float = 1e-4, steps: int = 4, test_n: int | None = None) -> Path:
    """One condition of the study (resumable): training pass if it learns, then held-out."""
    from selfdistill.agent.bench import make_workspace
    from selfdistill.agent.session import AgentConfig, AgentSession
    from selfdistill.assist.config import session_config as _config
    from selfdistill.assist.output import PlainOutput
    from selfdistill.errors import UserError

    if condition not in CONDITIONS:
        raise UserError(f"condition must be one of {', '.join(CONDITIONS)}")
    rule = RULES[rule_name]
    train, test = _split(train_n)
    test = test[:test_n] if test_n else test
    cdir = out / rule_name / condition
    cdir.mkdir(parents=True, exist_ok=True)
    results = cdir / "heldout.jsonl"
    train_file = cdir / "train.json"
    done = {json.loads(x)["task"] for x in results.read_text().splitlines()} \
        if results.is_file() else set()
    t_start = time.perf_counter()
    learns = condition in ("learned", "no_reason")
    cfg = _config(max_new_tokens, lr, steps, 1)
    note = rule.text if condition == "in_context" else ""
    acfg = AgentConfig(max_actions=max_actions, learn_from_errors=False, system_note=note)
    box = cdir / "ws"
    first = make_workspace(train[0] if learns else test[0], box / "first")
    holder: dict[str, Any] = {}

    def ws_of() -> Path:
        return holder["s"].ws.root
    with AgentSession(condition, first, None, model_spec, cfg, acfg,  # type: ignore[arg-type]
                      PlainOutput(echo=False), root=cdir / "home") as s:
        holder["s"] = s
        if learns and not train_file.is_file():
            user = RuleUser(rule, ws_of, deny=True,
                            reason=None if condition == "learned" else NO_REASON)
            s.driver = user
            used = []
            for task in train:
                if user.denials >= n_denials:
                    break
                _run_task(s, task, box / task.id)
                used.append(task.id)
                print(f"[{condition}] train {task.id}: denials {user.denials}", flush=True)
            ups = [r for r in _read_log(s) if r.get("event") == "update"]
            train_file.write_text(json.dumps({
                "tasks": used, "denials": user.denials, "proposals": user.proposals,
                "violations": user.violations, "repeats_after_denial": user.repeats,
                "version": s.profile.current,
                "update_seconds": [r["result"]["seconds"] for r in ups]}))
        for task in test:
            if task.id in done:
                continue
            if budget_s is not None and time.perf_counter() - t_start > budget_s:
                print(f"[{condition}] time budget reached; run again to continue", flush=True)
                break
            user = RuleUser(rule, ws_of, deny=False)
            s.driver = user
            rec = _run_task(s, task, box / task.id)
            rec.update({"condition": condition, "proposals": user.proposals,
                        "violations": user.violations, "version": s.profile.current})
            with results.open("a") as f:
                f.write(json.dumps(rec) + "\n")
            print(f"[{condition}] held-out {task.id}: success {rec['success']}, violations "
                  f"{user.violations}/{user.proposals}", flush=True)
    return results


def base_from_bench(bench_dir: Path, label: str, out: Path, rule_name: str) -> Path:
    """The base condition from `agent bench` records of the same model and settings (greedy,
    approve-all, no learning: the same runs), violations counted on their trajectories."""
    from selfdistill.agent.bench import load_results
    from selfdistill.agent.bench_tasks import TASKS
    from selfdistill.agent.calls import TOOLS, ToolCall
    from selfdistill.errors import UserError

    rule = RULES[rule_name]
    recs = {r["task"]: r for r in load_results(bench_dir).get(label, [])}
    _, test = _split(12)
    missing = [t.id for t in test if t.id not in recs]
    if missing:
        raise UserError(f"bench results of {label} lack {', '.join(missing)}")
    cdir = out / rule_name / "base"
    cdir.mkdir(parents=True, exist_ok=True)
    by_id = {t.id: t for t in TASKS}
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for t in test:
            r = recs[t.id]
            ws = Path(tmp) / t.id
            ws.mkdir()
            for rel in by_id[t.id].files:  # existence is what the rules look at
                (ws / rel).parent.mkdir(parents=True, exist_ok=True)
                (ws / rel).write_text("")
            props = viol = 0
            for ev in r["trajectory"]:
                if ev.get("event") != "agent_action" or TOOLS[ev["tool"]].read_only:
                    continue
                call = ToolCall(ev["tool"], ev["args"])
                props += 1
                viol += rule.broken_by(call, ws)
                if call.name == "write":
                    p = ws / str(call.args.get("path", ""))
                    if ws in p.resolve().parents:
                        p.parent.mkdir(parents=True, exist_ok=True)
                        p.write_text("")
            lines.append(json.dumps({"task": t.id, "success": r["success"],
                                     "seconds": r["seconds"], "error": r["error"],
                                     "condition": "base", "proposals": props,
                                     "violations": viol, "version": 0,
                                     "from": str(bench_dir / label)}))
    f = cdir / "heldout.jsonl"
    f.write_text("\n".join(lines) + "\n")
    return f


def _read_log(s: Any) -> list[dict[str, Any]]:
    from selfdistill.core.records import read_jsonl

    return list(read_jsonl(s.profile.log_path))


def _run_task(s: Any, task: Any, ws: Path) -> dict[str, Any]:
    """Run one bench task in a fresh workspace and its hidden check; a small record."""
    from selfdistill.agent.bench import make_workspace, run_check
    from selfdistill.agent.tools import close_shell

    make_workspace(task, ws)
    s.set_workspace(ws)
    s.steps.clear()
    t0 = time.perf_counter()
    err, answer = None, None
    try:
        answer = s.run_task(task.prompt)
    except Exception as e:  # noqa: BLE001 -- recorded as a failed task
        err = f"{type(e).__name__}: {e}"
    secs = time.perf_counter() - t0
    close_shell(s.ws)
    check = run_check(task, ws, answer)
    return {"task": task.id, "success": check.passed, "seconds": round(secs, 1), "error": err}


def study_table(out: Path, rule_name: str) -> str:
    """Held-out violation rate and success per condition, paired against base (bootstrap)."""
    from selfdistill.evaluation.metrics import bootstrap_ci

    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for cond in CONDITIONS:
        f = out / rule_name / cond / "heldout.jsonl"
        if f.is_file():
            rows[cond] = {r["task"]: r for r in map(json.loads, f.read_text().splitlines())}
    if "base" not in rows:
        return "no base condition yet"
    lines = [f"rule {rule_name}: {RULES[rule_name].text}",
             "condition     tasks  violating tasks  viol./proposal  success   "
             "d(violating) vs base [95% CI]   d(success) vs base [95% CI]"]
    for cond, recs in rows.items():
        common = [t for t in recs if t in rows["base"]]
        if not common:
            continue
        viol = [float(recs[t]["violations"] > 0) for t in common]
        succ = [float(recs[t]["success"]) for t in common]
        props = sum(recs[t]["proposals"] for t in common)
        vrate = sum(recs[t]["violations"] for t in common) / max(props, 1)
        dv = [v - float(rows["base"][t]["violations"] > 0) for v, t in zip(viol, common, strict=True)]
        ds = [v - float(rows["base"][t]["success"]) for v, t in zip(succ, common, strict=True)]
        lo_v, hi_v = bootstrap_ci(dv)
        lo_s, hi_s = bootstrap_ci(ds)
        lines.append(f"{cond:12} {len(common):6}  {100 * sum(viol) / len(viol):14.1f}%  "
                     f"{vrate:14.3f}  {100 * sum(succ) / len(succ):6.1f}%   "
                     f"{100 * sum(dv) / len(dv):+6.1f} [{100 * lo_v:+.1f}, {100 * hi_v:+.1f}]"
                     f"            {100 * sum(ds) / len(ds):+6.1f} [{100 * lo_s:+.1f}, "
                     f"{100 * hi_s:+.1f}]")
        tf = out / rule_name / cond / "train.json"
        if tf.is_file():
            t = json.loads(tf.read_text())
            ups = t["update_seconds"]
            lines.append(f"    training: {len(t['tasks'])} tasks, {t['denials']} denials, "
                         f"{t['violations']} violations / {t['proposals']} proposals, denied "
                         f"call proposed again unchanged: {t['repeats_after_denial']}/"
                         f"{t['denials']}, s/update {sum(ups) / max(len(ups), 1):.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """python -m selfdistill.agent.study probe --model SPEC --out FILE"""
    import argparse

    p = argparse.ArgumentParser(prog="python -m selfdistill.agent.study")
    sub = p.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("probe")
    pr.add_argument("--model", default=None, help="model spec (default: the embedded model)")
    pr.add_argument("--out", type=Path, required=True)
    pr.add_argument("--lrs", default=None, help="comma-separated learning rates of the fixed "
                    "denial (default 1e-4,3e-5,1e-5; the old handling runs at the first)")
    le = sub.add_parser("learn")
    le.add_argument("--model", required=True)
    le.add_argument("--out", type=Path, required=True)
    le.add_argument("--rule", default="edit-not-write", choices=sorted(RULES))
    le.add_argument("--condition", choices=CONDITIONS)
    le.add_argument("--denials", type=int, default=4)
    le.add_argument("--max-actions", type=int, default=8)
    le.add_argument("--base-from-bench", type=Path, help="bench OUT dir: take the base "
                    "condition from its records of --bench-label (same settings)")
    le.add_argument("--bench-label", default="qwen2.5-coder-0.5b-instruct")
    le.add_argument("--budget-min", type=float)
    le.add_argument("--table", action="store_true", help="only print the table")
    a = p.parse_args(argv)
    from selfdistill.core.console import quiet_hf

    quiet_hf(all_warnings=True)
    if a.cmd == "learn":
        if a.base_from_bench is not None:
            base_from_bench(a.base_from_bench, a.bench_label, a.out, a.rule)
        elif not a.table:
            if a.condition is None:
                p.error("--condition is needed unless --table")
            learning_study(a.model, a.out, a.rule, a.condition, n_denials=a.denials,
                           max_actions=a.max_actions,
                           budget_s=None if a.budget_min is None else 60 * a.budget_min)
        print(study_table(a.out, a.rule), flush=True)
    if a.cmd == "probe":
        lrs = [float(x) for x in a.lrs.split(",")] if a.lrs else [1e-4, 3e-5, 1e-5]
        sets = [{"lr": lrs[0], "steps": 4, "fix": False},
                *({"lr": lr, "steps": 4, "fix": True} for lr in lrs)]
        from selfdistill.core.models import DEFAULT_MODEL

        r = denial_probe(a.model or DEFAULT_MODEL, a.out, sets)
        print(json.dumps({k: r[k] for k in ("native", "first_proposal", "before",
                                            "advantage_sum_old", "advantage_sum_fixed",
                                            "advantage_by_token_fixed")},
                         default=str), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
