"""The reconcile step: step votes and human reviews from the lake -> Consensus rows per strategy.

This module holds the configuration and the in-memory reference path (``reconcile_arrays``: the
votes become one numpy ``VoteMatrix``, each strategy of ``annotators.consensus`` /
``annotators.dawid_skene`` returns arrays, submitted reviews override them). ``reconcile`` runs
the same rules as set-based DuckDB queries over the lake in bounded memory
(``pipelines.reconcile_lake``); tests compare the two on random lakes.

Idempotence: each row's ``inputs_hash`` is an md5 over the strategy's settings, the votes of its
annotators on the solution (id, status, label), the solution's current submitted reviews and, for
Dawid-Skene, the learned reliabilities rounded to 2 decimals. A row is written only when the
current row of its (solution, step, strategy) was computed from other inputs (``details.inputs``),
so re-running adds nothing and new votes or reviews supersede. Returning to inputs seen before
chains the hash with the superseded row's, so the older row is not mistaken for the current one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, model_validator

from annotators.base import config_hash
from annotators.consensus import (
    STATUS_NAMES, UNKNOWN, Decision, HumanLabels, VoteMatrix, apply_human,
    first_error_consensus, human_labels, vote_matrix, weighted_vote,
)
from annotators.dawid_skene import dawid_skene
from annotators.mc.config import MODES as MC_MODES
from schemas.ids import stable_id
from schemas.tables import CONSENSUS
from store.sql import in_list
from store.lake import Lake

KINDS = ("consensus", "majority", "unanimous", "dawid-skene")
VOTE_COLUMNS = ("solution_id, step_index, annotator, status, label, score, "
                "json_extract_string(details, '$.provenance') AS provenance, created_at, vote_id")


class ConsensusRule(BaseModel):
    """Qwen's consensus filter: MC and judge must agree on the first wrong step."""

    model_config = ConfigDict(extra="forbid")
    mc: list[str] = Field(default_factory=lambda: ["mc-binary", "mc-hard", "mc-soft"],
                          description="annotators that may play the MC role, first that locates "
                          "the first error of a solution wins")
    judge: list[str] = Field(default_factory=lambda: ["judge", "spark", "spare"],
                             description="annotators that may play the judge role, in order")
    after_first_error: Literal["negative", "drop"] = Field(
        "negative", description="agreed solutions: steps after the first error are labelled 0 "
        "(negative) or get no row (drop, as Qwen trains on steps up to the first error)")


class VoteRule(BaseModel):
    """Weighted vote over a set of annotators (majority or unanimous)."""

    model_config = ConfigDict(extra="forbid")
    annotators: list[str] | None = Field(None, description="annotators that vote (default: all)")
    weights: dict[str, float] = Field(default_factory=dict,
                                      description="vote weight per annotator (default 1)")
    min_votes: int = Field(1, ge=1, description="labeled votes a step needs to be agreed")
    min_share: float = Field(0.5, ge=0.5, le=1.0, description="majority: the winning label "
                             "needs more than this share of the weight (1.0 = unanimous)")


class DawidSkeneRule(BaseModel):
    """Dawid-Skene EM over the annotators' votes, reviews clamped as truth."""

    model_config = ConfigDict(extra="forbid")
    annotators: list[str] | None = Field(None, description="annotators modelled (default: all)")
    threshold: float = Field(0.9, ge=0.5, le=1.0, description="a step is agreed when its "
                             "posterior of the winning label reaches this")
    smoothing: float = Field(1.0, ge=0.0, description="Beta prior pseudo-count on each "
                             "sensitivity / specificity")
    max_iter: int = Field(200, ge=1, description="EM iterations at most")
    tol: float = Field(1e-6, gt=0.0, description="stop when no parameter moves more than this")
    use_reviews: bool = Field(True, description="clamp reviewed steps to the human label")


