"""The SFT stage's settings (SSD's `train:` section)."""

from __future__ import annotations

from dataclasses import dataclass

from selfdistill.core.config import OptimConfig


@dataclass
class TrainConfig(OptimConfig):
    """Supervised fine-tuning (SSD): OptimConfig's LoRA/AdamW settings with SFT's defaults,
    plus the schedule, batching and the fast path."""

    method: str = "full"  # full | lora
    lr: float = 1e-5
    adam_beta2: float = 0.95
    weight_decay: float = 0.1
    lr_end: float = 1e-6  # cosine decays to this
    warmup_ratio: float = 0.05
    epochs: float = 1.0
    batch_size: int = 4  # per device
    grad_accum: int = 2
    max_seq_len: int = 1024
    save_steps: int = 50
    logging_steps: int = 5
    seed: int = 0
    bf16: bool = False  # bf16 autocast; on CPU only used where it is native (AVX512-BF16/AMX)
    # Fast SFT path (selfdistill.training; measured in docs/results.md):
    micro_batch_size: int | None = None  # split batch_size*grad_accum into micro-batches of this
    chunked_loss: bool = True  # CE through the LM head in chunks, answer tokens only
    loss_chunk: int = 1024  # tokens per chunk of the chunked loss
    group_by_length: bool = True  # length-grouped batches: little padding
    threads: int | None = None  # torch threads for training (None: torch's default)
