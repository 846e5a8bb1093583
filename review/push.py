"""Push disputed solutions from the lake to an Argilla dataset, highest priority first.

A solution is disputed when one of its current consensus rows (the latest per step and strategy)
has status ``disputed``; its priority is the highest priority among those rows. Records already in
the dataset are skipped (``--update`` re-sends them), so pushes are idempotent and a limited push
followed by another sends the next batch. The lake is only read: a failed push changes nothing.

Records carry no suggestions (they would pre-fill a reviewer's form: see ``review.dataset``).
``--update`` also removes the suggestions an older stepforge pushed from records nobody has
answered yet; records with a response keep them, so ``review pull`` can still tell a pre-filled
value from the reviewer's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from review.client import Connection, ReviewError, connect, paged, with_retries
from review.config import ArgillaConfig, PushConfig
from review.dataset import FIRST_ERROR, Disputed, build_record, build_settings
from schemas.records import Consensus, Problem, Solution, StepVote
from store.sql import in_list, literal
from store.lake import Lake

log = logging.getLogger(__name__)


@dataclass
class PushSummary:
    """What a push did."""

    dataset: str
    candidates: int = 0
    already_in_dataset: int = 0
    pushed: int = 0
    too_long: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    created_dataset: bool = False
    suggestions_removed: int = 0
    top_priority: float | None = None


def disputed_candidates(lake: Lake, strategy: str | None = None,
                        min_priority: float | None = None) -> list[tuple[str, float]]:
    """(solution id, priority) of every disputed solution, highest priority first."""
    where = "status = 'disputed'" + (f" AND strategy = {literal(strategy)}" if strategy else "")
    rows = lake.read("consensus", where=where).select(["solution_id", "priority"]).to_pylist()
    best: dict[str, float] = {}
    for row in rows:
        priority = row["priority"] if row["priority"] is not None else 0.0
        best[row["solution_id"]] = max(priority, best.get(row["solution_id"], float("-inf")))
    ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))
    if min_priority is not None:
        ranked = [(s, p) for s, p in ranked if p >= min_priority]
    return ranked


def _in_list(column: str, values: list[str]) -> str:
    return f"{column} IN {in_list(values)}"


def load_disputed(lake: Lake, ranked: list[tuple[str, float]]) -> tuple[list[Disputed], list[str]]:
    """The records' content for ranked solution ids (order kept), and the ids missing from the
    solutions table."""
    if not ranked:
        return [], []
    ids = [s for s, _ in ranked]
    solutions = {s.solution_id: s for s in lake.records("solutions", where=_in_list("solution_id", ids))}
    problem_ids = sorted({s.problem_id for s in solutions.values()})
    problems = {p.problem_id: p for p in lake.records("problems", where=_in_list("problem_id", problem_ids))} \
        if problem_ids else {}
    votes: dict[str, list[StepVote]] = {}
    for vote in lake.records("step_votes", where=_in_list("solution_id", ids)):
        votes.setdefault(vote.solution_id, []).append(vote)
    rows: dict[str, list[Consensus]] = {}
    for row in lake.records("consensus", where=_in_list("solution_id", ids)):
        rows.setdefault(row.solution_id, []).append(row)
    items, missing = [], []
    for solution_id, priority in ranked:
        solution: Solution | None = solutions.get(solution_id)
        if solution is None:
            missing.append(solution_id)
            continue
        problem: Problem | None = problems.get(solution.problem_id)
        items.append(Disputed(solution, problem, votes.get(solution_id, []),
                              rows.get(solution_id, []), priority))
    return items, missing


def _workspace(client: Any, conn: Connection, name: str | None) -> Any:
    """The named workspace (created when missing and the user may), or the user's first one."""
    import argilla as rg

    if name is None:
        return with_retries(conn, "listing workspaces", lambda: client.workspaces.default)
    found = with_retries(conn, f"finding workspace {name!r}", lambda: client.workspaces(name))
    if found is not None:
        return found
    return with_retries(conn, f"creating workspace {name!r}",
                        lambda: rg.Workspace(name=name, client=client).create())


