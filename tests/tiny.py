"""The one tiny-model helper of the test suite: small random Llamas (optionally with LoRA),
a character tokenizer, the chats the tests share, and the backend contract check.

Every builder seeds torch first, so a (seed, config) pair always gives the same weights.
The defaults are 2 layers, hidden 32, 4 heads (2 KV heads); callers pass what they vary.
The tokenizer of the embedded model over a tiny model is conftest.py's `tok` fixture.
"""

from __future__ import annotations

import math
from typing import Any

from selfdistill.generation.base import Chat, Completion, Generator
from selfdistill.generation.params import SamplingParams

# The task most distillation tests use, with a right and a wrong answer.
ADD_CHAT = [{"role": "user", "content": "Write add(a, b) returning the sum."}]
GOOD_ADD = "```python\ndef add(a, b):\n    return a + b\n```"
BAD_ADD = "```python\ndef add(a, b):\n    return a - b\n```"


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


def vocab_llama(tok: Any, seed: int = 0) -> Any:
    """tiny_llama over a real tokenizer's vocabulary (tied head, 512 positions, peaked init)."""
    return tiny_llama(len(tok), seed, max_position_embeddings=512, initializer_range=0.3,
                      tie_word_embeddings=True, eos_token_id=tok.eos_token_id)


ALPHABET = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\n"  # 64 chars


class CharTokenizer:
    """One token per character of ALPHABET; ids 0/1/2 are pad/bos/eos and decode to ''."""

    pad_token_id = 0
    bos_token_id = 1
    eos_token_id = 2
    pad_token, eos_token = "<pad>", "<eos>"
    chat_template = None
    padding_side = "left"
    offset = 3

    def __init__(self, eos_token_id: int = 2) -> None:
        """eos_token_id: which id ends a sequence (pick a common one to get early stops)."""
        self.eos_token_id = eos_token_id

    @property
    def vocab_size(self) -> int:
        """Number of ids (specials + alphabet)."""
        return self.offset + len(ALPHABET)

    def encode(self, text: str) -> list[int]:
        """Ids for text (unknown characters are skipped)."""
        return [self.offset + ALPHABET.index(c) for c in text if c in ALPHABET]

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        """HF-style call returning {"input_ids": [...]}."""
        ids = self.encode(text)
        return {"input_ids": ([self.bos_token_id] if add_special_tokens else []) + ids}

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        """Text for ids; special ids decode to '' (as with skip_special_tokens)."""
        return "".join(ALPHABET[i - self.offset] for i in ids
                       if self.offset <= i < self.vocab_size)


def char_llama(vocab_size: int = 67, seed: int = 0, init_range: float = 0.2) -> Any:
    """tiny_llama for CharTokenizer's ids (eval mode, untied head): a real HFGenerator in well
    under a second, without the embedded model."""
    model = tiny_llama(vocab_size, seed, max_position_embeddings=512, initializer_range=init_range,
                       pad_token_id=0, bos_token_id=1, eos_token_id=2,
                       tie_word_embeddings=False).eval()
    model.generation_config.eos_token_id = None  # the tokenizer decides EOS in tests
    return model


def check_generator_contract(gen: Generator, prompts: list[Chat], max_new_tokens: int = 8
                             ) -> list[list[Completion]]:
    """Assert the backend-agnostic Generator contract; return the sampled completions."""
    params = SamplingParams(temperature=1.0, top_k=10, top_p=0.9, n=2, seed=3,
                            max_new_tokens=max_new_tokens)
    out = gen.generate(prompts, params, progress=False)
    assert len(out) == len(prompts), "one group per prompt"
    for group in out:
        assert len(group) == params.n, "params.n completions per prompt"
        for c in group:
            assert isinstance(c, Completion)
            assert 1 <= len(c.token_ids) <= max_new_tokens
            assert c.prompt_token_ids, "prompt_token_ids are the rendered chat's ids"
            assert c.finish_reason in ("stop", "length")
            if c.finish_reason == "length":
                assert len(c.token_ids) == max_new_tokens
            assert c.logprobs is not None and c.base_logprobs is not None
            assert len(c.logprobs) == len(c.token_ids) == len(c.base_logprobs)
            assert all(lp <= 1e-5 and math.isfinite(lp) for lp in c.logprobs)
            assert all(lp <= 1e-5 and math.isfinite(lp) for lp in c.base_logprobs)
            assert isinstance(c.text, str)
        assert group[0].prompt_token_ids == group[1].prompt_token_ids
    again = gen.generate(prompts, params, progress=False)
    assert [[c.token_ids for c in g] for g in again] == [[c.token_ids for c in g] for g in out], \
        "same seed, same samples"
    greedy = SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens, n=1)
    g1 = gen.generate(prompts, greedy, progress=False)
    assert all(len(g) == 1 for g in g1)
    nolp = SamplingParams(temperature=1.0, max_new_tokens=2, return_logprobs=False, seed=1)
    assert gen.generate(prompts[:1], nolp, progress=False)[0][0].logprobs is None
    return out
