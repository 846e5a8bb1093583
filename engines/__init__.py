"""LLM backends behind one protocol (see engines.base).

The backends themselves (TransformersEngine, OpenAIEngine, VLLMEngine) are imported on first
access, so ``import engines`` does not pull in torch, transformers or vLLM.
"""

from importlib import import_module
from typing import Any

from engines.base import Completion, Constraint, Engine, GenerationRequest, apply_stop
from engines.config import EngineConfig
from engines.factory import build_engine, clear_engine_cache
from engines.scripted import ScriptedEngine, replies

_LAZY = {
    "TransformersEngine": "engines.transformers_engine",
    "OpenAIEngine": "engines.openai_engine",
    "OpenAIEngineError": "engines.openai_engine",
    "VLLMEngine": "engines.vllm_engine",
}

__all__ = [
    "Completion", "Constraint", "Engine", "EngineConfig", "GenerationRequest", "ScriptedEngine", "apply_stop",
    "build_engine", "clear_engine_cache", "replies", *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'engines' has no attribute {name!r}")
