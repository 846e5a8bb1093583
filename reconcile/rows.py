"""The Consensus rows of a decision: their inputs digest, stable ids, ``details`` JSON, the
chain that keeps a returning input from reusing an old id, and the part file DuckDB writes.

A row is new when the current row of its (solution, step, strategy) was computed from other
inputs (``details.inputs``); only those are written.
"""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

import duckdb
import pyarrow.parquet as pq

import reconcile.rules_sql as rules
from reconcile.staging import one
from reconcile.statuses import PROVENANCE, SINGLE_SOURCE_REASONS, STATUS_NAMES
from store import catalog
from store.lake import ROW_GROUP_ROWS, Lake
from store.sql import literal, sorted_join

SAFE_ID = r"^[A-Za-z0-9_.:@+\-]*$"  # ids DuckDB's json_array writes as Python's canonical_json


def digest_table(con: duckdb.DuckDBPyConnection, names: Sequence[str], salt: str,
                 aggregated: dict[frozenset[str], str]) -> None:
    """``dig``: per solution the md5 of ``salt``, its votes by ``names`` and its reviews. The
    per-solution concatenation of vote digests is built once per annotator set and slice
    (``aggregated``: set -> its table), as strategies often read the same annotators."""
    key = frozenset(names)
    if key not in aggregated:
        aggregated[key] = f"va{len(aggregated)}"
        con.execute(f"""
            CREATE OR REPLACE TABLE {aggregated[key]} AS
            SELECT g.sid, coalesce({sorted_join('d.annotator', "'=' || d.digest", ';')}, '')
                   AS votes, coalesce(any_value(r.digest), '') AS reviews
            FROM lengths g LEFT JOIN vd d ON d.sid = g.sid AND d.annotator IN {rules.names_in(sorted(key))}
            LEFT JOIN rd r ON r.sid = g.sid GROUP BY g.sid""")
    con.execute(f"CREATE OR REPLACE TABLE dig AS SELECT sid, md5(? || '|' || votes || '|' || reviews) "
                f"AS inputs FROM {aggregated[key]}", [salt])


def id_sql(hash_column: str, strategy: str, plain: bool) -> str:
    """``with_ids``: stable_id("consensus", solution, step, strategy, hash), whose canonical JSON
    DuckDB writes by concatenation when no part needs escaping (``plain``: every solution id is
    plain; hashes are hex; the strategy is checked here), else in Python."""
    if not (plain and re.fullmatch(SAFE_ID, strategy)):
        return f"py_stable_id(sid, step::INTEGER, {literal(strategy)}, {hash_column})"
    head, tail = literal('["consensus","'), literal(f',{json.dumps(strategy)},"')
    return f"substr(sha256(concat({head}, sid, '\",', step, {tail}, {hash_column}, '\"]')), 1, 16)"


