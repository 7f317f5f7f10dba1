"""Rewrite imports of code written against an older layout (issues 20 and 33; one release).

    python scripts/rewrite_imports.py $(git ls-files '*.py')

`from selfdistill.sdpo import Group, sdpo_step` becomes one import per new home
(selfdistill.rollouts, selfdistill.distill.step), and dotted strings naming a moved module
(monkeypatch targets, `-m` runs) follow. Each layout change is one stage (STAGES), applied
in order, so code written against any older layout arrives at today's. A renamed name is
imported under its old name (`from new import new_name as old_name`), so the code using it
keeps working. Run `ruff check --fix` afterwards to sort imports. Idempotent: a module of
today's tree is never rewritten.

Not rewritten (say so in review): attribute access through a moved module (`ssd.run_evaluate`
after `from selfdistill.recipes import ssd`), and signatures that changed:
- issue 20: loss.top_k -> loss.support_size and loss.temperature -> loss.scoring_temperature
  (YAML keeps loading with a warning); SDPOLossConfig and UpdateConfig take support_size,
  sdpo_step takes max_prompt_tokens; recipes.sdpo.SDPOTeacherConfig is
  distill.teacher_context.TeacherConfig.
- issue 33: recipes.evaluate.make_generator(model, tok, backend, batch_size) is gone (its
  import fails on purpose: the arguments are in another order) -- call
  generation.make_generator(backend, model, tok, batch_size=..., progress=False);
  recipes.ssd.load_generator(cfg, spec, backend, batch_size) is
  generation.make_generator(backend, spec, dtype=..., merge_lora=True, load_with_hf=True,
  chat_template_kwargs=cfg.model.chat_template_kwargs); assist.profile.LoraSettings(r, alpha,
  targets) is core.config.OptimConfig(lora_r, lora_alpha, lora_targets) (SessionConfig.lora);
  the CLI modules expose mount(app) instead of cli.main's _mount_* functions; the
  SamplerConfig default max_new_tokens is 512 (SDPO rollouts and discover declare 1024).
"""
import ast
import re
import sys
from pathlib import Path

