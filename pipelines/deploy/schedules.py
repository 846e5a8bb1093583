"""Scheduled deployments of the stepforge flows, from the config's ``schedules:`` section
(``pipelines/config/schedules.py``: which flow runs when).

Deployments store the config file's path, not its content, so a scheduled run reads the file as
it is when it starts. Every deployment has a concurrency limit (default 1, queued on
collision): a run never starts while the previous one of the same deployment is going. With a
work pool, the pool's concurrency limit (default 1) bounds all of them together, so two runs
never share one GPU; ``run.gpu_slot`` adds a Prefect global concurrency limit around the stages
that hold an engine, shared with runs started by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from prefect import Flow

from pipelines.config.schedules import ScheduleSpec
from pipelines.flows.review_pull import review_pull_flow
from pipelines.flows.run import run_pipeline
from pipelines.deploy.schedule_runs import RunWatcher

# The flow of each ``ScheduleSpec.flow``. Deployments name it by module path, never by file:
# Prefect puts a file's folder first on sys.path, where a module named like a top-level package
# (flows/review.py once shadowed the `review` package) broke every scheduled run. By module path
# a scheduled run imports the same modules as `stepforge run`, whatever the working directory
# or the process that runs it.
FLOW_OBJECTS: dict[str, Flow] = {"run": run_pipeline, "review-pull": review_pull_flow}


def entrypoint(flow: Flow) -> str:
    """A flow's module path (``pipelines.flows.run.run_pipeline``), what deployments store."""
    return f"{flow.fn.__module__}.{flow.fn.__name__}"


FLOWS = {name: entrypoint(flow) for name, flow in FLOW_OBJECTS.items()}
REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Planned:
    """A deployment as it will be registered: its name, schedule and flow parameters."""

    name: str
    spec: ScheduleSpec
    parameters: dict[str, Any]

    @property
    def entrypoint(self) -> str:
        return FLOWS[self.spec.flow]

    def next_runs(self, count: int = 2, after: datetime | None = None) -> list[datetime]:
        """The next ``count`` start times (in the schedule's time zone)."""
        import asyncio

        from prefect.server.schemas.schedules import CronSchedule

        schedule = CronSchedule(cron=self.spec.cron, timezone=self.spec.timezone)
        start = after or datetime.now(timezone.utc)
        return list(asyncio.run(schedule.get_dates(n=count, start=start)))


def plan(specs: dict[str, ScheduleSpec], config: str | None, lake: str | None) -> list[Planned]:
    """The deployments for ``specs``; a config file is stored by absolute path."""
    stored = str(Path(config).resolve()) if config and Path(config).exists() else config
    out = []
    for name, spec in specs.items():
        parameters: dict[str, Any] = {"config": stored, "lake": lake}
        if spec.flow == "run" and spec.stages:
            parameters["overrides"] = {"run": {"stages": list(spec.stages)}}
        out.append(Planned(name, spec, parameters))
    return out


def describe(planned: list[Planned], work_pool: str | None) -> str:
    """The deployments as a table (what ``stepforge schedule --dry-run`` prints)."""
    where = f"work pool {work_pool}" if work_pool else "served by this process (prefect serve)"
    lines = [f"{len(planned)} deployment(s), {where}:",
             f"  {'name':<18} {'flow':<12} {'cron':<14} {'tz':<6} {'limit':<5} next run (UTC)  "
             "stages"]
    for p in planned:
        stages = ",".join(p.parameters.get("overrides", {}).get("run", {}).get("stages", [])) \
            or ("run.stages" if p.spec.flow == "run" else "-")
        nxt = p.next_runs(1)[0].astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")
        paused = " (paused)" if p.spec.paused else ""
        lines.append(f"  {p.name:<18} {p.spec.flow:<12} {p.spec.cron:<14} {p.spec.timezone:<6} "
                     f"{p.spec.concurrency:<5} {nxt}{paused}  {stages}")
    if planned:
        lines.append(f"  config: {planned[0].parameters['config'] or 'defaults'}; lake: "
                     f"{planned[0].parameters['lake'] or 'from the config'}")
    return "\n".join(lines)


def _flow_object(p: Planned) -> Flow:
    """The flow behind a deployment (``FLOW_OBJECTS``)."""
    return FLOW_OBJECTS[p.spec.flow]


def _deployment_options(p: Planned) -> dict[str, Any]:
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.client.schemas.schedules import CronSchedule

    return dict(
        schedules=[CronSchedule(cron=p.spec.cron, timezone=p.spec.timezone)],
        paused=p.spec.paused, parameters=p.parameters, description=p.spec.description,
        tags=["stepforge", p.spec.flow],
        concurrency_limit=ConcurrencyLimitConfig(
            limit=p.spec.concurrency, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE),
    )


def serve(planned: list[Planned]) -> None:
    """Register the deployments and run them on schedule from this process (blocks until
    Ctrl-C or SIGTERM); prints a line when each of their runs starts and ends."""
    from prefect import serve as prefect_serve
    from prefect.types.entrypoint import EntrypointType

    deployments = [_flow_object(p).to_deployment(
        p.name, entrypoint_type=EntrypointType.MODULE_PATH, **_deployment_options(p))
        for p in planned]
    ids = [d.apply() for d in deployments]  # serve applies them again: same ids
    watcher = RunWatcher({i: p.name for i, p in zip(ids, planned)}).start()
    try:
        prefect_serve(*deployments, print_starting_message=False)
    finally:
        watcher.stop()


async def ensure_limits(work_pool: str | None, pool_concurrency: int, gpu_slot: str | None,
                        gpu_limit: int) -> None:
    """Create (or update) the process work pool with its concurrency limit, and the global
    concurrency limit of ``gpu_slot``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import (
        GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate, WorkPoolCreate, WorkPoolUpdate,
    )
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    async with get_client() as client:
        if work_pool:
            try:
                await client.create_work_pool(WorkPoolCreate(
                    name=work_pool, type="process", concurrency_limit=pool_concurrency))
            except ObjectAlreadyExists:
                await client.update_work_pool(work_pool, WorkPoolUpdate(
                    concurrency_limit=pool_concurrency))
        if gpu_slot:
            try:
                await client.read_global_concurrency_limit_by_name(gpu_slot)
                await client.update_global_concurrency_limit(
                    gpu_slot, GlobalConcurrencyLimitUpdate(limit=gpu_limit))
            except ObjectNotFound:
                await client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=gpu_slot, limit=gpu_limit))


def deploy(planned: list[Planned], work_pool: str) -> list[str]:
    """Register the deployments on ``work_pool`` (code loaded from this checkout by the
    pool's process workers); returns their ids."""
    ids = []
    for p in planned:
        flow = Flow.from_source(source=str(REPO_ROOT), entrypoint=p.entrypoint)
        ids.append(str(flow.deploy(p.name, work_pool_name=work_pool, build=False, push=False,
                                   print_next_steps=False, **_deployment_options(p))))
    return ids
