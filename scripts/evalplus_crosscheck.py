"""Cross-check of the official HumanEval harness against EvalPlus's own code (issue 35).

Takes the greedy answers of a `selfdistill evaluate --benchmark humaneval` run (the official
harness sends EvalPlus's prompt and response prefix, token for token what EvalPlus's
make_raw_chat_prompt builds) and post-processes them with EvalPlus's own functions: its
providers' cut at `evalplus.provider.utility.EOS` + "\\n```\\n" with tabs as 4 spaces, then
`evalplus.sanitize.sanitize`. Writes EvalPlus's {task_id, solution} rows, which
`selfdistill evaluate --samples OUT --harness selfdistill` grades as EvalPlus runs them (the
solution alone, HumanEval's tests).

EvalPlus is not a dependency: put its source (EvalPlus @ 26d6d00 was used) and tree-sitter +
tree-sitter-python on PYTHONPATH.

    python scripts/evalplus_crosscheck.py RUN/model/T0.00/samples.jsonl OUT.jsonl
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    """Post-process a run's answers with EvalPlus's code; write {task_id, solution} rows."""
    from evalplus.provider.utility import EOS
    from evalplus.sanitize import sanitize

    from selfdistill.problems.registry import load_source

    src, out = sys.argv[1], sys.argv[2]
    entry = {p.id: p.entry_point for p in load_source("humaneval")}
    stops = [*EOS, "\n```\n"]  # chat models: HuggingFaceDecoder/VllmDecoder add the fence
    rows = []
    with open(src) as fh:
        for line in fh:
            rec = json.loads(line)
            text = rec["text"]
            cut = min([text.index(s) for s in stops if s in text] + [len(text)])
            impl = text[:cut].replace("\t", "    ")
            rows.append({"task_id": rec["problem_id"],
                         "solution": sanitize(impl, entrypoint=entry[rec["problem_id"]])})
    with open(out, "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    print(f"{len(rows)} rows -> {out}")


if __name__ == "__main__":
    main()
