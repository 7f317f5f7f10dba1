"""Generation: one sampling semantics, an HF backend (CPU/GPU) and a vLLM backend (CUDA or vLLM-CPU).

Light names (SamplingParams, Completion, Chat, Generator, render_chat) import without
torch; HFGenerator and make_generator are loaded on first use.
"""

from typing import Any

from selfdistill.generation.base import Chat, Completion, Generator
from selfdistill.generation.chat import chat_token_ids, render_chat
from selfdistill.generation.params import SamplingParams

__all__ = ["Chat", "Completion", "Generator", "HFGenerator", "SamplingParams",
           "chat_token_ids", "make_generator", "render_chat"]


def __getattr__(name: str) -> Any:
    """Lazy imports of the torch-backed entry points."""
    if name == "HFGenerator":
        from selfdistill.generation.hf import HFGenerator

        return HFGenerator
    if name == "make_generator":
        from selfdistill.generation.factory import make_generator

        return make_generator
    raise AttributeError(f"module 'selfdistill.generation' has no attribute {name!r}")
