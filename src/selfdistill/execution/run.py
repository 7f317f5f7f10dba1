"""run_function(): call a function in the sandbox on many inputs and get its outputs back as
validated plain data (e.g. expected outputs from a canonical solution, EvalPlus-style)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from selfdistill.execution import _wire
from selfdistill.execution.config import SandboxConfig
from selfdistill.execution.graders import (
    PROTOCOL_VIOLATION,
    _candidate_verdict,
    _limits_verdict,
    encodable,
)
from selfdistill.execution.sandbox import SandboxError, get_pool, usable_cores
from selfdistill.problems.schema import TestCase

_DEFAULT = SandboxConfig()
_CALL = TestCase("call", "")


@dataclass
class CallResult:
    """The outcome of one call: status "ok" with its value, or why it has none."""

    status: str  # ok, runtime_error, time_limit, memory_limit, syntax_error
    value: Any = None
    message: str = ""
    seconds: float = 0.0  # the sandbox's measured run time of the job

    @property
    def ok(self) -> bool:
        """Whether the call returned a value."""
        return self.status == "ok"


def _one(code: str, func: str, args: Sequence[Any], config: SandboxConfig, slots: int) -> CallResult:
    try:
        wire_args = _wire.encode(list(args))
    except _wire.WireError as e:
        raise ValueError(f"arguments must be plain data: {e}") from None
    job = {"mode": "call", "code": code, "func": func, "args_wire": wire_args,
           "limits": config.job_limits()}
    try:
        raw, _ = get_pool(config, slots).run(job, slots=slots)  # the caller's `workers`
    except SandboxError as e:
        return CallResult("runtime_error", message=f"sandbox error: {e}")
    if "infra_error" in raw:
        return CallResult("runtime_error", message=f"sandbox error: {raw['infra_error']}")
    limit = _limits_verdict(raw, config)
    if limit is not None:
        return CallResult(limit[0], message=limit[1])
    if raw.get("protocol_violation"):
        return CallResult("runtime_error", message=f"{PROTOCOL_VIOLATION}: {raw['protocol_violation']}")
    ended = _candidate_verdict(_CALL, raw, config)
    if ended is not None:
        return CallResult(ended[0], message=encodable(ended[1]) or "")
    rep = raw.get("report") or {}
    try:
        value = _wire.loads(str(rep.get("value", "null")).encode(),
                            max_bytes=config.job_limits()["max_message_bytes"])
    except _wire.WireError as e:
        return CallResult("runtime_error", message=f"{PROTOCOL_VIOLATION}: {e}")
    try:
        seconds = float(raw.get("duration_s") or 0.0)
    except (TypeError, ValueError):
        seconds = 0.0
    return CallResult("ok", value, seconds=seconds)


def run_function(code: str, func: str, inputs: Sequence[Sequence[Any]], *,
                 config: SandboxConfig | None = None, workers: int | None = None) -> list[CallResult]:
    """Run `func` (a top-level function, or a method of class Solution) defined by `code` in the
    sandbox, once per argument list in `inputs`, each call in a fresh process under the
    config's limits; return one CallResult per input, in order.

    Arguments and values are plain data (None, bool, int, float, str, bytes, list, tuple,
    dict, set, frozenset); values come back with their types (tuples stay tuples) after the
    same validation as every grader's. Raises ValueError when an argument is not plain data.
    """
    config = config or _DEFAULT
    if not inputs:
        return []
    size = max(1, min(workers or config.workers or usable_cores(), len(inputs)))
    pool = get_pool(config, size)
    threads = min(len(inputs), size * pool.depth)
    if threads == 1:
        return [_one(code, func, args, config, size) for args in inputs]
    with ThreadPoolExecutor(max_workers=threads) as ex:
        return list(ex.map(lambda a: _one(code, func, a, config, size), inputs))
