"""The vLLM engine: the install hint everywhere; generation only on a CUDA GPU with vLLM."""

from __future__ import annotations

import importlib.util
import os

import pytest

from engines import EngineConfig, GenerationRequest

HAS_VLLM = importlib.util.find_spec("vllm") is not None
CHAT = [{"role": "user", "content": "Tom has 3 apples and buys 4 more. How many apples does he have?"}]


def has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed")
def test_missing_vllm_names_the_extra_to_install():
    from engines.vllm_engine import VLLMEngine

    with pytest.raises(ImportError, match=r"pip install -e \"\.\[gpu\]\""):
        VLLMEngine(EngineConfig(backend="vllm"))


@pytest.fixture(scope="module")
def vllm_engine():
    if not (HAS_VLLM and has_cuda()):
        pytest.skip("needs vllm and a CUDA GPU")
    from engines.vllm_engine import VLLMEngine

    model = os.environ.get("STEPFORGE_VLLM_TEST_MODEL", "embedded")
    return VLLMEngine(EngineConfig(backend="vllm", model=model, gpu_memory_utilization=0.3,
                                   max_model_len=2048))


@pytest.mark.gpu
def test_vllm_chat_continuation_samples_and_counts(vllm_engine):
    from engines.transformers_engine import prompt_ids

    greedy, sampled, cont, stopped = vllm_engine.generate([
        GenerationRequest(messages=CHAT, max_tokens=24),
        GenerationRequest(messages=CHAT, n=4, temperature=1.0, seed=3, max_tokens=16),
        GenerationRequest(messages=CHAT, continuation="He has", max_tokens=16),
        GenerationRequest(messages=CHAT, max_tokens=24, stop=["apples"]),
    ])
    assert greedy.text.strip() and greedy.prompt_tokens == len(
        prompt_ids(vllm_engine.tokenizer, GenerationRequest(messages=CHAT)))
    assert len(sampled.texts) == 4 and len(set(sampled.texts)) > 1
    assert 4 <= sampled.completion_tokens <= 64
    assert cont.prompt_tokens > greedy.prompt_tokens
    assert "apples" not in stopped.text
    again = vllm_engine.generate([GenerationRequest(messages=CHAT, n=4, temperature=1.0, seed=3, max_tokens=16)])
    assert again[0].texts == sampled.texts


@pytest.mark.gpu
def test_vllm_enforces_the_judge_shapes_and_llguidance_accepts_its_texts(vllm_engine):
    """The same constraints as the transformers engine, on vLLM's guidance backend: every
    answer parses with exactly n verdicts and is accepted by our own llguidance matcher."""
    import llguidance
    import llguidance.hf

    from annotators.styles.critic import critic_shape, parse_critic
    from annotators.styles.processbench import parse_processbench, processbench_shape
    from annotators.styles.think import parse_think, think_shape
    from engines.constrained import grammar

    n = 3
    prose = [{"role": "user", "content": "Write a short poem about apples in autumn."}]
    cases = [(critic_shape(n, 24), parse_critic), (think_shape(n, 24), parse_think),
             (processbench_shape(n, 24), parse_processbench)]
    out = vllm_engine.generate([GenerationRequest(messages=prose, max_tokens=200, constraint=c)
                                for c, _ in cases])
    ll = llguidance.hf.from_tokenizer(vllm_engine.tokenizer)
    for (constraint, parse), completion in zip(cases, out):
        assert len(parse(completion.text, n).steps) == n, (constraint.name, completion.text)
        matcher = llguidance.LLMatcher(ll, grammar(constraint))
        ids = vllm_engine.tokenizer(completion.text, add_special_tokens=False)["input_ids"]
        assert matcher.consume_tokens(ids) and matcher.is_accepting(), completion.text
