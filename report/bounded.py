"""Bounded-memory reading for the read-only summaries (report, label health): the lake with
its DuckDB connections under a memory limit, spilling to a temporary folder removed afterwards."""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from typing import Iterator

from store.lake import Lake
from store.limits import default_memory_limit



def summary_memory_limit() -> str:
    """The stages' shared default (``store.limits.default_memory_limit``)."""
    return default_memory_limit()


@contextmanager
def bounded(lake: Lake, memory_limit: str | None = None) -> Iterator[Lake]:
    """``lake`` limited to ``memory_limit`` (default ``summary_memory_limit()``) with a spill
    folder that lives as long as the block, read through one snapshot (``Lake.snapshot``): the
    deduplicated votes and consensus are stored once, not recomputed by every query."""
    with tempfile.TemporaryDirectory(prefix="stepforge-spill-") as spill:
        with lake.limited(memory_limit or summary_memory_limit(), spill).snapshot() as snap:
            yield snap
