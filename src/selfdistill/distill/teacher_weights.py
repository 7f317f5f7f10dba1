"""The SDPO teacher's weights on the student's own model (its prompts: teacher_context.py).

The teacher is the student model re-prompted with hindsight (a successful sibling answer
and/or the environment's feedback). It only scores the student's tokens (scoring.py),
never samples. Its weights are one of:

- "ema": exponential moving average of the student, updated once per rollout batch;
- "trust_region": as the reference (lasgroup/SDPO's TrustRegionTeacher), a mix in log-prob
  space: teacher logits = (1 - a) * z_initial + a * z_current, both under the teacher's
  context. weights() holds the initial weights; the objective runs the current model too
  and mixes the logits (logit_mix = a), see scoring.score_tokens_mixed;
- "trust_region_params": (1 - a) * initial + a * current mixed in parameter space (under
  LoRA, A and B separately: not linear in the weight delta);
- "frozen": the initial weights; "live": the current weights (no copy at all).

Only the *trainable* parameters are tracked (requires_grad at construction). Under LoRA
those are the adapter tensors, so the teacher costs one adapter-sized copy, never a second
base model; the teacher forward swaps the copies into the live model and swaps back.

Under FSDP (training/fsdp.py) the parameters are sharded DTensors and so is the teacher's
fp32 copy (1/N per rank). Inside fsdp.layerwise (the update) a decoder layer's parameter
is its shard until FSDP2 gathers it for a pass: weights() exchanges the contents of the
master shard and the teacher's shard (same shape, exact), so the layer's gather during a
teacher pass casts the teacher's weights; leaving exchanges them back. Parameters that are
gathered when weights() is entered (the root unit inside layerwise, everything inside
fsdp.gathered) take full compute-dtype tensors that `gathered()` (entered by every rank)
all-gathers from the teacher's shards, swapped in by storage pointer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import torch
from torch import Tensor, nn

from selfdistill.core.config import OptimConfig
from selfdistill.distill.teacher_context import TeacherConfig
from selfdistill.errors import UserError

TeacherKind = Literal["ema", "trust_region", "trust_region_params", "frozen", "live"]
TEACHER_KINDS: tuple[str, ...] = ("ema", "trust_region", "trust_region_params", "frozen", "live")


class Teacher:
    """Teacher weights over the student's own model; use `with teacher.weights():` to score.

    kind: "ema" | "trust_region" | "trust_region_params" | "frozen" | "live".
    rate: the EMA update rate (ema), or the weight a of the current model in the
    trust-region mix (1 - a) * initial + a * current (of logits, or of parameters).
    Ignored by frozen and live. Call update() once per rollout batch, after its optimiser
    steps (a no-op except for ema).
    """

    def __init__(self, model: nn.Module, kind: TeacherKind = "ema", rate: float = 0.01):
        if kind not in TEACHER_KINDS:
            raise ValueError(f"unknown teacher kind {kind!r}; use one of {TEACHER_KINDS}")
        if kind in ("ema", "trust_region", "trust_region_params") and not 0.0 <= rate <= 1.0:
            raise ValueError(f"teacher rate must lie in [0, 1], got {rate}")
        self.model = model
        self.kind: TeacherKind = kind
        self.rate = float(rate)
        self.steps = 0
        # Trainable parameters only: under LoRA these are the adapter tensors.
        self._params: dict[str, nn.Parameter] = {
            n: p for n, p in model.named_parameters() if p.requires_grad
        }
        if not self._params and kind != "live":
            raise ValueError("the model has no trainable parameters to build a teacher from")
        self._store: dict[str, Tensor] = {}
        self._full: dict[str, Tensor] | None = None  # gathered() under FSDP
        with torch.no_grad():
            for name, p in self._params.items():
                if kind == "ema":
                    # fp32 master copy: a 1% update vanishes in bf16 rounding otherwise.
                    self._store[name] = p.detach().to(torch.float32, copy=True)
                elif kind in ("trust_region", "trust_region_params", "frozen"):
                    self._store[name] = p.detach().clone()

    @property
    def logit_mix(self) -> float | None:
        """a when the teacher's logits are lerp(z_initial, z_current, a) (trust_region), else None."""
        return self.rate if self.kind == "trust_region" else None

    @property
    def stored_numel(self) -> int:
        """Number of elements the teacher holds in its own tensors (0 for live)."""
        return sum(t.numel() for t in self._store.values())

    @torch.no_grad()
    def update(self) -> None:
        """Advance the teacher after an optimiser step: ema <- (1 - rate) * ema + rate * student."""
        self.steps += 1
        if self.kind != "ema":
            return
        for name, p in self._params.items():
            self._store[name].lerp_(p.detach().to(torch.float32), self.rate)

    @property
    def sharded(self) -> bool:
        """True when the teacher's tensors are FSDP shards (DTensors)."""
        return any(hasattr(t, "full_tensor") for t in self._store.values())

    @contextmanager
    def gathered(self, dtype: torch.dtype | None = None) -> Iterator[None]:
        """Under FSDP: the full teacher tensors for weights() (a collective; every rank enters).

        dtype: the model's compute dtype (trust_region_params keeps fp32 for its mix).
        A no-op when the teacher is not sharded or already gathered.
        """
        if not self.sharded or self._full is not None:
            yield
            return
        keep32 = self.kind == "trust_region_params"
        with torch.no_grad():  # only what is gathered now (a shard is exchanged in weights())
            self._full = {n: t.full_tensor().to(torch.float32 if keep32 or dtype is None
                                                else dtype)
                          for n, t in self._store.items()
                          if not _is_shard(self.model.get_parameter(n))}
        try:
            yield
        finally:
            self._full = None

    def _teacher_tensor(self, name: str, p: Tensor) -> Tensor:
        """The tensor the teacher uses in place of parameter p (model dtype and device)."""
        stored = self._store[name]
        if self.sharded:
            if self._full is None or name not in self._full:
                raise RuntimeError("a sharded teacher scores inside teacher.gathered(), "
                                   "entered after the model's fsdp.layerwise / gathered")
            stored = self._full[name]
        if self.kind == "trust_region_params":
            mixed = torch.lerp(stored.to(torch.float32), p.detach().to(torch.float32), self.rate)
            return mixed.to(p.dtype)
        # frozen holds an exact copy; ema holds fp32 and is cast only for low-precision models.
        return stored if stored.dtype == p.dtype else stored.to(p.dtype)

    @contextmanager
    def weights(self, eval_mode: bool = True) -> Iterator[nn.Module]:
        """Inside, the model computes with teacher weights, without gradients (and without dropout).

        trust_region: the initial weights (the logit mix with the current model is the
        scorer's job: logit_mix); a caller that scores with weights() alone gets those.

        The swap exchanges tensor storage pointers, so leaving restores the student's weights
        bit-exactly. Run teacher scoring before the student's forward or after its backward.
        """
        was_training = self.model.training
        saved: dict[str, Tensor] = {}
        exchanged: list[tuple[Tensor, Tensor | None, Tensor]] = []
        with torch.no_grad():
            try:
                if self.kind != "live":
                    for name in self._params:
                        # The module's current tensor: a gathered compute copy, or a shard.
                        p = self.model.get_parameter(name)
                        if _is_shard(p):
                            exchanged.append(self._exchange(name, p))
                            continue
                        replacement = self._teacher_tensor(name, p)
                        saved[name] = p.data
                        p.data = replacement
                if eval_mode:
                    self.model.eval()
                yield self.model
            finally:
                for name, data in saved.items():
                    self.model.get_parameter(name).data = data
                for local, store, kept in exchanged:
                    _restore(local, store, kept)
                self.model.train(was_training)

    def _exchange(self, name: str, p: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Put the teacher's weights into the master shard of p (in place, exact); returns
        what _restore needs: (master shard, teacher shard, None) when the two were swapped,
        (master shard, None, the master's copy) when the teacher's value is computed."""
        local = p.to_local()  # a view of FSDP2's all-gather source
        store = self._store[name].to_local()
        if self.kind == "trust_region_params" or store.dtype != local.dtype:
            kept = local.clone()
            local.copy_(torch.lerp(store.float(), kept.float(), self.rate)
                        if self.kind == "trust_region_params" else store)
            return local, None, kept
        _swap(local, store)  # no copy of the whole shard set kept: one parameter at a time
        return local, store, None



    def state_dict(self) -> dict[str, Any]:
        """The teacher's own state, for checkpoints (the model's weights are saved separately)."""
        return {
            "kind": self.kind,
            "rate": self.rate,
            "steps": self.steps,
            "tensors": {k: v.detach().cpu().clone() for k, v in self._store.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state saved by state_dict() for the same model and kind."""
        if state["kind"] != self.kind:
            raise ValueError(f"checkpoint teacher kind {state['kind']!r} != {self.kind!r}")
        if set(state["tensors"]) != set(self._store):
            raise ValueError("checkpoint teacher tensors do not match this model's parameters")
        self.rate = float(state["rate"])
        self.steps = int(state["steps"])
        with torch.no_grad():
            for k, v in state["tensors"].items():
                self._store[k].copy_(v)


def _is_shard(p: Tensor) -> bool:
    """Is p an FSDP shard (a DTensor) rather than a gathered or plain tensor?"""
    return hasattr(p, "full_tensor")


def _swap(a: Tensor, b: Tensor) -> None:
    """Exchange the contents of two same-shape tensors (exact; one transient copy)."""
    tmp = a.clone()
    a.copy_(b)
    b.copy_(tmp)


def _restore(local: Tensor, store: Tensor | None, kept: Tensor | None) -> None:
    """Undo Teacher._exchange: the master shard back (and the teacher's, when swapped)."""
    if store is not None:
        _swap(local, store)
    elif kept is not None:
        local.copy_(kept)


def validate_teacher_and_optim(teacher: TeacherConfig, optim: OptimConfig) -> None:
    """The checks every online recipe shares: the teacher's kind and what is trained."""
    if teacher.kind not in TEACHER_KINDS:
        raise UserError(f"teacher.kind must be one of {', '.join(TEACHER_KINDS)}.")
    if optim.method not in ("lora", "full"):
        raise UserError("optim.method must be 'lora' or 'full'.")
