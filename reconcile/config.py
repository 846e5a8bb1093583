"""How votes become consensus labels: the strategies and their typed settings.

``ReconcileConfig`` is the ``reconcile:`` section of a project (and the ``stepforge reconcile``
flags); each strategy is a kind (``KINDS``) with its rule's settings, or a named variant of one.
The consensus rule's MC and judge candidates default to the annotators registered with that role
(``annotators.registry.role_members``), in rank order; a list in the config replaces them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from annotators.registry import role_members

KINDS = ("consensus", "majority", "unanimous", "dawid-skene")


class ConsensusRule(BaseModel):
    """Qwen's consensus filter: MC and judge must agree on the first wrong step."""

    model_config = ConfigDict(extra="forbid")
    mc: list[str] = Field(default_factory=lambda: role_members("mc"),
                          description="annotators that may play the MC role, first that locates "
                          "the first error of a solution wins")
    judge: list[str] = Field(default_factory=lambda: role_members("judge"),
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
