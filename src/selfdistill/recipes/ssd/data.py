"""SSD's data policy: which of the frozen model's own answers become training data.

SSD never checks correctness; it only removes answers that cannot teach a program:

* **truncated** answers (cut at `sample.max_new_tokens`, no end of sequence):
  `drop` (default) leaves them out; `keep` trains on them without an EOS (the model
  learns the text but never that it ended, i.e. rambling); `flag` keeps and trains on
  them like `keep`, with `truncated: true` on their line of `sample/kept.jsonl`.
* **stubs** (`sample.stub_rule`): `degenerate` (default) drops empty answers, repetition
  loops, placeholder bodies (`pass` / `...` only) and prose without any code; `oneline`
  is the older rule (also drops every answer whose code has one non-empty line, which
  removes short, properly ended answers); `none` keeps everything.

docs/ssd.md says why these defaults (measured truncation and no-code rates).
"""

from __future__ import annotations

import ast
import json
import os
import re
import statistics
import zlib
from pathlib import Path
from typing import Any

from selfdistill.errors import UserError

TRUNCATED_POLICIES = ("drop", "keep", "flag")
STUB_RULES = ("degenerate", "oneline", "none")
# Below this zlib ratio (compressed / raw bytes) a long answer is a repetition loop: on 192
# measured MBPP answers the properly ended ones sat at >= 0.29, the two loops (both cut at
# the token limit) at 0.09 and 0.19 (docs/ssd.md, "Data policy").
REPETITIVE_ZLIB_RATIO = 0.2
_REPETITIVE_MIN_CHARS = 200
_CODE_LINE = re.compile(r"^\s*(def|class|import|from|return|for|while|if|print|@)\b|^\s*\w+\s*=")


def check_policy(truncated: str, stub_rule: str) -> None:
    """UserError naming the allowed values when a data-policy setting is unknown."""
    if truncated not in TRUNCATED_POLICIES:
        raise UserError(f"sample.truncated must be one of {', '.join(TRUNCATED_POLICIES)}, "
                        f"got {truncated!r}")
    if stub_rule not in STUB_RULES:
        raise UserError(f"sample.stub_rule must be one of {', '.join(STUB_RULES)}, "
                        f"got {stub_rule!r}")


def zlib_ratio(text: str) -> float:
    """Compressed over raw size: low for text that repeats itself."""
    raw = text.encode()
    return len(zlib.compress(raw)) / max(len(raw), 1)


def _placeholder_only(code: str) -> bool:
    """True when the code parses and every function/class body is pass, ... or a docstring."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False

    def empty_body(body: list[ast.stmt]) -> bool:
        return all(isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(
            s.value, ast.Constant)) for s in body)

    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    other = [n for n in tree.body if not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef
                                                    | ast.Import | ast.ImportFrom)]
    return bool(defs) and not other and all(empty_body(d.body) for d in defs)


def degenerate_reason(text: str, code: str | None) -> str | None:
    """Why an answer cannot teach a program (empty/repetitive/placeholder/prose), or None."""
    if not text.strip():
        return "empty"
    if len(text) >= _REPETITIVE_MIN_CHARS and zlib_ratio(text) < REPETITIVE_ZLIB_RATIO:
        return "repetitive"
    if code is not None and _placeholder_only(code):
        return "placeholder"
    if code is None and not any(_CODE_LINE.match(line) for line in text.splitlines()):
        return "prose"
    return None


def is_oneline_stub(text: str, code: str | None) -> bool:
    """The older rule: the code (or text) has at most one non-empty line."""
    body = code if code is not None else text
    return sum(1 for line in body.splitlines() if line.strip()) <= 1


def drop_reason(record: dict[str, Any], truncated: str = "drop",
                stub_rule: str = "degenerate") -> str | None:
    """The reason a sample record is left out of training, or None to keep it."""
    if truncated not in TRUNCATED_POLICIES:
        raise ValueError(f"truncated must be one of {TRUNCATED_POLICIES}, got {truncated!r}")
    if stub_rule not in STUB_RULES:
        raise ValueError(f"stub_rule must be one of {STUB_RULES}, got {stub_rule!r}")
    text, code = record["text"], record.get("code")
    if not text.strip():
        return "empty"  # whatever the rule: nothing to learn
    if truncated == "drop" and record.get("finish_reason") == "length":
        return "truncated"
    if stub_rule == "degenerate":
        return degenerate_reason(text, code)
    if stub_rule == "oneline" and is_oneline_stub(text, code):
        return "stub"
    return None


def select_samples(records: list[dict[str, Any]], truncated: str = "drop",
                   stub_rule: str = "degenerate"
                   ) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """(kept records, dropped count per reason); kept truncated answers carry truncated=True."""
    kept, dropped = [], {}
    for r in records:
        reason = drop_reason(r, truncated, stub_rule)
        if reason is None:
            cut = r.get("finish_reason") == "length"
            kept.append({**r, "truncated": True} if cut else r)
        else:
            dropped[reason] = dropped.get(reason, 0) + 1
    return kept, dropped


def sample_stats(records: list[dict[str, Any]], kept: list[dict[str, Any]],
                 dropped: dict[str, int], truncated: str = "drop",
                 stub_rule: str = "degenerate") -> dict[str, Any]:
    """What the synthesized dataset looks like (written to sample/stats.json)."""
    n = max(len(records), 1)

    def lengths(rs: list[dict[str, Any]]) -> dict[str, Any]:
        xs = sorted(r["n_tokens"] for r in rs) or [0]

        def q(p: float) -> int:
            return xs[min(len(xs) - 1, int(p * len(xs)))]

        return {"mean": statistics.fmean(xs), "p10": q(0.1), "p50": q(0.5), "p90": q(0.9),
                "max": xs[-1], "total": sum(xs)}

    return {
        "samples": len(records), "kept": len(kept), "dropped": dropped,
        "policy": {"truncated": truncated, "stub_rule": stub_rule},
        "no_code_rate": sum(r.get("code") is None for r in records) / n,
        "truncation_rate": sum(r["finish_reason"] == "length" for r in records) / n,
        "kept_truncated": sum(bool(r.get("truncated")) for r in kept),
        "tokens": lengths(records), "kept_tokens": lengths(kept),
    }


def sft_examples(records: list[dict[str, Any]], eos_id: int, max_len: int
                 ) -> list[dict[str, list[int]]]:
    """(prompt, own answer) as exact token ids, with the loss on answer tokens only."""
    out = []
    for r in records:
        prompt, answer = list(r["prompt_token_ids"]), list(r["token_ids"])
        if r["finish_reason"] == "stop" and (not answer or answer[-1] != eos_id):
            answer.append(eos_id)  # teach the model to stop where it stopped
        ids = (prompt + answer)[:max_len]
        labels = ([-100] * len(prompt) + answer)[:max_len]
        if any(x != -100 for x in labels):
            out.append({"input_ids": ids, "labels": labels})
    return out


def write_kept(path: Path, kept: list[dict[str, Any]]) -> None:
    """The exact training set by key (problem_id, sample_idx, truncated), written atomically."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as fh:
        for r in kept:
            fh.write(json.dumps({"problem_id": r["problem_id"], "sample_idx": r["sample_idx"],
                                 "truncated": bool(r.get("truncated"))}) + "\n")
    os.replace(tmp, path)
