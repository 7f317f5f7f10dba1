"""Per-rank memory of a recipe before launch, from the model's config alone (`selfdistill plan`).

The model is built on the meta device from its config.json (no weight is read): parameter
counts per decoder layer, outside the layers, and of the LoRA adapter come from the real
module tree. The rest is arithmetic over the recipe's settings:

- persistent state: weights, gradients, AdamW's two moments, the teacher's own copy
  (ema: fp32; frozen / trust-region: a copy in the trainable dtype; live: none). Under
  `replica` (one full copy per process, today's multi-process path) nothing is divided;
  under `fsdp` (FSDP2, issue 29) weights, gradients, optimiser state and teacher are
  sharded over the ranks and held in fp32 (master weights), plus what is all-gathered in
  the compute dtype (optim.compute_dtype: bf16 copies beside the fp32 masters): with
  fsdp_gather "layer" (what training/fsdp.layerwise runs) the root unit (embeddings, final
  norm, head) for the whole update and two decoder layers at a time (current + FSDP2's
  backward prefetch), with the root's and one layer's unsharded gradients while they are
  reduce-scattered; "update" (the whole model and its fp32 gradients once per update) is
  the engine before session 8, kept for comparison. HF sampling from a sharded model
  gathers the whole compute copy (fsdp.gathered); a vLLM engine is refreshed from the
  shards one tensor at a time.
- phases, each a transient on top of the persistent state; the peak is the largest (on
  CPU their sum: freed heap pages stay resident, see plan_memory):
  backward (activations of one micro-batch + the largest logits chunk), teacher scoring
  (no grad), the optimiser step (one parameter-sized temporary of foreach AdamW), HF
  sampling (KV cache of one generation batch). A colocated vLLM engine takes its share
  (gpu_memory_utilization x GPU memory on CUDA) all the time, or only while sampling
  when it sleeps during updates.

Activation bytes per token per decoder layer count the tensors autograd keeps for a
Llama/Qwen block (two RMSNorms, q/k/v/o, attention in/out, SwiGLU's four I-wide tensors);
with activation checkpointing only each layer's input is kept, plus one layer recomputed.
Calibrated against measured peaks on CPU (benchmarks/bench_plan_calibration.py,
docs/results.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from selfdistill.planning.shape import ModelShape

GiB = 1024**3
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
# Memory outside tensors: CUDA context + allocator slack on a GPU; on CPU the interpreter
# with torch/transformers imported (RSS of such a process, measured in the calibration).
RUNTIME_BYTES = {"cuda": int(1.5 * GiB), "cpu": int(0.75 * GiB)}
MAX_RANKS = 64


# ------------------------------------------------------------------------ plan inputs


@dataclass(frozen=True)
class PlanInputs:
    """The recipe settings memory depends on, normalised across sdpo / discover / ssd."""

    recipe: str = "sdpo"
    method: str = "lora"  # lora | full
    dtype: str = "float32"  # model.dtype: the compute dtype
    strategy: str = "fsdp"  # fsdp (sharded, fp32 master) | replica (full copy per process)
    # fsdp only: "layer" = training/fsdp.layerwise, FSDP2's per-layer hooks (root + 2
    # layers in full at a time); "update" = the whole model all-gathered once per update
    # (full compute copy + full fp32 gradients during it; the engine before session 8).
    fsdp_gather: str = "layer"
    master_dtype: str = "float32"  # fsdp: the sharded master weights' dtype (model.dtype)
    ranks: int = 1
    device: str = "cpu"  # cuda | cpu
    budget_bytes: int = 0  # per rank
    micro_batch: int = 4
    prompt_tokens: int = 512
    completion_tokens: int = 256
    teacher_prompt_tokens: int = 0  # 0: no teacher forward (grpo, ssd)
    teacher: str = "ema"  # ema | trust_region | trust_region_params | frozen | live | none
    share_prefix: bool = True  # the G completions of a prompt run after one prompt pass
    checkpointing: bool = False
    logits_chunk: int = 512  # student LM-head chunk (tokens)
    teacher_logits_chunk: int = 128
    backend: str = "hf"  # hf | vllm | none (no sampler in this process)
    gen_batch: int = 16  # rows decoded at once (hf)
    vllm_gpu_memory_utilization: float = 0.3
    vllm_kv_cache_gb: float = 1.0  # vllm on CPU
    vllm_sleep: bool = False  # the engine frees its memory while training (CUDA)


@dataclass
class Row:
    """One line of the plan: a component, its bytes per rank, and how it was computed."""

    name: str
    bytes: int
    note: str = ""
    # persistent | backward | teacher | optimizer | sampling | engine | runtime, or
    # update (present in both the backward and the teacher phase)
    phase: str = "persistent"


@dataclass
class MemoryPlan:
    """Rows, the peak per rank, the budget, the verdict and the cheapest change that fits."""

    inputs: PlanInputs
    shape: ModelShape
    rows: list[Row]
    peak_bytes: int
    peak_phase: str
    alternatives: dict[str, int] = field(default_factory=dict)  # e.g. activations w/o ckpt
    suggestion: str | None = None
    suggestion_peak: int | None = None

    @property
    def fits(self) -> bool:
        """True when the predicted per-rank peak is within the budget."""
        return self.peak_bytes <= self.inputs.budget_bytes

    def row(self, name: str) -> Row:
        """The row of that name."""
        return next(r for r in self.rows if r.name == name)


def layer_activation_elems(s: ModelShape) -> int:
    """Elements autograd keeps per token for one decoder layer (Llama/Qwen block, SDPA).

    Two RMSNorms (input, normalised, scaled: 3h each), q/k/v outputs (q + 2 kv), attention
    inputs and output plus o_proj's input (4 q, k/v repeated to q under GQA), SwiGLU's gate,
    up, silu(gate) and product (4 I).
    """
    return 6 * s.hidden + 5 * s.q_dim + 2 * s.kv_dim + 4 * s.intermediate


def layer_forward_elems(s: ModelShape) -> int:
    """Elements alive per token inside one layer's forward without grad (its widest moment)."""
    return 2 * s.hidden + s.q_dim + 2 * s.kv_dim + 3 * s.intermediate


