"""The measurable demo: replay corrections of one kind, watch a held-out preference margin.

margin(prompt) = log p(preferred | prompt) - log p(dispreferred | prompt), summed over the
answer tokens (+ EOS) under the live model. The demo measures it on held-out prompts that
no correction touched, replays the script's corrections (each one a real adapter update
committed to a throw-away profile), and measures again.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfdistill.assist.config import SessionConfig
from selfdistill.assist.output import Output
from selfdistill.assist.report import write_demo_report
from selfdistill.assist.script import load_script, play_script
from selfdistill.assist.session import Session, request_chat
from selfdistill.assist.update import answer_token_logprobs
from selfdistill.errors import UserError
from selfdistill.generation.params import sampling_params


@dataclass
class HeldOut:
    """One held-out comparison."""

    prompt: str
    preferred: str
    dispreferred: str


def default_demo_script() -> Path:
    """examples/assist_demo_turns.yaml of the source tree."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "examples" / "assist_demo_turns.yaml"
        if cand.is_file():
            return cand
    raise UserError("examples/assist_demo_turns.yaml not found; pass --script FILE.")


def parse_heldout(settings: dict[str, Any]) -> list[HeldOut]:
    """The script's `heldout` list of {prompt, preferred, dispreferred}."""
    items = settings.get("heldout")
    if not isinstance(items, list) or not items:
        raise UserError("The demo script needs a non-empty 'heldout' list of "
                        "{prompt, preferred, dispreferred}.")
    out = []
    for i, it in enumerate(items, 1):
        if not isinstance(it, dict) or not all(isinstance(it.get(k), str)
                                               for k in ("prompt", "preferred", "dispreferred")):
            raise UserError(f"heldout item {i} needs prompt, preferred and dispreferred strings.")
        out.append(HeldOut(it["prompt"], it["preferred"], it["dispreferred"]))
    return out


def margins(session: Session, items: list[HeldOut]) -> list[tuple[float, float]]:
    """(sequence margin, decision margin) for every held-out item, under the live model.

    sequence: log p(preferred) - log p(dispreferred), whole answers + EOS.
    decision: the same at the first token where the two answers differ only (for a
    preferred answer that is a prefix of the dispreferred one: log p(EOS) - log p(first
    extra token)); immune to the length effect of the sequence margin.
    """
    chats = [request_chat(it.prompt, session.cfg.system_prompt) for it in items]
    scored = answer_token_logprobs(session.model, session.tokenizer, chats + chats,
                                   [it.preferred for it in items]
                                   + [it.dispreferred for it in items])
    n = len(items)
    out = []
    for i in range(n):
        (pi, pl), (di, dl) = scored[i], scored[n + i]
        j = next((k for k, (a, b) in enumerate(zip(pi, di, strict=False)) if a != b),
                 min(len(pi), len(di)) - 1)
        out.append((sum(pl) - sum(dl), pl[j] - dl[j]))
    return out


def control_turns(turns: list[Any], control_feedback: list[str]) -> list[Any]:
    """The same turns with the i-th feedback text replaced by control_feedback[i]."""
    fb_idx = [i for i, t in enumerate(turns) if isinstance(t, dict)
              and ("feedback" in t or "fb" in t)]
    if len(fb_idx) != len(control_feedback):
        raise UserError(f"control_feedback has {len(control_feedback)} entries but the script "
                        f"has {len(fb_idx)} feedback turns.")
    out = list(turns)
    for i, text in zip(fb_idx, control_feedback, strict=True):
        out[i] = {"feedback": str(text)}
    return out


def _replay(name: str, root: Path, spec: str | None, cfg: SessionConfig | None,
            out: Output | None, turns: list[Any], items: list[HeldOut], show: int = 0
            ) -> tuple[list[tuple[float, float]], list[tuple[float, float]], int]:
    with Session(name, spec, cfg, out, root=root) as session:
        if session.profile.current != 0:
            raise UserError(f"Profile '{name}' under {root} already has updates; "
                            "the demo needs a fresh one.")
        print(f"demo profile: {session.profile.dir}", flush=True)
        before = margins(session, items)
        play_script(session, turns)
        after = margins(session, items)
        if show:
            _show(session, items[:show])
        return before, after, session.profile.current


