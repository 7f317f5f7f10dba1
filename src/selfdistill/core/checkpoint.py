"""Kill-safe checkpoints of an online run: model (adapter or full), optimiser, scheduler,
teacher, RNG streams and the step, written to step-N.tmp and renamed into place."""

from __future__ import annotations

import json
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any


def _manifest(root: Path) -> dict[str, int]:
    """Every file under root (but state.json) with its size."""
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "state.json"}


def _damage(ckpt: Path) -> str | None:
    """Why a renamed-into-place checkpoint cannot be trusted, or None.

    state.json (written last) lists every file's size: a file cut or lost afterwards (a
    disk fault, a partial copy) shows up here instead of as a traceback deep in a load.
    """
    try:
        state = json.loads((ckpt / "state.json").read_text())
    except (OSError, ValueError) as e:
        return f"state.json unreadable ({e})"
    files = state.get("files")
    if not isinstance(files, dict):
        return None  # written before manifests: nothing to check
    have = _manifest(ckpt)
    bad = [f for f, size in files.items() if have.get(f) != size]
    return f"{len(bad)} file(s) cut or missing, e.g. {bad[0]}" if bad else None


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    """The newest complete, undamaged RUN/checkpoints/step-N (None when there is none).

    A damaged one is renamed step-N.damaged (kept for inspection, never resumed from) and
    the one before it is used: the run then redoes those steps, as after a kill.
    """
    done = sorted((p for p in ckpt_dir.glob("step-*") if p.name[5:].isdigit()
                   and (p / "state.json").is_file()),
                  key=lambda p: int(p.name[5:]), reverse=True)
    for p in done:
        why = _damage(p)
        if why is None:
            return p
        sys.stderr.write(f"warning: checkpoint {p} is damaged ({why}); moved to "
                         f"{p.name}.damaged, resuming from the one before.\n")
        shutil.rmtree(p.with_name(p.name + ".damaged"), ignore_errors=True)
        p.rename(p.with_name(p.name + ".damaged"))
    return None


def latest_trainer_checkpoint(train_dir: Path) -> str | None:
    """The newest complete transformers Trainer checkpoint-N under train_dir, or None.

    The Trainer writes checkpoint-N in place (weights, optimizer, RNG, trainer_state.json
    last, not atomically): one killed mid-write has no readable trainer_state.json. Such
    a half checkpoint is removed (the resumed run writes it again), never resumed from.
    """
    ckpts = sorted((p for p in train_dir.glob("checkpoint-*") if p.name[11:].isdigit()),
                   key=lambda p: int(p.name[11:]), reverse=True)
    for p in ckpts:
        try:
            json.loads((p / "trainer_state.json").read_text())
            return str(p)
        except (OSError, ValueError):
            shutil.rmtree(p, ignore_errors=True)
    return None


def checkpoint_step(ckpt: Path) -> int:
    """The step a checkpoint was written after."""
    return int(json.loads((ckpt / "state.json").read_text())["step"])


def save_model(model: Any, tok: Any, out: Path, spec: str) -> None:
    """Adapter (with a portable base spec) or full model + tokenizer into out."""
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    cfg_path = out / "adapter_config.json"
    if cfg_path.is_file():  # point the adapter at the spec, not this machine's cache path
        data = json.loads(cfg_path.read_text())
        data["base_model_name_or_path"] = spec
        cfg_path.write_text(json.dumps(data, indent=2))


def save_final(model: Any, tok: Any, final: Path, spec: str, state: dict[str, Any],
               state_name: str) -> Path:
    """RUN/final (the trained model plus a small JSON state file), via final.tmp + rename."""
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_model(model, tok, tmp, spec)
    (tmp / state_name).write_text(json.dumps(state))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch CPU RNG states."""
    import numpy as np
    import torch

    return {"python": random.getstate(), "numpy": np.random.get_state(),
            "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what rng_state() returned."""
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def save_checkpoint(run_dir: Path, step: int, model: Any, tok: Any, optimizer: Any,
                    scheduler: Any, teacher: Any, spec: str, keep: int = 2) -> Path:
    """RUN/checkpoints/step-N written to step-N.tmp then renamed (a kill never leaves half)."""
    import torch

    ckpt_dir = run_dir / "checkpoints"
    final = ckpt_dir / f"step-{step}"
    tmp = ckpt_dir / f"step-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(model, tok, tmp / "model", spec)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "teacher": teacher.state_dict() if teacher is not None else None,
                "rng": rng_state()}, tmp / "trainer_state.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step, "time": time.time(),
                                                "files": _manifest(tmp)}))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    olds = sorted((p for p in ckpt_dir.glob("step-*") if p.name[5:].isdigit()),
                  key=lambda p: int(p.name[5:]))
    for p in olds[:-keep] if keep > 0 else []:
        shutil.rmtree(p, ignore_errors=True)
    return final