class Variant(BaseModel):
    """A named strategy: a kind plus its settings (overriding that kind's section)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["consensus", "majority", "unanimous", "dawid-skene"] = Field(
        description="which rule")
    settings: dict[str, Any] = Field(default_factory=dict, description="the rule's settings")


class ReconcileConfig(BaseModel):
    """How votes become consensus labels. Loaded from the ``reconcile:`` section and flags."""

    model_config = ConfigDict(extra="forbid")

    strategies: list[str] = Field(
        default_factory=lambda: ["consensus", "majority", "dawid-skene"],
        description=f"strategies to run, comma-separated: {', '.join(KINDS)} or a variant name")
    consensus: ConsensusRule = Field(default_factory=ConsensusRule,
                                     description="the consensus (MC + judge) rule")
    majority: VoteRule = Field(default_factory=VoteRule, description="the majority rule")
    unanimous: VoteRule = Field(default_factory=lambda: VoteRule(min_votes=2, min_share=1.0),
                                description="the unanimous rule")
    dawid_skene: DawidSkeneRule = Field(default_factory=DawidSkeneRule,
                                        description="the Dawid-Skene rule")
    variants: dict[str, Variant] = Field(
        default_factory=dict, description="extra named strategies, e.g. {judge-heavy: {kind: "
        "majority, settings: {weights: {judge: 2}}}}; list their names in `strategies`")
    human_reviews: bool = Field(True, description="submitted reviews override machine labels")
    review_after_first_error: Literal["negative", "unknown"] = Field(
        "negative", description="a review giving only the first error: later steps are 0 "
        "(negative) or left to the machines (unknown)")
    annotators: list[str] | None = Field(None, description="read only these annotators' votes")
    soft_scores: list[str] = Field(
        default_factory=lambda: ["mc-hard", "mc-soft", "mc-binary"],
        description="annotators whose vote score is the MC success fraction (share of rollouts "
        "reaching the gold answer): consensus and majority probabilities use it instead of "
        "their 0/1 label, and the export's soft_labels carry it")
    solution_ids: list[str] | None = Field(None, description="reconcile only these solutions")
    chunk_votes: int = Field(2_000_000, ge=1, description="votes decided at once: the lake is cut "
                             "by solution into slices of about this many votes, reconciled one "
                             "after the other (bounds memory; results do not depend on it)")
    memory_limit: str | None = Field(None, description="DuckDB memory limit while reconciling, "
                                     "e.g. 4GB (default: an eighth of the machine's RAM); "
                                     "beyond it DuckDB spills to temp_directory")
    temp_directory: str | None = Field(None, description="folder for the scratch DuckDB file "
                                       "and its spill (default: the system temp folder)")
    dry_run: bool = Field(False, description="compute and report, write nothing")

    @model_validator(mode="after")
    def _known(self) -> "ReconcileConfig":
        unknown = [s for s in self.strategies if s not in KINDS and s not in self.variants]
        if unknown:
            raise ValueError(f"unknown strategies {unknown}; choose from {', '.join(KINDS)} "
                             "or define them under `variants`")
        if not self.strategies:
            raise ValueError("no strategy given")
        return self

    def rule(self, name: str) -> tuple[str, BaseModel]:
        """(kind, typed settings) of a strategy name."""
        if name in self.variants:
            variant = self.variants[name]
            base = self._section(variant.kind)
            return variant.kind, type(base).model_validate(
                {**base.model_dump(), **variant.settings})
        return name, self._section(name)

    def _section(self, kind: str) -> BaseModel:
        return {"consensus": self.consensus, "majority": self.majority,
                "unanimous": self.unanimous, "dawid-skene": self.dawid_skene}[kind]


@dataclass
class StrategySummary:
    strategy: str
    rows: int = 0                 # rows the strategy emitted
    written: int = 0              # rows new in the lake
    steps: dict[str, int] = field(default_factory=dict)      # per status
    solutions: dict[str, int] = field(default_factory=dict)  # kept / disputed
    provenance: dict[str, int] = field(default_factory=dict)  # labelled steps per MC provenance
    reliabilities: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ReconcileSummary:
    votes: int = 0
    labeled: int = 0
    unparsed: int = 0
    skipped: int = 0
    reviews: int = 0
    strategies: list[StrategySummary] = field(default_factory=list)


def run_rule(kind: str, rule: Any, m: VoteMatrix, name: str,
             human: HumanLabels | None, soft: list[str] | tuple[str, ...] = ()) -> Decision:
    """One strategy's decision over the matrix (``soft``: annotators whose score is P(correct))."""
    if kind == "consensus":
        return first_error_consensus(m, name, rule.mc, rule.judge, rule.after_first_error, soft)
    if kind in ("majority", "unanimous"):
        share = 1.0 if kind == "unanimous" else rule.min_share
        return weighted_vote(m, name, rule.annotators, rule.weights, share, rule.min_votes, soft)
    return dawid_skene(m, name, rule.annotators, rule.threshold,
                       human if rule.use_reviews else None, rule.smoothing, rule.max_iter,
                       rule.tol)


