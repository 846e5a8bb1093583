"""The request contract, apply_stop and the scripted engine."""

import pytest

from engines import GenerationRequest, ScriptedEngine, apply_stop, replies
from engines.scripted import request_text

CHAT = [{"role": "user", "content": "What is 2 + 3?"}]


def test_apply_stop_cuts_at_earliest_stop_and_excludes_it():
    assert apply_stop("a\n\nb. c", ["\n\n", "."]) == ("a", True)
    assert apply_stop("abc. d\n\n", ["\n\n", "."]) == ("abc", True)
    assert apply_stop("no stop here", ["###"]) == ("no stop here", False)
    assert apply_stop("empty stops ignored", ["", "zz"]) == ("empty stops ignored", False)


@pytest.mark.parametrize("kwargs", [
    {},                                            # neither messages nor prompt
    {"messages": CHAT, "prompt": "x"},             # both
    {"prompt": "x", "continuation": "y"},          # continuation without chat
    {"prompt": "x", "n": 0},
    {"prompt": "x", "max_tokens": 0},
])
def test_bad_requests_are_rejected(kwargs):
    with pytest.raises(ValueError):
        GenerationRequest(**kwargs)


def test_scripted_engine_samples_stops_and_counts():
    engine = ScriptedEngine(lambda request, i: f"answer {i} ### ignored")
    [done] = engine.generate([GenerationRequest(messages=CHAT, n=3, stop=["###"])])
    assert done.texts == ["answer 0 ", "answer 1 ", "answer 2 "]
    assert done.finish_reasons == ["stop"] * 3
    assert done.completion_tokens == 6  # two words per sample, summed over n
    assert done.prompt_tokens == len(request_text(GenerationRequest(messages=CHAT)).split())
    assert engine.requests_seen == 1 and engine.samples_seen == 3


def test_request_text_appends_continuation():
    text = request_text(GenerationRequest(messages=CHAT, continuation="Step 1: 2 + 3"))
    assert text.endswith("assistant: Step 1: 2 + 3")


def test_replies_cycle_in_order():
    engine = replies("a", "b")
    out = engine.generate([GenerationRequest(prompt="p", n=3)])
    assert out[0].texts == ["a", "b", "a"]
    assert out[0].finish_reasons == ["stop"] * 3
    [cut] = engine.generate([GenerationRequest(prompt="p", max_tokens=1, n=1)])
    assert cut.finish_reasons == ["length"]  # a text filling max_tokens was cut off
