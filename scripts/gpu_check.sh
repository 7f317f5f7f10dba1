#!/usr/bin/env bash
# One command for anyone with a CUDA machine: does the GPU path of selfdistill work here?
#
#   bash scripts/gpu_check.sh            # from a checkout with `pip install -e ".[dev,vllm]"`
#
# Five checks on a 0.5B model (Qwen/Qwen2.5-Coder-0.5B-Instruct from the hub; MODEL=... to
# use another spec or a local directory), about 5-8 minutes on one GPU; docs/scaling-to-gpus.md
# says exactly what each checks:
#   1 vllm-sampling   `selfdistill evaluate --backend vllm` greedy on 8 HumanEval problems
#   2 vllm-refresh    a colocated engine: weights streamed in change its greedy output and
#                     streaming the originals back restores it; sleep frees GPU memory
#   3 fsdp-sdpo       3 SDPO steps, torchrun + FSDP2, fp32 master weights, bf16 compute,
#                     rollouts from the colocated vLLM engine (sleeping during updates)
#   4 ssd-sft         one SSD SFT step (TRL, bf16 autocast) on 8 samples drawn with vLLM
#   5 plan            `selfdistill plan` for check 3's exact config vs its measured peak
# Prints a pass/fail table; exit status 0 only when every check passes.
set -u
MODEL=${MODEL:-Qwen/Qwen2.5-Coder-0.5B-Instruct}
PY=${PY:-python}
OUT=${OUT:-$(mktemp -d /tmp/selfdistill-gpu-check.XXXXXX)}
NGPU=${NGPU:-1}
export TOKENIZERS_PARALLELISM=false
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
declare -a NAMES STATUS DETAIL SECS

record() {  # name status seconds detail
  NAMES+=("$1"); STATUS+=("$2"); SECS+=("$3"); DETAIL+=("$4")
}

run_check() {  # name command... ; the command prints its detail line last
  local name=$1; shift
  local t0=$SECONDS log="$OUT/$name.log"
  echo "== $name (log: $log)"
  if "$@" >"$log" 2>&1; then
    record "$name" PASS $((SECONDS - t0)) "$(tail -n 1 "$log")"
  else
    record "$name" FAIL $((SECONDS - t0)) "$(grep -E 'Error|error|FAIL' "$log" | tail -n 1)"
  fi
}

if ! $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu_check: torch sees no CUDA device; this script checks the GPU path only." >&2
  exit 2
fi
$PY -c "import vllm" 2>/dev/null || { echo "gpu_check: vllm does not import (pip install -e '.[vllm]')." >&2; exit 2; }

# ---------------------------------------------------------------- 1 vLLM CUDA sampling
check_sampling() {
  $PY -m selfdistill.cli evaluate --model "$MODEL" --backend vllm --dtype bfloat16 \
    --benchmark humaneval --limit 8 --n 1 --temperature 0 --max-new-tokens 192 \
    --run-dir "$OUT/eval" || return 1
  $PY - "$OUT/eval/results.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
t = r["temperatures"][0]
assert r["n_problems"] == 8 and t["n"] == 1, r
p1 = t["summary"].get("overall", {}).get("pass@1")
print("8 HumanEval problems greedy on vLLM CUDA: pass@1", p1)
EOF
}

# ---------------------------------------------------------------- 2 colocated weight refresh
check_refresh() {
  MODEL="$MODEL" $PY - <<'EOF'
import os, torch
from selfdistill.core.config import sampling_params
from selfdistill.core.models import load_model
from selfdistill.generation.colocate import EngineSync, model_weights
from selfdistill.generation.vllm_backend import VLLMGenerator

spec = os.environ["MODEL"]
gen = VLLMGenerator(spec, dtype="bfloat16", gpu_memory_utilization=0.3, enable_sleep_mode=True,
                    progress=False)
model, _ = load_model(spec, dtype="bfloat16", device="cuda")
chat = [{"role": "user", "content": "Write a Python function add(a, b) that returns a + b."}]
params = sampling_params(0.0, max_new_tokens=32)
first = gen.generate([chat], params)[0][0].token_ids
sync = EngineSync(gen, sleep=True)
free0 = torch.cuda.mem_get_info()[0]
sync.release()  # level-2 sleep: KV cache and weights off the GPU
freed = (torch.cuda.mem_get_info()[0] - free0) / 2**30
with torch.no_grad():
    model.model.norm.weight.mul_(-1.0)  # flips every logit: greedy output must change
sync.ready(1, model_weights(model))
flipped = gen.generate([chat], params)[0][0].token_ids
with torch.no_grad():
    model.model.norm.weight.mul_(-1.0)
sync.ready(2, model_weights(model))
back = gen.generate([chat], params)[0][0].token_ids
assert flipped != first, "pushed weights did not change the engine's output"
assert back == first, "pushing the original weights back did not restore the output"
assert freed > 0.5, f"sleep freed only {freed:.2f} GiB"
print(f"refresh changes and restores greedy output; sleep freed {freed:.1f} GiB; "
      f"{sync.refreshes} streamed refreshes")
EOF
}

