"""Move function-level `from selfdistill... import ...` statements to the module's top.

    python scripts/hoist_imports.py FILE...
    ruff check --fix src && pytest tests/test_architecture.py   # sorts; catches any cycle

Issue 33 hoisted the package's own imports everywhere but in the files other branches were
editing at the time (recipes/sdpo/run.py, recipes/discover/{model,run}.py, agent/,
generation/, problems/evalplus.py); run this on them after those merges. An import whose
name another top-level name already binds is left where it is (printed); a `try:` guard
around an optional module must be restored by hand (the script does not look for one).
"""
import ast
import sys
from pathlib import Path


def top_bindings(tree: ast.Module) -> dict[str, tuple[str, str | None]]:
    """Names bound at module level -> where they come from."""
    names = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            for a in node.names:
                names[a.asname or a.name] = (node.module, a.name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                names[(a.asname or a.name).split(".")[0]] = (a.name, None)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            names[node.name] = ("<def>", node.name)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    names[t.id] = ("<assign>", t.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = ("<assign>", node.target.id)
    return names

def hoist(path: str) -> bool:
    """Hoist one file's function-level imports of the package; True if it changed."""
    src = Path(path).read_text()
    tree = ast.parse(src)
    lines = src.split("\n")
    bound = top_bindings(tree)
    local_seen = {}
    to_remove = []
    to_add = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.startswith("selfdistill"):
                ok = True
                for a in node.names:
                    nm = a.asname or a.name
                    src_ = (node.module, a.name)
                    if nm in bound and bound[nm] != src_:
                        ok = False
                    if nm in local_seen and local_seen[nm] != src_:
                        ok = False
                if not ok:
                    print("  keep (name clash):", path, node.lineno)
                    continue
                for a in node.names:
                    local_seen[a.asname or a.name] = (node.module, a.name)
                to_remove.append((node.lineno, node.end_lineno))
                if not all((a.asname or a.name) in bound for a in node.names):
                    to_add.append(ast.get_source_segment(src, node).strip())
    if not to_remove:
        return False
    # dedupe nested ranges
    to_remove = sorted(set(to_remove))
    for start, end in sorted(to_remove, reverse=True):
        del lines[start - 1:end]
        i = start - 1  # index of the line after the removed block
        prev = lines[i - 1] if i - 1 >= 0 else ""
        nxt = lines[i] if i < len(lines) else ""
        if nxt.strip() == "" and (prev.strip() == "" or prev.rstrip().endswith('"""') or prev.rstrip().endswith(":") ):
            del lines[i]
        elif prev.strip() == "" and (lines[i-2].rstrip().endswith(":") if i - 2 >= 0 else False):
            del lines[i - 1]
    # insert after the last top-level import
    last = 0
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            last = node.end_lineno
    # line numbers unaffected above `last` only if removals are all after it (they are: in functions)
    add = sorted(set(to_add))
    lines[last:last] = add
    Path(path).write_text("\n".join(lines))
    return True

if __name__ == "__main__":
    for p in sys.argv[1:]:
        if hoist(p):
            print("hoisted", p)
