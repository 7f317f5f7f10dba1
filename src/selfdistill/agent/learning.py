"""Learning from denials measured on tasks (issue 34 item 3): a scripted rule-user denies
the actions that break a written rule, with the rule as the reason, on training bench tasks
until N denials; then, on held-out bench tasks with every action approved and learning off,
the rule-violation rate and task success are recorded (compared per condition by
`study.study_table`). Conditions: base, in_context (the rule in the system prompt),
learned, no_reason (N denials whose reason says nothing). Also logged: how often a denied
call is proposed again unchanged in the same task, and the seconds per adapter update.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    rest; counts violations and how often a denied call is proposed again unchanged later in
    the same task (`repeats`; `repeats_next`: as the very next proposal, the issue's case).

    cap: after this many denials the next asked call stops the task (exactly N denials).
    replies: scripted model replies per task (tests), taken before the model is sampled.
    """

    def __init__(self, rule: Rule, ws_of: Any, deny: bool, reason: str | None = None,
                 cap: int | None = None, replies: list[str] | None = None) -> None:
        self.rule, self.ws_of, self.deny = rule, ws_of, deny
        self.reason = reason or rule.text
        self.cap = cap
        self.replies: list[str] = list(replies or [])
        self.proposals = 0
        self.violations = 0
        self.denials = 0
        self.repeats = 0
        self.repeats_next = 0
        self._denied: set[tuple[str, str]] = set()  # this task's denied calls
        self._last_denied: tuple[str, str] | None = None

    def new_task(self, replies: list[str] | None = None) -> None:
        """A new task starts: denied calls of the last one no longer count as repeats."""
        self._denied.clear()
        self._last_denied = None
        self.replies = list(replies or [])

    def model_output(self) -> str | None:
        """A scripted reply while there are any, else None (the model proposes)."""
        return self.replies.pop(0) if self.replies else None

    def observe(self, call: Any) -> bool:
        """Count an asked proposal; True when it breaks the rule."""
        key = (call.name, json.dumps(call.args, sort_keys=True))
        self.proposals += 1
        self.repeats += key in self._denied
        self.repeats_next += key == self._last_denied
        self._last_denied = None
        bad = self.rule.broken_by(call, self.ws_of())
        self.violations += bad
        if bad and self.deny:
            self._last_denied = key
            self._denied.add(key)
        return bad

    def decide(self, call: Any) -> Any:
        """Deny a rule-breaking call (when denying), else approve; stop once capped."""
        from selfdistill.agent.session import Decision

        if self.cap is not None and self.denials >= self.cap:
            return Decision("stop")
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
                   lr: float = 1e-4, steps: int = 4, test_n: int | None = None,
                   compute_dtype: str = "float32", first_call: bool = False,
                   scripted: dict[str, list[str]] | None = None) -> Path:
    """One condition of the study, resumable at task granularity: the training pass if the
    condition learns (until N denials), then the held-out tasks with learning off.

    budget_s: start no new task after this many seconds (the next call continues).
    scripted: task id -> model replies taken before sampling (tests; None in real runs).
    """
    from selfdistill.agent.bench import make_workspace
    from selfdistill.agent.session import AgentConfig, AgentSession
    from selfdistill.assist.config import session_config as _config
    from selfdistill.assist.output import PlainOutput
    from selfdistill.errors import UserError

    if condition not in CONDITIONS:
        raise UserError(f"condition must be one of {', '.join(CONDITIONS)}")
    if rule_name not in RULES:
        raise UserError(f"rule must be one of {', '.join(RULES)}")
    rule = RULES[rule_name]
    train, test = _split(train_n)
    test = test[:test_n] if test_n else test
    cdir = out / rule_name / condition
    cdir.mkdir(parents=True, exist_ok=True)
    results = cdir / "heldout.jsonl"
    train_file = cdir / "train.json"
    progress = cdir / "train_progress.jsonl"
    done = {r["task"] for r in jsonl_records(results)}
    t_start = time.perf_counter()

    def over() -> bool:
        if budget_s is not None and time.perf_counter() - t_start > budget_s:
            print(f"[{condition}] time budget reached; run again to continue", flush=True)
            return True
        return False

    learns = condition in ("learned", "no_reason")
    if (not learns or train_file.is_file()) and all(t.id in done for t in test):
        return results  # finished: no model to load
    cfg = _config(max_new_tokens, lr, steps, 1, compute_dtype=compute_dtype)
    note = rule.text if condition == "in_context" else ""
    acfg = AgentConfig(max_actions=max_actions, learn_from_errors=False, system_note=note,
                       first_call=first_call)
    box = cdir / "ws"
    first = make_workspace(train[0] if learns else test[0], box / "first")
    holder: dict[str, Any] = {}
    script = scripted or {}

    def ws_of() -> Path:
        return holder["s"].ws.root
    with AgentSession(condition, first, None, model_spec, cfg, acfg,  # type: ignore[arg-type]
                      PlainOutput(echo=False), root=cdir / "home") as s:
        holder["s"] = s
        if learns and not train_file.is_file():
            if not _train(s, rule, train, n_denials, condition, progress, train_file, box,
                          script, ws_of, over):
                return results
        for task in test:
            if task.id in done:
                continue
            if over():
                break
            _heldout_task(s, RuleUser(rule, ws_of, deny=False), task, box, condition,
                          script, results)
    return results