# ---------------------------------------------------------------- 3 FSDP2 SDPO steps, bf16 compute
SDPO_ARGS=(recipes/sdpo_cpu.yaml "run_dir=$OUT/sdpo" "model.spec=$MODEL" model.dtype=float32
  optim.compute_dtype=bfloat16 optim.method=full optim.lr=1.0e-6 steps=3 save_every=0 eval_every=0
  data.prompts_per_step=2 rollout.n=4 rollout.max_new_tokens=256 rollout.backend=vllm
  rollout.vllm_gpu_memory_utilization=0.3 rollout.vllm_sleep=true loss.micro_batch_size=4)
check_fsdp() {
  local smi="$OUT/smi.csv"
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 -lms 200 >"$smi" &
  local smi_pid=$!
  torchrun --standalone --nproc_per_node "$NGPU" -m selfdistill.cli sdpo train "${SDPO_ARGS[@]}"
  local rc=$?
  kill "$smi_pid" 2>/dev/null; wait "$smi_pid" 2>/dev/null
  [ $rc -eq 0 ] || return 1
  sort -n "$smi" | tail -n 1 >"$OUT/peak_mib.txt"
  $PY - "$OUT/sdpo/metrics.jsonl" "$(cat "$OUT/peak_mib.txt")" <<'EOF'
import json, math, sys
rows = [json.loads(x) for x in open(sys.argv[1]) if x.strip()]
train = [r for r in rows if r.get("kind") == "train"]
assert [r["step"] for r in train] == [1, 2, 3], train
assert all(math.isfinite(r["loss"]) for r in train), [r["loss"] for r in train]
losses = ", ".join("%.4g" % r["loss"] for r in train)
print("3 SDPO steps (FSDP2, fp32 master, bf16 compute, vLLM rollouts): losses %s; "
      "GPU 0 peak %.1f GiB" % (losses, int(sys.argv[2]) / 1024))
EOF
}

# ---------------------------------------------------------------- 4 one SSD SFT step
check_sft() {
  local args=(recipes/ssd_cpu.yaml "run_dir=$OUT/ssd" "model.spec=$MODEL" model.dtype=float32
    model.infer_dtype=bfloat16 sample.limit=8 sample.workers=1 sample.backend=vllm
    sample.max_new_tokens=256 sample.truncated=kept train.epochs=1 train.batch_size=8
    train.grad_accum=1 train.micro_batch_size=2 train.bf16=true)
  $PY -m selfdistill.cli ssd sample "${args[@]}" || return 1
  $PY -m selfdistill.cli ssd train "${args[@]}" || return 1
  test -f "$OUT/ssd/train/final/config.json" || { echo "FAIL: no trained model"; return 1; }
  echo "SSD: 8 vLLM samples -> 1 SFT step (bf16 autocast, fp32 master) -> $OUT/ssd/train/final"
}

# ---------------------------------------------------------------- 5 plan vs measured
check_plan() {
  test -s "$OUT/peak_mib.txt" || { echo "FAIL: check 3 measured no peak"; return 1; }
  local gib
  gib=$($PY -c "import torch; print(torch.cuda.get_device_properties(0).total_memory / 2**30)")
  $PY -m selfdistill.cli plan "${SDPO_ARGS[@]}" --gpus "$NGPU" --gpu-mem "$gib" --strategy fsdp \
    --prompt-tokens 256 --json >"$OUT/plan.json"
  [ $? -le 1 ] || return 1  # exit 1 = "does not fit", still a plan
  $PY - "$OUT/plan.json" "$(cat "$OUT/peak_mib.txt")" <<'EOF'
import json, sys
plan = json.load(open(sys.argv[1]))
pred, meas = plan["peak_bytes"] / 2**30, int(sys.argv[2]) / 1024
ratio = pred / meas
print(f"plan {pred:.1f} GiB vs measured {meas:.1f} GiB (nvidia-smi, whole GPU): ratio {ratio:.2f}")
assert 1.0 <= ratio <= 1.5, "FAIL: the plan under-promised or over-estimated by > 50%"
EOF
}

T0=$SECONDS
run_check vllm-sampling check_sampling
run_check vllm-refresh check_refresh
run_check fsdp-sdpo check_fsdp
run_check ssd-sft check_sft
run_check plan check_plan

echo
printf '%-14s %-5s %6s  %s\n' check result secs detail
fail=0
for i in "${!NAMES[@]}"; do
  printf '%-14s %-5s %6s  %s\n' "${NAMES[$i]}" "${STATUS[$i]}" "${SECS[$i]}" "${DETAIL[$i]}"
  [ "${STATUS[$i]}" = PASS ] || fail=1
done
echo "total $((SECONDS - T0)) s; logs in $OUT"
exit $fail
