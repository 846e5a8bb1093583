"""Engine activity for progress displays: an engine reports its token budget when a call starts
and the tokens it generates as it goes (per decode step, or per finished request), so a display
can move within one long call. Listeners are process-wide; with none, a report costs nothing."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

Listener = Callable[[int, int], None]  # (tokens generated, token budget announced)

_listeners: list[Listener] = []
_lock = threading.Lock()


def report(tokens: int = 0, budget: int = 0) -> None:
    """``tokens`` newly generated; ``budget``: the most tokens a call just started may generate."""
    for listener in list(_listeners):
        listener(tokens, budget)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Call ``listener`` with every report while the block runs."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)
