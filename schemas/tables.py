"""Arrow schemas of the stored tables and conversion between records and Arrow.

Dict-valued fields (``metadata``, ``details``) are stored as JSON text so DuckDB can query them
with its JSON functions and the schema stays fixed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Sequence, TypeVar

import pyarrow as pa
from pydantic import ValidationError

from schemas.errors import RecordError
from schemas.records import Consensus, Problem, Record, Review, Solution, StepVote

R = TypeVar("R", bound=Record)
TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class TableSpec:
    """A stored table: its record type, Arrow schema, key column and, for tables whose rows are
    superseded by newer ones, the columns that identify "the same thing" (views keep the latest)."""

    name: str
    model: type[Record]
    schema: pa.Schema
    latest_by: tuple[str, ...] = ()
    order_by: str = "created_at"

    @property
    def key(self) -> str:
        return self.model.id_field


JSON_FIELDS = {"metadata", "details"}

PROBLEMS = pa.schema([
    ("problem_id", pa.string()), ("question", pa.string()), ("reference_answer", pa.string()),
    ("reference_solution", pa.string()), ("source", pa.string()), ("metadata", pa.string()),
])
SOLUTIONS = pa.schema([
    ("solution_id", pa.string()), ("problem_id", pa.string()), ("generator", pa.string()),
    ("text", pa.string()), ("steps", pa.list_(pa.string())), ("final_answer", pa.string()),
    ("is_correct", pa.bool_()), ("split_method", pa.string()), ("finish_reason", pa.string()),
    ("prompt_tokens", pa.int64()),
    ("completion_tokens", pa.int64()), ("metadata", pa.string()),
])
STEP_VOTES = pa.schema([
    ("vote_id", pa.string()), ("solution_id", pa.string()), ("step_index", pa.int32()),
    ("annotator", pa.string()), ("annotator_version", pa.string()), ("config_hash", pa.string()),
    ("model", pa.string()), ("status", pa.string()), ("label", pa.int8()), ("score", pa.float64()),
    ("rationale", pa.string()), ("details", pa.string()), ("prompt_tokens", pa.int64()),
    ("completion_tokens", pa.int64()), ("rollouts", pa.int64()), ("created_at", TS),
])
CONSENSUS = pa.schema([
    ("consensus_id", pa.string()), ("solution_id", pa.string()), ("step_index", pa.int32()),
    ("strategy", pa.string()), ("status", pa.string()), ("label", pa.int8()),
    ("probability", pa.float64()), ("annotators", pa.list_(pa.string())),
    ("priority", pa.float64()), ("inputs_hash", pa.string()), ("details", pa.string()),
    ("created_at", TS),
])
REVIEWS = pa.schema([
    ("review_id", pa.string()), ("solution_id", pa.string()), ("reviewer", pa.string()),
    ("status", pa.string()), ("first_error", pa.int32()), ("step_labels", pa.list_(pa.int8())),
    ("comment", pa.string()), ("dataset", pa.string()), ("reviewed_at", TS), ("created_at", TS),
])

TABLES: dict[str, TableSpec] = {
    "problems": TableSpec("problems", Problem, PROBLEMS),
    "solutions": TableSpec("solutions", Solution, SOLUTIONS),
    "step_votes": TableSpec("step_votes", StepVote, STEP_VOTES),
    "consensus": TableSpec(
        "consensus", Consensus, CONSENSUS, latest_by=("solution_id", "step_index", "strategy")
    ),
    "reviews": TableSpec(
        "reviews", Review, REVIEWS, latest_by=("dataset", "solution_id", "reviewer"),
        order_by="reviewed_at",
    ),
}


def arrow_schema(model: type[Record]) -> pa.Schema:
    """The Arrow schema stored for a record type."""
    for spec in TABLES.values():
        if spec.model is model:
            return spec.schema
    raise KeyError(f"no table stores {model.__name__}")


def validate(model: type[R], data: dict[str, Any], where: str) -> R:
    """Build a record from raw data; a failure raises RecordError naming ``where`` and the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first.get("loc", ())) or None
        raise RecordError(where, field, first.get("msg", str(exc))) from None


def _row(record: Record) -> dict[str, Any]:
    row = record.model_dump()
    for name in JSON_FIELDS & row.keys():
        row[name] = json.dumps(row[name], sort_keys=True, ensure_ascii=False, default=str)
    return row


def to_arrow(records: Sequence[Record] | Iterable[Record], model: type[Record] | None = None) -> pa.Table:
    """Records of one type as an Arrow table with the stored schema."""
    records = list(records)
    if model is None:
        if not records:
            raise ValueError("to_arrow needs a model for an empty list")
        model = type(records[0])
    schema = arrow_schema(model)
    rows = [_row(r) for r in records]
    return pa.Table.from_pylist(rows, schema=schema)


def from_arrow(table: pa.Table, model: type[R]) -> list[R]:
    """Arrow rows back into records (JSON columns decoded)."""
    out: list[R] = []
    for row in table.to_pylist():
        for name in JSON_FIELDS & row.keys():
            if isinstance(row[name], str):
                row[name] = json.loads(row[name])
        out.append(model.model_validate(row))
    return out
