"""Constrained decoding: the judge's answer shapes enforced by the transformers engine
(llguidance, on the embedded model), served over real HTTP by engines/openai_server.py to the
OpenAI engine, and the OpenAI engine's fallback to free text when a server refuses them."""

from __future__ import annotations

import logging

import httpx
import pytest

from annotators.styles.critic import critic_shape, parse_critic
from annotators.styles.processbench import parse_processbench, processbench_shape
from annotators.styles.spare import parse_spare, spare_shape
from annotators.styles.think import parse_think, think_shape
from engines import EngineConfig, GenerationRequest, ScriptedEngine
from engines.base import Constraint
from engines.openai_engine import OpenAIEngine, request_body
from engines.openai_server import Faults, start_server

# a prompt the 135M model answers with prose, never with the shapes below
PROSE = [{"role": "user", "content": "Write a short poem about apples in autumn."}]
N = 3


def shapes() -> list[tuple[Constraint, object]]:
    return [(critic_shape(N, 24), lambda t: parse_critic(t, N)),
            (think_shape(N, 24), lambda t: parse_think(t, N)),
            (processbench_shape(N, 24), lambda t: parse_processbench(t, N)),
            (spare_shape(N, 2, 16), lambda t: parse_spare(t, N, 2))]


@pytest.mark.slow
def test_transformers_engine_makes_a_prose_model_answer_in_each_shape(embedded_engine):
    cases = shapes()
    requests = [GenerationRequest(messages=PROSE, max_tokens=200, constraint=c) for c, _ in cases]
    requests.append(GenerationRequest(messages=PROSE, max_tokens=200, n=2, temperature=0.9,
                                      seed=1, constraint=critic_shape(N, 24)))
    requests.append(GenerationRequest(messages=PROSE, max_tokens=12))  # unconstrained row
    out = embedded_engine.generate(requests)
    for (constraint, parse), completion in zip(cases, out):
        assert completion.finish_reasons == ["stop"], (constraint.name, completion.text)
        assert len(parse(completion.text).steps) == N, constraint.name
    sampled = out[len(cases)]
    assert all(len(parse_critic(t, N).steps) == N for t in sampled.texts)
    assert not out[-1].text.lstrip().startswith("{")  # its neighbours' masks did not leak


@pytest.mark.slow
def test_a_grammar_that_does_not_compile_is_a_clear_error(embedded_engine):
    broken = Constraint("lark", "start: (((", name="broken")
    with pytest.raises(ValueError, match="constraint 'broken' does not compile"):
        embedded_engine.generate([GenerationRequest(messages=PROSE, max_tokens=4,
                                                    constraint=broken)])


@pytest.mark.slow
def test_openai_engine_gets_the_same_shapes_over_http_from_the_served_model(embedded_engine):
    cases = shapes()[:3]
    with start_server(embedded_engine) as server:
        engine = OpenAIEngine(EngineConfig(backend="openai", base_url=server.url))
        out = engine.generate([GenerationRequest(messages=PROSE, max_tokens=200, constraint=c)
                               for c, _ in cases])
    assert engine.constraints_refused is None
    for (constraint, parse), completion in zip(cases, out):
        assert len(parse(completion.text).steps) == N, (constraint.name, completion.text)


def test_request_bodies_carry_the_constraint_as_servers_expect():
    schema = critic_shape(2, 10)
    _, body = request_body("m", GenerationRequest(messages=PROSE, constraint=schema))
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == schema.schema()
    _, body = request_body("m", GenerationRequest(messages=PROSE, constraint=think_shape(2, 10)))
    assert body["structured_outputs"] == {"grammar": think_shape(2, 10).spec}
    _, body = request_body("m", GenerationRequest(messages=PROSE, constraint=schema), False)
    assert "response_format" not in body and "structured_outputs" not in body


@pytest.mark.parametrize("fields", [
    {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
        "type": "object"}}}},
    {"structured_outputs": {"grammar": 'start: "a"'}},
    {"guided_grammar": 'start: "a"'},
    {"guided_json": {"type": "object"}},
])
def test_server_passes_each_structured_field_to_the_engine(fields):
    engine = ScriptedEngine(lambda request, i: "a")
    with start_server(engine) as server:
        response = httpx.post(f"{server.url}/chat/completions", json={"messages": PROSE, **fields})
    assert response.status_code == 200
    [[seen]] = engine.calls
    assert seen.constraint is not None
    assert seen.constraint.kind == ("lark" if "grammar" in str(fields) else "json_schema")


def test_fallback_to_free_text_when_the_server_refuses_response_format(caplog):
    """A server without structured outputs answers 400: the engine resends without the
    constraint, remembers the refusal, logs it once and sends free text from then on."""
    engine = ScriptedEngine(lambda request, i: parse_reply(request))
    faults = Faults()
    with start_server(engine, structured=False, faults=faults) as server:
        client = OpenAIEngine(EngineConfig(backend="openai", base_url=server.url))
        refused = httpx.post(f"{server.url}/chat/completions", json={
            "messages": PROSE, "response_format": {"type": "json_schema", "json_schema": {
                "name": "x", "schema": {"type": "object"}}}})
        assert refused.status_code == 400 and "not supported" in refused.text
        with caplog.at_level(logging.WARNING, logger="engines.openai_engine"):
            first = client.generate([GenerationRequest(messages=PROSE, constraint=critic_shape(
                2, 10))])
            before = faults.received
            second = client.generate([GenerationRequest(messages=PROSE, constraint=c)
                                      for c in (critic_shape(2, 10), think_shape(2, 10))])
    assert parse_critic(first[0].text, 2).labels == [1, 0]
    assert len(second) == 2 and faults.received - before == 2  # no more refused requests
    assert all(request.constraint is None for batch in engine.calls for request in batch)
    assert client.constraints_refused and "not supported" in client.constraints_refused
    warnings = [r for r in caplog.records if "refused constrained decoding" in r.getMessage()]
    assert len(warnings) == 1


def parse_reply(_request: GenerationRequest) -> str:
    return ('{"steps": [{"step": 1, "reasoning": "ok", "verdict": "correct"}, '
            '{"step": 2, "reasoning": "7 * 2 is 14", "verdict": "incorrect"}], "first_error": 2}')


def test_other_client_errors_are_not_taken_for_a_refusal():
    engine = ScriptedEngine(lambda request, i: "x")
    with start_server(engine, structured=False) as server:
        client = OpenAIEngine(EngineConfig(backend="openai", base_url=server.url,
                                           model="not-served"))
        with pytest.raises(Exception, match="does not exist"):
            client.generate([GenerationRequest(messages=PROSE, constraint=critic_shape(2, 10))])
    assert client.constraints_refused is None
