#!/usr/bin/env bash
# The 0.5B studies of issue 31 (docs/results.md, "0.5B cost plan" and the sections after it),
# in resumable lane-sized parts. Every part is a product command that resumes where it
# stopped and covers a growing prefix of the problems (EVAL_STEP problems, SAMPLE_STEP
# prompts more than the last), sized to ~3-5 CPU-minutes (a lane got 1/3-3/4 of a core
# here); each runs under `timeout $PART_MIN` minutes with one thread (through $LANE when
# that exists), so a part killed at its limit loses at most the generate call or the
# optimiser steps in flight. Run the same command again to continue; `status` says what is
# left. One command per experiment:
#
#   scripts/qwen05b_study.sh base-spread          # base on every 4th HumanEval problem first
#   scripts/qwen05b_study.sh base                 # base model: HumanEval + LCB slice sweeps
#   scripts/qwen05b_study.sh ssd paper 1.6        # SSD, paper data policy, T_train 1.6
#   scripts/qwen05b_study.sh ssd default 1.6      # SSD, default data policy (same samples)
#   scripts/qwen05b_study.sh grid                 # T_train x T_eval without truncation (T_eff)
#   scripts/qwen05b_study.sh collect              # compact per-problem files -> docs/studies/qwen05b
#   scripts/qwen05b_study.sh status
#   python scripts/qwen05b_tables.py              # every table, from docs/studies/qwen05b
#
# PARTS=N runs up to N parts in a row (default 1); STOP_AT=HH:MM (UTC) starts none after.
# EVAL_N, EVAL_TEMPS, EVAL_STEP: the evaluation's size; SSD_EVAL=humaneval skips the LCB slice,
# SSD_EVAL=none every evaluation; SSD_ONLY=1 evaluates the SSD model alone (`--only-ssd`: the
# base model's sweep came from another machine, docs/studies/qwen05b/base.jsonl). Every part
# appends its wall and CPU seconds (its children's rusage) to $ROOT/parts.jsonl.
set -euo pipefail
cd "${STUDY_REPO:-$(dirname "$0")/..}"  # STUDY_REPO: run a copy of this script from elsewhere
PY=${PY:-python}
MODEL=${MODEL:-$HOME/.cache/selfdistill/models/qwen2.5-coder-0.5b-instruct/hf}
DATA=${DATA:-../shared/datasets}
[[ -d $DATA ]] || DATA=/work/shared/datasets
ROOT=${ROOT:-runs/qwen05b}
PART_MIN=${PART_MIN:-14}
PARTS=${PARTS:-1}
STOP_AT=${STOP_AT:-}
LANE=${LANE:-/work/bin/lane}  # or e.g. LANE="flock /tmp/sd-lane2.lock" (wait in one lane's queue)
command -v "${LANE%% *}" >/dev/null || LANE=
LCB_SLICE="lcb:$DATA/lcb_before_2025-02_public.jsonl?start=2025-01-01"
EVAL_TEMPS=${EVAL_TEMPS:-0.4,0.8}
EVAL_N=${EVAL_N:-5}            # samples per problem and T_eval (raising it later resumes: the
                               # samples already drawn keep their seeds, new indices are added)
EVAL_STEP=${EVAL_STEP:-4}      # problems per evaluation part (x 5 samples x 2 T_eval)
SAMPLE_STEP=${SAMPLE_STEP:-16} # training prompts per sampling part
SSD_EVAL=${SSD_EVAL:-humaneval,lcb}  # the sets an SSD run evaluates on, in this order
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

[[ -f $MODEL/model.safetensors ]] || {
    echo "no study model at $MODEL: run ../shared/models/get-qwen2.5-coder-0.5b.sh" >&2; exit 2; }

CPU_TMP=$(mktemp)
trap 'rm -f "$CPU_TMP" "$CPU_TMP.0"' EXIT
child_cpu() {  # user + system CPU seconds of this shell's finished children (and theirs)
    times > "$CPU_TMP"  # a builtin in this shell: $(times) would read a subshell's
    awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] }
                   printf "%.1f", s }' "$CPU_TMP"
}