# ---------------------------------------------------------------- issue 20
MOVES_20 = {
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
NAMES_20 = {
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
}

# ---------------------------------------------------------------- issue 33
MOVES_33 = {
    "selfdistill.recipes.evaluate": "selfdistill.evaluation.sweep",
    "selfdistill.recipes.ssd": "selfdistill.recipes.ssd.run",
    "selfdistill.recipes.ssd_data": "selfdistill.recipes.ssd.data",
    "selfdistill.analysis.lockfork": "selfdistill.recipes.ssd.analyze",
    "selfdistill.cli.lockfork": "selfdistill.recipes.ssd.cli",
    "selfdistill.recipes.sdpo.train": "selfdistill.recipes.sdpo.run",
    "selfdistill.analysis.run_reports": "selfdistill.recipes.sdpo.report",
    "selfdistill.recipes.discover.runner": "selfdistill.recipes.discover.run",
    "selfdistill.cli.errors": "selfdistill.core.console",
    "selfdistill.generation.progress": "selfdistill.core.console",
    "selfdistill.generation.testing": "tiny",  # tests/tiny.py: test helpers live in tests/
}
NAMES_33 = {
    "selfdistill.recipes.evaluate:run_evaluate": "selfdistill.recipes.evaluate.run",
    "selfdistill.recipes.evaluate:run_evaluate_samples": "selfdistill.recipes.evaluate.run",
    "selfdistill.recipes.evaluate:write_eval_report": "selfdistill.recipes.evaluate.report",
    "selfdistill.recipes.evaluate:_write_results":
        "selfdistill.recipes.evaluate.report:write_results",
    "selfdistill.recipes.evaluate:TemperatureResult": "selfdistill.evaluation.metrics",
    "selfdistill.recipes.evaluate:best_temperature": "selfdistill.evaluation.metrics",
    "selfdistill.recipes.evaluate:result_ks": "selfdistill.evaluation.metrics",
    "selfdistill.recipes.evaluate:results_table": "selfdistill.evaluation.report",
    "selfdistill.recipes.evaluate:difficulty_groups": "selfdistill.evaluation.report",
    "selfdistill.recipes.evaluate:difficulty_table": "selfdistill.evaluation.report",
    "selfdistill.recipes.evaluate:contest_window": "selfdistill.evaluation.report",
    "selfdistill.recipes.evaluate:plot_temperature_sweep": "selfdistill.evaluation.report",
    "selfdistill.recipes.ssd:run_evaluate": "selfdistill.recipes.ssd.run:run_compare",
    "selfdistill.recipes.ssd:_paired_gain": "selfdistill.evaluation.metrics:paired_gain",
    "selfdistill.recipes.ssd:_data_line": "selfdistill.recipes.ssd.report",
    "selfdistill.recipes.ssd:_reading_note": "selfdistill.recipes.ssd.report",
    "selfdistill.analysis.run_reports:write_demo_report": "selfdistill.assist.report",
    "selfdistill.analysis.run_reports:_demo_command": "selfdistill.assist.report",
    "selfdistill.generation.testing:tiny_llama": "tiny:char_llama",
    "selfdistill.evaluation.stages:console": "selfdistill.core.console",
    "selfdistill.evaluation.stages:progress_bar": "selfdistill.core.console",
    "selfdistill.core.config:SamplerConfig": "selfdistill.generation.params",
    "selfdistill.core.config:sampling_params": "selfdistill.generation.params",
    "selfdistill.core.config:EvalConfig": "selfdistill.evaluation.config",
    "selfdistill.core.config:TrainConfig": "selfdistill.training.config",
    "selfdistill.core.config:SSDConfig": "selfdistill.recipes.ssd.config",
    "selfdistill.core.config:SSDSampleConfig": "selfdistill.recipes.ssd.config",
    "selfdistill.core.config:SSDGridConfig": "selfdistill.recipes.ssd.config",
    "selfdistill.core.config:EvaluateConfig": "selfdistill.recipes.evaluate.config",
    "selfdistill.recipes.sdpo.config:validate_teacher_and_optim":
        "selfdistill.distill.teacher_weights",
    "selfdistill.recipes.sdpo:validate_teacher_and_optim": "selfdistill.distill.teacher_weights",
    "selfdistill.distill.step:SDPOLossConfig": "selfdistill.distill.objective",
    "selfdistill.distill.objective:_Sample": "selfdistill.distill.objective:LossSample",
    "selfdistill.distill.objective:_contributes": "selfdistill.distill.objective:contributes",
    "selfdistill.distill.objective:_micro_batches":
        "selfdistill.distill.objective:micro_batches",
    "selfdistill.evaluation.report:_plt": "selfdistill.evaluation.report:pyplot",
    "selfdistill.distill.scoring:_hidden_and_head": "selfdistill.distill.scoring:hidden_and_head",
    "selfdistill.assist.session:SessionConfig": "selfdistill.assist.config",
    "selfdistill.assist.cli:_config": "selfdistill.assist.config:session_config",
    "selfdistill.assist.cli:run_assist": "selfdistill.assist.run",
    "selfdistill.assist.cli:run_assist_learn": "selfdistill.assist.run",
    "selfdistill.assist.cli:run_assist_demo": "selfdistill.assist.run",
    "selfdistill.agent.cli:run_agent": "selfdistill.agent.run",
    "selfdistill.agent.cli:_replay": "selfdistill.agent.run",
    "selfdistill.cli.main:_floats": "selfdistill.recipes.evaluate.cli",
    "selfdistill.cli.main:_json_object": "selfdistill.recipes.evaluate.cli",
    "selfdistill.cli.main:evaluate_cmd": "selfdistill.recipes.evaluate.cli",
}

_SRC = Path(__file__).resolve().parents[1] / "src"


def _tree_modules() -> set[str]:
    """Every module file of today's tree (packages excluded: an old module may be a package
    now, e.g. selfdistill.recipes.ssd, and its old names still need moving)."""
    return {".".join(p.relative_to(_SRC).with_suffix("").parts)
            for p in _SRC.rglob("*.py") if p.name != "__init__.py"}


STAGES = [(MOVES_20, NAMES_20), (MOVES_33, NAMES_33)]
CURRENT = _tree_modules()
# Set per stage by _use (the module-level names the functions below read).
MOVES: dict[str, str] = {}
NAMES: dict[tuple[str, str], str] = {}
NEW_MODULES: set[str] = set()


def _use(moves: dict[str, str], names: dict[str, str]) -> None:
    """Make one stage's tables the ones target/_import_from/rewrite_text read."""
    global MOVES, NAMES, NEW_MODULES
    MOVES = moves
    NAMES = {tuple(k.split(":")): v for k, v in names.items()}
    # Modules of the new layout whose names start with an old module's name
    # (selfdistill.prompts.task starts with selfdistill.prompts), and every module of
    # today's tree: never rewritten again, so the script is idempotent.
    NEW_MODULES = {v.split(":")[0] for v in moves.values()} | CURRENT | {"selfdistill.cli.main"}



def target(mod: str, name: str) -> tuple[str, str]:
    """(the module `name` lives in now, its name there); it was imported from `mod`."""
    if (mod, name) in NAMES:  # a name that left a module (which may still exist)
        new_mod, _, new_name = NAMES[(mod, name)].partition(":")
        return new_mod, new_name or name
    if mod in NEW_MODULES or f"{mod}.{name}" in NEW_MODULES:
        return mod, name
    return MOVES.get(mod, mod), name



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
        new_mod, new_name = target(mod, a.name)
        alias = a.asname or (a.name if new_name != a.name else None)
        groups.setdefault(new_mod, []).append((new_name, alias))
    if list(groups) == [mod] and all(n == a.name for (n, _), a in zip(groups[mod], node.names,
                                                                        strict=True)):
        return None
    indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)
    new: list[str] = []
    for m, al in groups.items():
        new += fmt(indent, m, al)
    return node.lineno - 1, node.end_lineno, new


def rewrite(path: str) -> bool:
    """Rewrite one file in place through every stage; True if it changed."""
    src = open(path).read()
    out = src
    for moves, names in STAGES:
        _use(moves, names)
        try:
            out = rewrite_text(out)
        except SyntaxError:
            print("skip (syntax error)", path)
            return False
    if out == src:
        return False
    with open(path, "w") as fh:
        fh.write(out)
    return True


def rewrite_text(src: str) -> str:
    """One stage's rewrite of a module's source text."""
    tree = ast.parse(src)
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
    return out


if __name__ == "__main__":
    files = [p for p in sys.argv[1:] if not p.endswith("rewrite_imports.py")]  # not itself
    print("rewrote", sum(rewrite(p) for p in files), "files")
