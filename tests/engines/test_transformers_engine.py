"""The transformers engine: per-row sampling and stopping (fast), the embedded model (slow)."""

from __future__ import annotations

import threading

import pytest
import torch

from engines import GenerationRequest
from engines.transformers_engine import Row, RowSampler, RowStops, prompt_ids, render_prompt, row_seed

CHAT = [{"role": "user", "content": "Name three colors."}]
MATH = [{"role": "user", "content": "Tom has 3 apples and buys 4 more. How many apples does he have?"}]


def row(temperature=1.0, top_p=1.0, seed=1, stop=(), max_tokens=8, sample=0):
    return Row(0, sample, [1, 2], max_tokens, temperature, top_p, tuple(stop), row_seed(seed, sample))


def sampled_tokens(rows, scores, steps=20):
    sampler = RowSampler(rows)
    return [sampler(None, scores.clone()).argmax(dim=-1).tolist() for _ in range(steps)]


def test_row_seeds_are_stable_and_distinct_per_sample():
    assert row_seed(5, 0) == row_seed(5, 0)
    assert len({row_seed(5, s) for s in range(8)} | {row_seed(6, 0)}) == 9
    assert row_seed(None, 0) != row_seed(None, 0)


def test_sampler_rows_draw_independently_of_their_batch():
    scores = torch.zeros(3, 50)  # uniform: every draw shows the generator's stream
    alone = sampled_tokens([row(seed=7)], scores[:1])
    crowded = sampled_tokens([row(seed=99), row(seed=7), row(temperature=0.0)], scores)
    assert [step[0] for step in alone] == [step[1] for step in crowded]
    assert len({step[0] for step in alone}) > 5  # really sampling


def test_sampler_leaves_greedy_rows_alone_and_top_p_truncates():
    scores = torch.tensor([[0.0, 3.0, 1.0, 2.0]] * 2)
    out = RowSampler([row(temperature=0.0), row(temperature=1.0, top_p=1e-6)])(None, scores.clone())
    assert torch.equal(out[0], scores[0])
    assert out[1].argmax().item() == 1 and torch.isinf(out[1]).sum().item() == 3


class CharTokenizer:
    """One token per character (id = code point), enough to drive RowStops."""

    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(int(i)) for i in ids)


def test_stops_end_each_row_at_its_own_stop_or_length():
    rows = [row(stop=["\n\n"], max_tokens=50), row(max_tokens=3), row(stop=["END"], max_tokens=50)]
    stops = RowStops(rows, prompt_width=2, tokenizer=CharTokenizer())
    texts = ["ab\n\ncd", "abcdef", "xxEND!"]
    done_at = [None] * 3
    for step in range(1, 7):
        ids = torch.tensor([[0, 0] + [ord(c) for c in t[:step]] for t in texts])
        for i, flag in enumerate(stops(ids, None).tolist()):
            if flag and done_at[i] is None:
                done_at[i] = step
    assert done_at == [4, 3, 5]
    assert stops.stopped_at == [4, None, 5]


# ---- the embedded model (SmolLM2-135M-Instruct on CPU) ----

def greedy(engine, max_tokens=24, **kwargs):
    kwargs.setdefault("messages", MATH)
    return engine.generate([GenerationRequest(max_tokens=max_tokens, **kwargs)])[0]


@pytest.mark.slow
def test_chat_greedy_counts_prompt_and_completion_tokens(embedded_engine):
    done = greedy(embedded_engine, max_tokens=8)
    ids = prompt_ids(embedded_engine.tokenizer, GenerationRequest(messages=MATH))
    assert done.prompt_tokens == len(ids)
    assert done.texts[0].strip()
    assert done.finish_reasons == ["length"] and done.completion_tokens == 8
    assert render_prompt(embedded_engine.tokenizer, GenerationRequest(messages=MATH)).endswith(
        "<|im_start|>assistant\n")


@pytest.mark.slow
def test_continuation_continues_the_given_text(embedded_engine):
    tokenizer = embedded_engine.tokenizer
    full = greedy(embedded_engine, max_tokens=20).texts[0]
    head_ids = tokenizer(full)["input_ids"][:8]
    head = tokenizer.decode(head_ids)
    rest = greedy(embedded_engine, max_tokens=12, continuation=head)
    assert (head + rest.texts[0]).startswith(full[:len(head) + 10])  # the greedy answer, resumed
    assert rest.prompt_tokens == greedy(embedded_engine, max_tokens=1).prompt_tokens + len(head_ids)
    # the same text as a raw prompt continues identically
    raw = render_prompt(tokenizer, GenerationRequest(messages=MATH)) + head
    assert greedy(embedded_engine, max_tokens=12, messages=None, prompt=raw).texts == rest.texts


@pytest.mark.slow
def test_samples_differ_and_seeds_reproduce_in_any_batch(embedded_engine):
    request = GenerationRequest(messages=CHAT, n=4, temperature=1.0, seed=11, max_tokens=16)
    other = GenerationRequest(messages=MATH, temperature=0.7, max_tokens=16)
    alone = embedded_engine.generate([request])[0]
    crowded = embedded_engine.generate([other, request, other])[1]
    assert len(alone.texts) == 4 and len(set(alone.texts)) > 1
    assert crowded.texts == alone.texts
    reseeded = embedded_engine.generate([GenerationRequest(messages=CHAT, n=4, temperature=1.0,
                                                           seed=12, max_tokens=16)])[0]
    assert reseeded.texts != alone.texts
    assert 4 <= alone.completion_tokens <= 4 * 16 and alone.prompt_tokens == crowded.prompt_tokens


@pytest.mark.slow
def test_greedy_samples_are_identical_and_counted_n_times(embedded_engine):
    one = greedy(embedded_engine, max_tokens=8)
    three = greedy(embedded_engine, max_tokens=8, n=3)
    assert three.texts == one.texts * 3
    assert three.completion_tokens == 3 * one.completion_tokens
    assert three.prompt_tokens == one.prompt_tokens


@pytest.mark.slow
def test_stop_strings_cut_the_text_and_end_generation_early(embedded_engine):
    full = greedy(embedded_engine, max_tokens=24)
    words = full.texts[0].split()
    assert len(words) >= 4, full.texts
    stop = " " + words[2]
    stopped = greedy(embedded_engine, max_tokens=24, stop=[stop, "never-seen-###"])
    assert stopped.texts[0] == full.texts[0][:full.texts[0].index(stop)]
    assert stopped.finish_reasons == ["stop"]
    assert stopped.completion_tokens < full.completion_tokens


@pytest.mark.slow
def test_concurrent_callers_are_serialized_safely(embedded_engine):
    results: list = []

    def call() -> None:
        results.append(greedy(embedded_engine, max_tokens=4).texts)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0] == results[1]
