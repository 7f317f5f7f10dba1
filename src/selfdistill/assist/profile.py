"""A profile: one user's LoRA adapter versions, an atomic pointer to the live one, and a log.

Layout of ``$SELFDISTILL_HOME/profiles/NAME`` (default ``~/.local/share/selfdistill/profiles``)::

    profile.json        model spec + LoRA settings (written once, atomically)
    state.json          the pointer: {"current": 3, "stack": [0, 1, 3]}  (atomic, fsync'd)
    adapters/v0000/     one complete PEFT adapter dir per version (loadable by load_model),
                        with update.json: the log entry of the update that made it
    adapters/.tmp-*     an adapter being written; never referenced, removed on open
    updates.jsonl       the update log: every interaction used for learning, plus undo/reset
    .lock               flock: one process writes a profile at a time

An update writes the new adapter into ``adapters/.tmp-...``, fsyncs it, renames it to
``adapters/vNNNN`` and only then replaces ``state.json`` (write temp, fsync, rename, fsync
dir). A crash at any point leaves ``state.json`` naming a complete earlier version.
``stack`` is the undo history: ``/undo`` pops it, ``/reset`` returns to ``[0]`` (v0 is the
fresh adapter, whose LoRA B matrices are zero: exactly the base model).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from selfdistill.assist.update import pause_point
from selfdistill.core.config import OptimConfig
from selfdistill.core.records import JsonlWriter, read_jsonl
from selfdistill.errors import UserError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
STATE = "state.json"
META = "profile.json"
LOG = "updates.jsonl"
UPDATE_FILE = "update.json"  # in adapters/vNNNN: the update's log entry, committed with it


def profiles_root() -> Path:
    """Where profiles live: $SELFDISTILL_HOME/profiles, else ~/.local/share/selfdistill/profiles."""
    home = os.environ.get("SELFDISTILL_HOME")
    if home:
        return Path(home).expanduser() / "profiles"
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "selfdistill" / "profiles"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    """Write text by temp file + fsync + rename + directory fsync (durable and never torn)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with tmp.open("w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def fsync_tree(path: Path) -> None:
    """fsync every file under path, then the directories themselves."""
    for p in sorted(path.rglob("*")):
        if p.is_file():
            with p.open("rb") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(path)


class Profile:
    """A profile directory: versions, the atomic pointer, the update log and the lock."""

    def __init__(self, name: str, root: Path | None = None):
        if not _NAME.match(name):
            raise UserError(f"Profile name '{name}' must be letters, digits, '.', '_' or '-' "
                            "(at most 64 characters, not starting with a dot).")
        self.name = name
        self.dir = (root or profiles_root()) / name
        self._lock_fh: Any = None

    # ---- paths / metadata ----------------------------------------------------------
    @property
    def adapters_dir(self) -> Path:
        """Directory holding every adapter version."""
        return self.dir / "adapters"

    @property
    def log_path(self) -> Path:
        """The update log (JSONL)."""
        return self.dir / LOG

    def version_dir(self, version: int) -> Path:
        """Directory of one adapter version."""
        return self.adapters_dir / f"v{version:04d}"

    def exists(self) -> bool:
        """True once the profile has been created (meta and pointer written)."""
        return (self.dir / META).is_file() and (self.dir / STATE).is_file()

    def _read(self, name: str) -> Any:
        """A profile JSON file, or UserError naming it (missing, unreadable, not JSON)."""
        path = self.dir / name
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise UserError(f"profile '{self.name}': {path} is damaged or missing ({e}); "
                            "restore it or start a new profile.") from None

    def meta(self) -> dict[str, Any]:
        """profile.json: model spec, LoRA settings, creation time."""
        meta = self._read(META)
        if not isinstance(meta, dict) or not isinstance(meta.get("model"), str) \
                or not isinstance(meta.get("lora", {}), dict):
            raise UserError(f"profile '{self.name}': {self.dir / META} is damaged (needs "
                            "an object with a 'model' text and a 'lora' object).")
        return meta

    def state(self) -> dict[str, Any]:
        """The pointer: {"current": int, "stack": [int, ...]}."""
        st = self._read(STATE)

        def ints(x: Any) -> bool:
            return isinstance(x, list) and bool(x) and all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in x)

        if not isinstance(st, dict) or not ints([st.get("current")]) \
                or not ints(st.get("stack")):
            raise UserError(f"profile '{self.name}': {self.dir / STATE} is damaged (needs "
                            '{"current": N, "stack": [0, ..., N]}); restore it or run /reset.')
        return st

    @property
    def current(self) -> int:
        """The live adapter version."""
        return int(self.state()["current"])

    def current_dir(self) -> Path:
        """Directory of the live adapter version."""
        return self.version_dir(self.current)

    # ---- lifecycle -----------------------------------------------------------------
    def lock(self) -> None:
        """Take the profile's exclusive lock; UserError when another process holds it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock_fh = (self.dir / ".lock").open("a")
        try:
            fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_fh.close()
            self._lock_fh = None
            raise UserError(f"Profile '{self.name}' is in use by another selfdistill process."
                            ) from None

    def unlock(self) -> None:
        """Release the lock (also released automatically when the process dies)."""
        if self._lock_fh is not None:
            fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    def create(self, model_spec: str, lora: OptimConfig, v0_writer: Any) -> None:
        """Create the profile: v0 via v0_writer(tmp_dir), then profile.json, then the pointer."""
        # Leftovers of a creation that crashed before its pointer existed: never committed.
        shutil.rmtree(self.adapters_dir, ignore_errors=True)
        self.adapters_dir.mkdir(parents=True, exist_ok=True)
        self.commit_version(0, v0_writer, stack=[0])
        write_atomic(self.dir / META, json.dumps({
            "name": self.name, "model": model_spec, "created": time.time(),
            "lora": {"r": lora.lora_r, "alpha": lora.lora_alpha, "targets": lora.lora_targets},
        }, indent=2))
        self._set_state(0, [0])

    def recover(self) -> list[str]:
        """Remove half-written adapters and versions the pointer never reached; return what went."""
        removed: list[str] = []
        if not self.adapters_dir.is_dir():
            return removed
        state = self.state()
        keep = set(state["stack"]) | {0, int(state["current"])}
        for p in self.adapters_dir.iterdir():
            if p.name.startswith(".tmp-"):
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p.name)
            elif p.name.startswith("v") and p.name[1:].isdigit() and int(p.name[1:]) not in keep:
                # Written but never committed (crash between rename and pointer), or undone.
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p.name)
        return removed

    def _set_state(self, current: int, stack: list[int]) -> None:
        write_atomic(self.dir / STATE, json.dumps({"current": current, "stack": stack}))

    def next_version(self) -> int:
        """A version number never used by any dir on disk."""
        used = [int(p.name[1:]) for p in self.adapters_dir.glob("v*") if p.name[1:].isdigit()]
        return max(used, default=-1) + 1

    def commit_version(self, version: int, writer: Any, stack: list[int] | None = None) -> Path:
        """Write an adapter via writer(tmp_dir), fsync, rename to vNNNN, then move the pointer."""
        tmp = self.adapters_dir / f".tmp-v{version:04d}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        writer(tmp)
        pause_point("save")  # tests kill the process here: a half-finished tmp dir
        fsync_tree(tmp)
        final = self.version_dir(version)
        os.replace(tmp, final)
        _fsync_dir(self.adapters_dir)
        pause_point("pointer")  # renamed but not yet pointed at: must be ignored
        if stack is None:
            stack = [*self.state()["stack"], version]
        self._set_state(version, stack)
        return final

    def undo(self) -> int | None:
        """Point back at the previous version; return it, or None when nothing to undo."""
        st = self.state()
        stack = list(st["stack"])
        if len(stack) <= 1:
            return None
        undone = stack.pop()
        self._set_state(stack[-1], stack)
        self.log({"event": "undo", "undone": undone, "version": stack[-1]})
        return stack[-1]

    def reset(self) -> int:
        """Point back at v0 (the fresh adapter = the base model); return 0."""
        self._set_state(0, [0])
        self.log({"event": "reset", "version": 0})
        return 0

    # ---- log -----------------------------------------------------------------------
    def log(self, record: dict[str, Any]) -> None:
        """Append one durable record to the update log (time added)."""
        with JsonlWriter(self.log_path) as w:
            w.write({"time": round(time.time(), 3), **record})

    def live_updates(self) -> list[dict[str, Any]]:
        """The update entries of the versions on the undo stack (from each version's own
        update.json, committed with it), oldest first; the log entry is restored when a
        kill came between the commit and the log line."""
        logged = {r.get("version") for r in read_jsonl(self.log_path)
                  if r.get("event") == "update"}
        out = []
        for v in self.state()["stack"]:
            path = self.version_dir(v) / UPDATE_FILE
            if not path.is_file():
                continue
            try:
                entry = json.loads(path.read_text())
            except ValueError as e:
                raise UserError(f"profile '{self.name}': {path} is damaged ({e}).") from None
            if not isinstance(entry, dict):
                raise UserError(f"profile '{self.name}': {path} is damaged (not an object).")
            if v not in logged:
                self.log(entry)
            out.append(entry)
        return out

    def history(self) -> list[dict[str, Any]]:
        """Update records of the versions on the undo stack, oldest first."""
        live = set(self.state()["stack"])
        return [r for r in read_jsonl(self.log_path)
                if r.get("event") == "update" and r.get("version") in live]
