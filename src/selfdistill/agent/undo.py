"""The agent's undo stack on disk, so /undo after a restart reverts files too.

One directory per workspace under the profile (`agent_undo/<key>/`, key = a hash of the
workspace path): `stack.json` lists the steps (action text, number of adapter updates,
each changed file's previous state: a blob file name, or null for "did not exist", and the
files too large to have been kept); `NNNN-i` files hold the previous bytes. stack.json is
replaced atomically (temp file, fsync, rename), blobs are written before it names them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from selfdistill.agent.workspace import Changes
from selfdistill.core.records import write_bytes_atomic

STORE_DIR = "agent_undo"


class StepStore:
    """The persisted undo steps of one workspace in one profile."""

    def __init__(self, profile_dir: Path, workspace: Path) -> None:
        """profile_dir: the profile's directory; workspace: the resolved workspace root."""
        key = hashlib.sha256(str(workspace).encode()).hexdigest()[:16]
        self.dir = Path(profile_dir) / STORE_DIR / key
        self.workspace = str(workspace)

    def load(self) -> list[tuple[str, int, Changes]]:
        """(action, updates, changes) of every saved step, oldest first ([] if none)."""
        f = self.dir / "stack.json"
        if not f.is_file():
            return []
        try:
            data = json.loads(f.read_text())
        except ValueError:
            return []  # unreadable: start without file undo rather than fail
        if data.get("workspace") != self.workspace:
            return []
        out = []
        for st in data.get("steps", []):
            ch = Changes(uncovered=list(st.get("uncovered", [])))
            for rel, blob in st.get("files", {}).items():
                ch.before[rel] = None if blob is None else (self.dir / blob).read_bytes()
            out.append((str(st.get("action", "")), int(st.get("updates", 0)), ch))
        return out

    def save(self, steps: list[Any]) -> None:
        """Write the stack (objects with .action, .updates, .changes); drop unused blobs."""
        self.dir.mkdir(parents=True, exist_ok=True)
        entries, keep = [], {"stack.json"}
        for i, st in enumerate(steps):
            files: dict[str, str | None] = {}
            for j, (rel, old) in enumerate(sorted(st.changes.before.items())):
                if old is None:
                    files[rel] = None
                    continue
                name = f"{i:04d}-{j}-{hashlib.sha256(old).hexdigest()[:12]}"
                path = self.dir / name
                if not path.is_file():
                    write_bytes_atomic(path, old)
                files[rel] = name
                keep.add(name)
            entries.append({"action": st.action, "updates": st.updates, "files": files,
                            "uncovered": list(st.changes.uncovered)})
        write_bytes_atomic(self.dir / "stack.json", json.dumps(
            {"workspace": self.workspace, "steps": entries}).encode())
        for p in self.dir.iterdir():
            if p.name not in keep and not p.name.endswith(".tmp"):
                p.unlink(missing_ok=True)

    def clear(self) -> None:
        """Forget the stack (the directory is removed)."""
        shutil.rmtree(self.dir, ignore_errors=True)

