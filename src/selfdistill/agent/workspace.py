"""The agent's workspace: the one directory it may touch, its file tools, and file undo.

Every path the model names is resolved inside the workspace (symlinks followed); anything
that lands outside is refused with `OutsideWorkspace`. Writes record the previous bytes
of each file they touch (`Changes`), so /undo can put the files back exactly; a shell
command's changes are found by comparing snapshots of the work tree taken before and after
it (version-control and cache directories excluded: undo rewinds files, not git history).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "node_modules",
                       ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox"})
READ_LIMIT_CHARS = 12_000
SNAPSHOT_MAX_FILE = 4 << 20  # files larger than this are not snapshotted for undo
SNAPSHOT_MAX_TOTAL = 64 << 20


class OutsideWorkspace(ValueError):
    """A path that leaves the workspace."""


class ToolError(ValueError):
    """A tool could not do what was asked (the message goes back to the model)."""


@dataclass
class Changes:
    """Previous contents of the files an action changed: bytes, or None if it did not exist."""

    before: dict[str, bytes | None] = field(default_factory=dict)
    uncovered: list[str] = field(default_factory=list)  # changed, but too big to snapshot

    def note(self, rel: str, old: bytes | None) -> None:
        """Remember a file's first previous state (later writes in the same step keep it)."""
        self.before.setdefault(rel, old)

    def __bool__(self) -> bool:
        return bool(self.before or self.uncovered)


