"""The cost plan's rates for a study model (issue 31): sampling, LoRA training, grading.

Each part is one lane-sized process (one thread: run it under /work/bin/lane) and appends
one JSON line per measurement to --out, with the load average before and after:

  sample  the product's HF generator (bf16, the SSD sampler: T, top-k 20, top-p 0.8) on
          MBPP train prompts, at each --batch-sizes (the order alternates across --rounds,
          so load drift hits every size alike); tokens/s counts the useful new tokens.
          The answers of the first round are kept (--records) for the train part.
  train   LoRA SFT (the product's train_sft: TRL SFTTrainer, chunked answer-only loss, bf16
          autocast where native) on those answers, prompt + answer cut at --max-len;
          tokens/s = real tokens of the run / the train loop's seconds (incl. 1 warm-up step).
  grade   the product's sandbox (grade_stage) on the 164 HumanEval reference programs
          (prompt + canonical solution): programs/s at one worker per usable core.

    python benchmarks/bench_study_costs.py sample --model DIR --batch-sizes 8,32
    python benchmarks/bench_study_costs.py train --model DIR
    python benchmarks/bench_study_costs.py grade
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any


def mbpp_spec() -> str:
    """MBPP's train split from ../shared/datasets (or $SELFDISTILL_DATA)."""
    data = Path(os.environ.get("SELFDISTILL_DATA", "../shared/datasets"))
    for up in Path(__file__).resolve().parents:  # a worktree may sit deeper than ../
        if not data.is_dir() and (up / "shared" / "datasets").is_dir():
            data = up / "shared" / "datasets"
    return f"mbpp:{data}/mbpp_train_val_prompt.jsonl?split=train"


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _emit(out: str, row: dict[str, Any]) -> None:
    print(json.dumps(row), flush=True)
    with open(out, "a") as fh:
        fh.write(json.dumps(row) + "\n")


def part_sample(args: argparse.Namespace) -> None:
    """Sampled decoding at each batch size, alternating order across rounds."""
    from selfdistill.core.models import load_model
    from selfdistill.generation import make_generator
    from selfdistill.generation.params import SamplingParams
    from selfdistill.problems.registry import load_source
    from selfdistill.prompts.task import build_chat

    model, tok = load_model(args.model, dtype="bfloat16")
    problems = load_source(mbpp_spec())
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    kept: list[dict[str, Any]] = []
    for rnd in range(args.rounds):
        for b in sizes if rnd % 2 == 0 else sizes[::-1]:
            n_prompts = max(b, args.min_prompts)
            chats = [build_chat(p) for p in problems[rnd * 64:rnd * 64 + n_prompts]]
            gen = make_generator("hf", model=model, tokenizer=tok, batch_size=b, progress=False)
            params = SamplingParams(temperature=args.temperature, top_k=20, top_p=0.8,
                                    max_new_tokens=args.max_new_tokens, n=1, seed=rnd)
            load0, t0, c0 = _load(), time.perf_counter(), time.process_time()
            outs = gen.generate(chats, params)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            comps = [o[0] for o in outs]
            new = sum(len(c.token_ids) for c in comps)
            _emit(args.out, {"part": "sample", "model": args.model, "batch_size": b,
                             "prompts": len(chats), "max_new_tokens": args.max_new_tokens,
                             "temperature": args.temperature, "new_tokens": new,
                             "cut": sum(c.finish_reason == "length" for c in comps),
                             "seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
                             "tokens_per_s": round(new / wall, 2),
                             "load_before": load0, "load_after": _load(), "round": rnd})
            if rnd == 0 and b == sizes[-1]:
                ids = [tok(tok.apply_chat_template(c, tokenize=False,
                                                   add_generation_prompt=True),
                           add_special_tokens=False)["input_ids"] for c in chats]
                kept = [{"prompt_token_ids": i, "token_ids": list(c.token_ids),
                         "finish_reason": c.finish_reason} for i, c in zip(ids, comps,
                                                                          strict=True)]
    Path(args.records).write_text("\n".join(json.dumps(r) for r in kept) + "\n")


