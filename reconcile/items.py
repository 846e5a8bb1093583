"""The vote matrix of a slice as a table: ``items``, one row per voted (solution, step).

The staged votes ``v`` lose the votes of every run of an annotator but its newest on a
solution (``supersede``); what remains is pivoted into one column group per annotator
(``reconcile.rules_sql.items_sql``). ``vd`` keeps a digest of every (solution, annotator)'s
votes, superseded or not, for the rows' inputs hash.
"""

from __future__ import annotations

from typing import Sequence

import duckdb

import reconcile.rules_sql as rules
from reconcile.staging import one
from store.sql import sorted_join

VOTE_ITEM = "':' || status || ':' || coalesce(label::VARCHAR, '-')"  # after the vote id


def build_items(con: duckdb.DuckDBPyConnection, annotators: Sequence[str]) -> tuple[int, int]:
    """``items`` (the vote matrix), ``lengths`` (steps per solution: the highest voted step + 1,
    or the solution's own length when longer) and ``vd``, the vote digest of every (solution,
    annotator) (what a row's ``inputs_hash`` covers, with the review digests ``rd``, every vote
    superseded or not). Votes of older runs are removed from ``v`` first (``supersede``); the
    (votes, labels) removed are returned."""
    con.execute("CREATE OR REPLACE TABLE vd AS SELECT solution_id AS sid, annotator, "
                f"md5({sorted_join('vote_id', VOTE_ITEM, ',')}) AS digest, "
                "min(annotator_version) <> max(annotator_version) OR min(config_hash) <> max(config_hash) "
                "AS runs FROM v GROUP BY ALL")
    superseded = supersede(con)
    con.execute(f"CREATE OR REPLACE TABLE items AS {rules.one_vote_items_sql(annotators)}")
    if one(con, "SELECT count(*) FILTER (WHERE repeated) FROM items")[0]:
        con.execute("CREATE OR REPLACE TABLE rep AS SELECT sid, step FROM items WHERE repeated")
        con.execute("DELETE FROM items WHERE repeated")
        repeated = "(SELECT * FROM v SEMI JOIN rep ON v.solution_id = rep.sid AND v.step_index = rep.step)"
        con.execute(f"INSERT INTO items BY NAME ({rules.items_sql(annotators, repeated)})")
        con.execute("DROP TABLE rep")
    con.execute("ALTER TABLE items DROP COLUMN repeated")
    con.execute("CREATE OR REPLACE TABLE lengths AS SELECT i.sid, greatest(max(i.step) + 1, "
                "coalesce(any_value(n.n_steps), 0))::INTEGER AS n_steps FROM items i "
                "LEFT JOIN n ON n.sid = i.sid GROUP BY i.sid")
    return superseded


def supersede(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Delete from ``v`` the votes of every run but the newest per (solution, annotator) (a run:
    one annotator_version and config_hash; the newest: the latest newest vote, then the greater
    version and config hash, as the oracle's ``tests.oracles.vote_matrix.COUNTING_CTE``); (votes,
    labels) deleted. Only the pairs ``vd`` marks with several runs are grouped and ranked (usually none)."""
    if not one(con, "SELECT count(*) FILTER (WHERE runs) FROM vd")[0]:
        return 0, 0
    con.execute("""
        CREATE OR REPLACE TABLE old AS
        SELECT solution_id, annotator, annotator_version, config_hash FROM (
          SELECT v.solution_id, v.annotator, v.annotator_version, v.config_hash, max(v.created_at) AS t
          FROM v SEMI JOIN (SELECT sid, annotator FROM vd WHERE runs) m
            ON v.solution_id = m.sid AND v.annotator = m.annotator
          GROUP BY ALL)
        QUALIFY row_number() OVER (PARTITION BY solution_id, annotator
                                   ORDER BY t DESC, annotator_version DESC, config_hash DESC) > 1""")
    gone = one(con, "SELECT count(*), count(*) FILTER (WHERE status = 'labeled') FROM v SEMI JOIN old "
                    "USING (solution_id, annotator, annotator_version, config_hash)")
    con.execute("DELETE FROM v USING old WHERE v.solution_id = old.solution_id AND v.annotator = "
                "old.annotator AND v.annotator_version = old.annotator_version AND v.config_hash = "
                "old.config_hash")
    con.execute("DROP TABLE old")
    return int(gone[0]), int(gone[1])
