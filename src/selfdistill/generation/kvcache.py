"""A KV cache over preallocated buffers for the HF decode loop.

transformers' DynamicCache concatenates the whole cache every step; GrowLayer writes
each step into a buffer with spare room (reserve) and only reallocates when it is full.
It also drops rows (finished sequences), trims all-padding columns on the left, and
merges another cache's rows (a refill), left-padding the shorter one with masked zeros.

A bf16 model on CPU keeps its cache in float32 (`store_dtype`): CPU bf16 `bmm` copies any
operand that is a view into a larger buffer (the cache with spare room always is), which
cost a copy of the whole cache per layer and step (~10% of a decode step), while fp32
`bmm` reads the views in place. The decode attention (attention.py) reads the fp32 cache
directly (scores and softmax in fp32, as SDPA's bf16 kernel computes them); every other
reader gets the cache back in the model's dtype (bf16 -> fp32 -> bf16 is exact).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import DynamicCache, DynamicLayer

from selfdistill.generation.attention import decode_reads_store


class GrowLayer(DynamicLayer):
    """A DynamicLayer over a preallocated buffer: appends write in place, no per-step cat."""

    reserve: int = 0
    store_dtype: torch.dtype | None = None  # None: the model's dtype

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.dtype, self.device = key_states.dtype, key_states.device
        self._k: torch.Tensor | None = None
        self._v: torch.Tensor | None = None
        self.n = 0
        self.keys = self.values = None
        self.is_initialized = True

    def _views(self) -> None:
        self.keys = self._k[:, :, : self.n]
        self.values = self._v[:, :, : self.n]

    def _realloc(self, cap: int, batch_like: torch.Tensor) -> None:
        b, h, _, d = batch_like.shape
        dt = self.store_dtype or batch_like.dtype
        k = batch_like.new_zeros((b, h, cap, d), dtype=dt)
        v = batch_like.new_zeros((b, h, cap, d), dtype=dt)
        if self._k is not None and self.n:
            k[:, :, : self.n] = self._k[:, :, : self.n]
            v[:, :, : self.n] = self._v[:, :, : self.n]
        self._k, self._v = k, v

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        q = key_states.shape[-2]
        if self._k is None or self.n + q > self._k.shape[-2]:
            need = self.n + q
            cap = need + max(self.reserve, need // 2, 16)
            self._realloc(cap, key_states)
        self._k[:, :, self.n : self.n + q] = key_states
        self._v[:, :, self.n : self.n + q] = value_states
        self.n += q
        self._views()
        if self.keys.dtype == key_states.dtype or (q == 1 and decode_reads_store()):
            return self.keys, self.values
        return self.keys.to(key_states.dtype), self.values.to(value_states.dtype)

    def get_seq_length(self) -> int:
        return self.n if self.is_initialized else 0

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.is_initialized and self._k is not None:
            self._k = self._k.index_select(0, indices)
            self._v = self._v.index_select(0, indices)
            self._views()

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self.batch_select_indices(beam_idx)

    def trim_left(self, m: int) -> None:
        """Forget the first m cached positions (all-padding columns)."""
        if m > 0 and self._k is not None:
            self._k, self._v = self._k[:, :, m:], self._v[:, :, m:]
            self.n -= m
            self._views()

    def merge(self, *others: GrowLayer) -> None:
        """Append the others' rows in order; shorter caches are left-padded with zeros
        (masked out). One buffer is written once, whatever the number of others."""
        parts = [self, *others]
        n = max(layer.n for layer in parts)
        cap = n + max(max(layer.reserve for layer in parts), 16)
        b = sum(layer._k.shape[0] for layer in parts)
        _, h, _, d = self._k.shape
        k = self._k.new_zeros((b, h, cap, d))
        v = self._v.new_zeros((b, h, cap, d))
        r = 0
        for layer in parts:
            rows = layer._k.shape[0]
            k[r : r + rows, :, n - layer.n : n] = layer._k[:, :, : layer.n]
            v[r : r + rows, :, n - layer.n : n] = layer._v[:, :, : layer.n]
            r += rows
        self._k, self._v = k, v
        self.n = n
        self._views()


class GrowCache(DynamicCache):
    """A DynamicCache made of GrowLayer layers."""

    def __init__(self, num_layers: int, reserve: int, store_dtype: torch.dtype | None = None
                 ) -> None:
        """reserve: spare positions per reallocation; store_dtype: the buffers' dtype
        (None: the model's)."""
        super().__init__()
        self.layers = [GrowLayer() for _ in range(num_layers)]
        for layer in self.layers:
            layer.reserve = reserve
            layer.store_dtype = store_dtype
