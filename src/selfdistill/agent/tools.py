"""Run one validated tool call against the workspace; shell commands go to the sandbox.

A shell command runs in the project's sandbox (execution/) with the workspace bind-mounted
read-write at /workspace and nothing else of the host visible: no network, a read-only
root, the grader's limits. Errors of any tool come back as a failed ToolResult (the model
sees the message; the agent learns from it), never as an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from selfdistill.agent.calls import ToolCall
from selfdistill.agent.workspace import Changes, OutsideWorkspace, ToolError, Workspace

SANDBOX_WORKDIR = "/workspace"
RESULT_LIMIT_CHARS = 3000  # per result in the chat: the context stays short on CPU

# The sandbox runs Python programs; this one runs the command with /bin/sh in the workspace
# and exits with its status (fds 3+ of the harness are not inherited: close_fds). `python`
# is the sandbox's Python 3 (a symlink in a fresh /tmp dir put first on PATH): the root has
# only python3, and models write `python test_x.py` (Qwen2.5-Coder-0.5B did).
_SHELL_JOB = """\
import os, subprocess, sys, tempfile
env = dict(os.environ)
try:
    b = tempfile.mkdtemp(prefix="bin-")
    os.symlink(sys.executable, os.path.join(b, "python"))
    env["PATH"] = b + os.pathsep + env.get("PATH", "/usr/local/bin:/usr/bin:/bin")
except OSError:
    pass
r = subprocess.run(["/bin/sh", "-c", {command!r}], cwd={workdir!r}, env=env)
sys.stdout.flush(); sys.stderr.flush()
os._exit(r.returncode if r.returncode >= 0 else 128 - r.returncode)
"""


@dataclass
class ToolResult:
    """What a tool did: ok, the text the model sees, and the files it changed."""

    ok: bool
    text: str
    changes: Changes = field(default_factory=Changes)
    refused: bool = False  # the path left the workspace


def shell_job(command: str) -> str:
    """The sandbox program that runs `command` with /bin/sh in the mounted workspace."""
    return _SHELL_JOB.format(command=command, workdir=SANDBOX_WORKDIR)


def _shell_config(ws: Workspace, timeout_s: float) -> Any:
    from selfdistill.execution import SandboxConfig

    return SandboxConfig(timeout_s=timeout_s, workspace=str(ws.root), processes=64,
                         file_size_mb=64, open_files=256, workers=1)


def close_shell(ws: Workspace) -> None:
    """Stop the sandbox worker that mounts this workspace (a session done with it)."""
    from selfdistill.execution.sandbox import close_pool

    close_pool(_shell_config(ws, 30.0))


def run_shell(ws: Workspace, command: str, timeout_s: float = 30.0) -> tuple[bool, str]:
    """Run a shell command in the sandbox with the workspace mounted; (ok, report text)."""
    from selfdistill.assist.session import describe_run
    from selfdistill.execution import get_pool

    sb = _shell_config(ws, timeout_s)
    job = {"mode": "stdio", "code": shell_job(command), "stdin": "", "limits": sb.job_limits()}
    raw, _ = get_pool(sb).run(job)
    if raw.get("exit_code") is None and raw.get("signal") is None and raw.get("ok"):
        raw = {**raw, "exit_code": 0}
    return describe_run(raw, timeout_s)


def execute(ws: Workspace, call: ToolCall, timeout_s: float = 30.0) -> ToolResult:
    """Run a call; failures (including refused paths) are a ToolResult with ok=False."""
    changes = Changes()
    a = call.args
    try:
        if call.name == "read":
            text = ws.read(a["path"], int(a.get("offset", 0)), a.get("limit"))
        elif call.name == "list":
            text = ws.list(a.get("pattern", "**/*"), a.get("path", "."))
        elif call.name == "grep":
            text = ws.grep(a["pattern"], a.get("path", "."), a.get("glob"))
        elif call.name == "write":
            text = ws.write(a["path"], a["content"], changes)
        elif call.name == "edit":
            text = ws.edit(a["path"], a["old"], a["new"], changes, bool(a.get("all", False)))
        elif call.name == "bash":
            before = ws.snapshot()
            try:
                ok, text = run_shell(ws, a["command"], timeout_s)
            finally:
                changed = ws.diff_into(before, changes)
            if changed:
                text += "\nfiles changed: " + ", ".join(changed[:20])
            return ToolResult(ok, _clip(text), changes)
        else:  # validate() only lets known tools through
            raise ToolError(f"unknown tool {call.name}")
    except OutsideWorkspace as e:
        return ToolResult(False, str(e), changes, refused=True)
    except (ToolError, OSError) as e:
        return ToolResult(False, f"error: {e}", changes)
    return ToolResult(True, _clip(text), changes)


def preview_diff(ws: Workspace, call: ToolCall, context: int = 3) -> str | None:
    """The unified diff a write or edit would make (shown before it is approved), or None.

    None for other tools and for calls that would fail (the failure is shown when it runs).
    """
    import difflib

    if call.name not in ("write", "edit"):
        return None
    a = call.args
    try:
        p = ws.resolve(a["path"])
    except (OutsideWorkspace, ToolError):
        return None
    old = p.read_text(errors="replace") if p.is_file() else ""
    if call.name == "write":
        new = str(a["content"])
    else:
        o, n = str(a["old"]), str(a["new"])
        if not o or o not in old or (old.count(o) > 1 and not a.get("all")):
            return None
        new = old.replace(o, n) if a.get("all") else old.replace(o, n, 1)
    rel = ws.rel(p)
    src = f"a/{rel}" if p.is_file() else "/dev/null"
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                 src, f"b/{rel}", n=context)
    text = "".join(ln if ln.endswith("\n") else ln + "\n\\ No newline at end of file\n"
                   for ln in lines)
    return text or f"(no change to {rel})\n"


def _clip(text: str) -> str:
    if len(text) <= RESULT_LIMIT_CHARS:
        return text
    half = RESULT_LIMIT_CHARS // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[-half:]}"
