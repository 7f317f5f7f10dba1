"""SandboxConfig: every limit and switch of the sandbox, with defaults sized for bulk grading."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class SandboxConfig:
    """Limits and isolation switches for running untrusted programs."""

    timeout_s: float = 4.0  # wall-clock limit per test
    cpu_s: int | None = None  # CPU-time limit per test; default ceil(timeout_s) + 1
    memory_mb: int = 1536  # memory of the job's whole process tree (cgroup) and RLIMIT_AS
    file_size_mb: int = 16  # largest file a program may write (RLIMIT_FSIZE)
    open_files: int = 64  # RLIMIT_NOFILE
    processes: int = 32  # processes+threads of the job (RLIMIT_NPROC of its own uid, pids cgroup)
    max_output_bytes: int = 8 * 1024 * 1024  # stdout beyond this kills the test
    tmpfs_mb: int = 128  # the fresh /tmp of each job (bounds disk fills)
    namespaces: bool = True  # the jail (net/mount/pid namespaces); False = NO isolation
    drop_uid: bool = True  # jobs under a uid of their own per worker (root: uid_base up; else /etc/subuid)
    uid_base: int = 64000  # sandbox uids are claimed from uid_base upwards (host-wide locks)
    require_isolation: tuple[str, ...] = ()  # e.g. ("cgroup1",): refuse to run without them
    extra_packages: tuple[str, ...] = ()  # importable packages exposed read-only, e.g. ("numpy",)
    cgroup: bool = True  # as root: a memory+pids cgroup per worker (else a memory watchdog)
    max_field_chars: int = 1000  # truncation of input/expected/actual in a Verdict
    stderr_tail_chars: int = 2000
    max_failures: int = 5  # failing tests kept in Verdict.failures
    workers: int | None = None  # default: number of usable cores
    # A host directory mounted read-write at /workspace inside the jail (the agent's shell
    # commands); everything else stays as above. Jobs then run as the directory's owner.
    workspace: str | None = None

    def with_(self, **changes: Any) -> SandboxConfig:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        d = asdict(self)
        d["require_isolation"] = list(self.require_isolation)
        d["extra_packages"] = list(self.extra_packages)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SandboxConfig:
        """Inverse of to_dict (unknown keys, e.g. the removed float tolerances, are ignored)."""
        names = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        for key in ("require_isolation", "extra_packages"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)

    def job_limits(self) -> dict[str, Any]:
        """The per-job limits sent to a worker."""
        cpu = self.cpu_s if self.cpu_s is not None else int(self.timeout_s) + 2
        return {
            "wall_s": self.timeout_s,
            "cpu_s": cpu,
            "memory_mb": self.memory_mb,
            "file_size_mb": self.file_size_mb,
            "open_files": self.open_files,
            "processes": self.processes,
            "max_output_bytes": self.max_output_bytes,
            "max_message_bytes": max(1 << 20, self.max_output_bytes),
        }
