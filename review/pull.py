"""Pull reviewers' responses from Argilla into the lake's ``reviews`` table.

Every response is stored with its status: ``submitted`` ones are labels; ``draft`` (saved, not
finished) and ``discarded`` (the reviewer declined the record) are kept so nothing a reviewer did
is lost, but consumers must count submitted reviews only (reconcile does). All reviewers of a
record are kept; majority reconciliation is reconcile's job. Review ids derive from the response's
content and its last update time on the server, so pulling twice adds nothing and a changed
answer adds a newer row (the ``reviews`` view shows the latest per dataset, solution, reviewer).

A human label is only what a human set. Argilla's UI pre-fills a pending reviewer's form with the
record's suggestions and submits them as the reviewer's values, so a value equal to the record's
suggestion cannot be told from one the reviewer never touched. Push sends no suggestions; records
that still carry one (pushed by an older stepforge, or suggested by hand in Argilla) have every
answer equal to it dropped here as unanswered and counted in the summary (``prefilled``).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from review.agreement import Agreement, agreement
from review.client import Connection, ReviewError, connect, paged, with_retries
from review.config import PullConfig
from review.dataset import COMMENT, FIRST_ERROR, WRONG_STEPS, label_index
from review.push import find_group
from schemas import RecordError
from schemas.records import Review
from store.lake import Lake

log = logging.getLogger(__name__)


@dataclass
class PullSummary:
    """What a pull read and stored."""

    dataset: str  # workspace/group name
    datasets: list[str] = field(default_factory=list)  # the group's datasets read
    records: int = 0
    responses: Counter = field(default_factory=Counter)
    added: int = 0
    inconsistent: list[str] = field(default_factory=list)
    prefilled: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    agreement: Agreement = field(default_factory=lambda: Agreement(0, 0, None, None))


def parse_time(text: str | None) -> datetime:
    """An Argilla timestamp (ISO, naive UTC) as an aware datetime."""
    if not text:
        raise ValueError("missing timestamp")
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def step_labels(first_error: int | None, wrong: list[int], n_steps: int) -> list[int] | None:
    """Per-step labels (1 right, 0 wrong) when the answers determine every step: "no error", or
    ticked wrong steps whose earliest is the first error. None when only the first error is known
    (steps after it are unlabeled) or when the answers contradict each other."""
    if first_error is None:
        return None
    if first_error < 0:
        return None if wrong else [1] * n_steps
    if not wrong:
        return None
    bad = set(wrong) | {first_error}
    if min(bad) != first_error:
        return None
    return [0 if i in bad else 1 for i in range(n_steps)]


def _value(response: dict, question: str) -> Any:
    return ((response.get("values") or {}).get(question) or {}).get("value")


def suggested_values(record: dict, questions: dict[str, str]) -> dict[str, Any]:
    """Question name -> the record's suggested value (``questions`` maps question ids to names):
    what Argilla's UI pre-fills the form of a reviewer who has not answered with."""
    return {questions[str(s["question_id"])]: s.get("value") for s in record.get("suggestions") or []
            if str(s.get("question_id")) in questions}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return sorted(map(str, a)) == sorted(map(str, b))
    return a == b


def human_values(response: dict, suggested: dict[str, Any]) -> tuple[dict, list[str]]:
    """The response keeping only the answers a human set: a value equal to the record's
    suggestion for its question may be the UI's pre-fill left untouched, so it is dropped (as if
    unanswered). Also the names of the questions dropped."""
    values = response.get("values") or {}
    dropped = sorted(q for q, answer in values.items()
                     if q in suggested and _same((answer or {}).get("value"), suggested[q]))
    if not dropped:
        return response, []
    kept = {q: answer for q, answer in values.items() if q not in dropped}
    return {**response, "values": kept}, dropped


