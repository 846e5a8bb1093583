"""Record types of stepforge and their Arrow schemas (imports nothing else of ours)."""

from schemas.errors import RecordError
from schemas.ids import stable_id
from schemas.records import (
    ANNOTATION_STATUSES,
    CONSENSUS_STATUSES,
    REVIEW_STATUSES,
    Consensus,
    Problem,
    Record,
    Review,
    Solution,
    StepVote,
)
from schemas.tables import TABLES, TableSpec, arrow_schema, to_arrow, from_arrow, validate

__all__ = [
    "ANNOTATION_STATUSES", "CONSENSUS_STATUSES", "REVIEW_STATUSES",
    "Consensus", "Problem", "Record", "RecordError", "Review", "Solution", "StepVote",
    "TABLES", "TableSpec", "arrow_schema", "from_arrow", "stable_id", "to_arrow", "validate",
]
