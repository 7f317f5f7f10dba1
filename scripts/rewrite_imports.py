"""Rewrite imports of code written against the layout before issue 20 (one release).

    python scripts/rewrite_imports.py $(git ls-files '*.py')

`from selfdistill.sdpo import Group, sdpo_step` becomes one import per new home
(selfdistill.rollouts, selfdistill.distill.step), and dotted strings naming a moved module
(monkeypatch targets, `-m` runs) follow. Run `ruff check --fix` afterwards to sort imports.
Renamed knobs are not rewritten: loss.top_k -> loss.support_size and loss.temperature ->
loss.scoring_temperature in YAML keep loading with a warning; in Python, SDPOLossConfig and
UpdateConfig take support_size, sdpo_step takes max_prompt_tokens, and
recipes.sdpo.SDPOTeacherConfig is distill.teacher_context.TeacherConfig.
"""
import ast
import re
import sys

MOVES = {
    "selfdistill.config": "selfdistill.core.config",
    "selfdistill.records": "selfdistill.core.records",
    "selfdistill.losses": "selfdistill.distill.losses",
    "selfdistill.scoring": "selfdistill.distill.scoring",
    "selfdistill.teacher": "selfdistill.distill.teacher_context",
    "selfdistill.sdpo": "selfdistill.distill.step",
    "selfdistill.multiturn": "selfdistill.recipes.discover.multiturn",
    "selfdistill.recipes.discover_cli": "selfdistill.recipes.discover.cli",
    "selfdistill.prompts": "selfdistill.prompts.task",
    "selfdistill.prompt_templates": "selfdistill.prompts.templates",
    "selfdistill.stages": "selfdistill.evaluation.stages",
    "selfdistill.harness": "selfdistill.evaluation.harness",
    "selfdistill.metrics": "selfdistill.evaluation.metrics",
    "selfdistill.report": "selfdistill.evaluation.report",
    "selfdistill.report_html": "selfdistill.evaluation.report_html",
    "selfdistill.evaluation": "selfdistill.evaluation.external",
    "selfdistill.models": "selfdistill.core.models",
    "selfdistill.merged_lora": "selfdistill.core.merged_lora",
    "selfdistill.cli_credit": "selfdistill.cli.credit",
    "selfdistill.cli_errors": "selfdistill.cli.errors",
    "selfdistill.cli_lockfork": "selfdistill.cli.lockfork",
}
# Modules of the new layout whose names start with an old module's name (selfdistill.prompts.task
# starts with selfdistill.prompts): never rewritten again, so the script is idempotent.
NEW_MODULES = set(MOVES.values()) | {"selfdistill.cli.main"}
NAMES = {tuple(k.split(":")): v for k, v in {
    "selfdistill.sdpo:SDPOLossConfig": "selfdistill.distill.objective",
    "selfdistill.sdpo:ALGORITHMS": "selfdistill.distill.objective",
    "selfdistill.sdpo:Algorithm": "selfdistill.distill.objective",
    "selfdistill.sdpo:accumulate_gradients": "selfdistill.distill.objective",
    "selfdistill.sdpo:Rollout": "selfdistill.rollouts",
    "selfdistill.sdpo:Group": "selfdistill.rollouts",
    "selfdistill.sdpo:make_groups": "selfdistill.rollouts",
    "selfdistill.sdpo:sample_and_grade": "selfdistill.rollouts",
    "selfdistill.sdpo:TeacherBatch": "selfdistill.distill.teacher_context",
    "selfdistill.sdpo:ContextKind": "selfdistill.distill.teacher_context",
    "selfdistill.sdpo:build_teacher_batch": "selfdistill.distill.teacher_context",
    "selfdistill.sdpo:all_reduce_gradients": "selfdistill.core.distributed",
    "selfdistill.sdpo:score_shared_prefix": "selfdistill.distill.prefix_scoring",
    "selfdistill.teacher:Teacher": "selfdistill.distill.teacher_weights",
    "selfdistill.teacher:TEACHER_KINDS": "selfdistill.distill.teacher_weights",
    "selfdistill.teacher:TeacherKind": "selfdistill.distill.teacher_weights",
    "selfdistill.recipes.sdpo:SDPOTeacherConfig": "selfdistill.distill.teacher_context",
    "selfdistill.assist.session:PlainOutput": "selfdistill.assist.output",
    "selfdistill.assist.session:Output": "selfdistill.assist.output",
    "selfdistill.assist.session:adapter_state": "selfdistill.assist.model",
    "selfdistill.assist.session:load_adapter_weights": "selfdistill.assist.model",
    "selfdistill.assist.session:open_profile_model": "selfdistill.assist.model",
    "selfdistill.assist.session:load_script": "selfdistill.assist.script",
    "selfdistill.assist.session:play_turn": "selfdistill.assist.script",
    "selfdistill.assist.session:play_script": "selfdistill.assist.script",
    "selfdistill.assist.session:parse_logged_turn": "selfdistill.assist.offline",
    "selfdistill.assist.session:learn_from_log": "selfdistill.assist.offline",
    "selfdistill.cli:app": "selfdistill.cli.main",
    "selfdistill.cli:main": "selfdistill.cli.main",
}.items()}



