"""One SDPO training step: selfdistill.distill.step.sdpo_step vs TRL 1.16's experimental SDPOTrainer.

Same model (the embedded SmolLM2-135M-Instruct, fp32, CPU), same LoRA (r 16 on all linear
projections), same batch (P prompts x G rollouts with fixed completions, fixed rewards and
a fixed feedback column), top-K-logits distillation with a tail bucket, reverse KL, EMA
teacher, lr 1e-5, grad clip 1.0.

What one "step" is, for both: everything after the rollouts exist — rewards -> teacher
contexts (sibling solution / feedback re-prompts, tokenised) -> student forward+backward,
teacher forward -> optimiser step -> EMA teacher update. Generation is excluded: TRL's
`_generate` is replaced by a function returning the fixed completions, and its reward
function is a table look-up (ours receives the same rewards). Timed for TRL from the
Trainer's on_step_begin to on_step_end callback (which wraps _prepare_inputs, compute_loss,
backward, clipping, optimizer.step, and the EMA-adapter callback), for ours around
build_teacher_batch + sdpo_step.

Speed: both run in one process, interleaved in blocks (TRL block, ours block, ...) after
one warm-up step each; medians and their ratio are printed (timings on this machine vary
up to 2.6x between identical runs, so only the in-run ratio is meaningful).

Memory: each configuration runs in a fresh subprocess (2 steps); we report the
process's peak resident set (VmHWM from /proc/self/status), and the peak minus the RSS
just before the first step ("step overhead"). torch CPU tensors are not visible to
tracemalloc, hence RSS. The target compares ours with the EMA teacher against ours
student-only: the identical step on the identical samples with no teacher state and the
teacher forward replaced by the (detached) student scores — i.e. what the teacher costs.

    python benchmarks/bench_sdpo_step.py [--prompts 2] [--g 4] [--tokens 192] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from typing import Any

from selfdistill.core.machine import proc_status_mib

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
warnings.filterwarnings("ignore")

LR = 1e-5
TOP_K = 20
EMA = 0.05
FEEDBACK = ("Wrong answer on test 1 (0/3 tests passed).\nInput: example\nExpected: the "
            "correct value\nGot: a different value\nTraceback: AssertionError in check()")




def lora_config() -> Any:
    from peft import LoraConfig

    return LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                      "up_proj", "down_proj"])


def make_batch(tok: Any, n_prompts: int, g: int, n_tokens: int) -> list[dict[str, Any]]:
    """P prompts x G fixed completions: group 0 has one success (sibling-solution contexts),
    the other groups only failures with judge feedback (feedback contexts)."""
    from selfdistill.problems.registry import load_source
    from selfdistill.prompts.task import build_chat

    probs = [p for p in load_source("builtin:train?difficulty=easy") if p.reference]
    filler = (" The function handles the edge cases: empty inputs, single elements and "
              "negative numbers are processed by the same loop, and the result is returned "
              "without modifying the arguments.")

    def answer(code: str, salt: int) -> list[int]:
        text = f"Here is my solution (attempt {salt}).\n\n```python\n{code.strip()}\n```\n\n"
        ids = tok(text, add_special_tokens=False)["input_ids"]
        extra = tok(filler, add_special_tokens=False)["input_ids"]
        while len(ids) < n_tokens - 1:
            ids += extra
        return ids[: n_tokens - 1] + [tok.eos_token_id]

    out = []
    for i in range(n_prompts):
        p = probs[i]
        comps, rewards = [], []
        for j in range(g):
            ok = i == 0 and j == 0
            code = p.reference if ok else probs[(i + j + 5) % len(probs)].reference
            comps.append(answer(code, j))
            rewards.append(1.0 if ok else 0.0)
        out.append({"chat": build_chat(p), "completions": comps, "rewards": rewards,
                    "feedback": "" if i == 0 else FEEDBACK})
    return out


# ------------------------------------------------------------------------------- ours


class Ours:
    """selfdistill.distill.step on its own model copy."""

    def __init__(self, batch: list[dict[str, Any]], algorithm: str = "sdpo",
                 student_only: bool = False, share_prefix: bool = True,
                 compute_dtype: str = "float32"):
        import torch
        from peft import get_peft_model

        from selfdistill.core.models import load_model
        from selfdistill.distill.objective import SDPOLossConfig
        from selfdistill.distill.teacher_context import RepromptConfig
        from selfdistill.distill.teacher_weights import Teacher
        from selfdistill.generation.chat import chat_token_ids
        from selfdistill.rollouts import Group, Rollout

        model, self.tok = load_model("smollm2-135m-instruct", dtype="float32")
        torch.manual_seed(0)
        self.model = get_peft_model(model, lora_config())
        if compute_dtype != "float32":  # optim.compute_dtype: FSDP2 bf16 compute, fp32 masters
            from selfdistill.training.fsdp import shard_model

            self.model = shard_model(self.model, compute_dtype)
        if student_only:
            # The identical step with no teacher: no teacher state ("live" holds nothing)
            # and the teacher forward replaced by the detached student scores.
            # The objective looks its teacher scorer up at call time: patch it there.
            import selfdistill.distill.objective as sd

            def no_teacher(model: Any, teacher: Any, mb: Any, st: Any, *a: Any) -> Any:
                from selfdistill.distill.scoring import TokenScores

                return TokenScores(logp_taken=st.logp_taken.detach(), mask=st.mask,
                                   support_idx=st.support_idx,
                                   support_logp=st.support_logp.detach(),
                                   tail_logp=st.tail_logp.detach())

            sd._teacher_scores = no_teacher
        kind = "live" if student_only else "ema"
        self.teacher = Teacher(self.model, kind, EMA) if algorithm != "grpo" else None
        self.opt = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad],
                                     lr=LR, weight_decay=0.0)
        self.cfg = SDPOLossConfig(algorithm=algorithm, support_size=TOP_K, add_tail=True,
                                  divergence="reverse_kl", is_clip=2.0, max_grad_norm=1.0,
                                  micro_batch_size=64, share_prefix=share_prefix)
        self.reprompt = RepromptConfig()
        self.groups = []
        for b in batch:
            pid = chat_token_ids(self.tok, b["chat"])
            rs = [Rollout(prompt_ids=pid, completion_ids=c,
                          text=self.tok.decode(c, skip_special_tokens=True), reward=r,
                          passed=r >= 1.0, feedback=b["feedback"] or None)
                  for c, r in zip(b["completions"], b["rewards"], strict=True)]
            self.groups.append(Group(b["chat"], rs))
        self.last: dict[str, Any] = {}

    def step(self) -> float:
        from selfdistill.distill.step import sdpo_step
        from selfdistill.distill.teacher_context import build_teacher_batch

        t0 = time.perf_counter()
        tb = (build_teacher_batch(self.groups, self.tok, self.reprompt)
              if self.cfg.needs_teacher else None)
        m = sdpo_step(self.model, self.teacher, self.opt, self.groups, self.tok, self.cfg,
                      teacher_batch=tb)
        dt = time.perf_counter() - t0
        self.last = m.as_dict()
        return dt


# -------------------------------------------------------------------------------- TRL


class TRL:
    """trl.experimental.sdpo.SDPOTrainer with fixed rollouts; steps timed by a callback."""

    def __init__(self, batch: list[dict[str, Any]], out_dir: str):
        import torch
        from datasets import Dataset
        from transformers import TrainerCallback
        from trl.experimental.sdpo import SDPOConfig, SDPOTrainer

        from selfdistill.core.models import load_model

        model, tok = load_model("smollm2-135m-instruct", dtype="float32")
        g = len(batch[0]["completions"])
        n_tokens = max(len(c) for b in batch for c in b["completions"])
        self.by_prompt: dict[tuple[int, ...], list[list[int]]] = {}
        self.rewards: dict[tuple[int, ...], float] = {}
        self.batch = batch
        self.counters: dict[tuple[int, ...], int] = {}
        rows = [{"prompt": b["chat"], "privileged_context": b["feedback"]} for b in batch]
        for b in batch:
            for c, r in zip(b["completions"], b["rewards"], strict=True):
                self.rewards[tuple(c)] = r
        args = SDPOConfig(
            output_dir=out_dir, use_cpu=True, report_to="none", save_strategy="no",
            logging_steps=1, disable_tqdm=True, seed=0, bf16=False,
            learning_rate=LR, lr_scheduler_type="constant", weight_decay=0.0,
            max_grad_norm=1.0, per_device_train_batch_size=len(batch) * g,
            gradient_accumulation_steps=1, num_generations=g, shuffle_dataset=False,
            max_prompt_length=2048, max_completion_length=n_tokens, max_steps=1,
            distillation_mode="topk_logits", distillation_topk=TOP_K,
            distillation_add_tail=True, distillation_alpha=1.0, distillation_weight=1.0,
            distillation_is_clip=2.0, teacher_model_kind="ema", teacher_update_rate=EMA,
            teacher_sync_steps=1, include_environment_feedback=True,
            environment_feedback_only_without_solution=True, dont_reprompt_on_self_success=True,
            scale_rewards="none", beta=0.0, dataloader_num_workers=0,
        )

        def reward_fn(prompts: Any, completions: Any, completion_ids: Any, **kw: Any) -> list:
            return [self.rewards[tuple(c)] for c in completion_ids]

        torch.manual_seed(0)
        self.trainer = SDPOTrainer(model=model, reward_funcs=[reward_fn], args=args,
                                   train_dataset=Dataset.from_list(rows * 1000),
                                   processing_class=tok, peft_config=lora_config())
        self.trainer._generate = self._fixed_generate  # rollouts are given, not sampled
        self.times: list[float] = []
        outer = self

        class Timer(TrainerCallback):
            def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                outer._t0 = time.perf_counter()

            def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                outer.times.append(time.perf_counter() - outer._t0)

        self.trainer.add_callback(Timer())  # added last: runs after the EMA callback
        self.chats = {json.dumps(b["chat"]): b for b in batch}

    def _fixed_generate(self, prompt_ids: list[list[int]]) -> tuple[list, list]:
        """Stand-in for generation: the fixed completions of each prompt, in order."""
        # Map each distinct prompt (in order of first appearance) to a batch entry.
        keys = list(dict.fromkeys(tuple(p) for p in prompt_ids))
        for key, b in zip(keys, self.batch, strict=False):
            self.by_prompt.setdefault(key, b["completions"])
        out = []
        for p in prompt_ids:
            key = tuple(p)
            i = self.counters.get(key, 0)
            comps = self.by_prompt[key]
            out.append(list(comps[i % len(comps)]))
            self.counters[key] = i + 1
        return prompt_ids, out

    def steps(self, n: int) -> list[float]:
        """Run n optimiser steps through Trainer.train(); return their seconds."""
        self.trainer.args.max_steps = n
        before = len(self.times)
        self.trainer.train()
        return self.times[before:]


# ------------------------------------------------------------------------------- main


def memory_run(kind: str, a: argparse.Namespace) -> None:
    """One configuration in this (fresh) process: print JSON with peak RSS."""
    import tempfile

    import torch

    torch.set_num_threads(a.threads)
    from selfdistill.core.models import load_tokenizer

    batch = make_batch(load_tokenizer("smollm2-135m-instruct"), a.prompts, a.g, a.tokens)
    if kind == "trl-ema":
        runner = TRL(batch, tempfile.mkdtemp(prefix="bench-sdpo-trl-"))
        base = proc_status_mib("VmRSS")
        runner.steps(2)
    else:
        runner = Ours(batch, student_only=kind == "ours-student")
        base = proc_status_mib("VmRSS")
        for _ in range(2):
            runner.step()
    print(json.dumps({"kind": kind, "rss_before_mb": base, "peak_mb": proc_status_mib("VmHWM")}))


def main() -> None:
    from selfdistill.core.machine import machine_line

    print(machine_line(), flush=True)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=2)
    ap.add_argument("--g", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=128, help="tokens per completion")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved blocks per side")
    ap.add_argument("--block", type=int, default=1, help="steps per block")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (both sides)")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--memory-only", action="store_true")
    ap.add_argument("--no-share-prefix", action="store_true",
                    help="ablation: score every row with its own prompt (packed batches)")
    ap.add_argument("--memory-run", choices=["ours-ema", "ours-student", "trl-ema"])
    a = ap.parse_args()
    if a.memory_run:
        memory_run(a.memory_run, a)
        return

    import tempfile

    import torch

    torch.set_num_threads(a.threads)
    import trl

    from selfdistill.core.models import load_tokenizer

    tok = load_tokenizer("smollm2-135m-instruct")
    batch = make_batch(tok, a.prompts, a.g, a.tokens)
    if a.memory_only:
        return memory_report(a)
    from selfdistill.generation.chat import chat_token_ids

    prompt_lens = [len(chat_token_ids(tok, b["chat"])) for b in batch]
    print(f"batch: {a.prompts} prompts x G={a.g}, completions {a.tokens} tokens, prompts "
          f"{prompt_lens} tokens; LoRA r16 all projections; top-K {TOP_K} + tail, reverse KL, "
          f"EMA {EMA}; torch threads {a.threads}; TRL {trl.__version__}")
    ours = Ours(batch, share_prefix=not a.no_share_prefix)
    theirs = TRL(batch, tempfile.mkdtemp(prefix="bench-sdpo-trl-"))
    ours.step()
    theirs.steps(1)  # warm-up (not timed)
    t_ours: list[float] = []
    t_trl: list[float] = []
    for r in range(a.rounds):
        t_trl += theirs.steps(a.block)
        t_ours += [ours.step() for _ in range(a.block)]
        last_trl = ", ".join(f"{x:.2f}" for x in t_trl[-a.block:])
        last_ours = ", ".join(f"{x:.2f}" for x in t_ours[-a.block:])
        print(f"round {r + 1}: TRL [{last_trl}] s, ours [{last_ours}] s", flush=True)
    m = ours.last
    print(f"ours: teacher contexts solution/feedback/none = {m['with_solution']}/"
          f"{m['feedback_only']}/{m['no_context']}, loss {m['loss']:.4g}, "
          f"KL {m['teacher_student_kl']:.4g}")
    mo, mt = statistics.median(t_ours), statistics.median(t_trl)
    print(f"\nseconds per step (median of {len(t_ours)}): ours {mo:.2f}  TRL {mt:.2f}  "
          f"-> ours is {mt / mo:.2f}x faster (target >= 1.5)")
    del ours, theirs
    if not a.skip_memory:
        memory_report(a)


def memory_report(a: argparse.Namespace) -> None:
    """Peak RSS of each configuration, each in a fresh subprocess."""
    res = {}
    for kind in ("ours-student", "ours-ema", "trl-ema"):
        cmd = [sys.executable, __file__, "--memory-run", kind, "--prompts", str(a.prompts),
               "--g", str(a.g), "--tokens", str(a.tokens), "--threads", str(a.threads)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        res[kind] = json.loads(out.strip().splitlines()[-1])
    print("\npeak resident memory (VmHWM, fresh process per config, 2 steps):")
    for kind, r in res.items():
        print(f"  {kind:13s} peak {r['peak_mb']:6d} MiB  (RSS before first step "
              f"{r['rss_before_mb']} MiB, step overhead {r['peak_mb'] - r['rss_before_mb']} MiB)")
    s, e = res["ours-student"], res["ours-ema"]
    print(f"memory ratio ours EMA-teacher / student-only: peak {e['peak_mb'] / s['peak_mb']:.3f} "
          f"(target <= 1.1); step overhead "
          f"{(e['peak_mb'] - e['rss_before_mb']) / max(1, s['peak_mb'] - s['rss_before_mb']):.2f}")
    t = res["trl-ema"]
    print(f"memory ratio TRL EMA-teacher / ours EMA-teacher: peak {t['peak_mb'] / e['peak_mb']:.2f}")


if __name__ == "__main__":
    main()
