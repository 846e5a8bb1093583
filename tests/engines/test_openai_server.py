"""The OpenAI-compatible server: response shapes, request validation, micro-batching."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from engines import GenerationRequest, ScriptedEngine
from engines.openai_server import start_server

CHAT = [{"role": "user", "content": "hi"}]


def script(request: GenerationRequest, i: int) -> str:
    if request.prompt == "explode":
        raise ValueError("this prompt cannot be served")
    return f"reply {i}"


@pytest.fixture
def served():
    engine = ScriptedEngine(script, model_id="toy")
    with start_server(engine, batch_window=0.2) as server:
        yield engine, server.url


def test_models_and_chat_response_shape(served):
    _engine, url = served
    assert httpx.get(f"{url}/models").json()["data"][0]["id"] == "toy"
    body = httpx.post(f"{url}/chat/completions", json={"model": "toy", "messages": CHAT, "n": 2}).json()
    assert body["object"] == "chat.completion" and body["model"] == "toy"
    assert [c["message"] for c in body["choices"]] == [
        {"role": "assistant", "content": "reply 0"}, {"role": "assistant", "content": "reply 1"}]
    assert [c["index"] for c in body["choices"]] == [0, 1]
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6}


def test_continue_final_message_becomes_a_continuation(served):
    engine, url = served
    messages = CHAT + [{"role": "assistant", "content": [{"type": "text", "text": "Step 1:"}]}]
    response = httpx.post(f"{url}/chat/completions", json={
        "messages": messages, "continue_final_message": True, "add_generation_prompt": False,
        "max_completion_tokens": 9, "stop": "\n\n"})
    assert response.status_code == 200
    [[seen]] = engine.calls
    assert seen.continuation == "Step 1:" and list(seen.messages) == CHAT
    assert seen.max_tokens == 9 and tuple(seen.stop) == ("\n\n",)


@pytest.mark.parametrize("body, fragment", [
    ({"messages": CHAT, "continue_final_message": True, "add_generation_prompt": False}, "final assistant"),
    ({"messages": CHAT + [{"role": "assistant", "content": "x"}], "continue_final_message": True},
     "add_generation_prompt=false"),
    ({"messages": CHAT, "stream": True}, "stream"),
    ({"messages": CHAT, "model": "other"}, "does not exist"),
])
def test_bad_chat_requests_get_openai_style_errors(served, body, fragment):
    _engine, url = served
    response = httpx.post(f"{url}/chat/completions", json=body)
    assert response.status_code in (400, 404)
    assert fragment in response.json()["error"]["message"]


def test_completions_with_several_prompts(served):
    _engine, url = served
    body = httpx.post(f"{url}/completions", json={"prompt": ["a", "b"], "n": 2}).json()
    assert [(c["index"], c["text"]) for c in body["choices"]] == [
        (0, "reply 0"), (1, "reply 1"), (2, "reply 0"), (3, "reply 1")]
    assert body["usage"]["prompt_tokens"] == 2 and body["usage"]["completion_tokens"] == 8


def test_concurrent_requests_share_an_engine_call_and_failures_stay_isolated(served):
    engine, url = served
    prompts = ["a", "b", "explode", "c"]
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda p: httpx.post(f"{url}/completions", json={"prompt": p}), prompts))
    assert [r.status_code for r in responses] == [200, 200, 400, 200]
    assert "cannot be served" in responses[2].json()["error"]["message"]
    assert max(len(batch) for batch in engine.calls) > 1  # merged into one generate call
