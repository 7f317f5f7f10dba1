"""`selfdistill credit`: the per-token credit of one answer as an HTML page (and text).

Three sources: an answer given on the command line (scored now with the SDPO re-prompt),
a run directory's saved credit (RUN/credit.jsonl, written by sdpo/discover runs), or one
update of an assistant profile (re-scored with the adapter the update started from).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from selfdistill.analysis.credit import credit_for_answer, load_records
from selfdistill.analysis.credit_view import render_text, summary_line, write_html
from selfdistill.assist.profile import Profile
from selfdistill.assist.session import request_chat
from selfdistill.assist.update import demo_examples, hindsight_example
from selfdistill.core.console import quiet_hf
from selfdistill.core.models import DEFAULT_MODEL, load_model
from selfdistill.core.records import read_jsonl
from selfdistill.errors import UserError


def _text_arg(value: str | None, name: str) -> str | None:
    """A text option; '@FILE' reads the file (answers are multi-line)."""
    if value is None or not value.startswith("@"):
        return value
    p = Path(value[1:])
    if not p.is_file():
        raise UserError(f"--{name}: file not found: {p}")
    return p.read_text()


def _rewards(text: str) -> list[float]:
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"--group-rewards must be comma-separated numbers, got '{text}'.") from None
    if not vals:
        raise UserError("--group-rewards needs at least this answer's reward.")
    return vals


def _from_run(run: Path, step: int | None, top: int) -> tuple[list[Any], str]:
    path = run / "credit.jsonl" if run.is_dir() else run
    if not path.is_file():
        raise UserError(f"No saved credit at {path}: SDPO and discover runs write "
                        "RUN/credit.jsonl (credit.enabled=true).")
    recs = load_records(path)
    if step is not None:
        recs = [r for r in recs if r.meta.get("step") == step]
        if not recs:
            raise UserError(f"No saved credit for step {step} in {path}.")
    recs = sorted(recs, key=lambda r: r.peak(), reverse=True)[:top]
    if not recs:
        raise UserError(f"{path} holds no credit records.")
    where = f"step {step}" if step is not None else f"top {len(recs)} by peak"
    return recs, f"Token credit: {run.name} ({where})"


def _from_profile(profile: str, version: int, home: Path | None, alternatives: int
                  ) -> tuple[list[Any], str]:
    prof = Profile(profile, home)
    if not prof.exists():
        raise UserError(f"No assistant profile '{profile}' at {prof.dir}.")
    ups = [r for r in read_jsonl(prof.log_path) if r.get("event") == "update"
           and r.get("version") == version]
    if not ups:
        raise UserError(f"Profile '{profile}' has no update v{version} (see /history).")
    up = ups[-1]
    if "answer" not in up or "request" not in up:
        raise UserError(f"Update v{version} was learned from a log batch; pick a chat update.")
    parent = prof.version_dir(int(up["parent"]))
    if not parent.is_dir():
        raise UserError(f"The adapter v{up['parent']} this update started from is gone.")
    model, tok = load_model(str(parent))
    chat = request_chat(up["request"])
    if up.get("kind") == "demonstration":
        ex = demo_examples(tok, chat, up["demonstration"], [up["answer"]])[0]
        fb, sol = None, up["demonstration"]
    else:
        ex = hindsight_example(tok, chat, up["answer"], up["followup"])
        fb, sol = up["followup"], None
    # The update's own teacher: the pre-update adapter on the assistant's hindsight template.
    rec = credit_for_answer(model, tok, chat, up["answer"], feedback=fb, solution=sol,
                            teacher_chat=ex.teacher_chat, alternatives=alternatives,
                            model_name=f"{prof.meta().get('model', '')} + adapter v{up['parent']}",
                            meta={"version": version, "kind": up.get("kind")})
    return [rec], f"Token credit: assistant update v{version} ({up.get('kind')})"


def credit_cmd(
    model: str = typer.Option(DEFAULT_MODEL, "--model", help="Model alias, dir, .gguf or hub id."),
    prompt: str = typer.Option(None, "--prompt", help="The question (or @FILE)."),
    answer: str = typer.Option(None, "--answer", help="The answer to score (or @FILE)."),
    feedback: str = typer.Option(None, "--feedback", help="Feedback on the answer (or @FILE)."),
    solution: str = typer.Option(None, "--solution", help="A successful sibling answer the "
                                 "teacher sees (or @FILE)."),
    reward: float = typer.Option(0.0, "--reward", help="This answer's reward (GRPO side)."),
    group_rewards: str = typer.Option("0,1", "--group-rewards", help="Rewards of the answer's "
                                      "group, this answer's first: GRPO's A = r - mean(r). "
                                      "Default: it failed, one sibling passed."),
    run: Path = typer.Option(None, "--run", help="Render a run's saved credit (RUN or "
                             "RUN/credit.jsonl) instead of scoring."),
    step: int = typer.Option(None, "--step", help="With --run: that step's saved rollouts."),
    top: int = typer.Option(3, "--top", help="With --run: at most this many (largest peak)."),
    profile: str = typer.Option(None, "--profile", help="An assistant profile: render one of "
                                "its updates (with --update)."),
    update: int = typer.Option(None, "--update", help="With --profile: the update's version."),
    home: Path = typer.Option(None, "--home", help="With --profile: the profiles root."),
    alternatives: int = typer.Option(5, "--alternatives", help="Teacher alternatives per token."),
    out: Path = typer.Option(None, "--out", help="HTML file (default: credit.html, or "
                             "RUN/credit/view.html)."),
    text: bool = typer.Option(False, "--text", help="Also print the per-token table here."),
) -> None:
    """Per-token credit A_t (SDPO) beside GRPO's uniform advantage, as a self-contained HTML page."""
    quiet_hf()
    if alternatives < 1:
        raise UserError("--alternatives must be >= 1.")
    if run is not None:
        records, title = _from_run(run, step, max(1, top))
        out = out or (run if run.is_dir() else run.parent) / "credit" / "view.html"
    elif profile is not None:
        if update is None:
            raise UserError("--profile needs --update VERSION (the update to show).")
        records, title = _from_profile(profile, update, home, alternatives)
    else:
        prompt, answer = _text_arg(prompt, "prompt"), _text_arg(answer, "answer")
        feedback, solution = _text_arg(feedback, "feedback"), _text_arg(solution, "solution")
        if not prompt or not answer:
            raise UserError("Give --prompt and --answer (and --feedback and/or --solution), "
                            "or --run RUN, or --profile NAME --update V.")
        if not (feedback and feedback.strip()) and not (solution and solution.strip()):
            raise UserError("The teacher needs hindsight: give --feedback and/or --solution.")
        group = _rewards(group_rewards)
        if group[0] != reward:
            group = [reward, *group[1:]]

        m, tok = load_model(model)
        records = [credit_for_answer(m, tok, prompt, answer, feedback=feedback or None,
                                     solution=solution or None, reward=reward,
                                     group_rewards=group, alternatives=alternatives,
                                     model_name=model)]
        title = "Token credit"
    path = write_html(records, out or Path("credit.html"), title)
    for rec in records:
        print(render_text(rec) if text else summary_line(rec))
    print(f"credit page: {path.resolve()}")
