"""Training prompts from several sources, and the check that they never meet an evaluation set.

* `A+B+...` joins problem specs into one list, each with its own filters (e.g.
  `mbpp:F?split=train&limit=64 + lcb:F?end=2024-12-31&limit=32`): a `+` (spaces around it
  optional) that comes before a source name, the grammar of discover-bench's pools; ids must
  stay unique across the parts.
* The LiveCodeBench held-out slice: the newest rows of ../shared/datasets'
  lcb_before_2025-02_public.jsonl (contest dates from LCB_HELDOUT_START on) are an
  evaluation set of our own; training takes the rows before it (`lcb_train_spec`).
* `overlap` / `check_disjoint`: problems shared by a training source and an evaluation set,
  by id or by the same statement (whitespace and case folded).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from selfdistill.errors import UserError
from selfdistill.problems.schema import Problem

_JOIN = re.compile(r"\s*\+\s*(?=(?:builtin|humaneval|lcb|mbpp|evalplus|jsonl|hf|prompts)\b)")
LCB_HELDOUT_START = "2025-01-01"  # the January-2025 rows: 51 of the file's 211
LCB_LAST_TRAIN_DAY = "2024-12-31"


def split_spec(spec: str) -> list[str]:
    """The parts of an `A + B` spec (one part for a plain spec)."""
    return [p.strip() for p in _JOIN.split(spec) if p.strip()]


def join_sources(parts: Sequence[str], loaded: Sequence[list[Problem]]) -> list[Problem]:
    """The parts' problems in order; UserError when two parts share a problem id."""
    seen: dict[str, str] = {}
    out: list[Problem] = []
    for part, problems in zip(parts, loaded, strict=True):
        for p in problems:
            if p.id in seen:
                raise UserError(f"problem {p.id!r} is in both '{seen[p.id]}' and '{part}'")
            seen[p.id] = part
            out.append(p)
    return out


def lcb_heldout_spec(path: str) -> str:
    """The held-out LiveCodeBench slice of a file: its rows from LCB_HELDOUT_START on."""
    return f"lcb:{path}?start={LCB_HELDOUT_START}"


def lcb_train_spec(path: str) -> str:
    """The LiveCodeBench rows before the held-out slice (safe as training prompts)."""
    return f"lcb:{path}?end={LCB_LAST_TRAIN_DAY}"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def overlap(train: Sequence[Problem], evaluation: Sequence[Problem]) -> list[str]:
    """Ids of evaluation problems that a training problem matches by id or statement."""
    ids = {p.id for p in train}
    texts = {_norm(p.statement) for p in train if p.statement.strip()}
    return [p.id for p in evaluation
            if p.id in ids or (p.statement.strip() and _norm(p.statement) in texts)]


def check_disjoint(train: Sequence[Problem], evaluation: Sequence[Problem],
                   train_name: str, eval_name: str) -> None:
    """UserError naming the shared problems when training would see an evaluation problem."""
    shared = overlap(train, evaluation)
    if shared:
        more = f" and {len(shared) - 3} more" if len(shared) > 3 else ""
        raise UserError(f"training source '{train_name}' holds {len(shared)} problem(s) of the "
                        f"evaluation set '{eval_name}' ({', '.join(shared[:3])}{more}): "
                        "train on other prompts so the evaluation stays clean")
