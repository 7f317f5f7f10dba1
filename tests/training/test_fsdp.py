"""The FSDP2 training engine (training/fsdp.py): 2 gloo ranks equal one process; bf16 compute
moves fp32 master weights as the fp32 step does; layer-by-layer full-parameter streaming;
`selfdistill sdpo train` under torchrun (2 processes) end to end, and a kill -9 of one rank
resumed from the sharded checkpoint bit-for-bit.

The 2-process tests spawn two gloo ranks on one tiny Llama (each rank holds one of the two
rollout groups) and compare with the single-process step on both groups.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "distill"))
import tiny  # noqa: E402
from test_step import groups, tiny_llama  # noqa: E402

from selfdistill.core.lora import iter_merged_weights  # noqa: E402
from selfdistill.core.records import read_jsonl  # noqa: E402
from selfdistill.distill.objective import SDPOLossConfig, accumulate_gradients  # noqa: E402
from selfdistill.distill.step import sdpo_step  # noqa: E402
from selfdistill.distill.teacher_context import build_teacher_batch  # noqa: E402
from selfdistill.distill.teacher_weights import Teacher  # noqa: E402
from selfdistill.training import fsdp  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def _model(tok, method: str):
    m = tiny_llama(tok)
    if method == "lora":
        return tiny.with_lora(m)
    for p in m.parameters():
        p.requires_grad_(True)
    return m


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _grads_and_step(model, tok, gs, chats, cfg):
    """(loss, full gradients) of one accumulate on gs, then the weights after one sdpo_step."""
    teacher = Teacher(model, "ema", rate=0.1)
    with fsdp.layerwise(model), teacher.gathered(fsdp.compute_dtype_of(model)):
        acc = accumulate_gradients(model, teacher, gs, tok, cfg, chats)
    g = {n: fsdp.full_tensor(p.grad).clone() for n, p in model.named_parameters()
         if p.grad is not None}
    for p in model.parameters():
        p.grad = None
    # A large eps keeps Adam's first step continuous in tiny gradients (g / (|g| + eps)):
    # summation order across ranks must not flip the sign of a ~0 gradient's full lr step.
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3,
                            eps=1e-3)
    tb = build_teacher_batch(gs)
    m = sdpo_step(model, teacher, opt, gs, tok, cfg, teacher_batch=tb)
    w = dict(fsdp.iter_full_parameters(model))
    return acc["loss"], g, {n: t.clone() for n, t in w.items()}, m.loss


# One sample per micro-batch: rank 0 (group 1) has two with a teacher context, rank 1
# (group 2) one, so rank 1 pads with a zero-loss pass to stay in step.
UNEVEN = SDPOLossConfig(support_size=5, micro_batch_size=1)


def _worker(rank: int, world: int, port: int, tok_dir: str, method: str, out: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    try:
        tok = AutoTokenizer.from_pretrained(tok_dir)
        model = fsdp.shard_model(_model(tok, method), "float32")
        gs = groups(tok)
        chats = build_teacher_batch(gs).chats
        flat = [len(g.rollouts) for g in gs]
        lo = sum(flat[:rank])
        loss, g, w, step_loss = _grads_and_step(model, tok, [gs[rank]],
                                                chats[lo:lo + flat[rank]], UNEVEN)
        # What a colocated vLLM engine is fed: streamed from the shards, LoRA merged in.
        engine = {n: t.clone() for n, t in iter_merged_weights(model)}
        all_loss = [None] * world
        dist.all_gather_object(all_loss, (loss, step_loss))
        if rank == 0:
            torch.save({"loss": sum(x[0] for x in all_loss), "engine": engine,
                        "step_loss": all_loss[0][1], "grads": g, "weights": w},
                       f"{out}/rank0.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("method", ["full", "lora"])
def test_two_gloo_ranks_equal_one_process(tok, tiny_model_dir, tmp_path, method):
    """Loss, every gradient, the weights after a step and the weights a colocated engine is
    fed (streamed from the shards, LoRA merged): 2 FSDP2 ranks (per-layer gathering, ranks
    padded to the same passes) == 1 plain process."""
    import torch.multiprocessing as mp

    mp.spawn(_worker, args=(2, _free_port(), str(tiny_model_dir), method, str(tmp_path)),
             nprocs=2)
    got = torch.load(tmp_path / "rank0.pt")
    ref_model = _model(tok, method)
    gs = groups(tok)
    loss, g, w, step_loss = _grads_and_step(ref_model, tok, gs, build_teacher_batch(gs).chats,
                                            UNEVEN)
    assert got["loss"] == pytest.approx(loss, rel=1e-5, abs=1e-7)
    assert got["step_loss"] == pytest.approx(step_loss, rel=1e-5, abs=1e-7)
    assert set(got["grads"]) == set(g) and len(g) > 0
    for n in g:
        torch.testing.assert_close(got["grads"][n], g[n], atol=1e-6, rtol=1e-4, msg=n)
    for n in w:
        torch.testing.assert_close(got["weights"][n], w[n], atol=1e-6, rtol=1e-5, msg=n)
    engine = dict(iter_merged_weights(ref_model))
    assert got["engine"].keys() == engine.keys()
    for n in engine:
        torch.testing.assert_close(got["engine"][n], engine[n], atol=1e-6, rtol=1e-5, msg=n)


def _one_step(tok, compute_dtype: str = "float32", weights_dtype=torch.float32, lr=1e-6):
    """Full fine-tuning, one SDPO step on the fixed batch: (weights before, after) in fp32."""
    model = _model(tok, "full").to(weights_dtype)
    before = {n: p.detach().float().clone() for n, p in model.named_parameters()}
    if compute_dtype != "float32":
        fsdp.shard_model(model, compute_dtype)
    teacher = Teacher(model, "ema", rate=0.05)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr,
                            weight_decay=0.0)
    gs = groups(tok)
    m = sdpo_step(model, teacher, opt, gs, tok, SDPOLossConfig(support_size=5),
                  teacher_batch=build_teacher_batch(gs))
    after = {n: t.float().clone() for n, t in fsdp.iter_full_parameters(model)}
    return before, after, m


def _update(before, after):
    return torch.cat([(after[n] - before[n]).flatten() for n in sorted(before)])


def test_bf16_compute_moves_fp32_master_weights_like_the_fp32_step(tok):
    """lr 1e-6: bf16 compute + fp32 masters moves the weights by the fp32 step's update
    (its size within 1%, its direction within the bf16 gradient's noise); pure bf16
    weights lose most of it to rounding.

    (Adam's first step is lr * g / (|g| + eps), about lr * sign(g): a gradient near 0
    whose sign bf16 compute flips moves its weight by -lr instead of +lr, so the
    per-element difference reflects the gradient's precision, not the weights'.)
    """
    ref = _update(*_one_step(tok)[:2])
    assert ref.norm() > 0
    b, a, m = _one_step(tok, "bfloat16")
    assert all(t.dtype == torch.float32 for t in a.values())  # the masters stay fp32
    got = _update(b, a)
    assert m.loss > 0 and m.skipped_updates == 0
    assert abs(got.norm() / ref.norm() - 1) <= 0.01
    cos = float(torch.nn.functional.cosine_similarity(got, ref, dim=0))
    pure = _update(*_one_step(tok, weights_dtype=torch.bfloat16)[:2])
    print(f"bf16 compute: |update| ratio {float(got.norm() / ref.norm()):.4f}, cos {cos:.4f};"
          f" pure bf16: ratio {float(pure.norm() / ref.norm()):.4f}")
    assert cos >= 0.97
    assert pure.norm() < 0.5 * ref.norm()


def test_sharded_fp32_step_equals_the_plain_step(tok):
    """One process through FSDP2 in fp32 == the plain model (same loss, same new weights)."""
    b, a, m = _one_step(tok, lr=1e-3)
    model = _model(tok, "full")
    fsdp.shard_model(model, "float32")
    teacher = Teacher(model, "ema", rate=0.05)
    opt = torch.optim.AdamW(list(model.parameters()), lr=1e-3, weight_decay=0.0)
    gs = groups(tok)
    m2 = sdpo_step(model, teacher, opt, gs, tok, SDPOLossConfig(support_size=5),
                   teacher_batch=build_teacher_batch(gs))
    assert m2.loss == pytest.approx(m.loss, rel=1e-6)
    assert m2.grad_norm == pytest.approx(m.grad_norm, rel=1e-5)
    for n, t in fsdp.iter_full_parameters(model):
        torch.testing.assert_close(t, a[n], atol=1e-6, rtol=1e-5, msg=n)


@pytest.mark.parametrize("ctx", ["gathered", "layerwise"])
def test_activation_checkpointing_under_fsdp_gives_the_same_gradients(tok, ctx):
    """optim.gradient_checkpointing inside the FSDP units: same loss and gradients (the
    shared-prefix KV cache is off then: checkpointing disables the cache in training);
    under per-layer gathering the recomputation re-gathers its layer."""
    out = []
    for ckpt in (False, True):
        model = _model(tok, "lora")
        if ckpt:
            model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False})
        fsdp.shard_model(model, "float32")
        model.train()
        teacher = Teacher(model, "frozen")
        gs = groups(tok)
        with getattr(fsdp, ctx)(model), teacher.gathered(torch.float32):
            acc = accumulate_gradients(model, teacher, gs, tok, SDPOLossConfig(support_size=5),
                                       build_teacher_batch(gs).chats)
            fsdp.sync_gradients(model)
        out.append((acc["loss"], {n: fsdp.full_tensor(p.grad) for n, p in
                                  model.named_parameters() if p.grad is not None}))
    (la, ga), (lb, gb) = out
    assert lb == pytest.approx(la, rel=1e-5) and ga.keys() == gb.keys()
    for n in ga:
        torch.testing.assert_close(gb[n], ga[n], atol=1e-6, rtol=1e-4, msg=n)


def _gathered_layers_seen(model, ctx) -> tuple[int, int]:
    """(most, fewest) decoder layers held gathered while any layer computes, forward and
    backward, during one accumulate inside ctx."""
    from torch.distributed.tensor import DTensor

    layers = fsdp.decoder_layers(model)
    seen: list[int] = []

    def count(*_):
        seen.append(sum(not isinstance(la.mlp.down_proj.weight, DTensor) for la in layers))

    def fwd(_m, _i, out):
        count()
        if out.requires_grad:
            out.register_hook(count)  # runs inside the layer's backward

    hooks = [la.mlp.down_proj.register_forward_hook(fwd) for la in layers]
    teacher = Teacher(model, "ema", rate=0.1)
    gs = groups(tok_of(model))
    try:
        with ctx(model), teacher.gathered(fsdp.compute_dtype_of(model)):
            accumulate_gradients(model, teacher, gs, tok_of(model), UNEVEN,
                                 build_teacher_batch(gs).chats)
            fsdp.sync_gradients(model)
    finally:
        for h in hooks:
            h.remove()
    return max(seen), min(seen)


def test_an_update_gathers_at_most_two_decoder_layers_at_a_time(tok):
    """fsdp.layerwise: a layer's compute copy exists only while it runs (+ FSDP2's backward
    prefetch of the next one); fsdp.gathered, the sampling path, holds all four."""
    def four_layers():
        m = tiny.tiny_llama(len(tok), 0, num_hidden_layers=4, max_position_embeddings=512,
                            initializer_range=0.3, tie_word_embeddings=True,
                            eos_token_id=tok.eos_token_id)
        m._tok = tok
        return fsdp.shard_model(m, "bfloat16")

    most, fewest = _gathered_layers_seen(four_layers(), fsdp.layerwise)
    assert fewest >= 1 and most <= 2
    assert _gathered_layers_seen(four_layers(), fsdp.gathered)[0] == 4


def tok_of(model):
    return model._tok


def test_prepare_model_refuses_low_precision_masters(tok):
    from types import SimpleNamespace

    from selfdistill.errors import UserError

    with pytest.raises(UserError, match="model.dtype: float32"):
        fsdp.prepare_model(_model(tok, "full").to(torch.bfloat16),
                           SimpleNamespace(compute_dtype="bfloat16"))
    with pytest.raises(UserError, match="compute_dtype"):
        fsdp.prepare_model(_model(tok, "full"), SimpleNamespace(compute_dtype="float16"))


def test_machine_rates_are_measured_once_and_printed(monkeypatch):
    from selfdistill.core import machine

    monkeypatch.setattr(machine, "MEASURE_SECONDS", 0.05)
    machine.machine_rates.cache_clear()
    r = machine.machine_rates()
    assert machine.machine_rates() is r  # cached
    assert r.fp32_gflops > 0 and r.bf16_gflops > 0 and r.limit("bfloat16") == r.bf16_gflops
    assert r.avx512_bf16 == ("avx512_bf16" in machine.cpu_flags())
    assert "matmul limit fp32" in machine.machine_line()


def test_non_finite_gradient_skips_the_step_and_the_teacher(tok):
    model = _model(tok, "lora")
    teacher = Teacher(model, "ema", rate=0.5)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    gs = groups(tok)
    m = sdpo_step(model, teacher, opt, gs, tok, SDPOLossConfig(support_size=5),
                  teacher_batch=build_teacher_batch(gs),
                  backward=lambda loss: (loss * float("nan")).backward())
    assert m.skipped_updates == 1 and teacher.steps == 0
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n
    m = sdpo_step(model, teacher, opt, gs, tok, SDPOLossConfig(support_size=5),
                  teacher_batch=build_teacher_batch(gs))
    assert m.skipped_updates == 0 and teacher.steps == 1


def test_iter_full_parameters_streams_one_unit_at_a_time(tok):
    """Every parameter comes back whole and equal to the unsharded model's, layers first."""
    plain = _model(tok, "lora")
    model = fsdp.shard_model(_model(tok, "lora"), "float32")
    names = []
    for n, t in fsdp.iter_full_parameters(model):
        assert not hasattr(t, "full_tensor")
        torch.testing.assert_close(t, plain.get_parameter(n), atol=0, rtol=0)
        names.append(n)
    assert sorted(names) == sorted(n for n, _ in plain.named_parameters())
    assert "layers.0." in names[0] and "embed_tokens" in " ".join(names[-3:])