def _heldout_task(s: Any, user: RuleUser, task: Any, box: Path, condition: str,
                  script: dict[str, list[str]], results: Path) -> None:
    """One held-out task with every action approved; its record appended to results."""
    user.new_task(script.get(task.id))
    s.driver = user
    rec = _run_task(s, task, box / task.id)
    rec.update({"condition": condition, "proposals": user.proposals,
                "violations": user.violations, "version": s.profile.current})
    with results.open("a") as f:
        f.write(json.dumps(rec) + "\n")
    print(f"[{condition}] held-out {task.id}: success {rec['success']}, violations "
          f"{user.violations}/{user.proposals}", flush=True)


_COUNTS = ("denials", "proposals", "violations", "repeats", "repeats_next")


def _train(s: Any, rule: Rule, train: list[Any], n_denials: int, condition: str,
           progress: Path, train_file: Path, box: Path, script: dict[str, list[str]],
           ws_of: Any, over: Any) -> bool:
    """The training pass until n_denials, one progress line per finished task; True when
    done (train.json written). A task cut short by a kill runs again from the adapter the
    last finished task left (the profile is rewound to it)."""
    past = jsonl_records(progress)
    restore_version(s, past[-1]["version"] if past else 0)
    user = RuleUser(rule, ws_of, deny=True, cap=n_denials,
                    reason=None if condition == "learned" else NO_REASON)
    for k in _COUNTS:
        setattr(user, k, sum(r[k] for r in past))
    s.driver = user
    finished = {r["task"] for r in past}
    for task in train:
        if user.denials >= n_denials:
            break
        if task.id in finished:
            continue
        if over():
            return False
        before = {k: getattr(user, k) for k in _COUNTS}
        n_log = len(_read_log(s))
        user.new_task(script.get(task.id))
        rec = _run_task(s, task, box / task.id)
        ups = [r for r in _read_log(s)[n_log:] if r.get("event") == "update"]
        line = {"task": task.id, "version": s.profile.current, "success": rec["success"],
                "error": rec["error"], "update_seconds": [u["result"]["seconds"] for u in ups],
                **{k: getattr(user, k) - before[k] for k in _COUNTS}}
        with progress.open("a") as f:
            f.write(json.dumps(line) + "\n")
        past.append(line)
        print(f"[{condition}] train {task.id}: denials {user.denials}", flush=True)
    train_file.write_text(json.dumps({
        "tasks": [r["task"] for r in past], "version": s.profile.current,
        **{k: sum(r[k] for r in past) for k in _COUNTS},
        "repeats_after_denial": sum(r["repeats"] for r in past),
        "update_seconds": [x for r in past for x in r["update_seconds"]]}))
    return True


def restore_version(s: Any, version: int) -> None:
    """Rewind the session's profile (pointer and live weights) to `version`, an ancestor of
    the current one on the undo stack (0: the fresh adapter)."""
    from selfdistill.assist.model import load_adapter_weights
    from selfdistill.errors import UserError

    if s.profile.current == version:
        return
    if version == 0:
        s.profile.reset()
    else:
        if version not in s.profile.state()["stack"]:
            raise UserError(f"adapter v{version} is not on the profile's undo stack")
        while s.profile.current != version:
            s.profile.undo()
    load_adapter_weights(s.model, s.profile.current_dir())


def jsonl_records(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL file (a line cut by a kill is skipped)."""
    out = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


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
