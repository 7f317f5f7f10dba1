"""The `discover` recipe: test-time self-distillation on one problem vs best-of-k and
multi-turn baselines.

config.py (settings, seeds) -> loop.py (one run: sample, grade, stop or update) ->
model.py (the real sampler, grader and SDPO update) -> run.py (resumable units,
`discover` / `discover-bench`) -> curves.py (discovery@k with CIs) -> report.py;
cli.py holds the typer commands, multiturn.py the in-context baseline's chat and
select.py `--select-hard` (the pool's problems that are hard for the model).
"""

from selfdistill.recipes.discover.config import (
    METHODS,
    SEED_STRIDE,
    DiscoverConfig,
    slug,
    step_seed,
    validate,
)
from selfdistill.recipes.discover.curves import (
    attempts_summary,
    best_of_k_curve,
    curve_with_ci,
    default_ks,
    method_curve,
    summarize_results,
)
from selfdistill.recipes.discover.loop import RunResult, run_discovery
from selfdistill.recipes.discover.model import Discoverer
from selfdistill.recipes.discover.report import write_report
from selfdistill.recipes.discover.run import run_discover, run_discover_bench, run_units

__all__ = ["METHODS", "SEED_STRIDE", "DiscoverConfig", "Discoverer", "RunResult",
           "attempts_summary", "best_of_k_curve", "curve_with_ci", "default_ks",
           "method_curve", "run_discover", "run_discover_bench", "run_discovery", "run_units",
           "slug", "step_seed", "summarize_results", "validate", "write_report"]
