"""The reconcile step: step votes and human reviews from the lake -> Consensus rows per strategy.

This module holds the configuration, the summary and the step's entry point: ``reconcile`` runs
the rules of ``reconcile.consensus`` / ``reconcile.dawid_skene`` as set-based DuckDB queries
over the lake in bounded memory (``reconcile.lake``, ``reconcile.rules_sql``); the
in-memory numpy path they are tested against is ``tests.oracles.reconcile_reference``.

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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from store.lake import Lake
from store.sql import in_list

KINDS = ("consensus", "majority", "unanimous", "dawid-skene")
VOTE_COLUMNS = ("solution_id, step_index, annotator, annotator_version, config_hash, status, "
                "label, score, json_extract_string(details, '$.provenance') AS provenance, "
                "created_at, vote_id")
# In every row's inputs hash: bumped when the rules change what the same votes give (2: the
# newest run of an annotator wins; single-source labels are not agreed), so a reconcile after
# the change rewrites rows computed under the old rules.
RULES_VERSION = "2"


class ConsensusRule(BaseModel):
    """Qwen's consensus filter: MC and judge must agree on the first wrong step."""

    model_config = ConfigDict(extra="forbid")
    mc: list[str] = Field(default_factory=lambda: ["mc-binary", "mc-verify", "mc-hard", "mc-soft"],
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
        default_factory=lambda: ["mc-hard", "mc-soft", "mc-binary", "mc-verify"],
        description="annotators whose vote score is the MC success fraction (share of rollouts "
        "reaching the gold answer): consensus and majority probabilities use it instead of "
        "their 0/1 label, and the export's soft_labels carry it")
    solution_ids: list[str] | None = Field(None, description="reconcile only these solutions")
    chunk_votes: int = Field(2_000_000, ge=1, description="votes decided at once: the lake is cut "
                             "by solution into slices of about this many votes, reconciled one "
                             "after the other (bounds memory; results do not depend on it)")
    workers: int | None = Field(None, ge=1, description="slices reconciled at once, each on its own "
                                "DuckDB with its share of memory_limit (default: one per CPU core)")
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
    solutions: dict[str, int] = field(default_factory=dict)  # kept / disputed / single-source
    provenance: dict[str, int] = field(default_factory=dict)  # labelled steps per MC provenance
    reliabilities: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ReconcileSummary:
    votes: int = 0
    labeled: int = 0
    unparsed: int = 0
    skipped: int = 0
    superseded: int = 0           # votes of older runs a newer run of the annotator replaced
    superseded_labels: int = 0    # of which labeled: old labels that no longer count
    reviews: int = 0
    strategies: list[StrategySummary] = field(default_factory=list)

PROVENANCE = ("none", "inferred", "measured")  # details.mc_provenance codes 0, 1, 2

# -- inputs ------------------------------------------------------------------------------------

def vote_condition(config: ReconcileConfig) -> str:
    """The condition ("" for all) on the votes ``config`` reconciles."""
    where = []
    if config.annotators is not None:
        where.append(f"annotator IN {in_list(config.annotators)}")
    if config.solution_ids is not None:
        where.append(f"solution_id IN {in_list(config.solution_ids)}")
    return " AND ".join(where)


def vote_filter(config: ReconcileConfig) -> str:
    """The WHERE clause ("" for all) of the votes ``config`` reconciles."""
    condition = vote_condition(config)
    return f" WHERE {condition}" if condition else ""


def review_filter(config: ReconcileConfig) -> str:
    """The condition of the submitted reviews ``config`` reads (when it reads reviews)."""
    return "status = 'submitted'" + (f" AND solution_id IN {in_list(config.solution_ids)}"
                                     if config.solution_ids is not None else "")

def rules_salt(name: str, kind: str, rule_hash: str, details: dict[str, list]) -> str:
    """The salt of a strategy's inputs hash: its name, kind, settings, the rules' version and,
    for Dawid-Skene, the rounded reliabilities."""
    return f"{name}|{kind}|{rule_hash}|r{RULES_VERSION}|{params_digest(details)}"


def params_digest(details: dict[str, list]) -> str:
    """Dawid-Skene reliabilities rounded to 2 decimals (they shape every posterior)."""
    params = {k: details.get(k) for k in ("annotator", "sensitivity", "specificity")}
    if params["annotator"] is None:
        return ""
    return json.dumps({k: [round(v, 2) if isinstance(v, float) else v for v in vs]
                       for k, vs in params.items()}, sort_keys=True)

def reconcile(lake: Lake, config: ReconcileConfig) -> ReconcileSummary:
    """Read votes and reviews from ``lake``, run the strategies, append the changed rows
    (holding the lake lock, so two reconciles never both append the same rows)."""
    from store.lock import lake_lock

    with lake_lock(lake, "reconcile", write=not config.dry_run):  # a dry run only reads
        return _reconcile(lake, config)


def _reconcile(lake: Lake, config: ReconcileConfig) -> ReconcileSummary:
    from reconcile.lake import reconcile_lake

    return reconcile_lake(lake, config)


def describe(summary: ReconcileSummary, dry_run: bool = False) -> str:
    """A few lines: the votes read, then per strategy its rows, statuses and solutions kept."""
    lines = [f"reconcile: {summary.votes} votes ({summary.labeled} labeled, {summary.unparsed} "
             f"unparsed, {summary.skipped} skipped: not votes), {summary.reviews} submitted reviews"]
    if summary.superseded:
        lines.append(f"  superseded: {summary.superseded} votes of older runs ({summary.superseded_labels} "
                     "labels) no longer count: a newer run of the same annotator voted on their "
                     "solutions (kept in step_votes)")
    verb = "would write" if dry_run else "wrote"
    for s in summary.strategies:
        steps = ", ".join(f"{v} {k}" for k, v in s.steps.items())
        total = sum(s.solutions.values()) or 1
        single = s.steps.get("single-source", 0)
        lines.append(f"  {s.strategy}: {s.rows} steps ({steps}); solutions kept "
                     f"{s.solutions.get('kept', 0)}/{total} ({s.solutions.get('kept', 0) / total:.1%}); "
                     f"{verb} {s.written} new rows")
        if single:
            lines.append(f"    {single} single-source steps: one annotator's labeled vote alone, "
                         "not agreed (the export refuses them without --force)")
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
