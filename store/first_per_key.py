"""One row per key without sorting every row: the SQL behind the table views' deduplication and
``annotator_labels``' counting vote.

``row_number() OVER (PARTITION BY key ORDER BY ...) = 1`` over the whole table sorts (and at
tens of millions of rows spills) every row, although in a healthy lake almost every key has one
row: votes and consensus rows are written once, and only re-runs and reviews add a second.
These queries group a 64-bit hash of the key instead (one hash aggregate, no sort), pass the
rows of keys seen once straight through, and run the window only over the rows of keys seen
more than once. A hash collision only sends a few more rows through the window (which picks
the same row for them), so the result is the full window's, row for row.
"""

from __future__ import annotations

from typing import Sequence

from store.sql import identifier


def key_hash(columns: Sequence[str]) -> str:
    """DuckDB's 64-bit hash of the key columns (NULLs hash too: never NULL)."""
    return f"hash({', '.join(identifier(c) for c in columns)})"


def first_per_key_sql(source: str, key: Sequence[str], order: str, columns: str = "*",
                      keep: str = "first") -> str:
    """``columns`` of the first row by ``order`` (an ORDER BY list; empty: any row) of each
    ``key`` group of ``source`` (a FROM expression, read three times: a scan each); with
    ``keep="rest"`` the other rows instead (only keys with several rows have any)."""
    h = key_hash(key)
    by = ", ".join(identifier(c) for c in key)
    rank = f"row_number() OVER (PARTITION BY {by}{f' ORDER BY {order}' if order else ''})"
    if keep == "rest":
        return f"""
    SELECT {columns} FROM {source}
    WHERE {h} IN (SELECT {h} FROM {source} GROUP BY ALL HAVING count(*) > 1) QUALIFY {rank} > 1"""
    return f"""
    WITH _repeated AS MATERIALIZED (SELECT {h} AS h FROM {source} GROUP BY ALL HAVING count(*) > 1)
    SELECT {columns} FROM {source} WHERE {h} NOT IN (SELECT h FROM _repeated)
    UNION ALL
    SELECT {columns} FROM {source} WHERE {h} IN (SELECT h FROM _repeated) QUALIFY {rank} = 1"""


def first_by_id_then_latest_sql(source: str, key: str, id_order: str, latest_by: Sequence[str],
                                newest: str, columns: str) -> str:
    """``columns`` of the latest row (by ``newest``) per ``latest_by`` after collapsing rows
    that share ``key`` to the first by ``id_order``: a table view's two windows, run only over
    the rows of a ``latest_by`` group holding more than one row or a repeated id. Both windows
    see every row they need there: a repeated id puts the groups of all its rows in that set."""
    hk, hi = key_hash(latest_by), key_hash([key])
    by = ", ".join(identifier(c) for c in latest_by)
    first = f" ORDER BY {id_order}" if id_order else ""
    return f"""
    WITH _repeated AS MATERIALIZED (
      SELECT {hk} AS h FROM {source} GROUP BY ALL HAVING count(*) > 1
      UNION
      SELECT {hk} FROM {source}
      WHERE {hi} IN (SELECT {hi} FROM {source} GROUP BY ALL HAVING count(*) > 1))
    SELECT {columns} FROM {source} WHERE {hk} NOT IN (SELECT h FROM _repeated)
    UNION ALL
    SELECT {columns} FROM (
      SELECT * FROM {source} WHERE {hk} IN (SELECT h FROM _repeated)
      QUALIFY row_number() OVER (PARTITION BY {identifier(key)}{first}) = 1)
    QUALIFY row_number() OVER (PARTITION BY {by} ORDER BY {newest}) = 1"""
