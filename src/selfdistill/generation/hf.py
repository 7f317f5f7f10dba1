"""HF backend: our own batched decode loop over a transformers causal LM (CPU or GPU).

Why not `model.generate`: it runs every batch to its longest sequence and its top-p sorts
the whole vocabulary each step. Here:
- prompts are sorted by length and prefilled once per unique prompt (n>1 rows, and
  identical prompts passed separately, share the prefill), each on its own by default
  (no padding), with logits for the last position only;
- the KV cache is preallocated (no torch.cat per step) and finished rows are dropped from
  it (lazily, when enough rows are done, because compaction copies the cache);
- freed slots are refilled with waiting prompts (continuous batching): a new group is
  prefilled separately and merged into the running cache by left-padding the shorter one;
  explicit position_ids keep every row's RoPE positions right;
- sampling is ours (sampling.py): exact temperature -> top-k -> top-p, per-sequence seeded
  uniforms (from params.seeds[i] when given, else the call seed and prompt index), so
  results do not depend on batch size or on which rows share a batch;
- and (batch_invariant, the default) a row's forward does not either, bit for bit in bf16
  on CPU (fp32: not the bits, MKL's fp32 GEMM rounds by the row count): no padded prefill
  of several prompts, no prefix shared across prompts, decode attention over each row's
  own keys, no one-row matmul (`_no_single_row_matmuls`). Measured: docs/results.md,
  "Same seed, same samples".
- a bf16 model on CPU runs its linear layers on weights packed once per call for oneDNN
  (prepack.py; bit-identical outputs) and keeps its KV cache in fp32 (kvcache.py: the
  decode attention then reads it in place instead of copying it every step).
The cache buffers live in kvcache.py, row dropping and merging in batch.py.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import random
import time
from collections.abc import Callable
from typing import Any

import torch

from selfdistill.core.console import Progress
from selfdistill.core.merged_lora import merged_lora
from selfdistill.core.models import cache_kwarg
from selfdistill.generation.attention import (
    SWITCHABLE,
    decode_attention,
    own_key_chunks,
    plan_chunks,
)
from selfdistill.generation.base import Chat, Completion
from selfdistill.generation.batch import Batch, Seq, compact, maybe_compact, merge
from selfdistill.generation.chat import chat_token_ids, eos_token_ids
from selfdistill.generation.kvcache import GrowCache
from selfdistill.generation.params import SamplingParams
from selfdistill.generation.prepack import packed_linears
from selfdistill.generation.sampling import prompt_seeds, sample_tokens, sequence_uniforms

PREPACK_MIN_NEW_TOKENS = 8  # packing costs about one decode step (a copy of the weights)


def _double_rows(module: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    return (torch.cat([args[0], args[0]]), *args[1:])


def _first_row(module: Any, args: tuple[Any, ...], out: torch.Tensor) -> torch.Tensor:
    return out[:1]


@contextlib.contextmanager
def _no_single_row_matmuls(linears: list[torch.nn.Module], on: bool) -> Any:
    """Run every Linear of a one-token forward on two copies of its row, keeping the first.

    Why: on CPU a one-row bf16 matmul takes another kernel (a GEMV) that rounds otherwise
    than the same row among others (measured on SmolLM2's 1536 -> 576 down_proj; rows 2..1100
    agree bit for bit). Without this, a batch's last live row would decode differently from
    the same row in company, and samples would depend on the batch after all.
    """
    if not on:
        yield
        return
    handles = [h for m in linears for h in (m.register_forward_pre_hook(_double_rows),
                                             m.register_forward_hook(_first_row))]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _uses_only_full_attention(model: Any) -> bool:
    """True unless the config declares sliding-window or linear-attention layers."""
    cfg = model.config
    cfg = cfg.get_text_config(decoder=True) if hasattr(cfg, "get_text_config") else cfg
    types = getattr(cfg, "layer_types", None)
    return types is None or all(t == "full_attention" for t in types)


class HFGenerator:
    """Generator over any transformers causal LM: batched, KV-cached, rows dropped/refilled."""

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 64, progress: bool = True,
                 refill: bool = True, drop_finished: bool = True,
                 compact_fraction: float = 0.125, fast_attention: bool = True,
                 prefill_chunk: int = 16, min_shared_prefix: int = 16,
                 share_identical_prompts: bool = True, batch_invariant: bool = True,
                 prepack: bool = True) -> None:
        """batch_size: rows decoded together; compact_fraction: dead-row share that triggers
        compaction; fast_attention: decode steps use attention.decode_attention_forward;
        prefill_chunk: unique prompts per prefill forward (0 = all at once);
        min_shared_prefix: shortest common prompt prefix worth running once (0 = never);
        share_identical_prompts: prompts with the same token ids are prefilled once;
        batch_invariant: a row's numbers depend on its own prompt only, bit for bit in bf16
        (each prompt prefilled on its own, no prefix shared across prompts, decode
        attention over each row's own keys, no one-row matmul; prefill_chunk and
        min_shared_prefix are then not used). The same seed then gives the same samples
        at any batch size and worker count; what it costs: docs/results.md.
        prepack: bf16 linear layers run on weights packed once per call (prepack.py)."""
        if not _uses_only_full_attention(model):
            raise ValueError("HFGenerator supports full-attention decoder models only "
                             "(sliding-window / hybrid caches are not handled).")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.progress = progress
        self.refill = refill
        self.drop_finished = drop_finished
        self.compact_fraction = compact_fraction
        if batch_invariant and not fast_attention:
            raise ValueError("batch_invariant needs fast_attention (transformers' SDPA decode "
                             "changes a row's numbers with its left padding)")
        self.fast_attention = fast_attention
        self.batch_invariant = batch_invariant
        # Padded prefills of several prompts change a row's bits (SDPA's blocks move with
        # the padding), and so does where a shared prefix ends (it depends on the group).
        self.prefill_chunk = 1 if batch_invariant else prefill_chunk
        self.min_shared_prefix = (min_shared_prefix if min_shared_prefix > 0 and not
                                  batch_invariant else 10**9)
        self.share_identical_prompts = share_identical_prompts
        self.prepack = prepack
        # Streaming hook: called with (completion index, its token ids so far) after every
        # sampled token of a live row (a front end shows the reply as it is written).
        self.on_token: Callable[[int, list[int]], None] | None = None
        self.eos_ids = eos_token_ids(tokenizer, model)
        cfg = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") \
            else model.config
        self.num_layers = int(cfg.num_hidden_layers)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        base = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft
        params = inspect.signature(base.forward).parameters
        self._cache_kw = cache_kwarg(base)
        self._logits_kw = "logits_to_keep" if "logits_to_keep" in params else (
            "num_logits_to_keep" if "num_logits_to_keep" in params else None)
        self.last_stats: dict[str, float] = {}
        self._linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]

    @property
    def device(self) -> torch.device:
        """Device of the model's parameters."""
        return next(self.model.parameters()).device

    def _store_dtype(self) -> torch.dtype | None:
        """The KV cache's dtype: fp32 for a reduced-precision model on CPU whose decode
        attention is ours (kvcache.py says why), else the model's own (None)."""
        p = next(self.model.parameters())
        ours = getattr(self.model.config, "_attn_implementation", None) in SWITCHABLE
        if (self.fast_attention and ours and p.device.type == "cpu"
                and p.dtype in (torch.bfloat16, torch.float16)):
            return torch.float32
        return None

    # ---- public API -----------------------------------------------------------------
    def generate(self, prompts: list[Chat], params: SamplingParams, *,
                 progress: bool | None = None) -> list[list[Completion]]:
        """Sample params.n completions for every chat prompt."""
        ids = [chat_token_ids(self.tokenizer, chat) for chat in prompts]
        return self.generate_from_ids(ids, params, progress=progress)

    def generate_from_ids(self, prompt_ids: list[list[int]], params: SamplingParams, *,
                          progress: bool | None = None) -> list[list[Completion]]:
        """Like generate, for already-tokenized prompts."""
        show = self.progress if progress is None else progress
        seed = params.seed if params.seed is not None else random.randrange(2**62)
        # Identical prompts (e.g. a problem's n samples sent as n prompts) share one prefill.
        first: dict[tuple[int, ...], int] = {}
        same = [first.setdefault(tuple(p), i) if self.share_identical_prompts else i
                for i, p in enumerate(prompt_ids)]
        streams = prompt_seeds(params, len(prompt_ids), seed)
        seqs = [
            Seq(i * params.n + j, i, j, list(p),
                None if params.greedy else sequence_uniforms(*streams[i], j, params.max_new_tokens),
                prefill_index=same[i])
            for i, p in enumerate(prompt_ids) for j in range(params.n)
        ]
        # Longest prompts first (stable), identical prompts adjacent: similar lengths share a
        # prefill (little padding) and identical prompts are prefilled once.
        queue = sorted(seqs, key=lambda s: (-len(s.prompt_ids), s.prefill_index))
        queue.reverse()  # pop() from the end takes the longest
        t0 = time.perf_counter()
        self._t_forward, self._rows_forward, self._steps = 0.0, 0, 0
        self._prefill_tokens = 0
        n_tokens = 0
        # A peft LoRA adapter is folded into the weights while decoding (bit-exact restore);
        # bf16 linears are packed once for the whole call (a few short steps do not pay it).
        pack = self.prepack and params.max_new_tokens >= PREPACK_MIN_NEW_TOKENS
        with merged_lora(self.model), packed_linears(self.model, pack), torch.inference_mode(), \
                Progress(show, len(seqs)) as bar:
            batch: Batch | None = None
            while queue or batch is not None:
                free = self.batch_size - (sum(batch.alive) if batch else 0)
                want_refill = batch is None or (
                    self.refill and queue and free >= max(1, self.batch_size // 4))
                if want_refill and queue:
                    take = [queue.pop() for _ in range(min(free, len(queue)))]
                    new = self._prefill(take, params)
                    n_tokens += len(take)
                    self._after_sample(new, params, bar)
                    batch = new if batch is None else merge(compact(batch), new)
                else:
                    self._decode_step(batch, params)
                    self._steps += 1
                    n_tokens += sum(batch.alive)
                    self._after_sample(batch, params, bar)
                batch = maybe_compact(batch, self.drop_finished, self.compact_fraction)
                bar.tokens(n_tokens, time.perf_counter() - t0)
        dt = time.perf_counter() - t0
        new_tokens = sum(len(s.out) for s in seqs)
        self.last_stats = {"seconds": dt, "new_tokens": float(new_tokens),
                           "tokens_per_s": new_tokens / max(dt, 1e-9),
                           "forward_seconds": self._t_forward, "decode_steps": float(self._steps),
                           "row_steps": float(self._rows_forward),
                           "prefill_tokens": float(self._prefill_tokens)}
        return self._completions(seqs, params, len(prompt_ids))

    # ---- engine ---------------------------------------------------------------------
    def _forward(self, input_ids: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor,
                 cache: GrowCache) -> torch.Tensor:
        kw: dict[str, Any] = {self._cache_kw: cache}
        if self._logits_kw:
            kw[self._logits_kw] = 1
        t = time.perf_counter()
        with _no_single_row_matmuls(self._linears,
                                    self.batch_invariant and input_ids.numel() == 1):
            out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=pos,
                             use_cache=True, **kw)
        self._t_forward += time.perf_counter() - t
        self._rows_forward += input_ids.shape[0]
        return out.logits[:, -1]

    def _prefill(self, seqs: list[Seq], params: SamplingParams) -> Batch:
        """Prefill seqs (longest prompt first) into one batch.

        The prompts' common token prefix (system prompt, chat template) runs once and its
        cache is copied to every row; the rest is prefilled in chunks of similar lengths
        (the queue is length-sorted), so little compute goes to padding. Chunks are merged
        like a refill. Rows may then hold padding between the prefix and their suffix:
        attention masks and explicit position ids make that exact.
        """
        order: dict[int, list[Seq]] = {}  # unique prompt -> its rows, in queue order
        for s in seqs:
            order.setdefault(s.prefill_index, []).append(s)
        prompts = [rows[0].prompt_ids for rows in order.values()]
        # Leave every prompt >= 1 own token: its last position gives the first logits.
        shared = 0 if len(prompts) == 1 else min(len(os.path.commonprefix(prompts)),
                                                  min(map(len, prompts)) - 1)
        shared = shared if shared >= self.min_shared_prefix else 0
        prefix = self._prefix_cache(prompts[0][:shared]) if shared else None
        groups = list(order.values())
        size = self.prefill_chunk or len(groups)
        parts = [self._prefill_chunk([s for rows in groups[i : i + size] for s in rows],
                                     params, prefix, shared)
                 for i in range(0, len(groups), size)]
        return merge(*parts)  # one copy of the caches, not one per part

    def _prefix_cache(self, prefix: list[int]) -> GrowCache:
        """A one-row cache holding the shared prefix."""
        cache = GrowCache(self.num_layers, 0, self._store_dtype())
        ids = torch.tensor([prefix], dtype=torch.long, device=self.device)
        pos = torch.arange(len(prefix), device=self.device)[None]
        self._prefill_tokens += ids.numel()
        self._forward(ids, torch.ones_like(ids), pos, cache)
        return cache

    def _prefill_chunk(self, seqs: list[Seq], params: SamplingParams,
                       prefix: GrowCache | None, shared: int) -> Batch:
        dev = self.device
        uniq: dict[int, int] = {}
        prompts: list[list[int]] = []
        for s in seqs:
            if s.prefill_index not in uniq:
                uniq[s.prefill_index] = len(prompts)
                prompts.append(s.prompt_ids[shared:])
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for r, p in enumerate(prompts):
            ids[r, width - len(p):] = torch.tensor(p, dtype=torch.long)
            mask[r, width - len(p):] = 1
        ids, mask = ids.to(dev), mask.to(dev)
        pos = (mask.cumsum(-1) - 1).clamp_min(0) + shared
        cache = GrowCache(self.num_layers, params.max_new_tokens + 1, self._store_dtype())
        if prefix is not None:
            for layer, src in zip(cache.layers, prefix.layers, strict=True):
                shape = (len(prompts), -1, -1, -1)
                layer.update(src.keys.expand(shape), src.values.expand(shape))
            mask = torch.cat([mask.new_ones((len(prompts), shared)), mask], dim=1)
        self._prefill_tokens += ids.numel()
        logits = self._forward(ids, mask, pos, cache)
        expand = torch.tensor([uniq[s.prefill_index] for s in seqs], device=dev)
        if len(prompts) != len(seqs) or not bool((expand == torch.arange(len(seqs), device=dev)).all()):
            cache.batch_select_indices(expand)
            logits, mask, pos = logits[expand], mask[expand], pos[expand]
        uni = None if params.greedy else torch.stack([s.uniforms for s in seqs]).to(dev)
        batch = Batch(seqs=list(seqs), cache=cache, mask=mask, pos=pos[:, -1] + 1,
                       next_tok=torch.zeros(len(seqs), dtype=torch.long, device=dev),
                       uniforms=uni, alive=[True] * len(seqs))
        self._sample_into(batch, logits, params)
        return batch

    def _decode_step(self, b: Batch, params: SamplingParams) -> None:
        ones = torch.ones((b.mask.shape[0], 1), dtype=b.mask.dtype, device=b.mask.device)
        b.mask = torch.cat([b.mask, ones], dim=1)
        if self.fast_attention:
            # A ready 4D additive mask (transformers passes it through untouched) and row
            # chunks that skip shared left padding; see attention.py.
            dtype = next(self.model.parameters()).dtype
            add = torch.zeros(b.mask.shape, dtype=dtype, device=b.mask.device)
            add.masked_fill_(b.mask == 0, torch.finfo(dtype).min)
            width = b.mask.shape[1]
            first = (b.mask.cumsum(1) == 0).sum(1).tolist()
            # Invariant: each row over exactly its own keys (a matmul over more, masked,
            # columns rounds otherwise once the columns cross its blocks).
            chunks = (own_key_chunks(first, group=b.mask.device.type == "cpu")
                      if self.batch_invariant else plan_chunks(first, width))
            # No padding after a row's first key (each prompt prefilled alone): the mask
            # is 0 over every chunk and is not added.
            unmasked = self.batch_invariant and int(b.mask.sum()) == b.mask.numel() - sum(first)
            with decode_attention(self.model, chunks, unmasked) as on:
                logits = self._forward(b.next_tok[:, None], add[:, None, None, :] if on else b.mask,
                                       b.pos[:, None], b.cache)
        else:
            logits = self._forward(b.next_tok[:, None], b.mask, b.pos[:, None], b.cache)
        b.pos = b.pos + 1
        self._sample_into(b, logits, params)

    def _sample_into(self, b: Batch, logits: torch.Tensor, params: SamplingParams) -> None:
        u = None
        if b.uniforms is not None:
            steps = torch.tensor([len(s.out) for s in b.seqs], device=logits.device)
            steps = steps.clamp_max(b.uniforms.shape[1] - 1)
            u = b.uniforms.gather(1, steps[:, None]).squeeze(1)
        tok, lp, base = sample_tokens(logits, params, u)
        b.next_tok = tok
        toks = tok.tolist()
        lps = lp.tolist() if params.return_logprobs else None
        bases = base.tolist() if params.return_logprobs else None
        for r, s in enumerate(b.seqs):
            if not b.alive[r]:
                continue
            s.out.append(toks[r])
            if lps is not None:
                s.logprobs.append(lps[r])
                s.base_logprobs.append(bases[r])

    def _after_sample(self, b: Batch, params: SamplingParams, bar: Progress) -> None:
        stops = params.stop
        window = (max(len(x) for x in stops) + 8) if stops else 0
        for r, s in enumerate(b.seqs):
            if not b.alive[r]:
                continue
            t = s.out[-1]
            if self.on_token is not None and t not in self.eos_ids:
                self.on_token(s.index, s.out)
            if t in self.eos_ids:
                s.finish = "stop"
            elif stops and any(x in self.tokenizer.decode(s.out[-window:]) for x in stops):
                s.finish = "stop"
            elif len(s.out) >= params.max_new_tokens:
                s.finish = "length"
            if s.finish:
                b.alive[r] = False
                bar.advance()

    def _completions(self, seqs: list[Seq], params: SamplingParams,
                     n_prompts: int) -> list[list[Completion]]:
        out: list[list[Completion]] = [[] for _ in range(n_prompts)]
        for s in sorted(seqs, key=lambda s: s.index):
            text = self.tokenizer.decode(s.out, skip_special_tokens=True)
            if params.stop:
                cut = min((text.find(x) for x in params.stop if x in text), default=-1)
                if cut >= 0:
                    text = text[:cut]
                    s.finish = "stop"
            out[s.prompt_index].append(Completion(
                text=text, token_ids=list(s.out), prompt_token_ids=list(s.prompt_ids),
                logprobs=list(s.logprobs) if params.return_logprobs else None,
                base_logprobs=list(s.base_logprobs) if params.return_logprobs else None,
                finish_reason=s.finish or "length"))
        return out
