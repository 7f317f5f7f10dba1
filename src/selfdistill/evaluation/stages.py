"""Resumable pipeline stages shared by the recipes: sample answers, then grade them.

Each stage reads and writes plain JSONL keyed by (problem_id, sample_idx). A stage that is
killed at any moment and started again does only the missing work, never duplicating or
losing a record (see records.JsonlWriter).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from selfdistill.core.console import progress_bar
from selfdistill.core.records import JsonlWriter, read_jsonl
from selfdistill.execution import grade_many
from selfdistill.generation import Generator, SamplingParams
from selfdistill.problems import Problem
from selfdistill.prompts.task import build_chat, extract_code

Key = tuple[str, int]


def rows_per_call(batch_size: int) -> int:
    """Rows a sampling stage hands to one generate call: four batches.

    The generator refills a finished row's slot from the rows still waiting in its call
    (continuous batching), so with four batches per call one long answer no longer holds a
    nearly empty batch to the end of every batch; a call is also one durable flush.
    """
    return 4 * max(1, batch_size)


def sample_seed(base: int, problem_id: str, sample_idx: int) -> int:
    """The seed of one sample's random stream: (base seed, problem id, sample index) only.

    Not the call it is sampled in, so the same seed gives the same samples at any worker
    count, batch size or chunking, and after any number of resumes.
    """
    h = hashlib.sha256(f"{base}|{problem_id}#{sample_idx}".encode())
    return int.from_bytes(h.digest()[:7], "big")


def sample_stage(
    generator: Generator,
    problems: Sequence[Problem],
    params: SamplingParams,
    out_path: str | Path,
    *,
    chunk_size: int = 32,
    extra: dict[str, Any] | None = None,
    chat_fn: Callable[[Problem], list[dict[str, str]]] = build_chat,
    extract_fn: Callable[[str, Problem], str | None] | None = None,
    description: str = "sampling",
    keep_token_ids: bool = False,
) -> list[dict[str, Any]]:
    """Sample params.n answers per problem into out_path; resume where a previous run stopped.

    Each record: problem_id, sample_idx, text, code (extracted, or None), token counts,
    finish_reason, plus `extra` fields. Returns all records (old and new) in problem order.
    extract_fn(text, problem) finds the code (default: prompts.extract_code).
    """
    out_path = Path(out_path)
    done = {(r["problem_id"], r["sample_idx"]): r for r in read_jsonl(out_path)}
    todo: list[tuple[Problem, int]] = [
        (p, i) for p in problems for i in range(params.n) if (p.id, i) not in done
    ]
    one = replace(params, n=1)
    if todo:
        with JsonlWriter(out_path) as writer, progress_bar() as bar:
            task = bar.add_task(description, total=len(problems) * params.n, info="",
                                completed=len(problems) * params.n - len(todo))
            tokens, t0 = 0, time.perf_counter()
            for start in range(0, len(todo), chunk_size):
                chunk = todo[start:start + chunk_size]
                keys = [(p.id, i) for p, i in chunk]
                chunk_params = replace(one, seeds=[sample_seed(params.seed or 0, p, i)
                                                   for p, i in keys])
                outs = generator.generate([chat_fn(p) for p, _ in chunk], chunk_params,
                                          progress=False)
                records = []
                for (p, i), comps in zip(chunk, outs, strict=True):
                    c = comps[0]
                    tokens += len(c.token_ids)
                    rec = {
                        "problem_id": p.id, "sample_idx": i, "text": c.text,
                        "code": (extract_fn(c.text, p) if extract_fn else
                                 extract_code(c.text, p.entry_point)),
                        "n_tokens": len(c.token_ids),
                        "prompt_tokens": len(c.prompt_token_ids),
                        "finish_reason": c.finish_reason, **(extra or {}),
                    }
                    if keep_token_ids:  # exact ids: SFT trains on what was sampled
                        rec["prompt_token_ids"] = list(c.prompt_token_ids)
                        rec["token_ids"] = list(c.token_ids)
                    records.append(rec)
                    done[(p.id, i)] = rec
                writer.write_many(records)  # one durable flush per chunk
                rate = tokens / max(time.perf_counter() - t0, 1e-9)
                bar.update(task, advance=len(chunk), info=f"{rate:,.0f} tok/s")
    return [done[(p.id, i)] for p in problems for i in range(params.n)]


def grade_stage(
    samples: Sequence[dict[str, Any]],
    problems: Sequence[Problem],
    out_path: str | Path,
    *,
    sandbox_config: Any = None,
    chunk_size: int = 64,
    description: str = "grading",
    program_fn: Callable[[Problem, str | None], str | None] | None = None,
) -> list[dict[str, Any]]:
    """Grade sample records in the sandbox into out_path (resumable); return verdict records.

    program_fn(problem, code) builds the program that runs (default: the code itself).
    """
    out_path = Path(out_path)
    by_id = {p.id: p for p in problems}
    done = {(r["problem_id"], r["sample_idx"]): r for r in read_jsonl(out_path)}
    todo = [s for s in samples if (s["problem_id"], s["sample_idx"]) not in done]
    if todo:
        with JsonlWriter(out_path) as writer, progress_bar() as bar:
            task = bar.add_task(description, total=len(samples), info="",
                                completed=len(samples) - len(todo))
            passed = sum(1 for r in done.values() if r.get("passed"))
            for start in range(0, len(todo), chunk_size):
                chunk = todo[start:start + chunk_size]
                progs = [(by_id[s["problem_id"]], s.get("code")) for s in chunk]
                if program_fn is not None:
                    progs = [(p, program_fn(p, c)) for p, c in progs]
                verdicts = grade_many(progs, config=sandbox_config)
                records = []
                for s, v in zip(chunk, verdicts, strict=True):
                    rec = {"problem_id": s["problem_id"], "sample_idx": s["sample_idx"],
                           **v.to_dict()}
                    records.append(rec)
                    done[(s["problem_id"], s["sample_idx"])] = rec
                    passed += bool(v.passed)
                writer.write_many(records)
                bar.update(task, advance=len(chunk), info=f"{passed} passed")
    return [done[(s["problem_id"], s["sample_idx"])] for s in samples]


def per_problem_counts(problems: Sequence[Problem], verdicts: Sequence[dict[str, Any]]
                       ) -> list[dict[str, Any]]:
    """Collapse verdict records into {problem_id, difficulty, n, c} rows for metrics."""
    rows: dict[str, dict[str, Any]] = {
        p.id: {"problem_id": p.id, "difficulty": p.difficulty, "n": 0, "c": 0} for p in problems
    }
    for v in verdicts:
        row = rows[v["problem_id"]]
        row["n"] += 1
        row["c"] += int(bool(v.get("passed")))
    return [r for r in rows.values() if r["n"] > 0]
