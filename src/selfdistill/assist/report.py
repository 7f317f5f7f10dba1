"""The assistant demo's report (`assist demo`, `agent demo`): report.md + report.html."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from selfdistill.evaluation.report import markdown_table
from selfdistill.evaluation.report_html import invoked_command, write_html_report


def write_demo_report(out_dir: str | Path, prompts: list[str], result: dict[str, Any],
                      script: str = "") -> Path:
    """OUT/report.md + report.html for `assist demo` from run_demo's numbers."""
    out_dir = Path(out_dir)
    parts = ["# Assistant demo: held-out preference margins",
             f"{result.get('updates', '?')} corrections replayed"
             + (f" from `{script}`" if script else "") + "; margins measured on "
             f"{len(prompts)} held-out prompts no correction touched, before and after."]
    for name, title in (("sequence", "log p(preferred) - log p(dispreferred), whole answers"),
                        ("decision", "the same at the first differing token")):
        rep = result.get(name)
        if not rep:
            continue
        ctrl = rep.get("control_after")
        rows = []
        for i, p in enumerate(prompts):
            b, a = rep["before"][i], rep["after"][i]
            row = [p.replace("|", "\\|"), f"{b:.3f}", f"{a:.3f}", f"{a - b:+.3f}"]
            if ctrl:
                row += [f"{ctrl[i]:.3f}", f"{ctrl[i] - b:+.3f}"]
            rows.append(row)
        mb, ma = statistics.fmean(rep["before"]), statistics.fmean(rep["after"])
        mean = ["**mean**", f"{mb:.3f}", f"{ma:.3f}", f"{ma - mb:+.3f}"]
        if ctrl:
            mc = statistics.fmean(ctrl)
            mean += [f"{mc:.3f}", f"{mc - mb:+.3f}"]
        rows.append(mean)
        headers = ["prompt", "before", "after", "change"]
        if ctrl:
            headers += ["control (opposite feedback)", "control change"]
        parts += [f"## Margin: {name}", title + f"; rose on {rep['rose']}/{rep['n']} prompts.",
                  markdown_table(headers, rows)]
    path = out_dir / "report.md"
    path.write_text("\n\n".join(parts) + "\n")
    write_html_report(path, commands=[c for c in [_demo_command(script)] if c])
    return path


def _demo_command(script: str) -> str:
    return invoked_command() or ("selfdistill assist demo" +
                                 (f" --script {script}" if script else ""))
