"""Progress that moves within a batch (issue 26, item 6): the engine's reported tokens make the
tokens/s and the bar move before the batch ends, an ETA appears once anything is done, and off a
terminal a plain line is written every interval (30 s; shortened here).

The truth is what the engine reports: ``engines.activity`` calls as the transformers engine's
stopping criterion makes them, one token per still-running row per decode step."""

from __future__ import annotations

import io
import time
from types import SimpleNamespace

import pytest
import torch

from engines import activity
from pipelines.runtime import progress


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _loud(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    progress.set_quiet(False)
    yield
    progress.set_quiet(False)


def test_transformers_engine_reports_a_token_per_running_row_per_decode_step():
    from engines.transformers_engine import RowStops

    rows = [SimpleNamespace(max_tokens=8, stop=()), SimpleNamespace(max_tokens=8, stop=())]
    seen = []
    stops = RowStops(rows, prompt_width=3, tokenizer=None)
    with activity.listening(lambda tokens, budget: seen.append(tokens)):
        for width in (4, 5, 6):
            stops(torch.zeros((2, width), dtype=torch.long), None)
    assert sum(seen) == 6  # 3 decode steps x 2 rows


def test_off_a_terminal_a_line_every_interval_with_live_rate_and_eta(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.setenv(progress.INTERVAL_ENV, "0.2")
    with progress.progress_bar("generate", 2, unit="problems") as advance:
        advance(0, starting=2)
        activity.report(budget=1000)          # the engine starts a call: 2 rows x 500 tokens
        activity.report(tokens=250)           # ... and has written a quarter of it
        time.sleep(0.7)
    lines = [line for line in err.getvalue().splitlines() if line]
    assert len(lines) >= 2, lines            # one a interval, nothing else
    assert all(line.startswith("generate: 0/2 problems") for line in lines)
    assert "eta -:--:--" not in lines[-1] and " 0 tok/s" not in lines[-1]


def test_off_a_terminal_nothing_under_quiet(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.setenv(progress.INTERVAL_ENV, "0.1")
    progress.set_quiet(True)
    with progress.progress_bar("generate", 2) as advance:
        activity.report(budget=100, tokens=50)
        time.sleep(0.3)
        advance(2)
    assert err.getvalue() == ""


def test_terminal_bar_moves_within_the_first_batch(monkeypatch):
    tty = FakeTTY()
    monkeypatch.setattr("sys.stderr", tty)
    with progress.progress_bar("generate", 2, unit="problems"):
        activity.report(budget=1000)
        activity.report(tokens=400)
        time.sleep(0.6)
    drawn = [line for line in tty.getvalue().replace("\r", "\n").splitlines() if "problems" in line]
    last = drawn[-1]
    assert "0/2 problems" in last                   # no problem finished yet ...
    assert "eta -:--:--" not in last and " 0 tok/s" not in last  # ... but rate and ETA move


def test_eta_once_a_batch_is_done():
    tracker = progress.Tracker(4)
    assert tracker.eta() is None                     # nothing done: no estimate
    tracker.starting(2)
    tracker.finished(2, steps=10, tokens=100)
    assert tracker.eta() is not None and tracker.completed() == 2
