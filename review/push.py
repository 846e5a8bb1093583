"""Push disputed solutions from the lake to an Argilla dataset, highest priority first.

A solution goes to review when one of its current consensus rows (the latest per step and
strategy) has status ``disputed``, or ``single-source`` (a label only one annotator backs: not
agreed, so a human decides it); its priority is the highest priority among its disputed rows,
and a solution with only single-source rows comes after every disputed one (priority 0). ``--dataset`` names
a group: a solution of n steps goes to ``<dataset>-<n>-steps`` (created when missing), whose
questions offer exactly its n steps (``review.dataset``). Records already in a dataset of the group
are skipped (``--update`` re-sends them to the dataset holding them), so pushes are idempotent and
a limited push followed by another sends the next batch. The lake is only read: a failed push
changes nothing.

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
from review.dataset import FIRST_ERROR, build_record, build_settings, dataset_name, group_steps
from review.disputed import Disputed
from schemas.records import Consensus, Problem, Solution, StepVote
from store.sql import in_list, literal
from store.lake import Lake

log = logging.getLogger(__name__)


@dataclass
class PushSummary:
    """What a push did (``dataset``: the group's name; ``per_dataset``: records logged to each
    dataset of the group, ``created``: the datasets this push created)."""

    dataset: str
    candidates: int = 0
    already_in_dataset: int = 0
    pushed: int = 0
    too_long: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    per_dataset: dict[str, int] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    suggestions_removed: int = 0
    top_priority: float | None = None

    @property
    def created_dataset(self) -> bool:
        return bool(self.created)


def disputed_candidates(lake: Lake, strategy: str | None = None,
                        min_priority: float | None = None) -> list[tuple[str, float]]:
    """(solution id, priority) of every solution to review (a disputed or single-source step),
    highest priority first."""
    where = "status IN ('disputed', 'single-source')" + (
        f" AND strategy = {literal(strategy)}" if strategy else "")
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


def find_group(client: Any, conn: Connection, config: ArgillaConfig) -> tuple[Any, dict[str, Any]]:
    """(workspace, name -> dataset) for the datasets of the configured group: one per step count,
    and the one-dataset layout of older pushes when present."""
    import warnings

    workspace = _workspace(client, conn, config.workspace)
    listed = with_retries(conn, "listing datasets", lambda: workspace.datasets)
    names = sorted((d.name for d in listed if group_steps(config.dataset, d.name) is not None),
                   key=lambda n: group_steps(config.dataset, n))
    group = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SDK warns when a dataset is not found
        for name in names:
            found = with_retries(conn, f"finding dataset {name!r}",
                                 lambda name=name: client.datasets(name, workspace=workspace))
            if found is not None:
                group[name] = found
    return workspace, group


def dataset_max_steps(dataset: Any) -> int:
    """How many steps the dataset's first-error question offers."""
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


def _holders(client: Any, conn: Connection, group: dict[str, Any]) -> dict[str, str]:
    """Solution id -> the name of the group's dataset holding its record."""
    held: dict[str, str] = {}
    for name, dataset in group.items():
        for solution_id in existing_ids(client, conn, dataset):
            held.setdefault(solution_id, name)
    return held


def _create(client: Any, conn: Connection, workspace: Any, name: str, n_steps: int,
            config: PushConfig) -> Any:
    import argilla as rg

    settings = build_settings(n_steps, config.visible_labels, config.min_submitted, client)
    dataset = rg.Dataset(name=name, workspace=workspace, settings=settings, client=client)
    return with_retries(conn, f"creating dataset {name!r}", dataset.create)


def push(config: PushConfig, lake: Lake, conn: Connection | None = None) -> PushSummary:
    """Log the disputed solutions the group does not hold yet, each to the dataset of its step
    count (created when missing); with ``update``, re-send held ones where they are."""
    summary = PushSummary(dataset=config.dataset)
    ranked = disputed_candidates(lake, config.strategy, config.min_priority)
    summary.candidates = len(ranked)
    if not ranked:
        return summary
    conn = conn or config.connection()
    client = connect(conn)
    workspace, group = find_group(client, conn, config)
    held = _holders(client, conn, group)
    if not config.update:
        summary.already_in_dataset = sum(1 for s, _ in ranked if s in held)
        ranked = [(s, p) for s, p in ranked if s not in held]
    items, summary.missing = load_disputed(lake, ranked)
    targets: dict[str, list[Disputed]] = {}
    for item in items:
        n_steps = len(item.solution.steps)
        name = held.get(item.solution.solution_id) or dataset_name(config.dataset, n_steps)
        room = dataset_max_steps(group[name]) if name in group else config.max_steps
        if n_steps > room:
            summary.too_long.append(item.solution.solution_id)
        elif not config.limit or summary.pushed < config.limit:
            targets.setdefault(name, []).append(item)
            summary.top_priority = item.priority if summary.top_priority is None else summary.top_priority
            summary.pushed += 1
    for name, batch_items in targets.items():
        if name not in group:
            group[name] = _create(client, conn, workspace, name, len(batch_items[0].solution.steps), config)
            summary.created.append(name)
        for start in range(0, len(batch_items), config.batch_size):
            batch = [build_record(item) for item in batch_items[start:start + config.batch_size]]
            with_retries(conn, f"logging records {start + 1}-{start + len(batch)} to {name!r}",
                         lambda batch=batch, ds=group[name]: ds.records.log(batch, batch_size=len(batch)))
        summary.per_dataset[name] = len(batch_items)
        if config.update and name not in summary.created:
            summary.suggestions_removed += remove_unanswered_suggestions(
                client, conn, group[name], {item.solution.solution_id for item in batch_items})
    if summary.too_long:
        log.warning("%d solutions have more than %d steps and were not pushed (first: %s)",
                    len(summary.too_long), config.max_steps, summary.too_long[0])
    return summary


__all__ = ["PushSummary", "push", "disputed_candidates", "load_disputed", "ReviewError"]
