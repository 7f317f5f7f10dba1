#!/usr/bin/env bash
# The SSD CPU study (issue 16, docs/results.md "SSD study"), in resumable parts.
# Every part is a product command that resumes where it stopped, so this script can be
# killed and started again at any time; it runs each part under the study lane lock with
# one thread. STOP_AT=HH:MM (UTC) stops launching new parts after that time.
#   scripts/ssd_study.sh                # everything, in order
#   TEMPS="0.0" scripts/ssd_study.sh    # only the greedy evaluation step
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}
RECIPE=recipes/ssd_study_cpu.yaml
ROOT=${ROOT:-runs/study}
TTRAINS=${TTRAINS:-"0.8 1.2 1.6"}
LANE=${LANE:-/tmp/sd-lane-study.lock}
STOP_AT=${STOP_AT:-}

part() {  # run one resumable part unless STOP_AT has passed
    if [[ -n "$STOP_AT" && "$(date -u +%H:%M)" > "$STOP_AT" ]]; then
        echo "[study] $(date -u +%H:%M) past STOP_AT=$STOP_AT: not starting: $*"; exit 0
    fi
    echo "[study] $(date -u +%H:%M:%S) start: $*"
    OMP_NUM_THREADS=1 flock "$LANE" "$PY" -m selfdistill.cli "$@"
    echo "[study] $(date -u +%H:%M:%S) done"
}

mkdir -p "$ROOT/base-eval"
for t in $TTRAINS; do  # the base model's evaluation is the same for every T_train: run it once
    mkdir -p "$ROOT/Ttrain$t/eval"
    [[ -e "$ROOT/Ttrain$t/eval/base" ]] || ln -s ../../base-eval "$ROOT/Ttrain$t/eval/base"
done
for t in $TTRAINS; do part ssd sample $RECIPE run_dir=$ROOT/Ttrain$t sample.temperature=$t; done
for t in $TTRAINS; do  # a finished model is never retrained
    [[ -d "$ROOT/Ttrain$t/train/final" ]] || part ssd train $RECIPE run_dir=$ROOT/Ttrain$t \
        sample.temperature=$t
done
# Evaluation in bf16 (the checkpoints' own precision, ~1.35x faster on a bf16 CPU); training
# data was sampled and trained on in fp32. Each model's whole sweep before the next model.
for t in $TTRAINS; do
    for temps in ${TEMPS:-0.0,0.4,0.8}; do
        part ssd evaluate $RECIPE run_dir=$ROOT/Ttrain$t sample.temperature=$t \
            model.infer_dtype=bfloat16 eval.temperatures=$temps
    done
done
for t in $TTRAINS; do part ssd analyze $ROOT/Ttrain$t; done
