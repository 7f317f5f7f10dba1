"""Same seed, same samples: at any worker count, batch size, chunking or resume point.

Each sample draws from its own stream (stages.sample_seed of the seed, problem id and
sample index), never from the call it happens to be sampled in.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from selfdistill.core.records import read_jsonl
from selfdistill.evaluation.parallel import SampleJob, presample
from selfdistill.evaluation.stages import sample_seed, sample_stage
from selfdistill.generation import SamplingParams
from selfdistill.problems.registry import load_source


def _texts(rows) -> dict[tuple[str, int], str]:
    return {(r["problem_id"], r["sample_idx"]): r["text"] for r in rows}


def test_sample_seed_depends_only_on_seed_problem_and_index():
    assert sample_seed(0, "p", 1) == sample_seed(0, "p", 1)
    assert len({sample_seed(0, "p", 0), sample_seed(0, "p", 1), sample_seed(1, "p", 0),
                sample_seed(0, "q", 0)}) == 4


def test_hf_rows_with_their_own_seeds_ignore_their_neighbours(tiny_model_dir):
    from selfdistill.core.models import load_model
    from selfdistill.generation.hf import HFGenerator

    model, tok = load_model(str(tiny_model_dir))
    chats = [[{"role": "user", "content": f"write f{i}" + " x" * i}] for i in range(5)]
    params = SamplingParams(temperature=1.0, max_new_tokens=8, seed=None,
                            seeds=[11, 12, 13, 14, 15])
    all5 = HFGenerator(model, tok, batch_size=5, progress=False).generate(chats, params)
    order = [3, 0, 4]
    some = HFGenerator(model, tok, batch_size=2, progress=False).generate(
        [chats[i] for i in order],
        SamplingParams(temperature=1.0, max_new_tokens=8, seeds=[11 + i for i in order]))
    assert [c[0].token_ids for c in some] == [all5[i][0].token_ids for i in order]
    with pytest.raises(ValueError, match="seeds"):
        HFGenerator(model, tok, progress=False).generate(chats[:2], params)


def test_a_rows_logprobs_are_bitwise_the_same_in_any_batch(tiny_model_dir):
    """Not just the same tokens: the same bits in every logprob, whatever the rows beside it
    (batch size, order, refills, a single row). What broke it in bf16: prefills of several
    prompts padded to one width (SDPA's blocks shift with the padding); each prompt is now
    prefilled on its own (HFGenerator prefill_chunk=1, the default)."""
    from selfdistill.core.models import load_model
    from selfdistill.generation.hf import HFGenerator

    model, tok = load_model(str(tiny_model_dir), dtype="bfloat16")
    chats = [[{"role": "user", "content": f"Write function {i} that" + " does it" * (i * 5 % 11)}]
             for i in range(12)]

    def run(bs: int, order: list[int]) -> dict[int, tuple]:
        # n = 2: a prompt's two rows share an attention chunk unless decoded apart (batch 1)
        params = SamplingParams(temperature=1.0, max_new_tokens=24, return_logprobs=True,
                                n=2, seeds=[100 + i for i in order])
        out = HFGenerator(model, tok, batch_size=bs, progress=False).generate(
            [chats[i] for i in order], params)
        return {i: [(x.token_ids, x.logprobs) for x in c] for i, c in zip(order, out, strict=True)}

    base = run(8, list(range(12)))
    for bs, order in [(3, list(range(12))), (8, list(range(12))[::-1]), (1, list(range(12))),
                      (2, [5, 1, 7, 11, 2])]:
        got = run(bs, order)
        assert [i for i in got if got[i] != base[i]] == [], (bs, order)


def test_a_row_decoded_alone_matches_the_same_row_in_a_batch(tok):
    """bf16 on CPU: a one-row matmul (a GEMV) rounds otherwise than the same row among others
    (measured on SmolLM2's down_proj, 1536 -> 576); a batch's last live row must not change."""
    import torch
    from tiny import tiny_llama

    from selfdistill.generation.hf import HFGenerator

    model = tiny_llama(len(tok), 3, hidden_size=256, intermediate_size=2048,
                       num_hidden_layers=1).to(torch.bfloat16).eval()
    chats = [[{"role": "user", "content": f"Write function {i}" + " now" * i}] for i in range(6)]
    params = SamplingParams(temperature=1.0, max_new_tokens=24, return_logprobs=True,
                            seeds=list(range(6)))
    together = HFGenerator(model, tok, batch_size=6, progress=False).generate(chats, params)
    alone = HFGenerator(model, tok, batch_size=1, progress=False).generate(chats, params)
    assert [c[0].logprobs for c in alone] == [c[0].logprobs for c in together]


def test_worker_count_batch_size_and_resume_do_not_change_samples(tiny_model_dir, tmp_path):
    from selfdistill.core.models import load_model
    from selfdistill.generation.hf import HFGenerator

    problems = load_source("builtin:dev")[:5]
    params = SamplingParams(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=6, n=3, seed=5)
    model, tok = load_model(str(tiny_model_dir))
    runs = {}
    for bs, chunk in [(4, 16), (2, 3), (8, 1)]:
        gen = HFGenerator(model, tok, batch_size=bs, progress=False)
        runs[(bs, chunk)] = _texts(sample_stage(gen, problems, params,
                                                tmp_path / f"{bs}-{chunk}.jsonl",
                                                chunk_size=chunk))
    # resumed: half the rows already on disk from one run, the rest sampled in another
    half = tmp_path / "resumed.jsonl"
    gen = HFGenerator(model, tok, batch_size=3, progress=False)
    sample_stage(gen, problems[:2], params, half, chunk_size=5)
    runs["resumed"] = _texts(sample_stage(gen, problems, params, half, chunk_size=2))
    job = SampleJob(spec=str(tiny_model_dir), dtype="float32", problems=problems, params=params,
                    out_path=tmp_path / "par" / "samples.jsonl", batch_size=4, chunk_size=4)
    presample([job], workers=2)
    runs["2 workers"] = _texts(read_jsonl(job.out_path))
    first = runs[(4, 16)]
    assert len(first) == 15 and len(set(first.values())) > 1
    for key, texts in runs.items():
        assert texts == first, key


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_evaluate_gives_the_same_samples_and_verdicts_at_any_workers_and_batch(tmp_path, dtype):
    """`evaluate` on the embedded model at T > 0: 1 vs 2 workers, batch 8 vs 3 (bf16: the
    demo's sampling dtype where the CPU has native bf16)."""
    from selfdistill.core.models import native_bf16
    from selfdistill.evaluation.config import EvalConfig
    from selfdistill.recipes.evaluate.run import run_evaluate

    if dtype == "bfloat16" and not native_bf16():
        pytest.skip("no native bf16 here: the demo samples in fp32")

    def run(workers: int, batch: int) -> tuple[dict, dict]:
        cfg = EvalConfig(benchmark="humaneval", limit=4, temperatures=[0.8], n=3,
                         max_new_tokens=48, batch_size=batch, workers=workers)
        d = tmp_path / f"w{workers}-b{batch}"
        run_evaluate("smollm2-135m-instruct", cfg, d, dtype=dtype)
        tdir = Path(d) / "model" / "T0.80"
        verdicts = {(v["problem_id"], v["sample_idx"]): (v["passed"], v["status"])
                    for v in read_jsonl(tdir / "verdicts.jsonl")}
        return _texts(read_jsonl(tdir / "samples.jsonl")), verdicts

    base = run(1, 8)
    assert len(base[0]) == 12
    for workers, batch in [(2, 8), (1, 3), (2, 3)]:
        assert run(workers, batch) == base, (workers, batch)


def test_vllm_requests_take_their_seed_from_params_seeds(monkeypatch):
    """vLLM: one request per prompt, seeded from its own seed, whatever its position."""
    from types import SimpleNamespace

    from selfdistill.generation import vllm_backend
    from selfdistill.generation.sampling import sequence_seed

    monkeypatch.setattr(vllm_backend, "to_vllm_params", lambda p, seed, m: seed)
    gen = vllm_backend.VLLMGenerator.__new__(vllm_backend.VLLMGenerator)
    seen: list = []

    def fake_generate(reqs, sps, use_tqdm):
        seen.append(list(sps))
        return [SimpleNamespace(outputs=[]) for _ in reqs]

    gen.llm, gen.max_logprobs, gen.progress = SimpleNamespace(generate=fake_generate), 8, False
    params = SamplingParams(temperature=1.0, seeds=[5, 6, 7])
    gen.generate_from_ids([[1], [2], [3]], params)
    gen.generate_from_ids([[3], [1]], SamplingParams(temperature=1.0, seeds=[7, 5]))
    assert seen[0] == [sequence_seed(s, 0, 0) for s in (5, 6, 7)]
    assert seen[1] == [seen[0][2], seen[0][0]]