def target(mod: str, name: str) -> str:
    """The module `name` lives in now (it was imported from `mod`)."""
    if mod in NEW_MODULES or f"{mod}.{name}" in NEW_MODULES:
        return mod
    if (mod, name) in NAMES:
        return NAMES[(mod, name)]
    return MOVES.get(mod, mod)



def fmt(indent: str, mod: str, aliases: list[tuple[str, str | None]]) -> list[str]:
    """One `from mod import ...` statement, wrapped like ruff would when too long."""
    parts = [a if b is None else f"{a} as {b}" for a, b in aliases]
    line = f"{indent}from {mod} import {', '.join(parts)}"
    if len(line) <= 99:
        return [line]
    return [f"{indent}from {mod} import ("] + [f"{indent}    {p}," for p in parts] + [f"{indent})"]

def _import_from(node: ast.ImportFrom, lines: list[str]) -> tuple[int, int, list[str]] | None:
    """The replacement lines of one `from selfdistill... import ...`, or None if unchanged."""
    mod = node.module
    groups: dict[str, list] = {}
    for a in node.names:
        full = f"{mod}.{a.name}"
        if full in MOVES and full not in NEW_MODULES:  # `from selfdistill.recipes import discover_cli`: a module by name
            pmod, _, pname = MOVES[full].rpartition(".")
            groups.setdefault(pmod, []).append(
                (pname, a.asname or (a.name if pname != a.name else None)))
            continue
        groups.setdefault(target(mod, a.name), []).append((a.name, a.asname))
    if list(groups) == [mod]:
        return None
    indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)
    new: list[str] = []
    for m, al in groups.items():
        new += fmt(indent, m, al)
    return node.lineno - 1, node.end_lineno, new


def rewrite(path: str) -> bool:
    """Rewrite one file in place; True if it changed."""
    src = open(path).read()
    try:
        tree = ast.parse(src)
    except SyntaxError:
        print("skip (syntax error)", path)
        return False
    lines = src.split("\n")
    edits = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                and node.module.startswith("selfdistill")):
            edit = _import_from(node, lines)
            if edit is not None:
                edits.append(edit)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name in MOVES and a.name not in NEW_MODULES:
                    i = node.lineno - 1
                    lines[i] = lines[i].replace(f"import {a.name}", f"import {MOVES[a.name]}")
    for start, end, new in sorted(edits, reverse=True):
        lines[start:end] = new
    out = "\n".join(lines)
    # Dotted string references (monkeypatch targets, -m module runs).
    for old in sorted(MOVES, key=len, reverse=True):
        new_suffixes = [n[len(old):] for n in NEW_MODULES if n.startswith(old + ".")]
        keep = "".join(rf"(?!{re.escape(x)}\b)" for x in new_suffixes)
        out = re.sub(r'(["\'])' + re.escape(old) + keep + r'(?=[."\'])',
                     lambda m, old=old: m.group(1) + MOVES[old], out)
    if out == src:
        return False
    with open(path, "w") as fh:
        fh.write(out)
    return True


if __name__ == "__main__":
    files = [p for p in sys.argv[1:] if not p.endswith("rewrite_imports.py")]  # not itself
    print("rewrote", sum(rewrite(p) for p in files), "files")
