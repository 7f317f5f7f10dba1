"""Sandboxed execution and grading of candidate programs.

grade()/grade_many() run code against a Problem's tests in isolated, pre-forked workers and
return Verdicts; run_function() calls a function on many inputs in the sandbox and returns
its outputs as validated plain data; format_feedback() turns a Verdict into judge-style text.
"""

from selfdistill.execution.compare import compare_stdout, values_equal
from selfdistill.execution.config import SandboxConfig
from selfdistill.execution.feedback import format_feedback
from selfdistill.execution.graders import grade, grade_many
from selfdistill.execution.run import CallResult, run_function
from selfdistill.execution.sandbox import SandboxError, get_pool, shutdown_pools
from selfdistill.execution.verdict import STATUSES, Verdict

__all__ = [
    "STATUSES",
    "CallResult",
    "SandboxConfig",
    "SandboxError",
    "Verdict",
    "compare_stdout",
    "format_feedback",
    "get_pool",
    "grade",
    "grade_many",
    "run_function",
    "shutdown_pools",
    "values_equal",
]