def find_dataset(client: Any, conn: Connection, config: ArgillaConfig) -> tuple[Any, Any]:
    """(workspace, dataset or None) for the configured names."""
    import warnings

    workspace = _workspace(client, conn, config.workspace)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SDK warns when a dataset is not found
        dataset = with_retries(conn, f"finding dataset {config.dataset!r}",
                               lambda: client.datasets(config.dataset, workspace=workspace))
    return workspace, dataset


def dataset_max_steps(dataset: Any) -> int:
    """How many steps the dataset's first-error question offers (it may predate --max-steps)."""
    question = dataset.settings.questions[FIRST_ERROR]
    return len(question.labels) - 1


def existing_ids(client: Any, conn: Connection, dataset: Any) -> set[str]:
    """External ids of the records already in the dataset."""
    path = f"/api/v1/datasets/{dataset.id}/records"
    return {item.get("external_id") for item in paged(client, conn, path, "listing records", page=1000)}


def remove_unanswered_suggestions(client: Any, conn: Connection, dataset: Any, ids: set[str]) -> int:
    """Delete the suggestions of the records in ``ids`` that have no response (left by an older
    stepforge, they would pre-fill the form); how many records lost theirs."""
    path = f"/api/v1/datasets/{dataset.id}/records"
    cleared = 0
    for record in paged(client, conn, path, "listing suggestions", page=500,
                        include=["responses", "suggestions"]):
        suggestions = [str(s["id"]) for s in record.get("suggestions") or []]
        if record.get("external_id") not in ids or record.get("responses") or not suggestions:
            continue
        with_retries(conn, f"removing the suggestions of record {record['external_id']}",
                     lambda record=record, suggestions=suggestions: client.http_client.delete(
                         f"/api/v1/records/{record['id']}/suggestions",
                         params={"ids": ",".join(suggestions)}).raise_for_status())
        cleared += 1
    return cleared


def push(config: PushConfig, lake: Lake, conn: Connection | None = None) -> PushSummary:
    """Create or reuse the dataset and log the disputed solutions it does not hold yet."""
    import argilla as rg

    summary = PushSummary(dataset=config.dataset)
    ranked = disputed_candidates(lake, config.strategy, config.min_priority)
    summary.candidates = len(ranked)
    if not ranked:
        return summary
    conn = conn or config.connection()
    client = connect(conn)
    workspace, dataset = find_dataset(client, conn, config)
    if dataset is None:
        settings = build_settings(config.max_steps, config.visible_labels, config.min_submitted, client)
        dataset = rg.Dataset(name=config.dataset, workspace=workspace, settings=settings, client=client)
        dataset = with_retries(conn, f"creating dataset {config.dataset!r}", dataset.create)
        summary.created_dataset = True
    max_steps = dataset_max_steps(dataset)
    if not config.update and not summary.created_dataset:
        present = existing_ids(client, conn, dataset)
        summary.already_in_dataset = sum(1 for s, _ in ranked if s in present)
        ranked = [(s, p) for s, p in ranked if s not in present]
    items, summary.missing = load_disputed(lake, ranked)
    fitting = []
    for item in items:
        if len(item.solution.steps) > max_steps:
            summary.too_long.append(item.solution.solution_id)
        else:
            fitting.append(item)
    fitting = fitting[: config.limit] if config.limit else fitting
    if fitting:
        summary.top_priority = fitting[0].priority
    for start in range(0, len(fitting), config.batch_size):
        batch = [build_record(item) for item in fitting[start:start + config.batch_size]]
        with_retries(conn, f"logging records {start + 1}-{start + len(batch)}",
                     lambda batch=batch: dataset.records.log(batch, batch_size=len(batch)))
        summary.pushed += len(batch)
    if config.update and not summary.created_dataset and fitting:
        summary.suggestions_removed = remove_unanswered_suggestions(
            client, conn, dataset, {item.solution.solution_id for item in fitting})
    if summary.too_long:
        log.warning("%d solutions have more than %d steps and were not pushed (first: %s)",
                    len(summary.too_long), max_steps, summary.too_long[0])
    return summary


__all__ = ["PushSummary", "push", "disputed_candidates", "load_disputed", "ReviewError"]
