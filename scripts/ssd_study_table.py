"""Print the SSD study's table (docs/results.md) from its run directories.

    python scripts/ssd_study_table.py runs/study [--plot t_eff.png]

One row per `Ttrain*` run that has a report: the training data's truncation and no-code
rates and kept count (sample/stats.json), base best vs SSD best pass@1 with their CIs, the
paired gain with its 95% CI (and how many problems got better / worse, with the exact sign
test), the T_eval values the sweep covered, and both models'
truncation at their best T_eval (results.json, eval/*/summary.json).
With --plot, also the paper's T_eff view: every SSD model's pass@1 (95% CI) against
T_eff = T_train x T_eval, the base model against T_eval for reference, and a least-squares
quadratic over the sampled SSD points, greedy ones left out (R^2 and its best T_eff printed).
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
                f"({g['problems']} problems")
        if "sign_p" in g:  # how many problems moved each way: the CI rests on these
            gain += f"; {g['better']} better, {g['worse']} worse, sign test p {g['sign_p']:.2f}"
        gain += ")"
        cut = (f"{truncation_at(run / 'eval' / 'base' / 'summary.json', b['temperature'])} / "
               f"{truncation_at(run / 'eval' / 'ssd' / 'summary.json', s['temperature'])}")
        print(f"| {run.name[6:]} | {data} | {temps} | {ci(b['pass@1'])} (T {b['temperature']:g}) "
              f"| {ci(s['pass@1'])} (T {s['temperature']:g}) | {gain} | {cut} |")


def plot_t_eff(root: str, out: str) -> None:
    """pass@1 against T_eff across the study's runs, with a quadratic fit over SSD points."""
    from selfdistill.analysis.t_eff import fit_t_eff
    from selfdistill.evaluation.report import plot_curves_with_ci

    def points(summary: Path, scale: float) -> list[tuple[float, float, float, float]]:
        pts = []
        for row in json.loads(summary.read_text()) if summary.exists() else []:
            e = row["summary"]["overall"].get("pass@1")
            if e:
                pts.append((scale * row["temperature"], e["mean"], e["ci"][0], e["ci"][1]))
        return sorted(pts)

    curves: dict[str, list[tuple[float, float, float, float]]] = {}
    t_trains: dict[float, list[tuple[float, float, float, float]]] = {}
    for run in sorted(Path(root).glob("Ttrain*")):
        t_train = float(run.name[6:])
        if pts := points(run / "eval" / "ssd" / "summary.json", t_train):
            curves[f"SSD T_train {t_train:g}"] = t_trains[t_train] = pts
    base = points(Path(root) / "base-eval" / "summary.json", 1.0)
    ssd = [p for pts in curves.values() for p in pts]
    if base:
        curves["base (x = T_eval)"] = base
    if not ssd:
        sys.exit("no evaluated SSD model yet: nothing to plot")
    path = plot_curves_with_ci(curves, out, xlabel="T_eff = T_train x T_eval",
                               ylabel="pass@1 (%)", title="SSD study: pass@1 vs T_eff")
    law = [{"t_train": t, "t_eval": x / t, "pass@1": y} for t, pts in t_trains.items()
           for x, y, *_ in pts]
    try:  # greedy points (T_eval 0, so T_eff 0 for every T_train) are not part of the law
        fit = fit_t_eff(law)
        print(f"quadratic fit over {fit['n_points']} sampled SSD points ({fit['greedy_left_out']} "
              f"greedy left out): R^2 = {fit['r2']:.3f}, best T_eff = {fit['best_t_eff']:.2f}")
    except ValueError as exc:
        print(f"no T_eff fit: {exc}")
    print(f"plot: {path}")


if __name__ == "__main__":
    args = sys.argv[1:]
    plot_to = None
    if "--plot" in args:
        i = args.index("--plot")
        plot_to = args[i + 1]
        args = args[:i] + args[i + 2:]
    main(args[0] if args else "runs/study")
    if plot_to:
        plot_t_eff(args[0] if args else "runs/study", plot_to)