def _layerwise(i: PlanInputs) -> bool:
    """Does the update gather layer by layer (training/fsdp.layerwise)?"""
    return i.strategy == "fsdp" and i.fsdp_gather == "layer"


def _shares_prefix(i: PlanInputs) -> bool:
    """Shared-prefix scoring runs unless several ranks gather per layer in lockstep (then
    rows are packed: objective.accumulate_samples)."""
    return i.share_prefix and not (_layerwise(i) and i.ranks > 1)


def _tokens(i: PlanInputs, prompt: int) -> int:
    """Tokens of one micro-batch's forward: one prompt pass + the completions, or packed rows."""
    if _shares_prefix(i):
        return prompt + i.micro_batch * i.completion_tokens
    return i.micro_batch * (prompt + i.completion_tokens)


def activation_bytes(s: ModelShape, i: PlanInputs, checkpointing: bool) -> int:
    """Bytes autograd keeps for one micro-batch's backward (student side)."""
    cb = DTYPE_BYTES[i.dtype]
    t = _tokens(i, i.prompt_tokens)
    per_layer = layer_activation_elems(s)
    if checkpointing:  # each layer's input kept; one layer's activations live in recompute
        layers = t * max(s.n_layers - 1, 0) * s.hidden + t * per_layer
    else:
        layers = t * s.n_layers * per_layer
    # embedding output, final norm (3h), the hidden states gathered for the LM head
    extra = t * 5 * s.hidden
    return (layers + extra) * cb


def logits_bytes(s: ModelShape, chunk: int, grad: bool) -> int:
    """The largest LM-head chunk: fp32 logits, the scatter copy for the tail, exp / grad."""
    copies = 4 if grad else 3
    return copies * chunk * s.vocab * 4


