"""LLM backends behind one protocol (see engines.base)."""

from engines.base import Completion, Engine, GenerationRequest, apply_stop
from engines.scripted import ScriptedEngine, replies

__all__ = ["Completion", "Engine", "GenerationRequest", "ScriptedEngine", "apply_stop", "replies"]
