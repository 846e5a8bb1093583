"""Terminal progress for long stages (rich): solutions and steps done, tokens per second, ETA.

Drawn only on a terminal: silent under ``--quiet``, when stderr is not a TTY (logs, pipes) and
in CI (``$CI`` set), so logs never fill with redraws.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Callable, Iterator

from rich.progress import (
    BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn,
)
from rich.text import Text

_quiet = False

Advance = Callable[..., None]


def set_quiet(quiet: bool) -> None:
    """Turn progress drawing off (``--quiet``) or back on for this process."""
    global _quiet
    _quiet = quiet


def enabled() -> bool:
    """Whether a bar would be drawn: a terminal, not --quiet, not CI."""
    return not _quiet and not os.environ.get("CI") and sys.stderr.isatty()


class _Rate(ProgressColumn):
    """Steps done and tokens per second since the bar started."""

    def render(self, task: Task) -> Text:
        elapsed = max(task.elapsed or 0.0, 1e-9)
        steps, tokens = task.fields.get("steps", 0), task.fields.get("tokens", 0)
        return Text(f"{steps} steps · {tokens / elapsed:,.0f} tok/s", style="progress.data.speed")


@contextmanager
def progress_bar(description: str, total: int, unit: str = "solutions") -> Iterator[Advance]:
    """Yields ``advance(n=1, steps=0, tokens=0)``; draws on a terminal, nothing otherwise."""
    if not enabled() or not total:
        yield lambda n=1, steps=0, tokens=0: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn(unit), _Rate(), TimeRemainingColumn())
    from rich.console import Console

    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total, steps=0, tokens=0)
        counts = {"steps": 0, "tokens": 0}

        def advance(n: int = 1, steps: int = 0, tokens: int = 0) -> None:
            counts["steps"] += steps
            counts["tokens"] += tokens
            bar.update(task, advance=n, **counts)

        yield advance