def _show(session: Session, items: list[HeldOut]) -> None:
    """Print the live model's greedy answers to some held-out prompts."""
    params = sampling_params(0.0, max_new_tokens=session.cfg.max_new_tokens,
                             return_logprobs=False)
    chats = [request_chat(it.prompt, session.cfg.system_prompt) for it in items]
    for it, outs in zip(items, session.generator().generate(chats, params), strict=True):
        print(f"-- after the updates, greedy answer to: {it.prompt}\n{outs[0].text.strip()}\n--",
              flush=True)


def run_demo(script: str | Path | None = None, model_spec: str | None = None,
             cfg: SessionConfig | None = None, out: Output | None = None,
             home: Path | None = None, profile: str = "assist-demo",
             control: bool = True, show: int = 0) -> dict[str, Any]:
    """Measure held-out margins, replay the script's corrections, measure again; return numbers.

    With control (and a `control_feedback` list in the script), the same turns are replayed
    into a second fresh profile with the opposite feedback, to separate what the corrections
    taught from what any update does.
    """
    path = Path(script) if script else default_demo_script()
    settings, turns = load_script(path)
    items = parse_heldout(settings)
    spec = model_spec or settings.get("model")
    root = home or Path(tempfile.mkdtemp(prefix="selfdistill-assist-demo-"))
    before, after, n_updates = _replay(profile, root, spec, cfg, out, turns, items, show)
    ctrl_after = None
    cf = settings.get("control_feedback")
    if control and cf:
        print("\n== control: the same turns with the opposite feedback ==", flush=True)
        _, ctrl_after, _ = _replay(f"{profile}-control", root, spec, cfg, out,
                                   control_turns(turns, list(cf)), items, show)
    result: dict[str, Any] = {"updates": n_updates, "n": len(items)}
    for m, name in ((0, "sequence"), (1, "decision")):
        report = _report(items, [b[m] for b in before], [a[m] for a in after], n_updates,
                         None if ctrl_after is None else [c[m] for c in ctrl_after], name)
        print(report.pop("table"), flush=True)
        result[name] = report
    result.update({k: result["sequence"][k] for k in ("before", "after", "mean_before",
                                                      "mean_after", "rose")})
    (root / f"{profile}-demo-result.json").write_text(json.dumps(result, indent=2))
    report = write_demo_report(root, [it.prompt for it in items], result, str(path))
    print(f"report: {report} and {report.with_suffix('.html')}", flush=True)  # assist/report.py
    return result


_TITLES = {
    "sequence": "log p(preferred) - log p(dispreferred), whole answers",
    "decision": "log p(preferred) - log p(dispreferred) at the first differing token",
}


def _report(items: list[HeldOut], before: list[float], after: list[float],
            n_updates: int, ctrl: list[float] | None = None,
            metric: str = "sequence") -> dict[str, Any]:
    lines = ["", f"held-out preference margin [{metric}]: {_TITLES[metric]}  "
             f"(after {n_updates} corrections)",
             f"{'prompt':<58} {'before':>9} {'after':>9} {'change':>8}"
             + (f" {'control':>9} {'c.change':>8}" if ctrl else "")]
    for i, (it, b, a) in enumerate(zip(items, before, after, strict=True)):
        row = f"{it.prompt[:58]:<58} {b:>9.3f} {a:>9.3f} {a - b:>+8.3f}"
        if ctrl:
            row += f" {ctrl[i]:>9.3f} {ctrl[i] - b:>+8.3f}"
        lines.append(row)
    mb, ma = statistics.fmean(before), statistics.fmean(after)
    rose = sum(a > b for a, b in zip(after, before, strict=True))
    row = f"{'mean':<58} {mb:>9.3f} {ma:>9.3f} {ma - mb:>+8.3f}"
    res: dict[str, Any] = {"before": before, "after": after, "mean_before": mb,
                           "mean_after": ma, "rose": rose, "n": len(items),
                           "updates": n_updates}
    if ctrl:
        mc = statistics.fmean(ctrl)
        row += f" {mc:>9.3f} {mc - mb:>+8.3f}"
        res.update(control_after=ctrl, mean_control=mc)
    lines.append(row)
    lines.append(f"margin rose on {rose}/{len(items)} held-out prompts")
    if ctrl:
        above = sum(a > c for a, c in zip(after, ctrl, strict=True))
        lines.append(f"corrections vs opposite-feedback control: {ma - mc:+.3f} mean margin "
                     f"(higher on {above}/{len(items)} prompts); the rest of the rise is what "
                     "any update of this kind does")
        res["above_control"] = above
    res["table"] = "\n".join(lines)
    return res