PROVENANCE = ("none", "inferred", "measured")  # details.mc_provenance codes 0, 1, 2


def mc_provenance(m: VoteMatrix, d: Decision, mc: list[str] | tuple[str, ...]) -> None:
    """Per row, where its MC evidence came from: ``measured`` when a used MC vote was measured
    by rollouts (or the solution's graded answer), ``inferred`` when the used MC votes were all
    inferred (witnessed by a correct solution, before / after a found error), ``none`` when no
    MC vote was used (judge-only labels, or votes stored before provenance existed)."""
    cols = m.columns(mc)
    code = np.zeros(m.n_items, dtype=np.int8)
    if m.provenance is not None and len(cols):
        used = d.used[:, cols]
        prov = m.provenance[:, cols]
        code = np.where((used & (prov == 1)).any(axis=1), 2,
                        np.where((used & (prov == 0)).any(axis=1), 1, 0)).astype(np.int8)
    d.details["mc_provenance"] = code


def strategy_annotators(kind: str, rule: Any, m: VoteMatrix) -> list[str]:
    """The annotators whose votes a strategy reads (their votes enter its inputs hash)."""
    names = list(rule.mc) + list(rule.judge) if kind == "consensus" else rule.annotators
    return [m.annotators[c] for c in m.columns(names)]


# -- inputs ------------------------------------------------------------------------------------

def vote_filter(config: ReconcileConfig) -> str:
    """The WHERE clause ("" for all) of the votes ``config`` reconciles."""
    where = []
    if config.annotators is not None:
        where.append(f"annotator IN {in_list(config.annotators)}")
    if config.solution_ids is not None:
        where.append(f"solution_id IN {in_list(config.solution_ids)}")
    return f" WHERE {' AND '.join(where)}" if where else ""


def review_filter(config: ReconcileConfig) -> str:
    """The condition of the submitted reviews ``config`` reads (when it reads reviews)."""
    return "status = 'submitted'" + (f" AND solution_id IN {in_list(config.solution_ids)}"
                                     if config.solution_ids is not None else "")


def read_inputs(lake: Lake, config: ReconcileConfig) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(votes, submitted reviews, solution lengths) from the lake."""
    votes = lake.query(f"SELECT {VOTE_COLUMNS} FROM step_votes{vote_filter(config)}")
    lengths = lake.query("SELECT solution_id, len(steps)::INTEGER AS n_steps FROM solutions")
    reviews = pa.table({"solution_id": pa.array([], pa.string())})
    if config.human_reviews:
        reviews = lake.read("reviews", where=review_filter(config))
    return votes, reviews, lengths


DIGEST_SQL = """
SELECT solution_id, annotator,
       md5(string_agg(vote_id || ':' || status || ':' || coalesce(label::VARCHAR, '-'), ','
           ORDER BY vote_id)) AS digest