part() {  # one resumable part of at most PART_MIN minutes; returns 1 when it was cut
    if [[ -n "$STOP_AT" && "$(date -u +%H:%M)" > "$STOP_AT" ]]; then
        echo "[qwen05b] past STOP_AT=$STOP_AT: not starting: $*"; exit 0
    fi
    local load0 start cpu0 cpu rc=0 t0=$SECONDS
    child_cpu > "$CPU_TMP.0"
    load0=$(cut -d' ' -f1 /proc/loadavg) start=$(date -u +%H:%M:%S) cpu0=$(cat "$CPU_TMP.0")
    echo "[qwen05b] $start start (load $(cut -d' ' -f1-3 /proc/loadavg)): $*"
    $LANE timeout "${PART_MIN}m" "$PY" -m selfdistill.cli "$@" || rc=$?
    child_cpu > "$CPU_TMP.0"
    cpu=$(awk -v a="$cpu0" -v b="$(cat "$CPU_TMP.0")" 'BEGIN { printf "%.1f", b - a }')
    echo "[qwen05b] $(date -u +%H:%M:%S) end rc=$rc after $((SECONDS - t0)) s, $cpu CPU-s" \
        "(load $(cut -d' ' -f1-3 /proc/loadavg))"
    mkdir -p "$ROOT"  # one line per part: what the results section's CPU table is made of
    printf '{"date": "%s", "start": "%s", "end": "%s", "seconds": %d, "cpu_seconds": %s, "load": "%s-%s", "rc": %d, "args": "%s"}\n' \
        "$(date -u +%F)" "$start" "$(date -u +%H:%M:%S)" $((SECONDS - t0)) "$cpu" "$load0" \
        "$(cut -d' ' -f1 /proc/loadavg)" "$rc" "${*//\"/}" >> "$ROOT/parts.jsonl"
    [[ $rc == 0 || $rc == 124 ]] || exit $rc
    if ((SECONDS - t0 >= 60)); then  # a part that only found its work done does not count
        PARTS=$((PARTS - 1))
        ((PARTS > 0)) || { echo "[qwen05b] part limit reached: run the same command again"; exit 0; }
    fi
    [[ $rc == 0 ]]
}

steps() {  # TOTAL STEP: STEP, 2*STEP, ..., TOTAL (parts grow the problem prefix they cover)
    local n=$2
    while ((n < $1)); do echo "$n"; n=$((n + $2)); done
    echo "$1"
}

base_eval() {  # NAME BENCHMARK TOTAL: the base model's sweep; SSD runs link it as eval/base
    local lim
    for lim in $(steps "$3" "$EVAL_STEP"); do
        until part evaluate --model "$MODEL" --benchmark "$2" --harness selfdistill \
            --n "$EVAL_N" --temperatures "$EVAL_TEMPS" --top-k 20 --top-p 0.8 --max-new-tokens 384 \
            --k "1,$((EVAL_N < 5 ? EVAL_N : 5))" --dtype bfloat16 --batch-size 32 --limit "$lim" --run-dir "$ROOT/base-$1"
        do :; done
    done
}

every4th() {  # HumanEval's every 4th problem (41): a spread subset for early pass-rate estimates
    local f="$ROOT/humaneval_every4th.jsonl"
    [[ -s $f ]] || "$PY" -c "import sys
from selfdistill.problems.registry import load_source
from selfdistill.problems.schema import save_problems
save_problems(load_source('humaneval')[::4], sys.argv[1])" "$f"
    echo "jsonl:$f"
}

