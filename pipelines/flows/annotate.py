"""The ``annotate`` Prefect flow: label the steps of stored solutions with the chosen annotators.

One task per (annotator, batch of solutions), retried on failure and written as soon as it ends.
Tasks run on a thread pool (``parallel``), so annotators on different engines (a local policy for
MC, a remote judge) progress at the same time; one in-process model serialises its own calls.
``stepforge run`` may swap the thread pool for prefect-ray's RayTaskRunner: each batch then runs
in a Ray worker process that builds its own engines, reserving ``gpus_per_task`` GPUs (Ray sets
CUDA_VISIBLE_DEVICES, so one vLLM engine is pinned per GPU).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from prefect import flow, task
from pydantic import BaseModel
from prefect.cache_policies import NONE
from prefect.task_runners import ThreadPoolTaskRunner

from engines.config import EngineConfig
from pipelines.tasks.annotate import (
    AnnotateConfig, BatchResult, annotator_for, annotator_stages, candidate_solutions,
    label_batch, problems_for, require_claims, restrict_to_input, settled_ids,
)
from pipelines.tasks.generate import batches
from pipelines.runtime.progress import progress_bar
from schemas import Solution
from store.lake import Lake
from store.lock import HeldLock, lake_lock


@contextlib.contextmanager
def ray_resources(gpus: float) -> Iterator[None]:
    """Ray resources for the tasks submitted inside (only under the Ray task runner)."""
    if not gpus:
        yield
        return
    from prefect_ray.context import remote_options

    with remote_options(num_gpus=gpus):
        yield


@task(name="annotate-batch", retries=2, retry_delay_seconds=5, cache_policy=NONE)
def annotate_batch(name: str, settings: BaseModel, engines: dict[str, EngineConfig],
                   solutions: list[Solution], lake_root: str) -> BatchResult:
    lake = Lake(lake_root)
    annotator = annotator_for(name, settings, engines)
    return label_batch(annotator, problems_for(lake, solutions), solutions, lake)


@flow(name="annotate", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=4))
def annotate_flow(config: AnnotateConfig, engines: dict[str, EngineConfig],
                  lake_root: str, gpus_per_task: float = 0.0,
                  lock: HeldLock | None = None) -> dict[str, BatchResult]:
    """Label every pending solution with every configured annotator; returns totals per
    annotator, in the order they ran: an annotator that checks another's first errors
    (mc-verify) runs after the others, and the flow prints that order. Runs under the lake lock
    (a second annotate would redo the same pending work): ``lock``, held by the caller (the
    command, ``stepforge run``), else taken here."""
    lake = Lake(lake_root)
    if lock is not None and lock.held():
        return _annotate(config, engines, lake, gpus_per_task)
    with lake_lock(lake, "annotate"):
        return _annotate(config, engines, lake, gpus_per_task)


def _annotate(config: AnnotateConfig, engines: dict[str, EngineConfig], lake: Lake,
              gpus_per_task: float) -> dict[str, BatchResult]:
    config = restrict_to_input(config, lake)  # a scheduled run's input (the command's is done)
    candidates = candidate_solutions(lake, config)
    stages, notes = annotator_stages(config)
    require_claims(lake, config, candidates)  # before any work: mc-verify needs its claims
    for note in notes:
        print(f"annotate: {note}")
    work: list[list[tuple]] = []
    totals: dict[str, BatchResult] = {}
    for stage in stages:
        work.append([])
        for name in stage:
            settings = config.typed_settings(name)
            used = config.engines_used(name, engines)
            done = settled_ids(lake, annotator_for(name, settings, used))
            # a problem's solutions share a batch, so MC reuses the generate samples of its
            # policy as evidence that the problem is solvable (annotators.mc.search.check_solvable)
            pending = sorted((s for s in candidates if s.solution_id not in done),
                             key=lambda s: (s.problem_id, s.solution_id))
            totals[name] = BatchResult(name, already_done=len(candidates) - len(pending))
            work[-1] += [(name, settings, used, list(b))
                         for b in batches(pending, config.batch_solutions)]
    with progress_bar("annotate", sum(len(item[3]) for part in work for item in part)) as advance:
        for part in work:  # a stage ends before the next starts: mc-verify reads the judge's votes
            _run_batches(part, config.parallel, lake, gpus_per_task, totals, advance)
    if lake.local:  # remote lakes are queried through in-memory views
        lake.refresh_catalog()
    return totals


def _run_batches(work: list[tuple], parallel: int, lake: Lake, gpus_per_task: float,
                 totals: dict[str, BatchResult], advance) -> None:
    for start in range(0, len(work), parallel):
        chunk = work[start:start + parallel]
        advance(0, starting=sum(len(item[3]) for item in chunk))
        with ray_resources(gpus_per_task):
            futures = [annotate_batch.submit(*item, lake.uri) for item in chunk]
        for item, future in zip(chunk, futures):
            result = future.result()
            totals[result.annotator].add(result)
            advance(len(item[3]), steps=sum(len(s.steps) for s in item[3]),
                    tokens=result.prompt_tokens + result.completion_tokens)