# ---------------------------------------------------------- through the CLI, torchrun x 2

REPO = Path(__file__).resolve().parents[2]


def torchrun(args: list[str], env: dict[str, str] | None = None, timeout: int = 900
             ) -> subprocess.CompletedProcess:
    """`torchrun --nproc-per-node 2 -m selfdistill.cli ARGS` (how users launch N processes)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
           "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
           "-m", "selfdistill.cli", *args]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
                "PYTHONPATH": str(REPO / "src"), **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env)


SMALL = ["data.source=builtin:train?difficulty=easy", "data.prompts_per_step=2",
         "rollout.n=2", "rollout.max_new_tokens=24", "rollout.timeout_s=2",
         "loss.micro_batch_size=2", "credit.enabled=false"]


@pytest.mark.slow
def test_three_sdpo_steps_on_the_embedded_model_with_two_processes(tmp_path):
    run = tmp_path / "run"
    res = torchrun(["sdpo", "train", str(REPO / "recipes" / "sdpo_cpu.yaml"),
                    f"run_dir={run}", "steps=3", "save_every=1", *SMALL])
    assert res.returncode == 0, res.stderr[-4000:]
    rows = [r for r in read_jsonl(run / "metrics.jsonl") if r["kind"] == "train"]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(r["samples"] == 4 and r["groups"] == 2 for r in rows)  # both ranks counted
    recs = read_jsonl(run / "rollouts.jsonl")
    assert {r["rank"] for r in recs} == {0, 1} and len(recs) == 12
    ckpt = run / "checkpoints" / "step-3"
    assert (ckpt / "dcp" / ".metadata").is_file()
    assert {p.name for p in ckpt.glob("rank-*.pt")} == {"rank-0.pt", "rank-1.pt"}
    assert (run / "final" / "adapter_config.json").is_file()  # a plain PEFT adapter
    from selfdistill.core.models import load_model

    model, _ = load_model(str(run / "final"))
    assert hasattr(model, "peft_config")


def _tiny_args(run: Path, tiny_model_dir: Path, steps: int) -> list[str]:
    return ["sdpo", "train", str(REPO / "recipes" / "sdpo_cpu.yaml"), f"run_dir={run}",
            f"model.spec={tiny_model_dir}", f"steps={steps}", "save_every=1",
            "keep_checkpoints=1", "optim.method=full", "optim.lr=1e-3",
            "rollout.max_new_tokens=12", "loss.top_k=5", *SMALL]


def _records(run: Path) -> tuple[list, list]:
    rows = [{k: v for k, v in r.items() if "seconds" not in k and k != "time"}
            for r in read_jsonl(run / "metrics.jsonl")]
    return rows, read_jsonl(run / "rollouts.jsonl")


@pytest.mark.slow
def test_kill_one_rank_and_resume_equals_an_uninterrupted_run(tmp_path, tiny_model_dir):
    """kill -9 of rank 1 as step 3 begins; the rerun resumes from step 2's sharded
    checkpoint: the same records and final weights as an uninterrupted run."""
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    res = torchrun(_tiny_args(whole, tiny_model_dir, 4))
    assert res.returncode == 0, res.stderr[-4000:]
    res = torchrun(_tiny_args(cut, tiny_model_dir, 4), env={"SELFDISTILL_KILL_AT": "3:1"},
                   timeout=300)
    assert res.returncode != 0
    assert [p.name for p in (cut / "checkpoints").glob("step-*")] == ["step-2"]
    assert not (cut / "final").exists()
    res = torchrun(_tiny_args(cut, tiny_model_dir, 4))
    assert res.returncode == 0, res.stderr[-4000:]
    assert "resuming SDPO" in res.stdout + res.stderr
    assert _records(cut) == _records(whole)
    from safetensors.torch import load_file

    a = load_file(whole / "final" / "model.safetensors")
    b = load_file(cut / "final" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