FROM votes GROUP BY solution_id, annotator
"""


def solution_digests(con: duckdb.DuckDBPyConnection, m: VoteMatrix, annotators: list[str],
                     salt: str) -> np.ndarray:
    """Per matrix solution: md5 of ``salt``, its votes by ``annotators`` and its reviews."""
    sql = f"""
    SELECT s.solution_id, md5(? || '|' || coalesce(string_agg(d.annotator || '=' || d.digest, ';'
             ORDER BY d.annotator), '') || '|' || coalesce(any_value(r.digest), '')) AS digest
    FROM sols s
    LEFT JOIN vote_digests d ON d.solution_id = s.solution_id AND d.annotator IN {in_list(annotators)}
    LEFT JOIN review_digests r ON r.solution_id = s.solution_id
    GROUP BY s.solution_id, s.code ORDER BY s.code"""
    return con.sql(sql, params=[salt]).to_arrow_table()["digest"].to_numpy(zero_copy_only=False)


def prepare_digests(con: duckdb.DuckDBPyConnection, votes: pa.Table, reviews: pa.Table,
                    m: VoteMatrix) -> None:
    con.register("votes", votes)
    con.register("sols", pa.table({"solution_id": m.solution_ids,
                                   "code": pa.array(np.arange(len(m.solution_ids)))}))
    con.execute(f"CREATE TEMP TABLE vote_digests AS {DIGEST_SQL}")
    if "review_id" in reviews.column_names:
        con.register("reviews_in", reviews.select(["solution_id", "review_id"]))
        con.execute("CREATE TEMP TABLE review_digests AS SELECT solution_id, md5(string_agg("
                    "review_id, ',' ORDER BY review_id)) AS digest FROM reviews_in GROUP BY ALL")
    else:
        con.execute("CREATE TEMP TABLE review_digests (solution_id VARCHAR, digest VARCHAR)")


# -- rows --------------------------------------------------------------------------------------

def decision_rows(con: duckdb.DuckDBPyConnection, m: VoteMatrix, d: Decision,
                  digests: np.ndarray, created_at: datetime) -> pa.Table:
    """The Consensus rows (stored schema) of a decision's emitted rows."""
    rows = np.nonzero(d.emit)[0]
    sol = m.item_solution[rows]
    human = d.details.get("reviewers", np.zeros(m.n_items, np.int32))[rows] > 0
    used = np.c_[d.used[rows], human]
    r, c = np.nonzero(used)
    names = pa.array(m.annotators + ["human"], pa.string()).take(pa.array(c))
    offsets = pa.array(np.r_[0, np.cumsum(used.sum(axis=1))].astype(np.int32))
    base = {
        "solution_id": m.solution_ids.take(pa.array(sol)),
        "step_index": pa.array(m.step_index[rows], pa.int32()),
        "status": pa.array(np.array(STATUS_NAMES)[d.status[rows]]),
        "label": pa.array(d.label[rows], pa.int8(), mask=d.label[rows] < 0),
        "probability": pa.array(d.probability[rows], pa.float64(),
                                mask=np.isnan(d.probability[rows])),
        "annotators": pa.ListArray.from_arrays(offsets, names),
        "priority": pa.array(d.priority[rows], pa.float64(), mask=np.isnan(d.priority[rows])),
        "inputs": pa.array(digests[sol], pa.string()),
        "votes": pa.array(d.used[rows].sum(axis=1), pa.int32()),
        "unparsed": pa.array(m.unparsed[rows], pa.int32()),
        "skipped": pa.array(m.skipped[rows], pa.int32()),
    }
    for key, values in d.details.items():
        values = values[rows]
        if key.endswith("_annotator"):
            base[key] = pa.array(m.annotators + [None], pa.string()).take(
                pa.array(np.where(values >= 0, values, len(m.annotators))))
        elif key.endswith("_first_error"):
            base[key] = pa.array(values, pa.int64(), mask=values == UNKNOWN)
        elif key == "mc_provenance":
            base[key] = pa.array(np.array(PROVENANCE)[values])
        elif key not in ("votes",):
            base[key] = pa.array(values)
    con.register("base", pa.table(base))
    fixed = {"solution_id", "step_index", "status", "label", "probability", "annotators",
             "priority", "inputs"}
    extra = ", ".join(f'"{k}" := "{k}"' for k in base if k not in fixed)
    sql = f"""
    SELECT solution_id, step_index, ? AS strategy, status, label, probability, annotators,
           priority, inputs AS inputs_hash,
           to_json(struct_pack(inputs := inputs, {extra}))::VARCHAR AS details, ?::TIMESTAMPTZ AS created_at
    FROM base"""
    table = con.sql(sql, params=[d.strategy, created_at]).to_arrow_table()
    con.unregister("base")
    return table