class Workspace:
    """A directory the agent works in."""

    def __init__(self, root: str | Path):
        """root: an existing directory."""
        path = Path(root).expanduser()
        if not path.is_dir():
            raise ToolError(f"workspace {root} is not a directory")
        self.root = path.resolve()

    # ---- paths -------------------------------------------------------------------
    def resolve(self, rel: str) -> Path:
        """The absolute path of `rel` inside the workspace; OutsideWorkspace otherwise."""
        rel = str(rel).strip()
        if not rel or "\x00" in rel:
            raise ToolError("empty or invalid path")
        p = Path(rel).expanduser()
        full = p if p.is_absolute() else self.root / p
        real = Path(os.path.realpath(full))
        if real != self.root and self.root not in real.parents:
            raise OutsideWorkspace(
                f"refused: '{rel}' is outside the workspace {self.root}; the agent may only "
                "read and change files inside it (use a relative path)")
        return real

    def rel(self, path: Path) -> str:
        """A path relative to the workspace root."""
        return path.relative_to(self.root).as_posix() if path != self.root else "."

    def files(self, under: Path | None = None) -> Iterator[Path]:
        """Every regular file under `under` (default the root), skipping SKIP_DIRS."""
        for dirpath, dirnames, filenames in os.walk(under or self.root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for name in sorted(filenames):
                p = Path(dirpath) / name
                if p.is_file() and not p.is_symlink():
                    yield p

    # ---- read-only tools ---------------------------------------------------------
    def read(self, path: str, offset: int = 0, limit: int | None = None) -> str:
        """A file's text (lines offset.. offset+limit), truncated to READ_LIMIT_CHARS."""
        p = self.resolve(path)
        if not p.is_file():
            raise ToolError(f"no such file: {path}")
        text = p.read_text(errors="replace")
        if offset or limit is not None:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[max(offset, 0):None if limit is None else offset + limit])
        if len(text) > READ_LIMIT_CHARS:
            text = text[:READ_LIMIT_CHARS] + f"\n[... truncated at {READ_LIMIT_CHARS} characters]"
        return text

    def list(self, pattern: str = "**/*", path: str = ".") -> str:
        """Workspace files matching a glob pattern, one relative path a line (at most 200)."""
        base = self.resolve(path)
        if not base.is_dir():
            raise ToolError(f"no such directory: {path}")
        pat = pattern or "**/*"
        hits = [self.rel(p) for p in self.files(base)
                if fnmatch.fnmatch(p.relative_to(base).as_posix(), pat)
                or fnmatch.fnmatch(p.name, pat)]
        more = f"\n[... {len(hits) - 200} more]" if len(hits) > 200 else ""
        return "\n".join(hits[:200]) + more if hits else "(no matching files)"

    def grep(self, pattern: str, path: str = ".", glob: str | None = None) -> str:
        """Lines matching a regular expression: file:line:text (at most 100)."""
        try:
            rx = re.compile(pattern)
        except re.error as e:
            raise ToolError(f"invalid regular expression {pattern!r}: {e}") from None
        base = self.resolve(path)
        targets = [base] if base.is_file() else list(self.files(base))
        hits: list[str] = []
        for p in targets:
            if glob and not fnmatch.fnmatch(p.name, glob):
                continue
            try:
                lines = p.read_text(errors="strict").splitlines()
            except (UnicodeDecodeError, OSError):
                continue  # binary or unreadable
            for i, line in enumerate(lines, 1):
                if rx.search(line):
                    hits.append(f"{self.rel(p)}:{i}:{line[:300]}")
                    if len(hits) >= 100:
                        return "\n".join(hits) + "\n[... stopped at 100 matches]"
        return "\n".join(hits) or "(no matches)"

    # ---- writing tools -----------------------------------------------------------
    def write(self, path: str, content: str, changes: Changes) -> str:
        """Create or overwrite a file (parent directories created)."""
        p = self.resolve(path)
        if p.is_dir():
            raise ToolError(f"{path} is a directory")
        changes.note(self.rel(p), p.read_bytes() if p.is_file() else None)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
        return f"wrote {self.rel(p)} ({len(content)} characters)"

    def edit(self, path: str, old: str, new: str, changes: Changes, all: bool = False) -> str:
        """Replace the exact text `old` by `new` (once: `old` must be unique, unless all)."""
        p = self.resolve(path)
        if not p.is_file():
            raise ToolError(f"no such file: {path} (use write to create it)")
        text = p.read_text(errors="replace")
        if not old:
            raise ToolError("edit needs a non-empty `old` text to replace")
        count = text.count(old)
        if count == 0:
            raise ToolError(f"the `old` text was not found in {path}; it must match the file "
                            "exactly (read the file first)")
        if count > 1 and not all:
            raise ToolError(f"the `old` text occurs {count} times in {path}; give more context "
                            "or set all to true")
        changes.note(self.rel(p), p.read_bytes())
        p.write_text(text.replace(old, new) if all else text.replace(old, new, 1))
        return f"edited {self.rel(p)} ({count if all else 1} replacement(s))"

    # ---- snapshots and undo ------------------------------------------------------
    def snapshot(self) -> dict[str, bytes | tuple[int, int]]:
        """The work tree's files: bytes, or (size, mtime) for a file too big to keep."""
        snap: dict[str, bytes | tuple[int, int]] = {}
        total = 0
        for p in self.files():
            st = p.stat()
            size = st.st_size
            if size > SNAPSHOT_MAX_FILE or total + size > SNAPSHOT_MAX_TOTAL:
                snap[self.rel(p)] = (size, st.st_mtime_ns)
                continue
            snap[self.rel(p)] = p.read_bytes()
            total += size
        return snap

    def diff_into(self, before: dict[str, bytes | tuple[int, int]], changes: Changes
                  ) -> list[str]:
        """Record what changed since `before` into `changes`; return the changed paths."""
        after = self.snapshot()
        changed = []
        for rel in sorted(set(before) | set(after)):
            if rel in before and rel in after and before[rel] == after[rel]:
                continue
            old = before.get(rel)
            if isinstance(old, tuple):
                changes.uncovered.append(rel)  # too big to have been kept
            else:
                changes.note(rel, old)
            changed.append(rel)
        return changed

    def restore(self, changes: Changes) -> list[str]:
        """Put every recorded file back as it was (delete the ones that did not exist)."""
        done = []
        for rel, old in changes.before.items():
            p = self.resolve(rel)
            if old is None:
                if p.is_file():
                    p.unlink()
                    _prune_empty(p.parent, self.root)
            else:
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(old)
            done.append(rel)
        return done


def _prune_empty(d: Path, root: Path) -> None:
    """Remove directories left empty by an undone file creation (up to the root)."""
    while d != root and root in d.parents and d.is_dir() and not any(d.iterdir()):
        d.rmdir()
        d = d.parent
