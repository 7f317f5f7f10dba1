"""Sandboxed execution and grading of candidate programs.

grade()/grade_many() run code against a Problem's tests in isolated, pre-forked workers and
return Verdicts; run_function() calls a function on many inputs in the sandbox and returns
its outputs as validated plain data; format_feedback() / reference_feedback() turn a Verdict into judge-style text or the SDPO
reference's feedback.
"""

from selfdistill.execution.compare import compare_stdout, values_equal
from selfdistill.execution.config import SandboxConfig
from selfdistill.execution.feedback import FeedbackConfig, format_feedback, reference_feedback
from selfdistill.execution.graders import grade, grade_many
from selfdistill.execution.run import CallResult, run_function
from selfdistill.execution.sandbox import SandboxError, get_pool, shutdown_pools
from selfdistill.execution.verdict import STATUSES, Verdict

__all__ = [
    "STATUSES",
    "CallResult",
    "FeedbackConfig",
    "SandboxConfig",
    "SandboxError",
    "Verdict",
    "compare_stdout",
    "format_feedback",
    "get_pool",
    "grade",
    "grade_many",
    "reference_feedback",
    "run_function",
    "shutdown_pools",
    "values_equal",
]
