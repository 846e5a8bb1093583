"""The SQLite search engine's matching and ordering rules (pure functions, no server)."""

from __future__ import annotations

from datetime import datetime, timezone

from review.server.matching import (
    as_number, cosine, multi_sort, range_match, sort_key_value, terms_match, text_match,
)


def test_terms_match_scalars_and_lists_as_keywords():
    assert terms_match("qwen-filter", ["qwen-filter", "x"])
    assert terms_match(["judge", "mc-binary"], ["mc-binary"])
    assert terms_match(3, ["3"])
    assert not terms_match(None, ["a"]) and not terms_match(["a"], [])


def test_range_match_with_open_bounds():
    assert range_match(0.5, 0.5, 0.5) and range_match(0.5, None, 1) and range_match(7, 5, None)
    assert not range_match(0.4, 0.5, None) and not range_match("n/a", 0, 1)
    assert range_match([0.1, 0.9], 0.8, 1.0)
    moment = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert as_number(moment) == moment.timestamp() and as_number(True) == 1.0


def test_text_match_needs_every_term():
    texts = ["Janet's ducks lay 16 eggs", "She sells eggs"]
    assert text_match(texts, "eggs") == 2.0
    assert text_match(texts, "DUCKS eggs") == 3.0
    assert text_match(texts, "ducks cows") == 0.0
    assert text_match(texts, "  ") == 1.0


def test_multi_sort_orders_by_keys_with_missing_last():
    rows = [{"p": 2, "n": "b"}, {"p": None, "n": "a"}, {"p": 5, "n": "c"}, {"p": 2, "n": "a"}]
    by_p_desc = multi_sort(rows, [(lambda r: r["p"], True), (lambda r: r["n"], False)])
    assert [(r["p"], r["n"]) for r in by_p_desc] == [(5, "c"), (2, "a"), (2, "b"), (None, "a")]
    by_p_asc = multi_sort(rows, [(lambda r: r["p"], False)])
    assert [r["p"] for r in by_p_asc] == [2, 2, 5, None]
    assert sort_key_value(["x", "y"]) == (1, "x") and sort_key_value([]) == (2, None)


def test_cosine():
    assert cosine([1, 0], [1, 0]) == 1.0 and cosine([1, 0], [0, 1]) == 0.0 and cosine([0, 0], [1, 1]) == 0.0