def _persistent(s: ModelShape, i: PlanInputs) -> list[Row]:
    """Weights, gradients, optimiser state and teacher per rank."""
    wb = DTYPE_BYTES[i.dtype]
    lora = i.method == "lora"
    trainable = s.lora_params if lora else s.n_params
    n = i.ranks if i.strategy == "fsdp" else 1
    rows: list[Row] = []
    if i.strategy == "fsdp":
        tb = 4  # fp32 master weights and optimiser state
        mb = DTYPE_BYTES[i.master_dtype]
        if lora:
            rows.append(Row("weights", _div(s.n_params * mb, n) + _div(trainable * tb, n),
                            f"base {i.master_dtype} / {n} ranks + fp32 adapter / {n}"))
        else:
            rows.append(Row("weights", _div(s.n_params * mb, n),
                            f"{i.master_dtype} master, sharded / {n} ranks"))
        grad_note = f"fp32, sharded / {n}"
        if i.fsdp_gather == "update":
            rows.append(Row("gathered model", s.n_params * wb + trainable * 4,
                            f"during an update: full {i.dtype} compute copy + full fp32 "
                            "gradients (training/fsdp.py gathers once per update)",
                            phase="update"))
        else:
            rows.append(Row("gathered layers", (s.root_params + 2 * s.layer_params) * wb,
                            f"during an update: {i.dtype} compute copy of embeddings/head + "
                            "2 decoder layers (current + prefetch)", phase="update"))
            if not lora:  # the root's and one layer's while they are reduce-scattered
                rows.append(Row("unsharded gradients",
                                (s.root_params + s.layer_params) * (wb + 4),
                                f"{i.dtype} + fp32 (reduce input) of the root and one layer",
                                phase="backward"))
    else:
        tb = 4 if lora else wb  # peft keeps adapters in fp32; full FT trains in model.dtype
        rows.append(Row("weights", s.n_params * wb + (trainable * tb if lora else 0),
                        f"{i.dtype}, one full copy per process"
                        + (" + fp32 adapter" if lora else "")))
        grad_note = "fp32 adapter" if lora else i.dtype
    rows.append(Row("gradients", _div(trainable * tb, n), grad_note))
    rows.append(Row("optimizer", _div(2 * trainable * tb, n),
                    f"AdamW exp_avg + exp_avg_sq ({'fp32' if tb == 4 else i.dtype})"
                    + (f", sharded / {n}" if n > 1 else "")))
    teacher_b = {"ema": 4, "trust_region": tb, "trust_region_params": tb, "frozen": tb,
                 "live": 0, "none": 0}[i.teacher]
    rows.append(Row("teacher", _div(trainable * teacher_b, n),
                    {"ema": "fp32 EMA copy of the trainables", "live": "none (live weights)",
                     "none": "no teacher"}.get(i.teacher, f"{i.teacher} copy of the trainables")
                    + (f", sharded / {n}" if n > 1 and teacher_b else "")))
    return rows


