"""Where bf16 time goes: torch.profiler over one training step and one sampling call of the
embedded model, and which oneDNN kernels run the matmuls (issue 37).

Three workloads, each warmed up once, then profiled once:
  sft     one SSD-style SFT micro-step: the chunked answer-only loss (training/chunked_ce.py)
          forward + backward + AdamW on one 512-token example, fp32 masters under bf16 autocast
          (the SSD path's setting on a CPU with native bf16);
  sdpo    one SDPO step of bench_sdpo_step's batch (2 prompts x G=4, 192 tokens, LoRA r16, EMA
          teacher) with optim.compute_dtype bfloat16 (FSDP2 bf16 compute, fp32 masters);
  sample  one bf16 HF-backend call (the default batch-invariant engine): --prompts prompts x
          --n samples in one batch, --mode greedy or sampled (--temperature, top-k 20, top-p 0.8, as the
          0.5B study), --new-tokens new tokens, of --model (default the embedded model)
          on --source prompts (builtin train set or humaneval).
For each: the top ops by self CPU time, the matmul share (aten mm/addmm/bmm/baddbmm and
oneDNN's linear) and, from oneDNN's verbose log of the same step, the kernels that ran the
matmul primitives (e.g. brg_matmul:avx512_core_bf16 = the native bf16 kernel; `ref` or a
gemm:jit fp32 kernel on bf16 data would be a fallback).

    OMP_NUM_THREADS=1 python benchmarks/profile_bf16.py [--rows 12] [--only sft,sdpo,sample]
    OMP_NUM_THREADS=1 python benchmarks/profile_bf16.py --only sample --model DIR \
        --source humaneval --prompts 32 --mode sampled --temperature 0.4 --new-tokens 32
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")
HERE = Path(__file__).resolve().parent
MODEL = "smollm2-135m-instruct"
MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm",
              "mkldnn::_linear_pointwise", "aten::_scaled_dot_product_flash_attention_for_cpu")


@contextlib.contextmanager
def onednn_log() -> Iterator[list[str]]:
    """Inside, oneDNN prints one line per primitive run (ONEDNN_VERBOSE); collected on exit."""
    import torch

    lines: list[str] = []
    with tempfile.TemporaryFile(mode="w+") as f:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(f.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                yield lines
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            f.seek(0)
            lines.extend(ln for ln in f.read().splitlines() if ln.startswith("onednn_verbose"))


def kernel_summary(lines: list[str]) -> list[tuple[str, int, float]]:
    """(primitive kind:implementation data types, runs, ms) of the matmul/inner-product runs."""
    agg: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
    for ln in lines:
        parts = ln.split(",")
        # onednn_verbose,v1,primitive,exec,cpu,KIND,IMPL,prop,MEMORY DESCS,...,ms
        if len(parts) < 10 or parts[2] != "primitive" or parts[3] != "exec":
            continue
        kind, impl = parts[5], parts[6]
        if kind not in ("matmul", "inner_product", "convolution"):
            continue
        dtypes = " ".join(tok.split(":")[1] for tok in parts[8].split() if tok.count(":") >= 2)
        key = f"{kind}:{impl} ({dtypes})"
        agg[key][0] += 1
        try:
            agg[key][1] += float(parts[-1])
        except ValueError:
            pass
    return sorted(((k, int(v[0]), v[1]) for k, v in agg.items()), key=lambda r: -r[2])


def profile_one(name: str, step: Callable[[], Any], rows: int, python: bool = False) -> None:
    """Warm-up, one profiled run (ops table + matmul share + matmuls by shape), one
    oneDNN-verbose run, and with python one cProfile run (functions by own time)."""
    from torch.profiler import ProfilerActivity, profile

    step()
    t = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    wall = time.perf_counter() - t
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    mm = sum(e.self_cpu_time_total for e in events if e.key in MATMUL_OPS)
    print(f"\n## {name}: {wall:.1f} s with the profiler on (load {os.getloadavg()[0]:.2f}); "
          f"matmul ops {100 * mm / total:.0f}% of self CPU time")
    print("| op | self CPU s | share | calls |\n|---|---|---|---|")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:rows]:
        print(f"| `{e.key}` | {e.self_cpu_time_total / 1e6:.2f} | "
              f"{100 * e.self_cpu_time_total / total:.1f}% | {e.count} |")
    spans = [e for e in events if e.key.startswith("span:")]
    if spans:  # labelled parts (record_function), their total CPU time incl. children
        print("labelled parts (CPU time incl. the ops inside):")
        for e in sorted(spans, key=lambda e: -e.cpu_time_total):
            print(f"  {e.key[5:]}: {e.cpu_time_total / 1e6:.2f} s "
                  f"({100 * e.cpu_time_total / total:.1f}%), {e.count} calls")
    if python:
        import cProfile
        import io
        import pstats

        pr = cProfile.Profile()
        pr.enable()
        step()
        pr.disable()
        buf = io.StringIO()
        pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(rows)
        print("cProfile of one more run (functions by own time, then ours by cumulative time):")
        pstats.Stats(pr, stream=buf).sort_stats("cumulative").print_stats("selfdistill", rows)
        print("\n".join(ln for ln in buf.getvalue().splitlines()[4:] if ln.strip()))
    with onednn_log() as lines:
        step()
    summary = kernel_summary(lines)
    print(f"oneDNN matmul primitives in one more run ({sum(n for _, n, _ in summary)} runs):")
    for key, n, ms in summary[:6]:
        print(f"  {key}: {n} runs, {ms / 1e3:.2f} s")
    sys.stdout.flush()


def sft_step() -> Callable[[], Any]:
    """The chunked answer-only SFT loss, one 512-token example, autocast bf16, AdamW."""
    import torch

    from selfdistill.core.models import load_model
    from selfdistill.training.chunked_ce import add_chunked_loss

    model, _ = load_model(MODEL, dtype="float32")
    add_chunked_loss(model)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(100, 40000, (1, 512), generator=g)
    labels = ids.clone()
    labels[:, :160] = -100  # the prompt is masked, as in SSD's data

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=labels, chunked_loss=True).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def sdpo_step() -> Callable[[], Any]:
    """bench_sdpo_step's batch through sdpo_step with FSDP2 bf16 compute (fp32 masters)."""
    import importlib.util

    from selfdistill.core.models import load_tokenizer

    spec = importlib.util.spec_from_file_location("bench_sdpo_step", HERE / "bench_sdpo_step.py")
    b = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(b)  # type: ignore[union-attr]
    runner = b.Ours(b.make_batch(load_tokenizer(MODEL), 2, 4, 192), compute_dtype="bfloat16")
    return runner.step


