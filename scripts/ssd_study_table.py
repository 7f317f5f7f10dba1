"""Print the SSD study's table (docs/results.md) from its run directories.

    python scripts/ssd_study_table.py runs/study

One row per `Ttrain*` run that has a report: the training data's truncation and no-code
rates and kept count (sample/stats.json), base best vs SSD best pass@1 with their CIs, the
paired gain with its 95% CI, the T_eval values the sweep covered, and both models'
truncation at their best T_eval (results.json, eval/*/summary.json).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def pct(x: float) -> str:
    """12.3%."""
    return f"{100 * x:.1f}%"


def ci(entry: dict) -> str:
    """12.3% [10.0, 14.6]."""
    lo, hi = entry["ci"]
    return f"{pct(entry['mean'])} [{100 * lo:.1f}, {100 * hi:.1f}]"


def truncation_at(summary_path: Path, temperature: float) -> str:
    """The truncation rate recorded for one T_eval in an evaluation summary.json."""
    if not summary_path.exists():
        return "?"
    for row in json.loads(summary_path.read_text()):
        if abs(row["temperature"] - temperature) < 1e-9:
            return pct(row["truncation_rate"])
    return "?"


def main(root: str) -> None:
    """One markdown row per T_train run."""
    print("| T_train | train data: cut / no code / kept | T_eval swept | base best | "
          "SSD best | SSD - base [95% CI] | cut at best T: base / SSD |")
    print("|---|---|---|---|---|---|---|")
    for run in sorted(Path(root).glob("Ttrain*")):
        stats = json.loads((run / "sample" / "stats.json").read_text())
        data = (f"{pct(stats['truncation_rate'])} / {pct(stats['no_code_rate'])} / "
                f"{stats['kept']} of {stats['samples']}")
        res_path = run / "results.json"
        if not res_path.exists():
            print(f"| {run.name[6:]} | {data} | not evaluated yet | | | | |")
            continue
        res = json.loads(res_path.read_text())
        temps = ", ".join(f"{r['temperature']:g}" for r in res["all"]["base"])
        b, s, g = res["base_best"], res["ssd_best"], res["paired_gain"]
        gain = (f"{100 * g['gain']:+.1f} [{100 * g['ci'][0]:+.1f}, {100 * g['ci'][1]:+.1f}] "
                f"({g['problems']} problems)")
        cut = (f"{truncation_at(run / 'eval' / 'base' / 'summary.json', b['temperature'])} / "
               f"{truncation_at(run / 'eval' / 'ssd' / 'summary.json', s['temperature'])}")
        print(f"| {run.name[6:]} | {data} | {temps} | {ci(b['pass@1'])} (T {b['temperature']:g}) "
              f"| {ci(s['pass@1'])} (T {s['temperature']:g}) | {gain} | {cut} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/study")
