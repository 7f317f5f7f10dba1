"""The SDPO training recipe: config, data order, checkpoints/resume, and 1- and 2-process runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import selfdistill.recipes.sdpo as sdpo_recipe  # registers the "sdpo" recipe
from selfdistill.core.config import load_config
from selfdistill.core.records import read_jsonl
from selfdistill.errors import UserError

REPO = Path(__file__).resolve().parents[2]
SDPO_RECIPES = sorted((REPO / "recipes").glob("sdpo_*.yaml"))

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@pytest.mark.parametrize("path", SDPO_RECIPES, ids=lambda p: p.name)
def test_shipped_sdpo_recipes_load_and_validate(path):
    name, cfg = load_config(path)
    assert name == "sdpo" and isinstance(cfg, sdpo_recipe.SDPOConfig)
    sdpo_recipe.validate(cfg)


def test_gpu_recipe_has_the_paper_settings():
    _, cfg = load_config(REPO / "recipes" / "sdpo_qwen3_8b_lcb_v6.yaml")
    assert (cfg.rollout.n, cfg.optim.lr, cfg.loss.support_size, cfg.loss.divergence) == (
        8, 1e-6, 20, "reverse_kl")
    assert (cfg.teacher.kind, cfg.teacher.rate, cfg.rollout.temperature) == ("ema", 0.01, 1.0)
    assert cfg.rollout.backend == "vllm" and cfg.loss.algorithm == "sdpo"
    # How the reference trains (lasgroup/SDPO run_sdpo.sh / baseline_grpo.yaml / user.yaml):
    assert (cfg.loss.ppo_mini_batch_size, cfg.loss.ppo_epochs, cfg.loss.is_clip,
            cfg.loss.rollout_is_threshold, cfg.loss.reduction) == (
        1, 1, 2.0, 2.0, "seq_mean_token_mean")
    assert cfg.model.chat_template_kwargs == {"enable_thinking": False}
    assert (cfg.feedback.style, cfg.feedback.max_tests, cfg.feedback.max_chars) == (
        "reference", 2, 2000)
    _, grpo = load_config(REPO / "recipes" / "sdpo_qwen3_8b_lcb_v6_grpo.yaml")
    assert (grpo.loss.algorithm, grpo.loss.ppo_mini_batch_size, grpo.loss.clip_ratio_low,
            grpo.loss.clip_ratio_high, grpo.loss.grpo_scale_by_std) == ("grpo", 8, 0.2, 0.28, False)


def test_resolved_gpu_config_names_the_source_of_each_reference_value(capsys):
    from typer.testing import CliRunner

    from selfdistill.cli.main import app

    out = CliRunner().invoke(app, ["config", str(REPO / "recipes" / "sdpo_qwen3_8b_lcb_v6.yaml")])
    assert out.exit_code == 0, out.output
    lines = {ln.split(":")[0].strip(): ln for ln in out.output.splitlines() if ":" in ln}
    for key in ("ppo_mini_batch_size", "is_clip", "rollout_is_threshold", "reduction",
                "support_size", "rate", "lr", "n", "chat_template_kwargs", "max_tests"):
        assert "# ref " in lines[key], lines[key]


def test_overrides_and_validation():
    _, cfg = load_config(REPO / "recipes" / "sdpo_cpu.yaml",
                         ["loss.algorithm=hybrid", "loss.lam=0.5", "rollout.n=2",
                          "teacher.kind=frozen", "loss.is_clip=null"])
    assert cfg.loss.algorithm == "hybrid" and cfg.loss.lam == 0.5 and cfg.loss.is_clip is None
    sdpo_recipe.validate(cfg)
    for bad in (["teacher.kind=nope"], ["optim.method=qlora"], ["rollout.backend=x"]):
        _, cfg = load_config(REPO / "recipes" / "sdpo_cpu.yaml", bad)
        with pytest.raises(UserError):
            sdpo_recipe.validate(cfg)
    with pytest.raises(ValueError):  # SDPOLossConfig checks its own algorithm
        load_config(REPO / "recipes" / "sdpo_cpu.yaml", ["loss.algorithm=ppo"])


def test_step_prompt_indices_cover_each_epoch_once():
    n, per = 10, 4
    seen = [i for step in range(5) for i in
            sdpo_recipe.step_prompt_indices(n, step, per, seed=3)]
    assert sorted(seen[:10]) == list(range(10)) and sorted(seen[10:20]) == list(range(10))
    assert sdpo_recipe.step_prompt_indices(n, 0, per, 3) == seen[:4]  # deterministic
    assert sdpo_recipe.step_prompt_indices(n, 0, per, 3, shuffle=False) == [0, 1, 2, 3]


def tiny_config(tiny_model_dir: Path, steps: int, extra: list[str] | None = None):
    _, cfg = load_config(REPO / "recipes" / "sdpo_cpu.yaml", [
        f"model.spec={tiny_model_dir}", f"steps={steps}", "save_every=1",
        "data.source=builtin:train?difficulty=easy", "data.prompts_per_step=2",
        "rollout.n=2", "rollout.max_new_tokens=12", "rollout.timeout_s=2",
        "optim.lora_r=4", "optim.lora_targets=q_proj,v_proj", "optim.lr=1e-3",
        "loss.top_k=5", *(extra or [])])
    return cfg


@pytest.mark.slow
def test_train_checkpoint_resume_and_final_model(tiny_model_dir, tmp_path):
    from selfdistill.core.models import load_model

    run = tmp_path / "run"
    evals = ["eval_every=2", "eval.limit=2", "eval.max_new_tokens=8", "eval.batch_size=2"]
    final = sdpo_recipe.run_sdpo_train(tiny_config(tiny_model_dir, 2, evals), run)
    rows = [r for r in read_jsonl(run / "metrics.jsonl") if r["kind"] == "train"]
    assert [r["step"] for r in rows] == [1, 2]
    ev = [r for r in read_jsonl(run / "metrics.jsonl") if r["kind"] == "eval"]
    assert [r["step"] for r in ev] == [0, 2] and "pass@1_T0" in ev[0]  # before + every 2
    assert (run / "eval" / "step-2" / "T0.00" / "verdicts.jsonl").is_file()
    for key in ("reward_mean", "pass_rate", "loss", "advantage_mean", "teacher_student_kl",
                "entropy", "response_length_mean", "with_solution", "feedback_only",
                "no_context", "seconds_generate", "seconds_grade"):
        assert key in rows[0], key
    recs = read_jsonl(run / "rollouts.jsonl")
    assert len(recs) == 2 * 2 * 2
    assert {r["teacher_context"] for r in recs} <= {"solution", "feedback", "none"}
    assert all(r["feedback"] for r in recs if not r["passed"])  # judge feedback on failures
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-1", "step-2"]
    assert (run / "tb").is_dir() and any((run / "tb").iterdir())
    model, _ = load_model(str(final))
    assert hasattr(model, "peft_config")  # a LoRA adapter on the tiny base

    # Resume: a longer run continues from step 2 and only adds step 3.
    sdpo_recipe.run_sdpo_train(tiny_config(tiny_model_dir, 3), run)
    rows = [r for r in read_jsonl(run / "metrics.jsonl") if r["kind"] == "train"]
    assert [r["step"] for r in rows] == [1, 2, 3]
    state = json.loads((run / "checkpoints" / "step-3" / "state.json").read_text())
    assert state["step"] == 3
    assert not (run / "checkpoints" / "step-1").exists()  # keep_checkpoints=2


@pytest.mark.slow
def test_two_process_accelerate_run(tiny_model_dir, tmp_path):
    """accelerate launch --multi_gpu --num_processes 2 on CPU (torchrun + gloo).

    (`accelerate launch --cpu --num_processes 2` starts ONE process without an MPI
    hostfile; --multi_gpu goes through torch.distributed.run, and Accelerator falls back
    to gloo on CPU.)
    """
    script = tmp_path / "drive.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO / "tests" / "recipes")!r})
        import selfdistill.recipes.sdpo as r
        from test_sdpo import tiny_config
        from pathlib import Path
        cfg = tiny_config(Path({str(tiny_model_dir)!r}), 2)
        r.run_sdpo_train(cfg, {str(tmp_path / "run")!r})
    """))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
           "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "--main_process_port", "29517", str(script)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    rows = [r for r in read_jsonl(tmp_path / "run" / "metrics.jsonl") if r["kind"] == "train"]
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[0]["samples"] == 4 and rows[0]["groups"] == 2  # both ranks' shards counted
    recs = read_jsonl(tmp_path / "run" / "rollouts.jsonl")
    assert {r["rank"] for r in recs} == {0, 1} and len(recs) == 8
    assert (tmp_path / "run" / "final" / "adapter_config.json").is_file()