def _div(x: int, n: int) -> int:
    return -(-x // n)


def _teacher_rows(s: ModelShape, i: PlanInputs) -> list[Row]:
    """The teacher's no-grad scoring pass, on top of the student's kept activations.

    Re-prompts differ per row (their feedback), so rows run with their own prompts; the
    pass keeps a KV cache over all layers and one layer's temporaries. Under LoRA the
    (EMA) adapter is merged into copies of the targeted weights for the pass
    (core/merged_lora.py); a low-precision model casts the fp32 EMA copy on the way in.
    """
    cb = DTYPE_BYTES[i.dtype]
    tt = i.micro_batch * (i.teacher_prompt_tokens + i.completion_tokens)
    fwd = tt * (s.hidden + layer_forward_elems(s) + 2 * s.kv_dim * s.n_layers) * cb
    rows = [Row("teacher forward", fwd + logits_bytes(s, min(i.teacher_logits_chunk, tt),
                                                      grad=False),
                f"no grad, {i.micro_batch} x ({i.teacher_prompt_tokens} re-prompt, "
                f"{i.completion_tokens} answer) = {tt} tokens, KV cache + one layer",
                phase="teacher")]
    copies = i.teacher not in ("none", "live")
    if _layerwise(i):  # layers: the teacher's shards are exchanged in place, adapter live
        if i.method == "full" and copies:
            rows.append(Row("teacher root", s.root_params * cb,
                            f"the teacher's embeddings/head gathered in {i.dtype} for the "
                            "update (layers: shards exchanged in place)", phase="update"))
    elif i.strategy == "fsdp" and copies:
        trainable = s.lora_params if i.method == "lora" else s.n_params
        rows.append(Row("teacher gathered", trainable * cb,
                        f"the teacher's trainables gathered in {i.dtype} for the update",
                        phase="update"))
    if i.method == "lora" and copies and not _layerwise(i):
        rows.append(Row("teacher merged weights", s.lora_base_params * cb,
                        "the adapter folded into copies of the targeted weights",
                        phase="teacher"))
    elif i.method == "full" and i.teacher == "ema" and cb != 4 and i.strategy == "replica":
        rows.append(Row("teacher cast", s.n_params * cb, f"fp32 EMA cast to {i.dtype}",
                        phase="teacher"))
    return rows


def plan_memory(s: ModelShape, i: PlanInputs) -> MemoryPlan:
    """The per-rank plan of one configuration (no suggestion search; see plan_with_advice)."""
    rows = _persistent(s, i)
    cb = DTYPE_BYTES[i.dtype]
    trainable = s.lora_params if i.method == "lora" else s.n_params
    n = i.ranks if i.strategy == "fsdp" else 1
    act = activation_bytes(s, i, i.checkpointing)
    other = activation_bytes(s, i, not i.checkpointing)
    t = _tokens(i, i.prompt_tokens)
    rows.append(Row("activations", act,
                    f"micro-batch {i.micro_batch} x ({i.prompt_tokens} prompt, "
                    f"{i.completion_tokens} answer) = {t} tokens, checkpointing "
                    f"{'on' if i.checkpointing else 'off'} ({_fmt(other)} with it "
                    f"{'off' if i.checkpointing else 'on'})", phase="update"))
    rows.append(Row("logits chunk", logits_bytes(s, min(i.logits_chunk, t), grad=True),
                    f"{min(i.logits_chunk, t)} tokens x {s.vocab} vocab, fp32", phase="backward"))
    if i.teacher_prompt_tokens:  # between the student's forward and its backward
        rows.extend(_teacher_rows(s, i))
    tb = 4 if (i.method == "lora" or i.strategy == "fsdp") else cb
    rows.append(Row("optimizer step", _div(trainable * tb, n),
                    "foreach AdamW temporary (one parameter-sized list)", phase="optimizer"))
    seq = i.prompt_tokens + i.completion_tokens
    if i.backend == "hf":
        kv = i.gen_batch * seq * 2 * s.kv_dim * s.n_layers * cb
        gather = s.n_params * cb if i.strategy == "fsdp" else 0  # fsdp.gathered to sample
        rows.append(Row("hf sampling", kv + i.gen_batch * s.vocab * 4 * 2 + gather,
                        f"KV cache {i.gen_batch} rows x {seq} tokens + logits"
                        + (f" + the whole {i.dtype} compute copy (sharded model)" if gather
                           else ""), phase="sampling"))
    elif i.backend == "none":  # the sampler runs elsewhere (or not at all)
        pass
    elif i.device == "cuda":
        share = int(i.vllm_gpu_memory_utilization * i.budget_bytes)
        rows.append(Row("vllm engine", share,
                        f"gpu_memory_utilization {i.vllm_gpu_memory_utilization:g} of the GPU "
                        f"(bf16 weights {_fmt(s.n_params * 2)} + KV cache)"
                        + ("; asleep during updates" if i.vllm_sleep else "; resident"),
                        phase="sampling" if i.vllm_sleep else "engine"))
    else:
        eng = s.n_params * cb + int(i.vllm_kv_cache_gb * GiB)
        rows.append(Row("vllm engine", eng, f"weights copy + {i.vllm_kv_cache_gb:g} GiB KV cache",
                        phase="engine"))
    rows.append(Row("runtime", RUNTIME_BYTES[i.device],
                    "CUDA context + allocator slack" if i.device == "cuda"
                    else "interpreter + torch/transformers", phase="runtime"))
    base = sum(r.bytes for r in rows if r.phase in ("persistent", "engine", "runtime"))
    phases: dict[str, int] = {}
    for r in rows:
        for ph in (("backward", "teacher") if r.phase == "update" else (r.phase,)):
            if ph not in ("persistent", "engine", "runtime"):
                phases[ph] = phases.get(ph, 0) + r.bytes
    peak_phase, extra = max(phases.items(), key=lambda kv: kv[1]) if phases else ("persistent", 0)
    if i.device == "cpu":
        # glibc keeps the heap pages a phase frees (torch's CPU tensors come from malloc), so
        # a process's resident peak holds every training phase's transients at once
        # (measured: benchmarks/bench_plan_calibration.py); CUDA's caching allocator reuses
        # the freed blocks, so there the peak is the largest phase.
        extra = sum(r.bytes for r in rows if r.phase not in
                    ("persistent", "engine", "runtime", "sampling"))
        peak_phase = "all phases (cpu)" if extra else peak_phase
    alternatives = {"activations_checkpointing_on": activation_bytes(s, i, True),
                    "activations_checkpointing_off": activation_bytes(s, i, False)}
    return MemoryPlan(i, s, rows, base + extra, peak_phase, alternatives)


def _fmt(b: float) -> str:
    return f"{b / GiB:.2f} GiB"


# ------------------------------------------------------------------------ advice


def candidate_changes(i: PlanInputs) -> list[tuple[str, dict[str, Any]]]:
    """Changes in order of cost: checkpointing, sleep, micro-batch, ranks, LoRA, combinations."""
    out: list[tuple[str, dict[str, Any]]] = []
    if not i.checkpointing:
        out.append(("turn on activation checkpointing (optim.gradient_checkpointing: true)",
                    {"checkpointing": True}))
    if i.backend == "vllm" and i.device == "cuda" and not i.vllm_sleep:
        out.append(("let the vLLM engine sleep during updates (rollout.vllm_sleep: true)",
                    {"vllm_sleep": True}))
    mb = i.micro_batch // 2
    while mb >= 1:
        out.append((f"micro-batch {mb} (loss.micro_batch_size: {mb})", {"micro_batch": mb}))
        if not i.checkpointing:
            out.append((f"checkpointing + micro-batch {mb}",
                        {"checkpointing": True, "micro_batch": mb}))
        mb //= 2
    if i.strategy == "replica" and i.ranks > 1:
        out.append((f"FSDP sharding over the same {i.ranks} ranks", {"strategy": "fsdp"}))
        out.append((f"FSDP over {i.ranks} ranks + checkpointing",
                    {"strategy": "fsdp", "checkpointing": True}))
    ranks = i.ranks * 2
    while ranks <= MAX_RANKS:
        out.append((f"{ranks} ranks with FSDP sharding (--gpus {ranks})",
                    {"ranks": ranks, "strategy": "fsdp"}))
        out.append((f"{ranks} ranks with FSDP + checkpointing",
                    {"ranks": ranks, "strategy": "fsdp", "checkpointing": True}))
        ranks *= 2
    if i.method == "full":
        out.append(("LoRA instead of full fine-tuning (optim.method: lora)", {"method": "lora"}))
        out.append(("LoRA + checkpointing", {"method": "lora", "checkpointing": True}))
        out.append(("LoRA + checkpointing + micro-batch 1",
                    {"method": "lora", "checkpointing": True, "micro_batch": 1}))
    return out


def plan_with_advice(s: ModelShape, i: PlanInputs) -> MemoryPlan:
    """plan_memory, and when it does not fit, the first change (cheapest first) that fits."""
    plan = plan_memory(s, i)
    if plan.fits:
        return plan
    cheap: dict[str, Any] = {"checkpointing": True}
    cheap_text = "checkpointing"
    if i.backend == "vllm" and i.device == "cuda":
        cheap["vllm_sleep"] = True
        cheap_text += " + engine sleep"
    changes = candidate_changes(i)
    same = [c for c in changes if "method" not in c[1]]  # keeps the method (full FT stays)
    lora = [c for c in changes if "method" in c[1]]
    # each change alone (cheapest first), then on top of the cheap ones, then LoRA
    combos = [(f"{text} + {cheap_text}", {**cheap, **change}) for text, change in same]
    for text, change in same + combos + lora:
        alt = plan_memory(s, dataclasses.replace(i, **change))
        if alt.fits:
            plan.suggestion, plan.suggestion_peak = text, alt.peak_bytes
            return plan
    return plan
