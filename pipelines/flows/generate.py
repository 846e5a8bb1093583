"""The ``generate`` Prefect flow: problems from the lake -> Solutions in the lake.

One task per batch of problems (one engine call), retried on failure; each batch is written as
soon as it is done, so a crash loses at most the batch in flight, and a re-run skips problems
that already have solutions from the same generator and config.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect import flow, task
from prefect.cache_policies import NONE

from engines.config import EngineConfig
from engines.factory import build_engine
from pipelines.tasks.generate import GenerateConfig, batches, generate_solutions
from pipelines.runtime.progress import progress_bar
from schemas import Problem
from store.lake import Lake
from store.sql import literal


@dataclass
class GenerateSummary:
    problems: int
    skipped: int
    solutions_added: int
    correct: int
    prompt_tokens: int
    completion_tokens: int


def pending_problems(lake: Lake, config: GenerateConfig, generator: str) -> tuple[list[Problem], int]:
    """Problems still lacking solutions from this generator and config, and how many were done.

    ``limit`` takes the first problems in id order, so a re-run with the same limit selects the
    same problems and finds them done."""
    where = f"source = {literal(config.source)}" if config.source else None
    problems = sorted(lake.records("problems", where), key=lambda p: p.problem_id)
    done = {row["problem_id"] for row in lake.query(
        "SELECT DISTINCT problem_id FROM solutions WHERE generator = "
        f"{literal(generator)} AND json_extract_string(metadata, '$.generation_config') = "
        f"{literal(config.fingerprint())}").to_pylist()}
    if config.limit is not None:
        problems = problems[: config.limit]
    todo = [p for p in problems if p.problem_id not in done]
    return todo, len(problems) - len(todo)


@task(name="generate-batch", retries=2, retry_delay_seconds=5, cache_policy=NONE)
def generate_batch(
    problems: list[Problem], config: GenerateConfig, engine_config: EngineConfig, lake_root: str
) -> tuple[int, int, int, int]:
    """Generate for one batch and store it: (added, correct, prompt tokens, completion tokens)."""
    engine = build_engine(engine_config)
    solutions = generate_solutions(engine, problems, config)
    added = Lake(lake_root).append("solutions", solutions)
    return (added, sum(bool(s.is_correct) for s in solutions),
            sum(s.prompt_tokens for s in solutions), sum(s.completion_tokens for s in solutions))


@flow(name="generate", log_prints=True)
def generate_flow(config: GenerateConfig, engine_config: EngineConfig, lake_root: str) -> GenerateSummary:
    """Sample, split, grade and store solutions for every pending problem."""
    lake = Lake(lake_root)
    engine = build_engine(engine_config)
    todo, skipped = pending_problems(lake, config, engine.model_id)
    totals = [0, 0, 0, 0]
    with progress_bar("generate", len(todo), unit="problems") as advance:
        for batch in batches(todo, config.batch_problems):
            advance(0, starting=len(batch))
            result = generate_batch(list(batch), config, engine_config, lake.uri)
            totals = [a + b for a, b in zip(totals, result)]
            advance(len(batch), tokens=result[2] + result[3])
    if lake.local:  # remote lakes are queried through in-memory views
        lake.refresh_catalog()
    return GenerateSummary(len(todo), skipped, *totals)