def with_ids(con: duckdb.DuckDBPyConnection, table: pa.Table) -> pa.Table:
    """Add consensus_id = schemas' stable_id("consensus", solution, step, strategy, hash),
    computed in DuckDB when the ids need no JSON escaping (the usual hex ids), else in Python."""
    safe = r"^[A-Za-z0-9_.:@+\-]*$"
    plain = all(pc.all(pc.match_substring_regex(table[c], safe)).as_py() in (True, None)
                for c in ("solution_id", "strategy", "inputs_hash"))
    if plain:
        con.register("rows_in", table)
        ids = con.sql("SELECT substr(sha256(json_array('consensus', solution_id, step_index, "
                      "strategy, inputs_hash)::VARCHAR), 1, 16) AS id FROM rows_in") \
            .to_arrow_table()["id"]
        con.unregister("rows_in")
    else:
        ids = pa.array([stable_id("consensus", s, i, g, h) for s, i, g, h in zip(
            *(table[c].to_pylist() for c in ("solution_id", "step_index", "strategy",
                                              "inputs_hash")))], pa.string())
    return table.append_column("consensus_id", ids).select(CONSENSUS.names).cast(CONSENSUS)


def changed_rows(con: duckdb.DuckDBPyConnection, lake: Lake, table: pa.Table,
                 strategies: list[str]) -> pa.Table:
    """Drop rows whose current row was computed from the same inputs; chain the hash of rows
    returning to inputs whose row id is already stored."""
    current = lake.query(
        "SELECT solution_id, step_index, strategy, inputs_hash AS cur_hash, "
        "json_extract_string(details, '$.inputs') AS cur_inputs FROM consensus "
        f"WHERE strategy IN {in_list(strategies)}")
    con.register("new_rows", table)
    con.register("current_rows", current)
    fresh = con.sql("""
        SELECT n.*, c.cur_hash FROM new_rows n LEFT JOIN current_rows c
          USING (solution_id, step_index, strategy)
        WHERE c.cur_inputs IS DISTINCT FROM n.inputs_hash""").to_arrow_table()
    if fresh.num_rows and current.num_rows:
        stored = pa.array(list(lake.ids("consensus")), pa.string())
        seen = pc.is_in(fresh["consensus_id"], value_set=stored)
        if pc.any(seen).as_py():
            con.register("fresh_rows", fresh.append_column("seen", seen))
            fresh = con.sql("""
                SELECT * REPLACE (CASE WHEN seen THEN md5(inputs_hash || '>' || cur_hash)
                                  ELSE inputs_hash END AS inputs_hash)
                FROM fresh_rows""").to_arrow_table().drop_columns(["seen", "consensus_id"])
            return with_ids(con, fresh.drop_columns(["cur_hash"]))
    return fresh.drop_columns(["cur_hash"]).cast(CONSENSUS)


# -- the step ----------------------------------------------------------------------------------

def reconcile_arrays(votes: pa.Table, reviews: pa.Table, lengths: pa.Table | None,
                     config: ReconcileConfig, created_at: datetime | None = None,
                     ) -> tuple[pa.Table, ReconcileSummary]:
    """Every configured strategy over the given votes and reviews, in memory (numpy):
    (Consensus rows, summary). The reference the set-based path (``pipelines.reconcile_lake``,
    what ``reconcile`` runs) is tested against; fine for small lakes and unit tests."""
    created_at = created_at or datetime.now(timezone.utc)
    summary = ReconcileSummary(votes=votes.num_rows)
    if not votes.num_rows:
        return CONSENSUS.empty_table(), summary
    status = votes["status"]
    summary.labeled, summary.unparsed, summary.skipped = (
        pc.sum(pc.equal(status, s)).as_py() or 0 for s in ("labeled", "unparsed", "skipped"))
    summary.reviews = reviews.num_rows if "review_id" in reviews.column_names else 0
    m = vote_matrix(votes, lengths)
    human = None
    if config.human_reviews and summary.reviews:
        human = human_labels(m, reviews, config.review_after_first_error)
    con = duckdb.connect(":memory:")
    tables = []
    try:
        prepare_digests(con, votes, reviews, m)
        for name in config.strategies:
            kind, rule = config.rule(name)
            d = run_rule(kind, rule, m, name, human, config.soft_scores)
            mc_provenance(m, d, MC_MODES)
            salt = f"{name}|{kind}|{config_hash(rule)}|{params_digest(d.annotator_details)}"
            if human is not None:
                d = apply_human(m, d, human)
            digests = solution_digests(con, m, strategy_annotators(kind, rule, m), salt)
            table = with_ids(con, decision_rows(con, m, d, digests, created_at))
            tables.append(table)
            summary.strategies.append(_summarise(name, m, d))
    finally:
        con.close()
    return pa.concat_tables(tables), summary


