"""What this process holds in /proc: open descriptors and child processes (leak checks)."""

from __future__ import annotations

import os
from pathlib import Path


def fd_table() -> dict[str, str]:
    """This process's open file descriptors and their targets."""
    table = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            table[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the directory listing's own descriptor
            pass
    return table


def host_children() -> set[int]:
    """PIDs of this process's direct children."""
    me = os.getpid()
    path = Path(f"/proc/{me}/task/{me}/children")
    return {int(x) for x in path.read_text().split()} if path.exists() else set()
