"""`selfdistill agent bench`: does the agent finish small repository tasks? (issue 34 item 2)

For each model and each task of `bench_tasks.TASKS`: a fresh copy of the task's tiny
workspace, the agent run on the task text with an approve-everything policy and a step
limit (no learning: the bench measures the model as it is), then the hidden check in the
sandbox on a copy of what the agent left (or the answer against the task's pattern).
Recorded per task: success, actions, malformed calls, tokens of the model's replies, wall
time, and the trajectory (the profile-log records of the task). Results are appended to
`OUT/<model>/results.jsonl` one task at a time, so a run stopped at any point (or by its
time budget) resumes where it stopped. `report` writes a summary table with 95% CIs and an
HTML page: one row per task, each run's trajectory one click away.
"""

from __future__ import annotations

import html
import json
import math
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfdistill.agent.bench_tasks import CHECK_PRELUDE, TASKS, BenchTask
from selfdistill.errors import UserError

CHECK_FILE = "_selfdistill_check.py"


def select_tasks(ids: Sequence[str] | None = None) -> list[BenchTask]:
    """The tasks named (all when None); unknown ids are a UserError."""
    if not ids:
        return list(TASKS)
    by_id = {t.id: t for t in TASKS}
    bad = [i for i in ids if i not in by_id]
    if bad:
        raise UserError(f"unknown bench task(s) {', '.join(bad)}; known: {', '.join(by_id)}")
    return [by_id[i] for i in ids]


def make_workspace(task: BenchTask, root: Path) -> Path:
    """A fresh directory holding the task's files (an old one is removed first)."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for rel, text in task.files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def apply_reference(task: BenchTask, ws: Path) -> str:
    """Write the task's reference solution into ws; returns the reference answer text."""
    for rel, text in task.reference.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text)
    return task.reference_answer


@dataclass
class CheckResult:
    """The hidden check's verdict and what it printed."""

    passed: bool
    detail: str


def run_check(task: BenchTask, ws: Path, answer: str | None, timeout_s: float = 60.0
              ) -> CheckResult:
    """Run the hidden check: the answer against the pattern, or the check program in the
    sandbox on a copy of the workspace (the agent's files are left as they were)."""
    if task.pattern:
        ok = bool(answer) and re.search(task.pattern, answer or "", re.I) is not None
        return CheckResult(ok, f"answer {'matches' if ok else 'does not match'} /{task.pattern}/")
    from selfdistill.agent.tools import close_shell, run_shell
    from selfdistill.agent.workspace import Workspace

    copy = ws.parent / f"{ws.name}.check"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(ws, copy, symlinks=True)
    try:
        for cache in copy.rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)
        (copy / CHECK_FILE).write_text(CHECK_PRELUDE + task.check)
        cws = Workspace(copy)
        try:
            ok, text = run_shell(cws, f"python3 {CHECK_FILE}", timeout_s)
        finally:
            close_shell(cws)  # its worker holds the mount of this copy
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    return CheckResult(ok, text[-1500:])


# ---------------------------------------------------------------- running the agent


class ApproveAll:
    """The bench's driver: the model proposes, every action is approved."""

    def model_output(self) -> str | None:
        """Always sample the model."""
        return None

    def decide(self, call: Any) -> Any:
        """Approve."""
        from selfdistill.agent.session import Decision

        return Decision("approve")


def model_slug(spec: str) -> str:
    """A directory name for a model spec."""
    name = Path(spec).name if "/" in spec else spec
    if name in ("hf", "model", ""):
        name = Path(spec).parent.name or spec
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "model"


def done_ids(path: Path) -> set[str]:
    """Task ids already recorded in a results file."""
    if not path.is_file():
        return set()
    out = set()
    for line in path.read_text().splitlines():
        try:
            out.add(json.loads(line)["task"])
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by a kill: the task runs again
    return out


