"""Typed records: Problem, Solution, StepVote, Consensus, Review.

Each record derives its id from its content when none is given, so ingesting or generating the
same thing twice yields the same id and the store can skip it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.ids import normalize_text, stable_id

ANNOTATION_STATUSES = ("labeled", "unparsed", "skipped")
CONSENSUS_STATUSES = ("agreed", "disputed", "human", "single-source")
REVIEW_STATUSES = ("submitted", "discarded", "draft")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Record(BaseModel):
    """Base of every stored record; ``id_field`` names the content-derived key."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)
    id_field: ClassVar[str] = ""

    @property
    def key(self) -> str:
        return getattr(self, self.id_field)


class Problem(Record):
    """A problem with its reference answer (and, optionally, a reference solution for SPARE)."""

    id_field: ClassVar[str] = "problem_id"
    problem_id: str = ""
    question: str
    reference_answer: str | None = None
    reference_solution: str | None = None
    source: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("question")
    @classmethod
    def _question_not_empty(cls, value: str) -> str:
        if not value or not value.strip():
            raise ValueError("is empty")
        return value

    @model_validator(mode="after")
    def _derive_id(self) -> "Problem":
        if not self.problem_id:
            self.problem_id = stable_id("problem", normalize_text(self.question))
        return self


class Solution(Record):
    """A model-written solution split into ordered steps, with its graded final answer.

    ``finish_reason``: ``stop`` (the model ended it), ``length`` (cut off at max_tokens: its
    answer is not graded, ``is_correct`` stays None) or ``given`` (ingested text); None only on
    rows written before the column existed."""

    id_field: ClassVar[str] = "solution_id"
    solution_id: str = ""
    problem_id: str
    generator: str
    text: str
    steps: list[str]
    final_answer: str | None = None
    is_correct: bool | None = None
    split_method: str = "lines"
    finish_reason: Literal["stop", "length", "given"] | None = "given"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("steps")
    @classmethod
    def _steps_not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("has no steps")
        if any(not step.strip() for step in value):
            raise ValueError("contains an empty step")
        return value

    @model_validator(mode="after")
    def _derive_id(self) -> "Solution":
        if not self.solution_id:
            self.solution_id = stable_id(
                "solution", self.problem_id, self.generator, normalize_text(self.text)
            )
        return self


class StepVote(Record):
    """One annotator's verdict on one step.

    ``label`` is 1 (correct) / 0 (incorrect) when ``status`` is ``labeled``; ``unparsed`` votes
    keep the raw model output in ``rationale`` and ``skipped`` votes the reason. Costs of a call
    that labels a whole solution are apportioned over its votes so that their sum is the call's
    cost.
    """

    id_field: ClassVar[str] = "vote_id"
    vote_id: str = ""
    solution_id: str
    step_index: int = Field(ge=0)
    annotator: str
    annotator_version: str
    config_hash: str = ""
    model: str = ""
    status: Literal["labeled", "unparsed", "skipped"] = "labeled"
    label: int | None = None
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    rationale: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    rollouts: int = Field(default=0, ge=0)
    created_at: datetime = Field(default_factory=utcnow)

    @model_validator(mode="after")
    def _check_and_derive(self) -> "StepVote":
        if self.status == "labeled" and self.label not in (0, 1):
            raise ValueError("label must be 0 or 1 for a labeled vote")
        if self.status != "labeled" and self.label is not None:
            raise ValueError(f"label must be empty for a {self.status} vote")
        if not self.vote_id:
            self.vote_id = stable_id(
                "vote", self.solution_id, self.step_index, self.annotator,
                self.annotator_version, self.config_hash,
            )
        return self


class Consensus(Record):
    """The reconciled label of one step under one strategy.

    The id includes ``inputs_hash`` (a hash of the votes and reviews used) so a re-run with the
    same inputs adds nothing, while new inputs add a newer row; views read the latest per step.
    """

    id_field: ClassVar[str] = "consensus_id"
    consensus_id: str = ""
    solution_id: str
    step_index: int = Field(ge=0)
    strategy: str
    status: Literal["agreed", "disputed", "human", "single-source"]  # single-source: one labeled vote, not agreed
    label: int | None = None
    probability: float | None = Field(default=None, ge=0.0, le=1.0)
    annotators: list[str] = Field(default_factory=list)
    priority: float | None = None
    inputs_hash: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)

    @model_validator(mode="after")
    def _derive_id(self) -> "Consensus":
        if not self.consensus_id:
            self.consensus_id = stable_id(
                "consensus", self.solution_id, self.step_index, self.strategy, self.inputs_hash
            )
        return self


class Review(Record):
    """A human reviewer's response on one solution, pulled from Argilla.

    ``first_error`` is the 0-based index of the first wrong step, -1 for "no error", None when
    the response did not answer it (discarded or draft).
    """

    id_field: ClassVar[str] = "review_id"
    review_id: str = ""
    solution_id: str
    reviewer: str
    status: Literal["submitted", "discarded", "draft"]
    first_error: int | None = Field(default=None, ge=-1)
    step_labels: list[int] | None = None
    comment: str = ""
    dataset: str = ""
    reviewed_at: datetime = Field(default_factory=utcnow)
    created_at: datetime = Field(default_factory=utcnow)

    @model_validator(mode="after")
    def _derive_id(self) -> "Review":
        if not self.review_id:
            self.review_id = stable_id(
                "review", self.dataset, self.solution_id, self.reviewer, self.status,
                self.first_error, self.step_labels, self.reviewed_at.isoformat(),
            )
        return self
