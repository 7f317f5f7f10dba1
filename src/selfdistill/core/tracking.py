"""Training logs of an online run: RUN/metrics.jsonl, RUN/rollouts.jsonl and TensorBoard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selfdistill.core.records import JsonlWriter


class MetricsLogger:
    """metrics.jsonl + rollouts.jsonl + TensorBoard on rank 0; a no-op elsewhere."""

    def __init__(self, run_dir: Path, enabled: bool):
        self.enabled = enabled
        self.metrics = JsonlWriter(run_dir / "metrics.jsonl") if enabled else None
        self.rollouts = JsonlWriter(run_dir / "rollouts.jsonl") if enabled else None
        self.tb = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tb"))
            except ImportError:  # tensorboard is optional: JSONL always has everything
                self.tb = None

    def log(self, step: int, row: dict[str, Any], prefix: str = "train") -> None:
        """One metrics row (and its numbers as TensorBoard scalars under prefix/)."""
        if not self.enabled:
            return
        self.metrics.write({"step": step, "kind": prefix, **row})
        if self.tb is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    self.tb.add_scalar(f"{prefix}/{k}", v, step)
            self.tb.flush()

    def log_rollouts(self, records: list[dict[str, Any]]) -> None:
        """Append rollout records."""
        if self.enabled and records:
            self.rollouts.write_many(records)

    def close(self) -> None:
        """Flush and close every writer."""
        if self.enabled:
            self.metrics.close()
            self.rollouts.close()
            if self.tb is not None:
                self.tb.close()


def drop_rows_after(run_dir: Path, start: int) -> None:
    """Before a run resumes at `start`: drop the metrics, rollout and credit rows of the steps
    it does again (all of them from step 0, whose evaluation runs again too), so a kill
    between two checkpoints never logs a step twice."""
    from selfdistill.core.records import keep_jsonl

    for name, step_of in (("metrics.jsonl", lambda r: r.get("step", 0)),
                          ("rollouts.jsonl", lambda r: r.get("step", 0)),
                          ("credit.jsonl", lambda r: r.get("meta", {}).get("step", 0))):
        keep_jsonl(run_dir / name, lambda r, f=step_of: start > 0 and f(r) <= start)