def load_trainer_state(ckpt: Path, optimizer: Any, scheduler: Any, teacher: Any,
                       restore_rng: bool) -> None:
    """Restore optimiser, scheduler, teacher (and the RNG streams when restore_rng)."""
    import torch

    state = torch.load(ckpt / "trainer_state.pt", weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if teacher is not None and state["teacher"] is not None:
        teacher.load_state_dict(state["teacher"])
    if restore_rng:
        set_rng_state(state["rng"])


# --- Sharded checkpoints (FSDP2, training/fsdp.py): torch.distributed.checkpoint -------------
# RUN/checkpoints/step-N/dcp/       model + optimiser + teacher shards, written by every rank
# RUN/checkpoints/step-N/rank-R.pt  that rank's scheduler and RNG streams (exact resume)
# RUN/checkpoints/step-N/state.json written last, by rank 0, after every rank has finished


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def _sharded_state(model: Any, optimizer: Any, teacher: Any) -> dict[str, Any]:
    """The DCP state of a sharded run: model, optimiser and teacher tensors (all DTensors)."""
    from torch.distributed.checkpoint.state_dict import get_state_dict

    msd, osd = get_state_dict(model, optimizer)
    state: dict[str, Any] = {"model": msd, "optim": osd}
    if teacher is not None:
        state["teacher"] = {"tensors": dict(teacher._store), "steps": teacher.steps}
    return state


def save_sharded_checkpoint(run_dir: Path, step: int, model: Any, optimizer: Any,
                            scheduler: Any, teacher: Any, keep: int = 2) -> Path:
    """RUN/checkpoints/step-N of a sharded run (every rank calls it; kill-safe: step-N.tmp
    is renamed by rank 0 only after every rank's shards are on disk)."""
    import torch
    import torch.distributed as dist
    import torch.distributed.checkpoint as dcp

    rank = dist.get_rank()
    ckpt_dir = run_dir / "checkpoints"
    final = ckpt_dir / f"step-{step}"
    tmp = ckpt_dir / f"step-{step}.tmp"
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    _barrier()
    dcp.save(_sharded_state(model, optimizer, teacher), checkpoint_id=str(tmp / "dcp"))
    torch.save({"scheduler": scheduler.state_dict(), "rng": rng_state()},
               tmp / f"rank-{rank}.pt")
    _barrier()
    if rank == 0:
        (tmp / "state.json").write_text(json.dumps({"step": step, "time": time.time(),
                                                    "sharded": True,
                                                    "world": dist.get_world_size()}))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        olds = sorted((p for p in ckpt_dir.glob("step-*") if not p.name.endswith(".tmp")),
                      key=lambda p: int(p.name.split("-")[1]))
        for p in olds[:-keep] if keep > 0 else []:
            shutil.rmtree(p, ignore_errors=True)
    _barrier()
    return final


def is_sharded_checkpoint(ckpt: Path) -> bool:
    """True for a checkpoint written by save_sharded_checkpoint."""
    return bool(json.loads((ckpt / "state.json").read_text()).get("sharded"))


def load_sharded_checkpoint(ckpt: Path, model: Any, optimizer: Any, scheduler: Any,
                            teacher: Any) -> None:
    """Restore model, optimiser, teacher shards, scheduler and this rank's RNG streams
    (same world size as the run that wrote it)."""
    import torch
    import torch.distributed as dist
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import set_state_dict

    from selfdistill.errors import UserError

    world = json.loads((ckpt / "state.json").read_text()).get("world", 1)
    if world != dist.get_world_size():
        raise UserError(f"{ckpt} was written by {world} process(es); resume it with the same "
                        f"number (this run has {dist.get_world_size()}).")
    state = _sharded_state(model, optimizer, teacher)
    dcp.load(state, checkpoint_id=str(ckpt / "dcp"))
    set_state_dict(model, optimizer, model_state_dict=state["model"],
                   optim_state_dict=state["optim"])
    if teacher is not None:
        teacher.steps = int(state["teacher"]["steps"])  # tensors were loaded in place
    mine = torch.load(ckpt / f"rank-{dist.get_rank()}.pt", weights_only=False)
    scheduler.load_state_dict(mine["scheduler"])
    set_rng_state(mine["rng"])


def export_sharded(model: Any, tok: Any, out: Path, spec: str, sd: dict[str, Any]) -> None:
    """A plain HF directory (full FT) or PEFT adapter from a sharded model (every rank calls
    it; rank 0 writes). sd: the full state dict gathered to rank 0's CPU
    (training.fsdp.full_state_dict; empty on the other ranks)."""
    import torch.distributed as dist

    if dist.get_rank() == 0:
        model.save_pretrained(str(out), state_dict=sd)
        tok.save_pretrained(str(out))
        cfg_path = out / "adapter_config.json"
        if cfg_path.is_file():
            data = json.loads(cfg_path.read_text())
            data["base_model_name_or_path"] = spec
            cfg_path.write_text(json.dumps(data, indent=2))
    _barrier()
