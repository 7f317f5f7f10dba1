"""The SDPO run's report: report.md (step table, curves, dev pass@1, credit) + report.html."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selfdistill.analysis.credit_view import credit_section
from selfdistill.core.records import read_jsonl
from selfdistill.evaluation.report import markdown_table, pyplot
from selfdistill.evaluation.report_html import write_html_report

# (metrics.jsonl key, column title) of the SDPO step table.
_STEP_COLUMNS = [("reward_mean", "reward"), ("pass_rate", "pass"), ("loss", "loss"),
                 ("teacher_student_kl", "KL(student||teacher)"),
                 ("advantage_abs_mean", "mean |A_t|"), ("response_length_mean", "length"),
                 ("seconds_total", "seconds")]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def _thin(rows: list[dict[str, Any]], at_most: int = 25) -> list[dict[str, Any]]:
    """Every k-th row (first and last kept) so a long run's table stays readable."""
    if len(rows) <= at_most:
        return rows
    k = -(-len(rows) // at_most)
    keep = rows[::k]
    return keep if keep[-1] is rows[-1] else [*keep, rows[-1]]


def plot_sdpo_curves(train: list[dict[str, Any]], path: Path) -> Path:
    """Reward / pass rate and loss / teacher-student KL against the step."""
    plt = pyplot()
    steps = [r["step"] for r in train]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=110)
    a.plot(steps, [r.get("reward_mean", 0.0) for r in train], marker="o", label="reward")
    a.plot(steps, [r.get("pass_rate", 0.0) for r in train], marker=".", label="pass rate")
    a.set_xlabel("step")
    a.set_title("rollout reward")
    a.legend()
    b.plot(steps, [r.get("loss", 0.0) for r in train], marker="o", label="loss")
    b.plot(steps, [r.get("teacher_student_kl", 0.0) for r in train], marker=".",
           label="KL(student || teacher)")
    b.set_xlabel("step")
    b.set_title("distillation")
    b.legend()
    for ax in (a, b):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_sdpo_report(run_dir: str | Path) -> Path:
    """RUN/report.md (+ sdpo_curves.png, report.html) from metrics.jsonl, config and credit."""
    import yaml

    run_dir = Path(run_dir)
    cfg_file = run_dir / "config.yaml"
    cfg = (yaml.safe_load(cfg_file.read_text()) or {}) if cfg_file.is_file() else {}
    rows = read_jsonl(run_dir / "metrics.jsonl")
    train = [r for r in rows if r.get("kind") == "train"]
    evals = [r for r in rows if r.get("kind") == "eval"]
    loss, teacher, roll = cfg.get("loss", {}), cfg.get("teacher", {}), cfg.get("rollout", {})
    data, optim = cfg.get("data", {}), cfg.get("optim", {})
    parts = [
        "# SDPO report",
        f"Model `{cfg.get('model', {}).get('spec', '?')}`; prompts `{data.get('source', '?')}`, "
        f"{data.get('prompts_per_step', '?')} per step x G = {roll.get('n', '?')} rollouts; "
        f"algorithm {loss.get('algorithm', '?')} ({loss.get('divergence', '?')} on top-"
        f"{loss.get('top_k', '?')}), teacher {teacher.get('kind', '?')} "
        f"{teacher.get('rate', '')}; {optim.get('method', '?')} lr {optim.get('lr', '?')}. "
        f"{len(train)} of {cfg.get('steps', '?')} steps logged.",
    ]
    if train:
        plot = plot_sdpo_curves(train, run_dir / "sdpo_curves.png")
        first, last = train[0], train[-1]
        parts += [
            f"Reward {first.get('reward_mean', 0):.3f} at step {first['step']} -> "
            f"{last.get('reward_mean', 0):.3f} at step {last['step']} (rollouts of the "
            "policy being trained, sampled before each step).",
            f"![SDPO curves]({plot.name})",
            "## Steps",
            markdown_table(["step", *[t for _, t in _STEP_COLUMNS], "context sol/fb/none"],
                           [[r["step"], *[_fmt(r.get(k)) for k, _ in _STEP_COLUMNS],
                             f"{r.get('with_solution', 0)}/{r.get('feedback_only', 0)}/"
                             f"{r.get('no_context', 0)}"] for r in _thin(train)]),
        ]
    if evals:
        keys = sorted({k for r in evals for k in r if k.startswith("pass@1")})
        parts += ["## Dev evaluation",
                  markdown_table(["step", *keys],
                                 [[r["step"], *[_fmt(r.get(k)) for k in keys]] for r in evals])]
    section = credit_section(run_dir)
    if section:
        parts.append(section)
    path = run_dir / "report.md"
    path.write_text("\n\n".join(parts) + "\n")
    write_html_report(path)
    return path