def _log_records(path: Path, start: int) -> list[dict[str, Any]]:
    lines = path.read_text().splitlines()[start:] if path.is_file() else []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def _line_count(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.is_file() else 0


def run_bench_model(model_spec: str | None, out: Path, tasks: Sequence[BenchTask], *,
                    max_actions: int = 8, decode: str = "auto", max_new_tokens: int = 256,
                    budget_s: float | None = None, threads: int | None = 1,
                    shell_timeout_s: float = 30.0, label: str | None = None,
                    echo: bool = True, first_call: bool = False) -> Path:
    """Run the tasks not yet recorded for one model; returns its results file.

    budget_s: start no new task after this many seconds (the rest run on the next call).
    first_call: the first reply of a task must be a tool call (recorded under
    `<model>-first-call`, a setting of its own).
    """
    from selfdistill.agent.session import AgentConfig, AgentSession
    from selfdistill.assist.config import session_config as _config
    from selfdistill.assist.output import PlainOutput
    from selfdistill.core.models import DEFAULT_MODEL

    spec = model_spec or DEFAULT_MODEL
    name = label or model_slug(spec) + ("-first-call" if first_call else "")
    mdir = out / name
    mdir.mkdir(parents=True, exist_ok=True)
    results = mdir / "results.jsonl"
    todo = [t for t in tasks if t.id not in done_ids(results)]
    if not todo:
        return results
    cfg = _config(max_new_tokens, 1e-4, 1, threads)
    acfg = AgentConfig(max_actions=max_actions, auto_approve_reads=True, learn_from_errors=False,
                       shell_timeout_s=shell_timeout_s, decode=decode,  # type: ignore[arg-type]
                       first_call=first_call)
    t_start = time.perf_counter()
    ws_root = mdir / "workspaces"
    # The profile is throw-away: nothing is learnt, it only holds v0 and the log.
    home = mdir / "home"
    if home.exists():
        shutil.rmtree(home)
    first_ws = make_workspace(todo[0], ws_root / todo[0].id)
    with AgentSession("bench", first_ws, ApproveAll(), spec, cfg, acfg,
                      PlainOutput(echo=False), root=home) as s:
        log = s.profile.log_path
        for task in todo:
            if budget_s is not None and time.perf_counter() - t_start > budget_s:
                if echo:
                    print(f"[{name}] time budget reached; run again to continue", flush=True)
                break
            rec = run_one(s, task, ws_root / task.id, log, name)
            with results.open("a") as f:
                f.write(json.dumps(rec) + "\n")
            if echo:
                print(f"[{name}] {task.id}: {'PASS' if rec['success'] else 'fail'} "
                      f"({rec['actions']} actions, {rec['malformed']} malformed, "
                      f"{rec['tokens']} tokens, {rec['seconds']:.0f}s)", flush=True)
    return results


def run_one(session: Any, task: BenchTask, ws: Path, log: Path, model: str) -> dict[str, Any]:
    """One task in a fresh workspace; the record with the trajectory."""

    make_workspace(task, ws)
    session.set_workspace(ws)
    session.steps.clear()
    session.always.clear()
    start = _line_count(log)
    t0 = time.perf_counter()
    error = None
    answer = None
    try:
        answer = session.run_task(task.prompt)
    except Exception as e:  # noqa: BLE001 -- a crash is a failed task, recorded, not hidden
        error = f"{type(e).__name__}: {e}"
    seconds = time.perf_counter() - t0
    from selfdistill.agent.tools import close_shell

    close_shell(session.ws)
    traj = _log_records(log, start)
    check = run_check(task, ws, answer)
    tok = session.tokenizer
    outputs = [r.get("output", "") for r in traj if r.get("event") in ("agent_action",
                                                                        "agent_malformed")]
    outputs += [r.get("answer", "") for r in traj if r.get("event") == "agent_answer"]
    tokens = sum(len(tok(o, add_special_tokens=False)["input_ids"]) for o in outputs if o)
    return {"task": task.id, "kind": task.kind, "model": model, "success": check.passed,
            "check": check.detail, "answered": answer is not None, "answer": answer,
            "actions": sum(r.get("event") == "agent_action" for r in traj),
            "malformed": sum(r.get("event") == "agent_malformed" for r in traj),
            "tokens": tokens, "seconds": round(seconds, 2), "error": error,
            "trajectory": traj}


# ---------------------------------------------------------------- summary and report


def wilson_ci(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate k/n (sensible at 0 and n, unlike Wald)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    lo, hi = max(0.0, mid - half), min(1.0, mid + half)
    return (0.0 if k == 0 else min(lo, p)), (1.0 if k == n else max(hi, p))  # float rounding


def load_results(out: Path) -> dict[str, list[dict[str, Any]]]:
    """Model -> its task records (last record per task wins), in suite order."""
    order = {t.id: i for i, t in enumerate(TASKS)}
    res: dict[str, list[dict[str, Any]]] = {}
    for f in sorted(out.glob("*/results.jsonl")):
        recs: dict[str, dict[str, Any]] = {}
        for line in f.read_text().splitlines():
            try:
                r = json.loads(line)
                recs[r["task"]] = r
            except (ValueError, KeyError, TypeError):
                continue
        res[f.parent.name] = sorted(recs.values(), key=lambda r: order.get(r["task"], 1 << 30))
    return res


def summarize(recs: list[dict[str, Any]]) -> dict[str, Any]:
    """Success rate with its 95% CI, and per-task means of actions, tokens, time, malformed."""
    n = len(recs)
    k = sum(bool(r["success"]) for r in recs)
    lo, hi = wilson_ci(k, n)

    def mean(key: str) -> float:
        return sum(float(r[key]) for r in recs) / n if n else 0.0

    return {"tasks": n, "passed": k, "success": k / n if n else 0.0, "ci": [lo, hi],
            "actions": mean("actions"), "malformed": mean("malformed"), "tokens": mean("tokens"),
            "seconds": mean("seconds"), "answered": sum(bool(r["answered"]) for r in recs),
            "errors": sum(bool(r.get("error")) for r in recs),
            "by_kind": {kind: [sum(bool(r["success"]) for r in recs if r["kind"] == kind),
                               sum(r["kind"] == kind for r in recs)]
                        for kind in dict.fromkeys(r["kind"] for r in recs)}}


def summary_table(out: Path) -> str:
    """The per-model summary as plain text (what the CLI prints)."""
    rows = ["model                              tasks  success [95% CI]        actions  "
            "malformed  tokens  s/task  answered"]
    for model, recs in load_results(out).items():
        s = summarize(recs)
        rows.append(f"{model[:34]:34} {s['tasks']:5}  {s['passed']:2}/{s['tasks']:<2} "
                    f"{100 * s['success']:5.1f}% [{100 * s['ci'][0]:4.1f}, {100 * s['ci'][1]:5.1f}]"
                    f"  {s['actions']:7.1f}  {s['malformed']:9.2f}  {s['tokens']:6.0f}  "
                    f"{s['seconds']:6.0f}  {s['answered']:8}")
        rows.append("    by kind: " + ", ".join(f"{k} {a}/{b}" for k, (a, b) in s["by_kind"].items()))
    return "\n".join(rows)


_CSS = ("body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 7px;font-size:13px}.ok{background:#d8f5d0}"
        ".no{background:#f8d8d8}pre{white-space:pre-wrap;background:#f6f6f6;padding:6px;"
        "font-size:12px}")


def _traj_html(rec: dict[str, Any], task: BenchTask | None) -> str:
    e = html.escape
    parts = [f"<h2>{e(rec['model'])} / {e(rec['task'])}: "
             f"{'PASS' if rec['success'] else 'fail'}</h2>"]
    if task is not None:
        parts.append(f"<p><b>Task:</b> {e(task.prompt)}</p>")
    parts.append(f"<p>{rec['actions']} actions, {rec['malformed']} malformed, {rec['tokens']} "
                 f"tokens, {rec['seconds']:.1f} s. Check: </p><pre>{e(str(rec['check']))}</pre>")
    if rec.get("error"):
        parts.append(f"<p><b>Error:</b> {e(rec['error'])}</p>")
    for r in rec.get("trajectory", []):
        ev = r.get("event", "?")
        body = {k: v for k, v in r.items() if k not in ("event", "task", "workspace")}
        parts.append(f"<h4>{e(ev)}</h4><pre>{e(json.dumps(body, indent=1, ensure_ascii=False))}"
                     "</pre>")
    return f"<html><head><meta charset='utf-8'><style>{_CSS}</style></head><body>" + \
        "".join(parts) + "</body></html>"


def write_report(out: Path) -> Path:
    """OUT/report.html (summary + one row per task, links to each run's trajectory page)."""
    res = load_results(out)
    if not res:
        raise UserError(f"no bench results under {out}")
    by_id = {t.id: t for t in TASKS}
    e = html.escape
    models = list(res)
    head = ["<tr><th>model</th><th>success [95% CI]</th><th>actions/task</th>"
            "<th>malformed/task</th><th>tokens/task</th><th>s/task</th></tr>"]
    for m in models:
        s = summarize(res[m])
        head.append(f"<tr><td>{e(m)}</td><td>{s['passed']}/{s['tasks']} = "
                    f"{100 * s['success']:.1f}% [{100 * s['ci'][0]:.1f}, {100 * s['ci'][1]:.1f}]"
                    f"</td><td>{s['actions']:.1f}</td><td>{s['malformed']:.2f}</td>"
                    f"<td>{s['tokens']:.0f}</td><td>{s['seconds']:.0f}</td></tr>")
    ids = list(dict.fromkeys(r["task"] for m in models for r in res[m]))
    rows = ["<tr><th>task</th><th>kind</th>" + "".join(f"<th>{e(m)}</th>" for m in models)
            + "</tr>"]
    tdir = out / "trajectories"
    tdir.mkdir(exist_ok=True)
    for tid in ids:
        task = by_id.get(tid)
        cells = []
        for m in models:
            rec = next((r for r in res[m] if r["task"] == tid), None)
            if rec is None:
                cells.append("<td>-</td>")
                continue
            page = tdir / f"{m}--{tid}.html"
            page.write_text(_traj_html(rec, task))
            cls = "ok" if rec["success"] else "no"
            cells.append(f"<td class='{cls}'><a href='trajectories/{e(page.name)}'>"
                         f"{'pass' if rec['success'] else 'fail'}</a> {rec['actions']} act, "
                         f"{rec['seconds']:.0f}s</td>")
        title = e(task.prompt) if task else ""
        rows.append(f"<tr><td title='{title}'>{e(tid)}</td><td>{e(task.kind if task else '')}"
                    f"</td>{''.join(cells)}</tr>")
    page = (f"<html><head><meta charset='utf-8'><title>agent bench</title><style>{_CSS}</style>"
            f"</head><body><h1>selfdistill agent bench</h1><table>{''.join(head)}</table>"
            f"<p>Success: the hidden check passed after the agent stopped (approve-everything, "
            f"no learning). CI: Wilson 95%.</p><table>{''.join(rows)}</table></body></html>")
    path = out / "report.html"
    path.write_text(page)
    return path
