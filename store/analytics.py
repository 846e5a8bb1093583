"""Analytics views over the lake (agreement, disagreements, retention); filled by reconcile."""

from __future__ import annotations

# (view name, SQL body) pairs created in the DuckDB catalog after the base table views.
ANALYTICS_VIEWS: list[tuple[str, str]] = []
