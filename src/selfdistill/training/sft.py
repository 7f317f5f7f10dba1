"""The SSD fine-tuning stage on TRL's SFTTrainer, set up to run near the machine's limit.

What differs from SFTTrainer's defaults, and why (measured in docs/results.md):
- the loss: chunked cross-entropy on answer tokens only (training/chunked_ce.py), instead of
  TRL's fused head, which on a non-Triton device projects every position (prompt included)
  in one 32k-token tile and also computes entropy and top-1 metrics over the vocabulary;
- micro-batches + gradient accumulation instead of activation checkpointing: the optimiser
  batch is unchanged, memory stays bounded, and no forward is recomputed;
- length-grouped batches (transformers' LengthGroupedSampler): little padding;
- bf16 autocast only where the CPU has native bf16 matmuls (AVX512-BF16 / AMX), else fp32.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from selfdistill.core.console import ProgressLog, console
from selfdistill.core.lora import base_model
from selfdistill.core.models import native_bf16
from selfdistill.training.chunked_ce import add_chunked_loss, supports_chunked_loss
from selfdistill.training.config import TrainConfig


def use_bf16(requested: bool) -> bool:
    """bf16 if requested and the device runs it natively (CUDA with bf16, or a bf16 CPU)."""
    return requested and native_bf16()


def set_threads(threads: int | None) -> None:
    """torch intra-op threads: the given number, or (None/0) torch's default (physical cores)."""
    if threads:
        torch.set_num_threads(int(threads))


def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def micro_batching(tc: TrainConfig) -> tuple[int, int]:
    """(per-device micro-batch, accumulation steps) giving the optimiser batch batch_size*grad_accum."""
    micro = tc.micro_batch_size or tc.batch_size
    total = tc.batch_size * tc.grad_accum
    if micro >= total:
        return total, 1
    accum = -(-total // micro)  # ceil: a few more rows than asked, never fewer
    return micro, accum


def sft_config(tc: TrainConfig, out_dir: Path, **overrides: Any) -> Any:
    """TRL SFTConfig for our fast path, from a TrainConfig."""
    from trl import SFTConfig

    micro, accum = micro_batching(tc)
    kwargs: dict[str, Any] = dict(
        output_dir=str(out_dir),
        learning_rate=tc.lr,
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr": tc.lr_end},
        warmup_steps=tc.warmup_ratio,  # a float < 1 is read as a ratio of total steps
        adam_beta1=tc.adam_beta1, adam_beta2=tc.adam_beta2, weight_decay=tc.weight_decay,
        num_train_epochs=tc.epochs,
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=accum,
        max_length=tc.max_seq_len,
        logging_steps=tc.logging_steps,
        save_steps=tc.save_steps, save_total_limit=2,
        seed=tc.seed,
        bf16=use_bf16(tc.bf16),
        # transformers refuses bf16 without a GPU unless told to train on the CPU.
        use_cpu=not torch.cuda.is_available(),
        **_checkpointing_kwargs(tc.gradient_checkpointing),
        train_sampling_strategy="group_by_length" if tc.group_by_length else "random",
        report_to=["tensorboard"],
        dataloader_num_workers=0,
        # CPU multi-process (accelerate launch --cpu) needs gloo; single process needs none.
        ddp_backend="gloo" if _world_size() > 1 and not torch.cuda.is_available() else None,
        remove_unused_columns=False,
        # tqdm's bar in a log file is one endless line: plain ProgressLog lines instead.
        disable_tqdm=not console.is_terminal,
    )
    kwargs.update(overrides)
    return SFTConfig(**kwargs)


def _checkpointing_kwargs(on: bool) -> dict[str, Any]:
    """Activation checkpointing under the name this transformers reads without a FutureWarning."""
    import dataclasses

    from trl import SFTConfig

    if "activation_checkpointing" in {f.name for f in dataclasses.fields(SFTConfig)}:
        return {"activation_checkpointing": on, "gradient_checkpointing": None}
    return {"gradient_checkpointing": on}


def _trainer_class() -> type:
    from trl import SFTTrainer

    class ChunkedLossSFTTrainer(SFTTrainer):
        """SFTTrainer whose loss comes from add_chunked_loss (no logits, no vocab metrics)."""

        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            mode = "train" if self.model.training else "eval"
            labels = inputs["labels"]
            fwd = {k: v for k, v in inputs.items() if k != "labels"}
            out = model(**fwd, labels=labels, chunked_loss=True,
                        num_items_in_batch=num_items_in_batch)
            loss = out.loss
            # As SFTTrainer: num_items_in_batch counts every rank's tokens, DDP averages grads.
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes
            if mode == "train":
                n = inputs["attention_mask"].sum() if "attention_mask" in inputs else (
                    torch.tensor(inputs["input_ids"].numel()))
                self._total_train_tokens += int(self.accelerator.gather_for_metrics(
                    n.to(loss.device)).sum().item())
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
            return (loss, out) if return_outputs else loss

    return ChunkedLossSFTTrainer


def make_sft_trainer(model: Any, tok: Any, examples: list[dict[str, list[int]]], tc: TrainConfig,
                     out_dir: Path, peft_config: Any = None, **overrides: Any) -> Any:
    """An SFTTrainer (chunked-loss subclass when tc.chunked_loss) over tokenised examples."""
    from datasets import Dataset
    from trl import SFTTrainer

    set_threads(tc.threads)
    args = sft_config(tc, out_dir, **overrides)
    chunked = tc.chunked_loss and supports_chunked_loss(base_model(model))
    cls = _trainer_class() if chunked else SFTTrainer
    trainer = cls(model=model, args=args, train_dataset=Dataset.from_list(examples),
                  processing_class=tok, peft_config=peft_config)
    if chunked:
        # After TRL's own patch of the same forward; PEFT/DDP wrappers call through to it.
        add_chunked_loss(base_model(trainer.model), tc.loss_chunk)
    if not console.is_terminal and not console.quiet:
        trainer.add_callback(_plain_progress_callback())
    return trainer


def _plain_progress_callback() -> Any:
    """A TrainerCallback printing ProgressLog lines (steps, rate, ETA, last loss)."""
    from transformers import TrainerCallback

    class PlainProgress(TrainerCallback):
        def __init__(self) -> None:
            self.log: ProgressLog | None = None
            self.loss = ""

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.log = ProgressLog("training", state.max_steps, unit="steps",
                                   file=console.file)
            self.log.update(state.global_step, force=True)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None,
                   **kw: Any) -> None:
            if logs and "loss" in logs:
                self.loss = f"loss {logs['loss']:.4f}"

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.log is not None:
                self.log.update(state.global_step, self.loss)

    return PlainProgress()