def part_train(args: argparse.Namespace) -> None:
    """LoRA SFT steps on the sampled answers; tokens/s of the train loop."""
    from selfdistill.recipes.ssd.run import train_sft
    from selfdistill.training.config import TrainConfig

    recs = [json.loads(x) for x in Path(args.records).read_text().splitlines() if x.strip()]
    recs = (recs * 4)[: args.examples]
    tc = TrainConfig(method="lora", lr=1e-4, lr_end=1e-5, epochs=1.0, batch_size=4,
                     grad_accum=2, micro_batch_size=1, max_seq_len=args.max_len, bf16=True,
                     chunked_loss=True, group_by_length=True, save_steps=10_000,
                     logging_steps=1)
    tokens = sum(min(args.max_len, len(r["prompt_token_ids"]) + len(r["token_ids"]) + 1)
                 for r in recs)
    answer = sum(min(len(r["token_ids"]), max(0, args.max_len - len(r["prompt_token_ids"])))
                 for r in recs)
    with tempfile.TemporaryDirectory() as tmp:
        load0, t0, c0 = _load(), time.perf_counter(), time.process_time()
        train_sft(args.model, "bfloat16", recs, tc, Path(tmp), resume=False)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        log = json.loads((Path(tmp) / "train_log.json").read_text())
    run = next((x for x in log if "train_runtime" in x), {})
    loop = float(run.get("train_runtime", wall))
    _emit(args.out, {"part": "train", "model": args.model, "method": "lora r16",
                     "examples": len(recs), "optimizer_steps": len(recs) // 8,
                     "max_len": args.max_len, "tokens": tokens, "answer_tokens": answer,
                     "train_loop_seconds": round(loop, 1), "seconds_with_load": round(wall, 1),
                     "cpu_seconds": round(cpu, 1), "tokens_per_s": round(tokens / loop, 2),
                     "load_before": load0, "load_after": _load()})


def part_grade(args: argparse.Namespace) -> None:
    """The sandbox on HumanEval's canonical solutions (all must pass)."""
    from selfdistill.evaluation.harness import get_harness
    from selfdistill.evaluation.stages import grade_stage
    from selfdistill.problems.registry import load_source

    problems = load_source("humaneval")
    h = get_harness("selfdistill")  # the program is the code: prompt + canonical solution
    samples = [{"problem_id": p.id, "sample_idx": 0, "code": p.reference} for p in problems]
    with tempfile.TemporaryDirectory() as tmp:
        load0, t0 = _load(), time.perf_counter()
        verdicts = grade_stage(samples, problems, Path(tmp) / "v.jsonl", program_fn=h.program)
        wall = time.perf_counter() - t0
    _emit(args.out, {"part": "grade", "programs": len(verdicts),
                     "passed": sum(bool(v.get("passed")) for v in verdicts),
                     "seconds": round(wall, 1), "programs_per_s": round(len(verdicts) / wall, 2),
                     "load_before": load0, "load_after": _load()})


def main() -> None:
    """Run one part."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("part", choices=["sample", "train", "grade"])
    ap.add_argument("--model", default=str(Path.home() / ".cache/selfdistill/models/"
                                           "qwen2.5-coder-0.5b-instruct/hf"))
    ap.add_argument("--batch-sizes", default="8,32")
    ap.add_argument("--min-prompts", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--examples", type=int, default=24, help="train examples (3 steps of 8)")
    ap.add_argument("--max-len", type=int, default=768)
    ap.add_argument("--records", default="runs/costs/sampled.jsonl")
    ap.add_argument("--out", default="runs/costs/rates.jsonl")
    args = ap.parse_args()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.records).parent.mkdir(parents=True, exist_ok=True)
    {"sample": part_sample, "train": part_train, "grade": part_grade}[args.part](args)


if __name__ == "__main__":
    main()