def label_parts(model: Any, gen: Any) -> None:
    """Label the LM head, attention blocks, MLPs and the sampler as profiler spans
    (record_function via hooks), so the table can say which part the time went to."""
    from torch.profiler import record_function

    def around(mod: Any, name: str) -> None:
        open_spans: list[Any] = []

        def pre(m: Any, args: Any) -> None:
            r = record_function(name)
            r.__enter__()
            open_spans.append(r)

        def post(m: Any, args: Any, out: Any) -> None:
            open_spans.pop().__exit__(None, None, None)
        mod.register_forward_pre_hook(pre)
        mod.register_forward_hook(post)

    around(model.get_output_embeddings(), "span:lm_head")
    for name, mod in model.named_modules():
        if name.endswith(".self_attn"):
            around(mod, "span:attention block (q/k/v/o + rotary + attention)")
        elif name.endswith(".mlp"):
            around(mod, "span:mlp")
    inner = gen._sample_into

    def sample_into(*args: Any, **kw: Any) -> None:
        with record_function("span:sampling (sample_tokens + bookkeeping)"):
            inner(*args, **kw)
    gen._sample_into = sample_into


def sample_step(a: argparse.Namespace) -> Callable[[], Any]:
    """One bf16 HF-backend call of the default engine, greedy or sampled."""
    sys.path.insert(0, str(HERE))
    from bench_generate import load_prompts

    from selfdistill.core.models import load_model
    from selfdistill.generation import HFGenerator, SamplingParams
    from selfdistill.generation.chat import chat_token_ids

    model, tok = load_model(a.model, dtype="bfloat16")
    chats, _ = load_prompts(a.prompts, a.source)
    ids = [chat_token_ids(tok, c) for c in chats]
    gen = HFGenerator(model, tok, batch_size=a.prompts * a.n, progress=False)
    greedy = a.mode == "greedy"
    params = SamplingParams(temperature=0.0 if greedy else a.temperature,
                            top_k=0 if greedy else 20, top_p=1.0 if greedy else 0.8,
                            max_new_tokens=a.new_tokens, seed=0, n=a.n)

    label_parts(model, gen)

    def step() -> None:
        t, c = time.perf_counter(), time.process_time()
        out = gen.generate_from_ids(ids, params, progress=False)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        n = sum(len(x.token_ids) for g in out for x in g)
        st = gen.last_stats
        print(f"  [{a.mode}] {n} tokens in {wall:.1f} s = {n / wall:.1f} tok/s, "
              f"{n / cpu:.1f} tok/CPU-s; forward {100 * st['forward_seconds'] / wall:.0f}%, "
              f"{st['decode_steps']:.0f} decode steps", flush=True)
    return step


def main() -> None:
    """Profile the chosen workloads and print their tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=12)
    ap.add_argument("--only", default="sft,sdpo,sample")
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--n", type=int, default=1,
                    help="samples per prompt (rows = prompts x n, one batch; prefill shared)")
    ap.add_argument("--model", default=MODEL, help="the sample workload's model")
    ap.add_argument("--source", default="builtin", choices=["builtin", "humaneval"])
    ap.add_argument("--mode", default="greedy", choices=["greedy", "sampled"])
    ap.add_argument("--temperature", type=float, default=0.4)
    ap.add_argument("--python", action="store_true",
                    help="also one cProfile run (Python functions by own time)")
    a = ap.parse_args()
    from selfdistill.core.machine import machine_line

    print(machine_line(), flush=True)
    build = {"sft": sft_step, "sdpo": sdpo_step,
             "sample": lambda: sample_step(a)}
    for name in a.only.split(","):
        profile_one(name, build[name](), a.rows, python=a.python)


if __name__ == "__main__":
    main()
