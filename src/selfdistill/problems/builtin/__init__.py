"""The built-in problem set: original problems written for selfdistill.

Problems are authored as plain Python data in ``easy.py``, ``medium.py`` and ``hard.py``
(one dict per problem) and turned into :class:`~selfdistill.problems.schema.Problem`
records here. Every problem carries a reference solution that passes all its tests.

Splits are deterministic: within each (difficulty, kind) stratum problems are ordered by
the SHA-256 of their id and the first quarter (rounded) goes to ``dev`` (~75/25
train/dev). The
``hard`` split is a hand-picked subset of medium/hard problems (``hard_subset=True``)
meant to be out of reach for a very small model while staying honest.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from selfdistill.problems.builtin import easy, hard, medium
from selfdistill.problems.schema import Problem, TestCase

SPLITS = ("all", "train", "dev", "hard")
DEV_FRACTION = 0.25


def _tests(raw: dict[str, Any]) -> list[TestCase]:
    """Convert the compact authoring form of a problem's tests to TestCase records."""
    kind = raw["kind"]
    out: list[TestCase] = []
    for i, t in enumerate(raw["tests"]):
        public = i == 0
        if kind == "assert":
            out.append(TestCase(kind="assert", input=t, public=public))
        elif kind == "call":
            args, expected = t
            text = "\n".join(json.dumps(a) for a in args)
            out.append(TestCase(kind="call", input=text, output=json.dumps(expected), public=public))
        elif kind == "stdio":
            stdin, stdout = t
            out.append(TestCase(kind="stdio", input=stdin, output=stdout, public=public))
        else:
            raise ValueError(f"unknown test kind {kind!r} in {raw['slug']}")
    return out


def _build(raw: dict[str, Any], difficulty: str) -> Problem:
    """Turn one authoring dict into a Problem (split filled in later)."""
    kind = raw["kind"]
    starter = raw.get("starter", "")
    metadata: dict[str, Any] = {"hard_subset": bool(raw.get("hard_subset", False))}
    if kind == "call" and "class Solution" in starter:
        metadata["func_name"] = raw["entry"]
    if raw.get("tags"):
        metadata["tags"] = list(raw["tags"])
    return Problem(
        id=f"builtin/{difficulty}-{raw['slug']}",
        statement=raw["statement"].strip(),
        tests=_tests(raw),
        starter_code=starter,
        entry_point=raw.get("entry"),
        difficulty=difficulty,  # type: ignore[arg-type]
        source="builtin",
        reference=raw["reference"].strip() + "\n",
        metadata=metadata,
    )


def _all_problems() -> list[Problem]:
    """Every built-in problem with its split assigned, in a stable order."""
    problems = [_build(r, "easy") for r in easy.PROBLEMS]
    problems += [_build(r, "medium") for r in medium.PROBLEMS]
    problems += [_build(r, "hard") for r in hard.PROBLEMS]
    strata: dict[tuple[str, str], list[Problem]] = {}
    for p in problems:
        strata.setdefault((p.difficulty, p.test_kind), []).append(p)
    for members in strata.values():
        members.sort(key=lambda p: hashlib.sha256(p.id.encode()).hexdigest())
        n_dev = round(len(members) * DEV_FRACTION)
        for i, p in enumerate(members):
            p.metadata["split"] = "dev" if i < n_dev else "train"
    return problems


def load_builtin(split: str = "all") -> list[Problem]:
    """Load the built-in problems of one split: "all", "train", "dev" or "hard"."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    problems = _all_problems()
    if split == "all":
        return problems
    if split == "hard":
        return [p for p in problems if p.metadata["hard_subset"]]
    return [p for p in problems if p.metadata["split"] == split]


__all__ = ["DEV_FRACTION", "SPLITS", "load_builtin"]
