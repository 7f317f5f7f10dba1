"""Sampling stages in several processes of one thread each (CPU data parallelism).

On a CPU a small model's decode step is a chain of small matmuls plus Python work: a second
thread in the same process barely helps (the demo sampled at 93 tok/s with two threads vs
~100 with one), while a second process doubles the throughput. `presample` fills the
sample files that `sample_stage` would write, in `workers` spawned processes: every job
(one model at one temperature, or one SSD sampling stage) is cut into shards when there
are fewer jobs than workers, each shard is sampled into its own `NAME.partK.jsonl`, and the
parts are appended to the job's file when they are done. The callers then run their usual
stages, which find every sample on disk and go straight to grading.

Resumable like the stages themselves: a killed run leaves complete records in the part
files; the next call folds them into the job's file first and samples only what is missing.
Each sample draws from its own stream (stages.sample_seed: seed, problem, sample index),
so any worker count gives the same samples (up to floating-point differences of the
batched forward; see tests/evaluation/test_batch_invariance.py).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from selfdistill.core.console import console, progress_bar
from selfdistill.core.lora import merge_for_inference
from selfdistill.core.models import load_model
from selfdistill.core.records import JsonlWriter, iter_jsonl, read_jsonl
from selfdistill.errors import UserError
from selfdistill.evaluation.harness import get_harness
from selfdistill.evaluation.stages import sample_stage
from selfdistill.generation import SamplingParams
from selfdistill.generation.factory import make_generator
from selfdistill.problems import Problem


@dataclass(frozen=True)
class SampleJob:
    """One sample file to fill: which model, which problems, which sampler, where."""

    spec: str  # model alias, hub id or directory (e.g. an SSD run's train/final)
    dtype: str
    problems: Sequence[Problem]
    params: SamplingParams
    out_path: Path
    batch_size: int = 32
    chunk_size: int = 32
    harness: str | None = None  # an evaluation harness style; None: the task prompt (SSD)
    extra: dict[str, Any] = field(default_factory=dict)
    keep_token_ids: bool = False
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = "sampling"


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# Peak RSS of one worker sampling the embedded model (measured 1.3 GB with one model in bf16,
# 3.2 GB after loading a second model into the same process): the budget `0` plans with.
WORKER_MEMORY_BYTES = 3 * 2**30


def available_memory() -> int | None:
    """MemAvailable in bytes (Linux), else None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def resolve_workers(requested: int, backend: str = "hf") -> int:
    """Sampling processes: requested; 0 = one per core within memory; 1 off the CPU HF path."""
    import torch

    if requested < 0:

        raise UserError(f"workers must be >= 0 (0 = one per CPU core), got {requested}.")
    if backend != "hf" or torch.cuda.is_available():
        return 1  # a GPU or a vLLM engine batches better in one process
    if requested:
        return requested
    mem = available_memory()
    fit = available_cores() if mem is None else max(1, mem // WORKER_MEMORY_BYTES)
    return max(1, min(available_cores(), fit))


def _key(rec: dict[str, Any]) -> tuple[str, int]:
    return rec["problem_id"], rec["sample_idx"]


def _parts(out_path: Path) -> list[Path]:
    return sorted(out_path.parent.glob(f"{out_path.stem}.part*.jsonl"))


def fold_parts(out_path: Path) -> None:
    """Append the records of finished or killed part files to out_path (no duplicates)."""
    parts = _parts(out_path)
    if not parts:
        return
    have = {_key(r) for r in iter_jsonl(out_path)}
    with JsonlWriter(out_path) as writer:
        for part in parts:
            new = [r for r in iter_jsonl(part) if _key(r) not in have]
            writer.write_many(new)
            have.update(_key(r) for r in new)
    for part in parts:  # only after the records are durably in out_path
        part.unlink()


def _missing(job: SampleJob) -> list[Problem]:
    """Problems of job with at least one sample not yet on disk."""
    have = {_key(r) for r in iter_jsonl(job.out_path)}
    return [p for p in job.problems if any((p.id, i) not in have for i in range(job.params.n))]


def _split(problems: list[Problem], shards: int) -> list[list[Problem]]:
    """Contiguous, near-equal slices (similar prompts stay together), no empty slice."""
    shards = max(1, min(shards, len(problems)))
    size = math.ceil(len(problems) / shards)
    return [problems[i:i + size] for i in range(0, len(problems), size)]


# ---------------------------------------------------------------- worker side

_LOADED: dict[tuple[str, str], Any] = {}


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when its parent dies (kill -9 included), so an
    orphan never keeps appending to a part file that the next run is resuming from."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def _init_worker(threads: int) -> None:
    """Each worker: dies with its parent, `threads` torch threads, no progress output."""
    _die_with_parent()
    import torch

    torch.set_num_threads(threads)
    console.quiet = True


def _generator(job: SampleJob) -> Any:
    """The job's model (one in memory per worker; reused by the next job on it)."""
    key = (job.spec, job.dtype)
    if key not in _LOADED:
        _LOADED.clear()
        model, tok = load_model(job.spec, dtype=job.dtype, announce=False)
        _LOADED[key] = (merge_for_inference(model), tok)
    model, tok = _LOADED[key]
    return make_generator("hf", model=model, tokenizer=tok, batch_size=job.batch_size,
                          progress=False, chat_template_kwargs=job.chat_template_kwargs or {})


def _sample_shard(job: SampleJob, problems: list[Problem], part: Path) -> int:
    """Worker: sample the missing rows of problems into the part file; rows written."""

    kw: dict[str, Any] = {}
    if job.harness is not None:
        h = get_harness(job.harness)
        kw = {"chat_fn": h.chat, "extract_fn": h.extract}
    ids = {p.id for p in problems}
    if not part.exists():  # rows already in the job's file count as done here too
        with JsonlWriter(part) as w:
            w.write_many(r for r in iter_jsonl(job.out_path) if r["problem_id"] in ids)
    rows = sample_stage(_generator(job), problems, job.params, part, chunk_size=job.chunk_size,
                        extra=job.extra, keep_token_ids=job.keep_token_ids, **kw)
    return len(rows)


# ---------------------------------------------------------------- parent side


def presample(jobs: Sequence[SampleJob], workers: int) -> None:
    """Fill every job's sample file using `workers` one-thread processes (see module doc)."""
    for job in jobs:
        fold_parts(job.out_path)
    todo = [(job, miss) for job in jobs if (miss := _missing(job))]
    if not todo or workers <= 1:
        return  # nothing missing, or the caller's own stage does it in-process
    per_job = max(1, math.ceil(workers / len(todo)))
    shards = [(job, part, job.out_path.parent / f"{job.out_path.stem}.part{k}.jsonl")
              for job, miss in todo for k, part in enumerate(_split(miss, per_job))]
    total = sum(len(job.problems) * job.params.n for job, _ in todo)
    threads = max(1, available_cores() // workers)
    ctx = get_context("spawn")  # no forked torch thread pools or open files
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(threads,)) as pool, progress_bar() as bar:
        futures = [pool.submit(_sample_shard, job, probs, path) for job, probs, path in shards]
        task = bar.add_task(f"sampling in {workers} processes", total=total, info="")
        t0 = time.perf_counter()
        while True:
            done, running = wait(futures, timeout=2.0, return_when=FIRST_EXCEPTION)
            rows, tokens = _count([job for job, _ in todo], [s[2] for s in shards])
            rate = tokens / max(time.perf_counter() - t0, 1e-9)
            bar.update(task, completed=min(rows, total), info=f"{rate:,.0f} new tok/s")
            failed = [f for f in done if f.exception() is not None]
            if failed:
                for f in running:
                    f.cancel()
                raise failed[0].exception()  # parts stay on disk: the next run resumes
            if not running:
                break
    for job, _ in todo:
        fold_parts(job.out_path)


def _count(jobs: Sequence[SampleJob], parts: list[Path]) -> tuple[int, int]:
    """Rows on disk over all jobs (file + parts, deduplicated) and tokens sampled in parts."""
    keys: set[tuple[str, str, int]] = set()
    tokens = 0
    for job in jobs:
        for r in iter_jsonl(job.out_path):
            keys.add((str(job.out_path), *_key(r)))
    for part in parts:
        stem = part.name.split(".part")[0]
        main = part.parent / f"{stem}.jsonl"
        before = {_key(r) for r in read_jsonl(main)} if main.exists() else set()
        for r in iter_jsonl(part):
            keys.add((str(main), *_key(r)))
            if _key(r) not in before:
                tokens += int(r.get("n_tokens", 0))
    return len(keys), tokens


class LazyGenerator:
    """A Generator that builds its backend on the first generate call.

    After `presample` every sample is on disk, and the stage that follows never samples:
    the model is then never loaded in the parent process.
    """

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._gen: Any = None

    def generate(self, prompts: list[Any], params: SamplingParams, *,
                 progress: bool | None = None) -> list[list[Any]]:
        """Build the backend if needed, then sample like it."""
        if self._gen is None:
            self._gen = self._build()
        return self._gen.generate(prompts, params, progress=progress)