ssd_run() {  # POLICY TTRAIN: sample (shared by the policies) -> train -> evaluate both sets
    local policy=$1 t=$2 run="$ROOT/ssd-$1-T$2" recipe="recipes/ssd_qwen05b_$1.yaml" src
    src=$(sed -n 's/^  source: *"\(.*\)"$/\1/p' "$recipe")
    local args=("$recipe" "sample.temperature=$t" "model.spec=$MODEL"
                "sample.source=${src//..\/shared\/datasets/$DATA}")
    mkdir -p "$run/sample" "$run/eval" "$ROOT/samples-T$t" "$run/lcb/eval" \
        "$ROOT/base-humaneval/model" "$ROOT/base-lcb/model"  # eval/base links here: no dangling link
    touch "$ROOT/samples-T$t/samples.jsonl"  # both policies train on the same samples
    [[ -L $run/sample/samples.jsonl ]] || ln -s "../../samples-T$t/samples.jsonl" "$run/sample/"
    [[ -L $run/eval/base ]] || ln -s ../../base-humaneval/model "$run/eval/base"
    [[ -L $run/lcb/eval/base ]] || ln -s ../../../base-lcb/model "$run/lcb/eval/base"
    [[ -L $run/lcb/train ]] || ln -s ../train "$run/lcb/train"
    [[ -L $run/lcb/sample ]] || ln -s ../sample "$run/lcb/sample"
    local lim
    for lim in $(steps 128 "$SAMPLE_STEP"); do  # a prefix already sampled needs no lane
        (($(wc -l < "$ROOT/samples-T$t/samples.jsonl") >= lim)) && [[ $lim != 128 ]] && continue
        until part ssd sample "${args[@]}" "run_dir=$run" "sample.limit=$lim"; do :; done
    done
    [[ -d $run/train/final ]] || until part ssd train "${args[@]}" "run_dir=$run"; do :; done
    [[ ,$SSD_EVAL, == *,humaneval,* ]] && for lim in $(steps 164 "$EVAL_STEP"); do
        until part ssd evaluate "${args[@]}" "run_dir=$run" "eval.temperatures=$EVAL_TEMPS" \
            "eval.n=$EVAL_N" "eval.limit=$lim" ${SSD_ONLY:+--only-ssd}; do :; done
    done
    [[ ,$SSD_EVAL, == *,lcb,* ]] && for lim in $(steps 51 "$EVAL_STEP"); do
        until part ssd evaluate "${args[@]}" "run_dir=$run/lcb" "eval.benchmark=$LCB_SLICE" \
            "eval.temperatures=$EVAL_TEMPS" "eval.n=$EVAL_N" "eval.limit=$lim" \
            ${SSD_ONLY:+--only-ssd}; do :; done
    done
    return 0
}

grid_run() {  # the T_eff law: T_train x T_eval without truncation (ssd grid resumes per cell)
    local src
    src=$(sed -n 's/^  source: *"\(.*\)"$/\1/p' recipes/ssd_qwen05b_paper.yaml)
    until part ssd grid recipes/ssd_qwen05b_paper.yaml "run_dir=$ROOT/grid" "model.spec=$MODEL" \
        "sample.source=${src//..\/shared\/datasets/$DATA}" "eval.n=${GRID_N:-2}" \
        "grid.train_temperatures=${GRID_TTRAIN:-0.6,1.0,1.4}" \
        "grid.eval_temperatures=${GRID_TEVAL:-0.4,0.8,1.2}"; do :; done
}

case "${1:-status}" in
    base) base_eval humaneval humaneval 164; base_eval lcb "$LCB_SLICE" 51 ;;
    base-spread) base_eval humaneval "$(every4th)" 41 ;;  # reused by `base` (same run dir)
    ssd) ssd_run "${2:?policy: paper|default}" "${3:?T_train}" ;;
    grid) grid_run ;;
    collect) "$PY" scripts/qwen05b_tables.py --collect "$ROOT" ;;
    status) "$PY" scripts/qwen05b_tables.py --status "$ROOT" ;;
    *) echo "usage: $0 base-spread | base | ssd POLICY T_TRAIN | grid | collect | status" >&2; exit 2 ;;
esac
