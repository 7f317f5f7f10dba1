"""EvalPlus's answer sanitizer, on Python's `ast` (EvalPlus @ 26d6d00, evalplus/sanitize.py).

EvalPlus grades a chat model's answer after `sanitize(answer, entry_point)`:
  1. code span: the longest run of at least two lines that parses as Python, length counted
     in non-blank lines (the first such run wins a tie), so fences, prose and a stray line
     that breaks parsing fall outside it; when no run parses, the first line;
  2. from that span, kept in this order: every top-level import, then the first top-level
     class, function containing a `return`, or assignment of each name (undecorated, as
     EvalPlus's tree-sitter walk sees them), and with an entry point only those the entry
     point reaches through the names they mention. Calls, prints, tests, `if __name__`
     blocks and a lone `python` line left from a fence are dropped;
  3. nothing kept: the code span itself.
EvalPlus parses step 2 with tree-sitter; the quirks it gives are reproduced on purpose: a
decorated function or class and a `from __future__` import are not kept, functions without
a `return` are dropped, and an assignment to an attribute or tuple is named after the
right-hand name, if it is one.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Iterator

# EvalPlus's model providers (evalplus/provider/utility.py EOS, plus "\n```\n" for chat
# models) stop generation at these and cut the answer at the first one.
EVALPLUS_STOPS = ("<|endoftext|>", "<|endofmask|>", "</s>", "\nif __name__", "\ndef main(",
                  "\nprint(", "\n```\n")

_ANSI = re.compile(r"\x1B(?:[@-Z\\-_]|\[[0-?]*[ -/]*[@-~])")


def cut_at_stops(text: str, stops: tuple[str, ...] = EVALPLUS_STOPS) -> str:
    """The answer as EvalPlus's providers keep it: cut at the first stop, tabs as 4 spaces."""
    cut = min((text.index(s) for s in stops if s in text), default=len(text))
    return text[:cut].replace("\t", "    ")


def _parses(code: str) -> bool:
    with warnings.catch_warnings():  # invalid escapes etc. in model code: not our warnings
        warnings.simplefilter("ignore")
        try:
            ast.parse(code)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return False
    return True


def code_span(text: str) -> str:
    """The longest run of >= 2 lines that parses (EvalPlus's code_extract), else line one."""
    lines = _ANSI.sub("", text).split("\n")
    filled = [0]
    for line in lines:
        filled.append(filled[-1] + bool(line.strip()))
    # Longest first, then EvalPlus's scan order (start, end): the first run that parses
    # is the one its exhaustive scan keeps.
    spans = sorted(((filled[j + 1] - filled[i], i, j) for i in range(len(lines))
                    for j in range(i + 1, len(lines)) if filled[j + 1] > filled[i]),
                   key=lambda s: (-s[0], s[1], s[2]))
    for _, i, j in spans:
        candidate = "\n".join(lines[i : j + 1])
        if _parses(candidate):
            return candidate
    return lines[0]


def _has_return(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Return) for n in ast.walk(node))


def _assigned_name(node: ast.Assign | ast.AnnAssign) -> str | None:
    """The first plain name among the assignment's direct parts (tree-sitter's reading)."""
    if isinstance(node, ast.Assign):
        first = node.targets[0]
        if isinstance(first, ast.Name):
            return first.id
        return node.value.id if len(node.targets) == 1 and isinstance(node.value, ast.Name) \
            else None
    if isinstance(node.target, ast.Name):
        return node.target.id
    return node.value.id if isinstance(node.value, ast.Name) else None


def _identifiers(node: ast.AST) -> set[str]:
    """Every identifier written in node (names, attributes, parameters, keywords...)."""
    out: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.Attribute):
            out.add(n.attr)
        elif isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.add(n.name)
        elif isinstance(n, ast.arg):
            out.add(n.arg)
        elif isinstance(n, ast.keyword) and n.arg:
            out.add(n.arg)
        elif isinstance(n, ast.alias):
            out.update(n.name.split("."))
            if n.asname:
                out.add(n.asname)
        elif isinstance(n, ast.Global | ast.Nonlocal):
            out.update(n.names)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            out.add(n.name)
    return out


def _reachable(entry_point: str, deps: dict[str | None, set[str]]) -> set[str]:
    seen, queue = {entry_point}, [entry_point]
    while queue:
        for name in deps.get(queue.pop(0), ()):
            if name not in seen:
                seen.add(name)
                queue.append(name)
    return seen


def _kept_nodes(tree: ast.Module) -> Iterator[tuple[str | None, ast.stmt]]:
    """(name, node) of the definitions EvalPlus keeps, first of each name only."""
    seen: set[str | None] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and not node.decorator_list:
            name: str | None = node.name
        elif (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
              and not node.decorator_list and _has_return(node)):
            name = node.name
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            name = _assigned_name(node)
        else:
            continue
        if name not in seen:
            seen.add(name)
            yield name, node


def kept_definitions(code: str, entry_point: str | None = None) -> str:
    """Step 2: the imports and the (reachable) definitions of parseable code, or ''."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return ""
    imports = [n for n in tree.body if isinstance(n, ast.Import)
               or (isinstance(n, ast.ImportFrom) and not (n.module == "__future__" and not n.level))]
    defs = list(_kept_nodes(tree))
    if entry_point:
        reach = _reachable(entry_point, {name: _identifiers(node) for name, node in defs})
        defs = [(name, node) for name, node in defs if name in reach]
    parts = [ast.get_source_segment(code, n) or "" for n in imports]
    parts += [_segment(code, n) for _, n in defs]
    return "\n".join(parts)


def _segment(code: str, node: ast.stmt) -> str:
    """The node's text; a class or function also keeps the indented comment lines that end
    its block, as tree-sitter's node does (ast stops at the last statement)."""
    text = ast.get_source_segment(code, node) or ""
    if not isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
        return text
    lines = code.split("\n")
    end, extra = node.end_lineno or 0, []
    for line in lines[end:]:
        if not line.strip():
            extra.append(line)
            continue
        if line[:1] in (" ", "\t") and line.lstrip().startswith("#"):
            text += "\n" + "\n".join([*extra, line])
            extra = []
            continue
        break
    return text


def sanitize(text: str, entry_point: str | None = None) -> str:
    """EvalPlus's sanitize: imports + the entry point and what it uses, from the code span."""
    span = code_span(text)
    kept = kept_definitions(span, entry_point).strip()
    return kept or span
