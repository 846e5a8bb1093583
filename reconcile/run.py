"""The reconcile step's entry point: the lake lock, then the set-based reconcile of the lake."""

from __future__ import annotations

from reconcile.config import ReconcileConfig
from reconcile.summary import ReconcileSummary
from store.lake import Lake
from store.lock import lake_lock


def reconcile(lake: Lake, config: ReconcileConfig) -> ReconcileSummary:
    """Read votes and reviews from ``lake``, run the strategies, append the changed rows
    (holding the lake lock, so two reconciles never both append the same rows)."""
    from reconcile.lake import reconcile_lake  # pulls annotators.mc and engines: only to run

    with lake_lock(lake, "reconcile", write=not config.dry_run):  # a dry run only reads
        return reconcile_lake(lake, config)
