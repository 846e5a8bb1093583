"""Progress of long stages: units (solutions, problems) and steps done, tokens per second, ETA.

The display moves within a batch: engines report the tokens they generate as they go
(``engines.activity``), so tokens/s is live and the bar advances by the share of the running
batch's token budget spent (an upper bound on its work: the estimate is cautious and corrects at
each finished batch). The ETA is shown once anything is done: elapsed × (1 − p) / p for the
share p done.

On a terminal a rich bar is drawn on stderr. Off a terminal (pipes, logs, CI) a plain line is
written every ``STEPFORGE_PROGRESS_SECONDS`` (30) seconds instead, so a log shows the stage is
alive. ``--quiet`` silences both.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn
from rich.text import Text

from engines import activity

_quiet = False
INTERVAL_ENV = "STEPFORGE_PROGRESS_SECONDS"

Advance = Callable[..., None]


def set_quiet(quiet: bool) -> None:
    """Turn progress drawing off (``--quiet``) or back on for this process."""
    global _quiet
    _quiet = quiet


def enabled() -> bool:
    """Whether a bar would be drawn: a terminal, not --quiet, not CI."""
    return not _quiet and not os.environ.get("CI") and sys.stderr.isatty()


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class Tracker:
    """Counts of one stage: units and steps done, tokens of finished batches plus the tokens
    streamed by the running one, and the share of its token budget spent."""

    def __init__(self, total: int):
        self.total = total
        self.done = self.steps = self.tokens = 0
        self.batch = 0          # units in the running batch (0: unknown, counted as 1)
        self.streamed = self.budget = 0
        self.start = time.monotonic()
        self.lock = threading.Lock()

    def on_activity(self, tokens: int, budget: int) -> None:
        with self.lock:
            self.streamed += tokens
            self.budget += budget

    def starting(self, units: int) -> None:
        with self.lock:
            self.batch = units

    def finished(self, n: int, steps: int, tokens: int) -> None:
        with self.lock:
            self.done += n
            self.steps += steps
            self.tokens += tokens
            self.batch = self.streamed = self.budget = 0

    def completed(self) -> float:
        """Units done, the running batch counted by the share of its token budget spent."""
        share = min(0.95, self.streamed / self.budget) if self.budget else 0.0
        return min(self.total, self.done + share * (self.batch or 1) if self.done < self.total else self.done)

    def rate(self) -> float:
        return (self.tokens + self.streamed) / max(time.monotonic() - self.start, 1e-9)

    def eta(self) -> float | None:
        done = self.completed()
        if not self.total or done <= 0:
            return None
        elapsed = time.monotonic() - self.start
        return elapsed * (self.total - done) / done

    def line(self, description: str, unit: str) -> str:
        return (f"{description}: {self.done}/{self.total} {unit} · {self.steps} steps · "
                f"{self.rate():,.0f} tok/s · elapsed {_clock(time.monotonic() - self.start)} · "
                f"eta {_clock(self.eta())}")


class _Counts(ProgressColumn):
    """Units done of total, steps, live tokens per second and the ETA."""

    def __init__(self, tracker: Tracker, unit: str):
        super().__init__()
        self.tracker, self.unit = tracker, unit

    def render(self, task: Task) -> Text:
        t = self.tracker
        return Text(f"{t.done}/{t.total} {self.unit} · {t.steps} steps · {t.rate():,.0f} tok/s · "
                    f"eta {_clock(t.eta())}", style="progress.data.speed")


@contextmanager
def _heartbeat(tracker: Tracker, description: str, unit: str) -> Iterator[None]:
    """Off a terminal: a line on stderr every interval while the block runs."""
    interval = float(os.environ.get(INTERVAL_ENV, "30"))
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            print(tracker.line(description, unit), file=sys.stderr, flush=True)

    thread = threading.Thread(target=beat, name=f"progress-{description}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextmanager
def progress_bar(description: str, total: int, unit: str = "solutions") -> Iterator[Advance]:
    """Yields ``advance(n=1, steps=0, tokens=0, starting=0)``: ``n`` units finished with their
    steps and tokens; ``advance(0, starting=k)`` says a batch of k units is starting (so the
    engine's tokens move the bar by its share). A bar on a terminal, a line every 30 s off one,
    nothing under --quiet."""
    tracker = Tracker(total)

    def advance(n: int = 1, steps: int = 0, tokens: int = 0, starting: int = 0) -> None:
        if starting:
            tracker.starting(starting)
        if n or steps or tokens:
            tracker.finished(n, steps, tokens)

    if _quiet or not total:
        yield advance
        return
    if not enabled():
        with activity.listening(tracker.on_activity), _heartbeat(tracker, description, unit):
            yield advance
        return
    from rich.console import Console

    columns = (TextColumn("{task.description}"), BarColumn(), _Counts(tracker, unit))
    with Progress(*columns, console=Console(stderr=True), transient=False, refresh_per_second=4) as bar, \
            activity.listening(tracker.on_activity):
        task = bar.add_task(description, total=total)
        stop = threading.Event()

        def redraw() -> None:  # the engine's tokens move the bar between advances
            while not stop.wait(0.5):
                bar.update(task, completed=tracker.completed())

        thread = threading.Thread(target=redraw, daemon=True)
        thread.start()
        try:
            def drawn(*args, **kwargs) -> None:
                advance(*args, **kwargs)
                bar.update(task, completed=tracker.completed())

            yield drawn
        finally:
            stop.set()
            thread.join()
            bar.update(task, completed=tracker.completed())
