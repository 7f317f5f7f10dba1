"""The one tiny-model helper of the test suite: small random Llamas, optionally with LoRA.

Every builder seeds torch first, so a (seed, config) pair always gives the same weights.
The defaults are 2 layers, hidden 32, 4 heads (2 KV heads); callers pass what they vary.
"""

from __future__ import annotations

from typing import Any


def tiny_llama(vocab_size: int, seed: int = 0, **config: Any) -> Any:
    """A random LlamaForCausalLM (hidden 32, MLP 64, 2 layers, 4 heads, 2 KV heads unless overridden)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    base = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2)
    return LlamaForCausalLM(LlamaConfig(vocab_size=vocab_size, **{**base, **config}))


def with_lora(model: Any, r: int = 4, targets: tuple[str, ...] = ("q_proj", "v_proj"),
              dropout: float = 0.0) -> Any:
    """model wrapped with a LoRA adapter whose B is random too (so it changes the outputs)."""
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(r=r, target_modules=list(targets),
                                            init_lora_weights=False, lora_dropout=dropout))


def tiny_lora_llama(seed: int = 0, vocab_size: int = 100, dropout: float = 0.0) -> Any:
    """A 2-layer Llama (vocab 100, 64 positions, peaked init) with a non-zero LoRA on q/v."""
    return with_lora(tiny_llama(vocab_size, seed, max_position_embeddings=64,
                                initializer_range=0.3), dropout=dropout)
