"""The OpenAI engine over real HTTP against engines.openai_server (a scripted engine behind it;
one slow test with the embedded model end to end)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from engines import EngineConfig, GenerationRequest, ScriptedEngine
from engines.openai_engine import OpenAIEngine, OpenAIEngineError
from engines.openai_server import Faults, start_server

CHAT = [{"role": "user", "content": "What is 2 + 3?"}]
KEY = "sk-test-0123456789abcdef"


def echo(request: GenerationRequest, i: int) -> str:
    source = request.continuation or request.prompt or request.messages[-1]["content"]
    return f"sample {i}: {source} ### tail"


@pytest.fixture
def serve():
    """Start servers over a scripted engine; every one is stopped after the test."""
    running = []

    def start(engine=None, **options):
        server = start_server(engine or ScriptedEngine(echo), **options)
        running.append(server)
        return server

    yield start
    for server in running:
        server.stop()


def client(url: str, monkeypatch=None, **options) -> OpenAIEngine:
    config = EngineConfig(backend="openai", base_url=url, model="scripted",
                          api_key_env="STEPFORGE_TEST_KEY", **options)
    return OpenAIEngine(config, backoff=0.01)


def test_chat_with_n_stop_and_usage(serve):
    scripted = ScriptedEngine(echo)
    server = serve(scripted)
    [done] = client(server.url).generate([GenerationRequest(
        messages=CHAT, n=3, stop=["###"], max_tokens=7, temperature=0.5, top_p=0.9, seed=4)])
    assert done.texts == [f"sample {i}: What is 2 + 3? " for i in range(3)]
    assert done.finish_reasons == ["stop"] * 3
    assert done.completion_tokens == sum(len(t.split()) for t in done.texts)  # server usage: words
    assert done.prompt_tokens == len("user: What is 2 + 3?".split())
    [[seen]] = scripted.calls
    assert (seen.n, seen.max_tokens, seen.temperature, seen.top_p, seen.seed, tuple(seen.stop)) == \
        (3, 7, 0.5, 0.9, 4, ("###",))


def test_continuation_is_sent_as_final_assistant_message_to_continue(serve):
    scripted = ScriptedEngine(echo)
    server = serve(scripted)
    [done] = client(server.url).generate([GenerationRequest(messages=CHAT, continuation="Step 1: 2 + 3 = 5.\n\n")])
    [[seen]] = scripted.calls
    assert seen.continuation == "Step 1: 2 + 3 = 5.\n\n"
    assert list(seen.messages) == CHAT
    assert done.texts == ["sample 0: Step 1: 2 + 3 = 5.\n\n ### tail"]


def test_raw_prompt_goes_to_completions(serve):
    scripted = ScriptedEngine(echo)
    server = serve(scripted)
    [done] = client(server.url).generate([GenerationRequest(prompt="Q: 2+3?\nA:", n=2)])
    [[seen]] = scripted.calls
    assert seen.prompt == "Q: 2+3?\nA:" and seen.messages is None
    assert done.texts == [echo(seen, 0), echo(seen, 1)]
    assert done.prompt_tokens == 3 and done.completion_tokens == 14  # scripted: words


def test_many_requests_stay_aligned_and_concurrency_is_bounded(serve):
    faults = Faults(delay=0.05)
    server = serve(faults=faults)
    engine = client(server.url, max_concurrency=3)
    requests = [GenerationRequest(prompt=f"p{i}") for i in range(12)]
    out = engine.generate(requests)
    assert [c.text for c in out] == [f"sample 0: p{i} ### tail" for i in range(12)]
    assert faults.received == 12 and faults.peak_in_flight <= 3


def test_retries_recover_after_injected_503s(serve):
    faults = Faults(fail_first=2, status=503)
    server = serve(faults=faults)
    [done] = client(server.url, max_retries=3).generate([GenerationRequest(messages=CHAT)])
    assert done.text.startswith("sample 0")
    assert faults.received == 3


def test_exhausted_retries_raise_a_clear_error_without_the_key(serve, monkeypatch):
    monkeypatch.setenv("STEPFORGE_TEST_KEY", KEY)
    faults = Faults(fail_first=100, status=503)
    server = serve(faults=faults, api_key=KEY)
    engine = client(server.url, max_retries=2)
    with pytest.raises(OpenAIEngineError) as error:
        engine.generate([GenerationRequest(messages=CHAT)])
    message = str(error.value)
    assert f"{server.url}/chat/completions" in message and "503" in message and "3 attempts" in message
    assert faults.received == 3
    assert KEY not in message and KEY not in repr(engine) and "***" in repr(engine)


def test_api_key_is_sent_as_bearer(serve, monkeypatch):
    server = serve(api_key=KEY)
    with pytest.raises(OpenAIEngineError, match="401"):  # not retried: a 4xx is final
        client(server.url, max_retries=5).generate([GenerationRequest(prompt="x")])
    monkeypatch.setenv("STEPFORGE_TEST_KEY", KEY)
    assert client(server.url).generate([GenerationRequest(prompt="x")])[0].text.startswith("sample 0")


def test_connection_errors_are_retried_then_reported():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(OpenAIEngineError, match=f"{url}/completions failed after 2 attempts.*Connect"):
        client(url, max_retries=1).generate([GenerationRequest(prompt="x")])


def test_timeouts_are_retried_then_reported(serve):
    server = serve(faults=Faults(delay=1.0))
    with pytest.raises(OpenAIEngineError, match="Timeout"):
        client(server.url, max_retries=1, request_timeout=0.1).generate([GenerationRequest(prompt="x")])


def test_model_is_discovered_and_sync_call_works_inside_an_event_loop(serve):
    server = serve(ScriptedEngine(echo, model_id="served-model"))
    engine = OpenAIEngine(EngineConfig(backend="openai", base_url=server.url))  # model: embedded
    assert engine.model_id == "served-model"

    async def inside_a_loop():
        sync = engine.generate([GenerationRequest(prompt="a")])
        concurrent = await engine.agenerate([GenerationRequest(prompt="b")])
        return sync[0].text, concurrent[0].text

    assert asyncio.run(inside_a_loop()) == ("sample 0: a ### tail", "sample 0: b ### tail")


def test_unknown_model_fails_at_once(serve):
    faults = Faults()
    server = serve(faults=faults)
    engine = OpenAIEngine(EngineConfig(backend="openai", base_url=server.url, model="nope"), backoff=0.01)
    with pytest.raises(OpenAIEngineError, match="404.*nope"):
        engine.generate([GenerationRequest(prompt="x")])
    assert faults.received == 1


@pytest.mark.slow
def test_embedded_model_end_to_end_over_http(embedded_engine):
    request = GenerationRequest(messages=CHAT, continuation="2 + 3 =", max_tokens=12, stop=["\n"])
    [direct] = embedded_engine.generate([request])
    with start_server(embedded_engine) as server:
        engine = OpenAIEngine(EngineConfig(backend="openai", base_url=server.url))
        assert engine.model_id == embedded_engine.model_id
        [remote] = engine.generate([request])
    assert remote.texts == direct.texts
    assert (remote.prompt_tokens, remote.completion_tokens) == (direct.prompt_tokens, direct.completion_tokens)
    assert remote.finish_reasons == direct.finish_reasons
