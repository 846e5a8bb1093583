"""The vLLM engine: offline ``vllm.LLM`` on GPU, prefix caching on (MC rollouts share prefixes).

Prompts are rendered and tokenized exactly as the transformers engine does (chat template +
generation prompt + partial answer, see engines.transformers_engine.prompt_ids) and sent as
token ids, so a continuation is continued identically on both backends and no second BOS
slips in. ``n`` samples share one prompt (one prefill) through ``SamplingParams(n=...)``.
A request's ``constraint`` becomes vLLM's structured outputs (JSON schema or Lark grammar) on the
``guidance`` backend, llguidance as in the transformers engine, so both accept the same texts;
a two-part answer (free reasoning, then the verdict block) is the same grammar as there, its
reasoning budget counted with the served tokenizer.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Sequence

from engines.base import Completion, Constraint, GenerationRequest, lowered
from engines.config import EMBEDDED_MODEL, EngineConfig

INSTALL_HINT = '`make install` on a GPU machine, or `.venv/bin/pip install -e ".[gpu]"`'


def import_vllm() -> Any:
    try:
        import vllm
    except ImportError as error:
        raise ImportError(f"the vllm backend needs vLLM and a CUDA GPU: {INSTALL_HINT} "
                          f"(import failed: {error})") from error
    return vllm


def model_source(config: EngineConfig) -> tuple[str, str | None]:
    """(model, tokenizer) paths for vLLM. ``embedded`` uses the converted safetensors copy
    (created by the transformers engine's loader on first use): vLLM's GGUF path needs a
    separate hub tokenizer, which is not available offline."""
    if config.model == EMBEDDED_MODEL:
        from engines.embedded import converted_dir, embedded_gguf_path
        from engines.transformers_engine import load_gguf

        target = converted_dir(embedded_gguf_path())
        if target is None:
            raise RuntimeError("the vllm backend serves the embedded model from its converted copy; "
                               "unset STEPFORGE_CACHE=off")
        if not (target / "config.json").is_file():
            import torch

            load_gguf(embedded_gguf_path(), torch.float32)
        return str(target), None
    if config.gguf_file:
        return str(Path(config.model) / config.gguf_file), config.model
    return config.model, None


class VLLMEngine:
    """Batched offline generation with vLLM; thread-safe (one generate at a time)."""

    def __init__(self, config: EngineConfig):
        vllm = import_vllm()
        self.config = config
        model, tokenizer = model_source(config)
        options: dict[str, Any] = {
            "model": model, "enable_prefix_caching": config.enable_prefix_caching,
            "tensor_parallel_size": config.tensor_parallel_size,
            "gpu_memory_utilization": config.gpu_memory_utilization,
            "max_model_len": config.max_model_len, "seed": 0, "dtype": config.dtype,
        }
        if tokenizer:
            options["tokenizer"] = tokenizer
        self.vllm = vllm
        self.llm = new_llm(vllm, options)
        self.tokenizer = self.llm.get_tokenizer()
        if config.model == EMBEDDED_MODEL:
            from engines.embedded import EMBEDDED_MODEL_ID

            self.model_id = EMBEDDED_MODEL_ID
        else:
            self.model_id = f"{config.model}:{config.gguf_file}" if config.gguf_file else config.model
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"VLLMEngine(model_id={self.model_id!r})"

    def sampling_params(self, request: GenerationRequest) -> Any:
        constraint = lowered(request.constraint, request.max_tokens, self.count_tokens)
        extra = structured_params(constraint) if constraint is not None else {}
        return self.vllm.SamplingParams(
            n=request.n, temperature=request.temperature, top_p=request.top_p,
            max_tokens=request.max_tokens, stop=list(request.stop) or None, seed=request.seed,
            **extra)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` in the served model's tokenizer (sizes a two-part verdict)."""
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Completion]:
        from engines.transformers_engine import prompt_ids

        with self._lock:  # fast tokenizers and vllm.LLM are not safe to share across threads
            prompts = [{"prompt_token_ids": prompt_ids(self.tokenizer, r, self.model_id)} for r in requests]
            params = [self.sampling_params(r) for r in requests]
            outputs = self.llm.generate(prompts, sampling_params=params, use_tqdm=False)
        return [
            Completion(
                texts=[o.text for o in out.outputs],
                prompt_tokens=len(out.prompt_token_ids or prompt["prompt_token_ids"]),
                completion_tokens=sum(len(o.token_ids) for o in out.outputs),
                finish_reasons=[o.finish_reason or "length" for o in out.outputs],
            )
            for out, prompt in zip(outputs, prompts)
        ]


def new_llm(vllm: Any, options: dict[str, Any]) -> Any:
    """``vllm.LLM`` with structured outputs on the guidance backend (the option's name changed
    across vLLM versions: ``structured_outputs_config``, then ``guided_decoding_backend``)."""
    for extra in ({"structured_outputs_config": {"backend": "guidance"}},
                  {"guided_decoding_backend": "guidance"}):
        try:
            return vllm.LLM(**options, **extra)
        except TypeError as error:  # an older vLLM without this option
            if next(iter(extra)) not in str(error):
                raise
    return vllm.LLM(**options)


def structured_params(constraint: Constraint) -> dict[str, Any]:
    """SamplingParams fields enforcing ``constraint`` (StructuredOutputsParams in current vLLM,
    GuidedDecodingParams before)."""
    kind = {"json_schema": "json", "lark": "grammar"}[constraint.kind]
    value = constraint.schema() if constraint.kind == "json_schema" else constraint.spec
    try:
        from vllm.sampling_params import StructuredOutputsParams
    except ImportError:
        from vllm.sampling_params import GuidedDecodingParams

        return {"guided_decoding": GuidedDecodingParams(**{kind: value})}
    return {"structured_outputs": StructuredOutputsParams(**{kind: value})}
