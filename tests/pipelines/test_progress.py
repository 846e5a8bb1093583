"""Progress of long stages: drawn on a terminal with solutions, steps, tokens/s and ETA; silent
under --quiet, in CI and off a terminal; and the per-annotator line on what was skipped and why."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest

from pipelines.runtime import progress
from pipelines.tasks.annotate import skipped_lines
from schemas import Solution, StepVote


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def tty(monkeypatch):
    """A fake terminal as stderr (patched in the test itself: pytest's capture re-patches
    sys.stderr between a fixture's setup and the test)."""
    err = FakeTTY()
    monkeypatch.delenv("CI", raising=False)
    progress.set_quiet(False)
    yield lambda: monkeypatch.setattr("sys.stderr", err) or err
    progress.set_quiet(False)


def test_bar_shows_solutions_steps_and_token_rate(tty) -> None:
    tty = tty()
    with progress.progress_bar("annotate", 3) as advance:
        advance(2, steps=9, tokens=500)
        advance(1, steps=4, tokens=100)
    drawn = tty.getvalue()
    assert "annotate" in drawn and "3/3" in drawn and "solutions" in drawn
    assert "13 steps" in drawn and "tok/s" in drawn


@pytest.mark.parametrize("how", ["quiet", "ci", "pipe"])
def test_bar_is_silent_when_asked_or_off_a_terminal(tty, monkeypatch, how) -> None:
    tty = tty()
    if how == "quiet":
        progress.set_quiet(True)
    elif how == "ci":
        monkeypatch.setenv("CI", "true")
    else:
        monkeypatch.setattr("sys.stderr", io.StringIO())
    with progress.progress_bar("annotate", 3) as advance:
        advance(3, steps=5, tokens=10)
    assert tty.getvalue() == ""


def test_skipped_lines_say_what_was_left_unlabelled_and_why(lake) -> None:
    since = datetime.now(timezone.utc) - timedelta(seconds=1)
    sols = [Solution(problem_id="p", generator="g", text=f"t{k}", steps=["a", "b"]) for k in range(3)]
    lake.append("solutions", sols)
    vote = lambda s, i, **kw: StepVote(solution_id=s.solution_id, step_index=i,  # noqa: E731
                                       annotator="mc-binary", annotator_version="1", **kw)
    lake.append("step_votes", [
        vote(sols[0], 0, label=1), vote(sols[0], 1, label=0),
        vote(sols[1], 0, status="skipped", rationale="unsolvable: no rollout reached the answer",
             details={"reason": "unsolvable: no rollout reached the answer"}),
        vote(sols[1], 1, status="skipped", details={"reason": "unsolvable: no rollout reached the answer"}),
        vote(sols[2], 0, status="unparsed", rationale="blah"),
    ])
    lines = skipped_lines(lake, "mc-binary", 4, since)
    assert lines[0] == "skipped 4 solutions already labelled by mc-binary with this config (not redone)"
    assert "2 solutions got no label from mc-binary" in lines[1]
    assert "2 votes skipped on 1 solutions: unsolvable 2" in lines  # the short key, counted
    assert "unsolvable: unsolvable: no rollout reached the answer" in lines  # then the full text
    assert any(line.startswith("1 votes unparsed") for line in lines)
    assert skipped_lines(lake, "judge", 0, since) == []
