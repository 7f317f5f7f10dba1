"""generation/colocate.py: the weight stream a colocated engine is fed, and when it is fed."""

from __future__ import annotations

import types

import torch
from tiny import tiny_llama, tiny_lora_llama

from selfdistill.core.lora import iter_merged_weights, merged_weights
from selfdistill.generation.colocate import EngineSync, model_weights


def test_streamed_merged_weights_equal_the_merged_list_and_leave_the_model_alone() -> None:
    model = tiny_lora_llama()
    before = {n: t.clone() for n, t in model.state_dict().items()}
    with torch.no_grad():  # peft's own merge, on a copy, as the reference values
        import copy

        ref = copy.deepcopy(model)
        ref.merge_adapter()
        want = {n.removeprefix("base_model.model.").replace(".base_layer.", "."): t
                for n, t in ref.state_dict().items() if "lora_" not in n}
    stream = iter_merged_weights(model)
    assert isinstance(stream, types.GeneratorType)  # a stream, not a list
    got = dict(stream)
    assert got.keys() == want.keys() and not any("lora_" in n for n in got)
    for n in want:
        torch.testing.assert_close(got[n], want[n], rtol=1e-6, atol=1e-7)
    assert dict(merged_weights(model)).keys() == got.keys()
    for n, t in model.state_dict().items():
        assert torch.equal(t, before[n])  # bit-identical afterwards (no merge/unmerge drift)


def test_base_stream_is_the_model_without_its_adapter() -> None:
    model = tiny_lora_llama()
    base = dict(iter_merged_weights(model, merge=False))
    with model.disable_adapter():
        plain = {n.removeprefix("base_model.model.").replace(".base_layer.", "."): t
                 for n, t in model.state_dict().items() if "lora_" not in n}
    assert base.keys() == plain.keys()
    assert all(torch.equal(base[n], plain[n]) for n in base)
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(base[q], dict(iter_merged_weights(model))[q])  # the adapter moves it


def test_plain_model_streams_its_state_dict() -> None:
    model = tiny_llama(50)
    assert dict(iter_merged_weights(model)).keys() == model.state_dict().keys()


class FakeEngine:
    """Records what a VLLMGenerator would be asked to do."""

    def __init__(self, can_sleep: bool):
        self.can_sleep, self.asleep, self.calls = can_sleep, False, []

    def refresh_weights(self, pairs):
        assert not isinstance(pairs, list)  # consumed as a stream
        self.calls.append(("refresh", len(list(pairs))))

    def sleep(self, level=1):
        if self.can_sleep:
            self.asleep = True
            self.calls.append(("sleep", level))

    def wake_up(self, tags=None):
        if self.asleep:
            self.calls.append(("wake", tuple(tags or ())))
            if not tags or "kv_cache" in tags:
                self.asleep = False


def test_engine_refreshed_once_per_weight_version() -> None:
    model = tiny_llama(50)
    eng = FakeEngine(can_sleep=False)
    sync = EngineSync(eng, sleep=True)  # sleep asked for, but the engine cannot (CPU)
    sync.ready(1, model_weights(model))
    sync.ready(1, model_weights(model))  # same weights: no second push
    sync.release()  # no-op: cannot sleep
    sync.ready(2, model_weights(model))
    assert [c[0] for c in eng.calls] == ["refresh", "refresh"] and sync.refreshes == 2


def test_sleeping_engine_wakes_weights_first_then_cache() -> None:
    model = tiny_llama(50)
    eng = FakeEngine(can_sleep=True)
    sync = EngineSync(eng, sleep=True)
    sync.ready(1, model_weights(model))
    sync.release()
    sync.ready(1, model_weights(model))  # level-2 sleep dropped the weights: pushed again
    assert [c[0] for c in eng.calls] == ["refresh", "sleep", "wake", "refresh", "wake"]
    assert eng.calls[2] == ("wake", ("weights",)) and eng.calls[4] == ("wake", ("kv_cache",))


def test_hf_backend_needs_no_sync() -> None:
    gen = object()  # an HFGenerator has no refresh_weights: it samples the live model
    sync = EngineSync(gen, sleep=True)
    sync.ready(1, lambda: (_ for _ in ()).throw(AssertionError("must not be called")))
    sync.release()


def test_sharded_model_streams_whole_merged_weights_one_at_a_time(monkeypatch) -> None:
    """An FSDP2-sharded LoRA model (1-rank group, bf16 compute) feeds the engine the plain
    model's merged weights, each tensor whole; nothing is gathered ahead of the consumer
    (per weight at most itself + the adapter's A and B)."""
    import copy

    from torch.distributed.tensor import DTensor

    from selfdistill.training import fsdp

    plain = tiny_lora_llama()
    sharded = fsdp.shard_model(copy.deepcopy(plain), "bfloat16")
    want = dict(iter_merged_weights(plain))
    gathers = [0]
    full_tensor = DTensor.full_tensor

    def counted(self, *a, **k):
        gathers[0] += 1
        return full_tensor(self, *a, **k)

    monkeypatch.setattr(DTensor, "full_tensor", counted)
    seen: dict[str, torch.Tensor] = {}

    class Recorder(FakeEngine):
        def refresh_weights(self, pairs):
            assert not isinstance(pairs, list)
            for n, t in pairs:
                assert gathers[0] <= 3, n  # this weight (+ A and B), nothing more
                gathers[0] = 0
                assert not isinstance(t, DTensor) and t.dtype == torch.float32
                seen[n] = t.clone()

    sync = EngineSync(Recorder(can_sleep=False))
    sync.ready(1, model_weights(sharded))
    assert seen.keys() == want.keys() and sync.refreshes == 1
    for n in want:
        torch.testing.assert_close(seen[n], want[n], rtol=0, atol=0, msg=n)
    base = dict(iter_merged_weights(sharded, merge=False))
    assert all(torch.equal(base[n], t) for n, t in iter_merged_weights(plain, merge=False))
