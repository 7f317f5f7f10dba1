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


# The sandbox's standalone worker script runs alone in the jail (no imports from the
# package), so it keeps its protocol in one file; the built-in problem sets are data.
LONG_MODULES_OK = {"execution/_zygote.py"}
DATA_MODULES = {"problems/builtin/easy.py", "problems/builtin/medium.py",
                "problems/builtin/hard.py"}


def _modules() -> list[tuple[str, Path]]:
    return [(f.relative_to(PKG).as_posix(), f) for f in sorted(PKG.rglob("*.py"))]


def test_no_module_over_450_lines():
    long = [rel for rel, f in _modules() if rel not in LONG_MODULES_OK | DATA_MODULES
            and len(f.read_text().splitlines()) > 450]
    assert not long, f"modules over 450 lines: {long}"


def test_no_function_over_70_lines_without_a_reason():
    """A longer function says why in its docstring ("Long: ...")."""
    import ast

    long = []
    for rel, f in _modules():
        if rel in LONG_MODULES_OK:
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 70 and "Long:" not in (ast.get_docstring(node) or ""):
                    long.append(f"{rel}:{node.name} ({n} lines)")
    assert not long, f"functions over 70 lines without a reason: {long}"


def test_test_file_names_are_unique():
    """pytest imports test files by basename (no packages): two with one name break collection."""
    names = [f.name for f in (REPO / "tests").rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted(n for n in set(names) if names.count(n) > 1)
