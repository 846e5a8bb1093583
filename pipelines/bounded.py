"""Bounded-memory reading for the read-only summaries (report, label health): the lake with
its DuckDB connections under a memory limit, spilling to a temporary folder removed afterwards."""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from typing import Iterator

from store.lake import Lake


@contextmanager
def bounded(lake: Lake, memory_limit: str | None = None) -> Iterator[Lake]:
    """``lake`` limited to ``memory_limit`` (default: an eighth of RAM, as reconcile) with a
    spill folder that lives as long as the block."""
    from pipelines.reconcile_chunks import default_memory_limit

    with tempfile.TemporaryDirectory(prefix="stepforge-spill-") as spill:
        yield lake.limited(memory_limit or default_memory_limit(), spill)
