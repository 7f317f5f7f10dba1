"""Shared fixtures: a tiny random causal LM (fast) and paths to the shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
# ../shared beside the checkout; a git worktree elsewhere names it in SELFDISTILL_SHARED_DIR.
SHARED = Path(os.environ.get("SELFDISTILL_SHARED_DIR") or REPO.parent / "shared")
SHARED_FIXTURES = SHARED / "fixtures"

# Tests never touch the network and keep their model cache out of the user's home.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _tiny_model_dir(root: Path) -> Path:
    """Save a 2-layer random Llama with the embedded model's tokenizer (or a GPT-2-like one)."""
    from tiny import tiny_llama
    from transformers import AutoTokenizer

    from selfdistill.core.models import DEFAULT_MODEL, _cached_dir

    real = _cached_dir(DEFAULT_MODEL)
    if (real / "tokenizer.json").is_file():
        tok = AutoTokenizer.from_pretrained(real)
    else:  # build the cache once (CI: the session fixture below does this)
        from selfdistill.core.models import fetch_embedded

        tok = AutoTokenizer.from_pretrained(fetch_embedded(DEFAULT_MODEL))
    model = tiny_llama(len(tok), 0, max_position_embeddings=2048, tie_word_embeddings=True,
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    out = root / "tiny-llama"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding a tiny random Llama + the embedded model's tokenizer."""
    return _tiny_model_dir(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def tok(tiny_model_dir: Path) -> Any:
    """The embedded model's tokenizer (saved beside the tiny model)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """../shared/fixtures (skip when absent)."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip("../shared/fixtures is not present")
    return SHARED_FIXTURES


def _require_vllm() -> None:
    """Skip where vllm does not import, unless SELFDISTILL_REQUIRE_VLLM=1 (make test-vllm):
    then fail, so CI cannot pass with the vLLM tests silently skipped."""
    from selfdistill.generation.vllm_backend import vllm_available

    if not vllm_available():
        if os.environ.get("SELFDISTILL_REQUIRE_VLLM") == "1":
            pytest.fail("SELFDISTILL_REQUIRE_VLLM=1 but vllm does not import")
        pytest.skip("vllm is not installed here (make test-vllm builds its environment)")


@pytest.fixture
def needs_vllm() -> None:
    """A test that needs vllm (see _require_vllm)."""
    _require_vllm()


@pytest.fixture(scope="session")
def vllm_engine():
    """One in-process vLLM(-CPU) engine over the embedded model, fp32, small KV cache.

    block_size 32 (CPU default 128): the prefix cache then shares most of a short prompt
    across the 1000 samples of the sampling-order test instead of prefilling each.

    Session-wide because vLLM keeps process-wide state (one engine per process). Skips
    where vllm does not import, unless SELFDISTILL_REQUIRE_VLLM=1 (make test-vllm): then
    it fails, so CI cannot pass with the vLLM tests silently skipped.
    """
    _require_vllm()
    from selfdistill.generation import make_generator

    return make_generator("vllm", "smollm2-135m-instruct", dtype="float32", progress=False,
                          kv_cache_gb=0.5, max_model_len=1024, block_size=32)


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """../shared/datasets (skip when absent)."""
    path = SHARED / "datasets"
    if not path.is_dir():
        pytest.skip("../shared/datasets is not present")
    return path
