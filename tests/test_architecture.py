"""docs/architecture.md's module table names every module and package of the tree, and only those."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "src" / "selfdistill"


def table_paths() -> set[str]:
    text = (REPO / "docs" / "architecture.md").read_text()
    rows = [ln for ln in text.splitlines() if ln.startswith("| `")]
    return {p for ln in rows for p in re.findall(r"`([\w/.]+)`", ln.split("|")[1])}


def test_every_table_entry_exists():
    for p in table_paths():
        assert (PKG / p).exists(), f"docs/architecture.md names {p}, which is not in the tree"


def test_every_module_is_in_the_table():
    named = table_paths()
    packages = {p.rstrip("/") for p in named if p.endswith("/")}
    for f in sorted(PKG.rglob("*.py")):
        rel = f.relative_to(PKG).as_posix()
        if rel == "__init__.py" or rel.endswith("/__init__.py"):
            continue
        top = rel.split("/")[0]
        assert rel in named or top in packages or str(Path(rel).parent) in packages, \
            f"{rel} is missing from docs/architecture.md's module table"