def params_digest(details: dict[str, list]) -> str:
    """Dawid-Skene reliabilities rounded to 2 decimals (they shape every posterior)."""
    params = {k: details.get(k) for k in ("annotator", "sensitivity", "specificity")}
    if params["annotator"] is None:
        return ""
    return json.dumps({k: [round(v, 2) if isinstance(v, float) else v for v in vs]
                       for k, vs in params.items()}, sort_keys=True)


def _summarise(name: str, m: VoteMatrix, d: Decision) -> StrategySummary:
    emitted = d.status[d.emit]
    out = StrategySummary(strategy=name, rows=int(d.emit.sum()))
    out.steps = {s: int((emitted == i).sum()) for i, s in enumerate(STATUS_NAMES)}
    sol = m.item_solution[d.emit]
    n_sol = len(m.solution_ids)
    disputed = np.bincount(sol, weights=emitted == 1, minlength=n_sol) > 0
    present = np.bincount(sol, minlength=n_sol) > 0
    out.solutions = {"kept": int((present & ~disputed).sum()), "disputed": int(disputed.sum())}
    if "mc_provenance" in d.details:
        labelled = d.emit & (d.label >= 0)
        codes = d.details["mc_provenance"][labelled]
        out.provenance = {name: int((codes == i).sum()) for i, name in enumerate(PROVENANCE)}
    info = d.annotator_details
    if info:
        out.reliabilities = [dict(zip(info, values)) for values in zip(*info.values())]
    return out


def reconcile(lake: Lake, config: ReconcileConfig) -> ReconcileSummary:
    """Read votes and reviews from ``lake``, run the strategies, append the changed rows
    (holding the lake lock, so two reconciles never both append the same rows)."""
    from store.lock import lake_lock

    with lake_lock(lake, "reconcile"):
        return _reconcile(lake, config)


def _reconcile(lake: Lake, config: ReconcileConfig) -> ReconcileSummary:
    from pipelines.reconcile_lake import reconcile_lake

    return reconcile_lake(lake, config)


def describe(summary: ReconcileSummary, dry_run: bool = False) -> str:
    """A few lines: the votes read, then per strategy its rows, statuses and solutions kept."""
    lines = [f"reconcile: {summary.votes} votes ({summary.labeled} labeled, {summary.unparsed} "
             f"unparsed, {summary.skipped} skipped: not votes), {summary.reviews} submitted reviews"]
    verb = "would write" if dry_run else "wrote"
    for s in summary.strategies:
        steps = ", ".join(f"{v} {k}" for k, v in s.steps.items())
        total = sum(s.solutions.values()) or 1
        lines.append(f"  {s.strategy}: {s.rows} steps ({steps}); solutions kept "
                     f"{s.solutions.get('kept', 0)}/{total} ({s.solutions.get('kept', 0) / total:.1%}); "
                     f"{verb} {s.written} new rows")
        labelled = sum(s.provenance.values())
        if labelled:
            lines.append("    MC evidence of the labelled steps: " + ", ".join(
                f"{name} {n / labelled:.0%}" for name, n in s.provenance.items() if n))
        for r in s.reliabilities:
            if not r["votes"]:  # no labelled vote: the prior, not a reliability
                continue
            lines.append(f"    {r['annotator']}: sensitivity {r['sensitivity']:.3f}, specificity "
                         f"{r['specificity']:.3f}, accuracy {r['accuracy']:.3f} "
                         f"({r['votes']} labelled votes)")
    return "\n".join(lines)
