"""The ``review-pull`` Prefect flow: reviewers' responses from Argilla into the lake, then
reconcile, so human labels reach the consensus table (scheduled every 15 minutes by default)."""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NONE

from pipelines.config.project import read_project
from review.config import PullConfig
from store.lake import Lake


@task(name="review-pull", retries=2, retry_delay_seconds=30, cache_policy=NONE)
def pull_task(config: PullConfig, lake_root: str) -> str:
    from review.pull import pull

    summary = pull(config, Lake(lake_root))
    rejected = f", {len(summary.invalid)} answers rejected: {summary.invalid[0]}" if summary.invalid else ""
    return f"{summary.records} records read from {summary.dataset}, {summary.added} new reviews{rejected}"


@flow(name="review-pull", log_prints=True)
def review_pull_flow(config: str | None = None, lake: str | None = None) -> list[str]:
    """Pull submitted reviews, then reconcile with them (the config's ``reconcile:`` section)."""
    from reconcile import describe, reconcile

    project = read_project(config, config or "defaults")
    root = Lake(lake or project.lake).uri
    pulled = pull_task(project.review.pull, root)
    lines = [pulled, describe(reconcile(Lake(root), project.reconcile))]
    for line in lines:
        print(line)
    return lines
