"""Config loading, overrides and validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from selfdistill.core.config import RECIPES, dump_yaml, load_config, parse_override
from selfdistill.errors import UserError
from selfdistill.recipes.ssd.config import SSDConfig

REPO = Path(__file__).resolve().parents[2]
RECIPE_FILES = sorted((REPO / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", RECIPE_FILES, ids=lambda p: p.name)
def test_every_shipped_recipe_resolves(path: Path) -> None:
    name, cfg = load_config(path)
    assert isinstance(cfg, RECIPES[name])
    # the dump is itself a valid recipe that resolves to the same config
    again = yaml.safe_load(dump_yaml(cfg, name))
    assert again["recipe"] == name


def test_overrides_apply_with_types(tmp_path: Path) -> None:
    _, cfg = load_config(REPO / "recipes" / "ssd_cpu.yaml",
                         ["train.lr=3e-5", "sample.top_k=7", "eval.temperatures=0.2,0.4",
                          "eval.limit=null", "model.spec=my/model", "train.method=lora"])
    assert isinstance(cfg, SSDConfig)
    assert cfg.train.lr == pytest.approx(3e-5)
    assert cfg.sample.top_k == 7
    assert cfg.eval.temperatures == [0.2, 0.4]
    assert cfg.eval.limit is None
    assert cfg.model.spec == "my/model"


def test_unknown_key_names_valid_keys() -> None:
    with pytest.raises(UserError) as e:
        load_config(REPO / "recipes" / "ssd_cpu.yaml", ["no_such_key=1"])
    assert "no_such_key" in str(e.value) and "train" in str(e.value)
    with pytest.raises(UserError) as e:
        load_config(REPO / "recipes" / "ssd_cpu.yaml", ["train.lrr=1"])
    assert "train.lr" in str(e.value)


@pytest.mark.parametrize("override", ["train.lr=abc", "sample.top_k=1.5", "train.epochs=[1]",
                                      "train.bf16=maybe", "eval.temperatures=a,b"])
def test_wrong_types_are_rejected(override: str) -> None:
    with pytest.raises(UserError) as e:
        load_config(REPO / "recipes" / "ssd_cpu.yaml", [override])
    assert override.split("=")[0] in str(e.value)


def test_unknown_key_in_yaml_file(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("recipe: ssd\ntrain:\n  learning_rate: 1\n")
    with pytest.raises(UserError, match="train.learning_rate"):
        load_config(p)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    p = tmp_path / "bad.yaml"
    p.write_text("recipe: ssd\ntrain: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(p)
    p.write_text("recipe: nosuch\n")
    with pytest.raises(UserError, match="unknown"):
        load_config(p)


def test_parse_override_requires_equals() -> None:
    with pytest.raises(UserError):
        parse_override("train.lr")
    assert parse_override("a.b = 1") == ("a.b", "1")


@given(lr=st.floats(min_value=1e-9, max_value=1.0, allow_nan=False),
       k=st.integers(min_value=0, max_value=10_000),
       temps=st.lists(st.floats(min_value=0, max_value=3, allow_nan=False), min_size=1,
                      max_size=5))
def test_override_roundtrip_property(lr: float, k: int, temps: list[float]) -> None:
    overrides = [f"train.lr={lr!r}", f"sample.top_k={k}",
                 "eval.temperatures=" + ",".join(repr(t) for t in temps)]
    _, cfg = load_config(None, overrides, recipe="ssd")
    assert cfg.train.lr == pytest.approx(lr)
    assert cfg.sample.top_k == k
    assert cfg.eval.temperatures == pytest.approx(temps)


@given(key=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
def test_any_unknown_top_level_key_is_an_error(key: str) -> None:
    if key in {"run_dir", "model", "sample", "train", "eval", "grid"}:
        return
    with pytest.raises(UserError):
        load_config(None, [f"{key}=1"], recipe="ssd")


def test_renamed_loss_keys_are_read_with_a_warning(tmp_path):
    """loss.top_k / loss.temperature (old names) still load, warn, and map to the new keys."""
    import selfdistill.recipes.sdpo  # noqa: F401  (registers the recipe)

    path = tmp_path / "r.yaml"
    path.write_text("recipe: sdpo\nloss:\n  top_k: 7\n  temperature: 0.5\nrollout:\n  top_k: 3\n")
    with pytest.warns(FutureWarning, match="'loss.top_k' is now 'loss.support_size'"):
        _, cfg = load_config(path)
    assert (cfg.loss.support_size, cfg.loss.scoring_temperature) == (7, 0.5)
    assert cfg.rollout.top_k == 3  # the sampling knob keeps its name
    with pytest.warns(FutureWarning):
        _, cfg = load_config(path, ["loss.support_size=9"])
    assert cfg.loss.support_size == 9  # the current name wins over the old one
    with pytest.warns(FutureWarning, match="loss.top_k"):
        _, cfg = load_config(None, ["loss.top_k=4"], recipe="sdpo")
    assert cfg.loss.support_size == 4


def test_an_unknown_recipe_names_every_recipe_folder(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("recipe: bogus\n")
    with pytest.raises(UserError, match="NAME one of discover, evaluate, sdpo, ssd"):
        load_config(path)