def plain_ids(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether every solution id is written the same by JSON and by concatenation."""
    return bool(one(con, f"SELECT coalesce(bool_and(regexp_full_match(sid, {literal(SAFE_ID)})), true) "
                         "FROM lengths")[0])


def chain_table(con: duckdb.DuckDBPyConnection, lake: Lake, strategy: str, plain: bool) -> None:
    """``fix``: rows replacing a current row, with their hash chained to the current row's when
    their own id is already stored (the inputs returned to ones seen before), and ``dup`` when
    the chained id is stored too (never written twice). Rows without a current row need none."""
    con.execute(f"""
        CREATE OR REPLACE TABLE fix AS
        SELECT d.sid, d.step, g.inputs, c.cur_hash, {id_sql('g.inputs', strategy, plain)} AS plain_id
        FROM dec d JOIN dig g USING (sid)
        JOIN cur c ON c.solution_id = d.sid AND c.step_index = d.step AND c.strategy = ?
        WHERE d.emit AND c.cur_inputs IS DISTINCT FROM g.inputs""", [strategy])
    if not one(con, "SELECT count(*) FROM fix")[0]:
        return
    stored = _stored(lake)
    con.execute(f"""
        CREATE OR REPLACE TABLE fix AS
        SELECT *, {id_sql('hash', strategy, plain)} AS new_id FROM (
          SELECT sid, step, CASE WHEN s.consensus_id IS NOT NULL
                                 THEN md5(inputs || '>' || cur_hash) ELSE inputs END AS hash
          FROM fix f LEFT JOIN (SELECT DISTINCT st.consensus_id FROM {stored} st SEMI JOIN fix
                                ON st.consensus_id = fix.plain_id) s ON s.consensus_id = f.plain_id)""")
    con.execute(f"""
        CREATE OR REPLACE TABLE fix AS
        SELECT f.sid, f.step, f.hash, s.consensus_id IS NOT NULL AS dup
        FROM fix f LEFT JOIN (SELECT DISTINCT st.consensus_id FROM {stored} st SEMI JOIN fix
                              ON st.consensus_id = fix.new_id) s ON s.consensus_id = f.new_id""")


def _stored(lake: Lake) -> str:
    """Every stored consensus id (superseded rows included), read from the files."""
    if not lake.local:
        return "(SELECT consensus_id FROM _raw_consensus)"
    source = catalog.parquet_source(f"{lake.table_dir('consensus')}/*.parquet")
    return f"(SELECT consensus_id FROM {source})"


def rows_sql(annotators: Sequence[str], kind: str, strategy: str, human: bool, chained: bool,
             plain: bool) -> str:
    """The new Consensus rows of ``strategy`` (stored schema): emitted steps whose current row
    was computed from other inputs."""
    n = len(annotators)
    names = [f"CASE WHEN u{j} THEN {literal(a)} END" for j, a in enumerate(annotators)]
    if human:
        names.append("CASE WHEN n_reviewers > 0 THEN 'human' END")
    listed = f"list_filter([{', '.join(names)}]::VARCHAR[], lambda x: x IS NOT NULL)"
    votes = "(" + " + ".join(["0", *[f"u{j}::INTEGER" for j in range(n)]]) + ")::INTEGER"
    fields = [("votes", votes, "int"), ("unparsed", "unparsed", "int"), ("skipped", "skipped", "int")]
    if kind == "consensus":
        for role in ("mc", "judge"):
            fields.append((f"{role}_first_error", f"CASE WHEN {role}_fe <> -2 THEN {role}_fe::BIGINT END",
                           "int?"))
        for role in ("mc", "judge"):
            fields.append((f"{role}_annotator", (f"{role}_col", annotators), "name"))
    fields.append(("mc_provenance", ("prov", PROVENANCE), "name"))
    if human:
        fields.append(("reviewers", "n_reviewers", "int"))
    fields.append(("single_source", (f"CASE WHEN d.status = 3 THEN {int(kind == 'consensus')} END",
                                     SINGLE_SOURCE_REASONS), "name"))
    status = " ".join(f"WHEN {i} THEN {literal(s)}" for i, s in enumerate(STATUS_NAMES))
    hash_column = "coalesce(x.hash, g.inputs)" if chained else "g.inputs"
    return f"""
    SELECT {id_sql('inputs_hash', strategy, plain)} AS consensus_id, sid AS solution_id,
           step::INTEGER AS step_index, {literal(strategy)} AS strategy, status, label, probability,
           annotators, priority, inputs_hash, details, $created::TIMESTAMPTZ AS created_at
    FROM (SELECT d.sid, d.step, CASE d.status {status} END AS status,
                 (CASE WHEN d.label >= 0 THEN d.label END)::TINYINT AS label,
                 d.probability::DOUBLE AS probability, {listed} AS annotators,
                 CASE WHEN d.status = 1 AND d.emit THEN p.sol_priority END AS priority,
                 {hash_column} AS inputs_hash,
                 {details_sql(fields)} AS details
          FROM dec d JOIN dig g USING (sid) JOIN prio p USING (sid)
          LEFT JOIN cur c ON c.solution_id = d.sid AND c.step_index = d.step
                         AND c.strategy = {literal(strategy)}
          {'LEFT JOIN fix x ON x.sid = d.sid AND x.step = d.step' if chained else ''}
          WHERE d.emit AND c.cur_inputs IS DISTINCT FROM g.inputs
                {'AND NOT coalesce(x.dup, false)' if chained else ''})"""


def details_sql(fields: list[tuple[str, Any, str]]) -> str:
    """The ``details`` JSON of a row: its inputs digest then ``fields`` (key, expression, kind:
    ``int``, ``int?`` (nullable) or ``name`` (a code column and the names its codes index)).
    Written by concatenation when no name needs a JSON escape (the usual case: twice as fast as
    building a struct for ``to_json``), else by ``to_json``; the text is the same."""
    names = [n for _, expr, kind in fields if kind == "name" for n in expr[1]]
    if not all(re.fullmatch(SAFE_ID, n) for n in names):
        return _details_to_json(fields)
    parts = ["'{\"inputs\":\"'", "g.inputs", "'\"'"]
    for key, expr, kind in fields:
        if kind == "name":
            column, codes = expr
            whens = " ".join(f"WHEN {i} THEN {literal(json.dumps(n))}" for i, n in enumerate(codes))
            value = f"coalesce(CASE {column} {whens} END, 'null')"
        else:
            value = f"coalesce(({expr})::VARCHAR, 'null')" if kind == "int?" else f"({expr})"
        parts += [literal(f",{json.dumps(key)}:"), value]
    parts.append("'}'")
    return f"concat({', '.join(parts)})"


def _details_to_json(fields: list[tuple[str, Any, str]]) -> str:
    def value(expr: Any, kind: str) -> str:
        if kind != "name":
            return expr
        column, names = expr
        whens = " ".join(f"WHEN {i} THEN {literal(n)}" for i, n in enumerate(names))
        return f"CASE {column} {whens} END"

    packed = ", ".join(f"{key} := {value(expr, kind)}" for key, expr, kind in fields)
    return f"to_json(struct_pack(inputs := g.inputs, {packed}))::VARCHAR"


def write_rows(con: duckdb.DuckDBPyConnection, lake: Lake, sql: str, params: dict) -> int:
    """Store the rows of ``sql`` as one part file written by DuckDB; rows written."""
    if not lake.local:  # object stores: the lake's own writer (an atomic PUT)
        return lake.append_table("consensus", con.sql(sql, params=params).to_arrow_table())
    options = f"(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE {ROW_GROUP_ROWS})"
    part = lake.publish("consensus", lambda tmp: con.execute(
        f"COPY ({sql}) TO {literal(tmp)} {options}", params))
    return pq.read_metadata(part).num_rows if part else 0
