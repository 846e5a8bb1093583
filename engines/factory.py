"""Build an engine from its config, once per process per config.

Annotators and flows that name the same engine config share one instance, so the embedded
model (or a vLLM model holding most of a GPU) is loaded once. Backends are imported lazily:
``import engines`` stays light and vLLM is only needed when asked for.
"""

from __future__ import annotations

import importlib
import json
import threading

from engines.base import Engine
from engines.config import EngineConfig

BACKENDS = {
    "transformers": "engines.transformers_engine:TransformersEngine",
    "openai": "engines.openai_engine:OpenAIEngine",
    "vllm": "engines.vllm_engine:VLLMEngine",
}

_cache: dict[str, Engine] = {}
_lock = threading.Lock()


def engine_class(backend: str) -> type:
    if backend not in BACKENDS:
        raise ValueError(f"unknown engine backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    module, name = BACKENDS[backend].split(":")
    return getattr(importlib.import_module(module), name)


def build_engine(config: EngineConfig) -> Engine:
    """The engine for ``config``, built on first use and cached by the config's content."""
    key = json.dumps(config.model_dump(), sort_keys=True, default=str)  # JSON mode masks a URL's password
    with _lock:  # held while loading: a second thread waits instead of loading twice
        if key not in _cache:
            _cache[key] = engine_class(config.backend)(config)
        return _cache[key]


def clear_engine_cache() -> None:
    """Forget built engines (tests, or to free a model's memory once nothing else holds it)."""
    with _lock:
        _cache.clear()