def to_review(record: dict, response: dict, reviewer: str, dataset: str) -> tuple[Review, bool]:
    """The Review of one response and whether its two answers contradict each other; a value
    that is not a label of this dataset raises RecordError naming the record and question."""
    solution_id = record.get("external_id") or ""
    where = f"argilla record {solution_id or record.get('id')} (reviewer {reviewer})"
    if not solution_id:
        raise RecordError(where, "external_id", "record has no solution id")
    try:
        raw = _value(response, FIRST_ERROR)
        first = label_index(raw) if raw is not None else None
        wrong = sorted(i for i in (label_index(v) for v in (_value(response, WRONG_STEPS) or []))
                       if i >= 0)  # "none" ticked: no wrong step
    except ValueError as exc:
        raise RecordError(where, FIRST_ERROR, str(exc)) from None
    n_steps = (record.get("metadata") or {}).get("n_steps")
    if not isinstance(n_steps, int):
        n_steps = max([first, *wrong, -1]) + 1
    beyond = [i for i in [*wrong, first if first is not None else -1] if i >= n_steps]
    if beyond:
        raise RecordError(where, FIRST_ERROR if first in beyond else WRONG_STEPS,
                          f"answers Step {beyond[0] + 1} but the solution has {n_steps} steps "
                          "(a one-dataset layout offers every record the same steps): not stored; "
                          "ask the reviewer to correct the answer in Argilla, then pull again")
    labels = step_labels(first, wrong, n_steps)
    contradiction = first is not None and labels is None and bool(wrong)
    review = Review(
        solution_id=solution_id, reviewer=reviewer, status=response["status"],
        first_error=first, step_labels=labels, comment=_value(response, COMMENT) or "",
        dataset=dataset, reviewed_at=parse_time(response.get("updated_at") or response.get("inserted_at")),
    )
    return review, contradiction


def _usernames(client: Any, conn: Connection) -> dict[str, str]:
    """User id -> username (listing users needs an owner key; otherwise ids stand in)."""
    try:
        body = with_retries(conn, "listing users",
                            lambda: client.http_client.get("/api/v1/users").raise_for_status().json())
    except ReviewError as exc:
        log.warning("cannot list users (%s); reviewers are stored by user id", exc)
        return {}
    return {item["id"]: item["username"] for item in body.get("items", [])}


def read_reviews(config: PullConfig, conn: Connection) -> tuple[list[Review], PullSummary]:
    """Every response of the group's datasets (one per step count, and the one-dataset layout of
    older pushes) as a Review (nothing is written)."""
    client = connect(conn)
    workspace, group = find_group(client, conn, config)
    if not group:
        raise ReviewError(f"no dataset {config.dataset!r} (nor {config.dataset}-N-steps) in workspace "
                          f"{workspace.name!r} at {conn.api_url}: push first (stepforge review push)")
    summary = PullSummary(dataset=f"{workspace.name}/{config.dataset}")
    users = _usernames(client, conn)
    reviews = []
    summary.datasets = list(group)
    for name, dataset in group.items():
        reviews += _read_dataset(client, conn, dataset, f"{workspace.name}/{name}", users, summary,
                                 config.batch_size)
    return reviews, summary


def _read_dataset(client: Any, conn: Connection, dataset: Any, name: str, users: dict[str, str],
                  summary: PullSummary, page: int) -> list[Review]:
    """The Reviews of one dataset's responses; counts and rejected answers go to ``summary``."""
    questions = {str(q.id): q.name for q in dataset.settings.questions}
    reviews = []
    path = f"/api/v1/datasets/{dataset.id}/records"
    for record in paged(client, conn, path, "reading responses", page=page,
                        include=["responses", "suggestions"]):
        summary.records += 1
        suggested = suggested_values(record, questions)
        for response in record.get("responses") or []:
            summary.responses[response["status"]] += 1
            reviewer = users.get(response["user_id"], response["user_id"])
            response, dropped = human_values(response, suggested)
            if dropped:
                summary.prefilled.append(f"{record.get('external_id')} ({reviewer}): {', '.join(dropped)}")
            try:
                review, contradiction = to_review(record, response, reviewer, name)
            except RecordError as exc:
                summary.invalid.append(str(exc))
                continue
            if contradiction:
                summary.inconsistent.append(f"{review.solution_id} ({reviewer})")
            reviews.append(review)
    return reviews


def pull(config: PullConfig, lake: Lake, conn: Connection | None = None) -> PullSummary:
    """Read the responses and append them to the lake's ``reviews`` table; the summary reports
    counts per status, the agreement of reviewers on the first error (submitted only), and the
    answers rejected (``invalid``) or dropped as pre-filled (``prefilled``)."""
    conn = conn or config.connection()
    reviews, summary = read_reviews(config, conn)
    answers: dict[str, list[int]] = {}
    for review in reviews:
        if review.status == "submitted" and review.first_error is not None:
            answers.setdefault(review.solution_id, []).append(review.first_error)
    summary.agreement = agreement(answers)
    summary.added = lake.append("reviews", reviews) if reviews else 0
    return summary  # rejected and pre-filled answers are in the summary: the caller reports them once
