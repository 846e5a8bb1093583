"""What scheduled runs did: one line per run as ``stepforge schedule`` serves them, and the
recent runs of every deployment (``stepforge schedule --runs``).

A failed scheduled run must not go unnoticed: the serving process prints when each run of its
deployments starts and how it ended (completed, or failed/crashed with the one-line reason
Prefect stored in its state), and ``--runs`` lists the runs and states the Prefect API holds,
whoever ran them (this process or a worker on a work pool).
"""

from __future__ import annotations

import contextvars
import threading
from datetime import datetime, timezone
from typing import Any, Callable

TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def reason(state: Any) -> str:
    """The state's message on one line (at most 300 characters)."""
    text = " ".join((getattr(state, "message", None) or "").split())
    return text if len(text) <= 300 else text[:297] + "..."


def run_line(deployment: str, run: Any) -> str | None:
    """The line for a run's current state, or None for a state not worth a line."""
    state = run.state
    kind = state.type.value if state else ""
    when = datetime.now(timezone.utc).strftime("%H:%M:%S")
    origin = "cron" if run.auto_scheduled else "manual"
    head = f"{when} {deployment} run {run.name} ({origin})"
    if kind == "RUNNING":
        return f"{head}: started"
    if kind == "COMPLETED":
        took = f" in {run.total_run_time.total_seconds():.0f} s" if run.total_run_time else ""
        return f"{head}: completed{took}"
    if kind in TERMINAL:
        return f"{head}: {state.name.lower()}: {reason(state) or 'no reason given'}"
    return None


class RunWatcher:
    """Polls the API for runs of ``deployment_ids`` and prints a line per start and per end."""

    def __init__(self, deployment_ids: dict[Any, str], every: float = 5.0,
                 emit: Callable[[str], None] = print) -> None:
        self.names = deployment_ids
        self.every = every
        self.emit = emit
        self.seen: dict[Any, str] = {}
        self.since = datetime.now(timezone.utc)  # runs of earlier sessions are not news
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "RunWatcher":
        context = contextvars.copy_context()  # the Prefect settings (API URL) of this thread
        self._thread = threading.Thread(target=context.run, args=(self._loop,), daemon=True,
                                        name="stepforge-run-watcher")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.every + 5)

    def _loop(self) -> None:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            while not self._stop.wait(self.every):
                try:
                    self.poll(client)
                except Exception as exc:  # the API restarting: say so, keep watching
                    self.emit(f"run watcher: {type(exc).__name__}: {exc}")

    def poll(self, client: Any) -> None:
        from prefect.client.schemas.filters import (
            FlowRunFilter, FlowRunFilterDeploymentId, FlowRunFilterStartTime, FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType

        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=list(self.names)),
            start_time=FlowRunFilterStartTime(after_=self.since),
            state=FlowRunFilterState(type=FlowRunFilterStateType(
                any_=[StateType.RUNNING, *[StateType(t) for t in TERMINAL]]))))
        for run in sorted(runs, key=lambda r: r.start_time or r.expected_start_time):
            kind = run.state.type.value if run.state else ""
            if self.seen.get(run.id) == kind:
                continue
            if kind in TERMINAL and run.id not in self.seen and run.start_time:
                self.emit(f"{run_line(self.names[run.deployment_id], _running(run))}")
            self.seen[run.id] = kind
            line = run_line(self.names[run.deployment_id], run)
            if line:
                self.emit(line)


def _running(run: Any) -> Any:
    """A copy of ``run`` whose state reads RUNNING (a run that ended between two polls)."""
    from prefect.states import Running

    return run.model_copy(update={"state": Running()})


def recent_runs(limit: int = 20) -> list[str]:
    """The latest ``limit`` runs of every deployment, newest first, as table lines."""
    import asyncio

    return asyncio.run(_recent_runs(limit))


async def _recent_runs(limit: int) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter, FlowRunFilterDeploymentId, FlowRunFilterExpectedStartTime,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    now = datetime.now(timezone.utc)
    async with get_client() as client:
        names = {d.id: d.name for d in await client.read_deployments()}
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(is_null_=False),
                expected_start_time=FlowRunFilterExpectedStartTime(before_=now)),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=limit)
    lines = [f"{len(runs)} recent run(s), newest first:",
             f"  {'scheduled (UTC)':<17} {'deployment':<18} {'run':<24} {'by':<6} {'state':<10} "
             "took   reason"]
    for run in runs:
        state = run.state
        start = run.expected_start_time.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")
        took = f"{run.total_run_time.total_seconds():.0f} s" if run.total_run_time else "-"
        why = reason(state) if state and state.type.value != "COMPLETED" else ""
        lines.append(f"  {start:<17} {names.get(run.deployment_id, '?'):<18} {run.name:<24} "
                     f"{'cron' if run.auto_scheduled else 'manual':<6} "
                     f"{(state.name if state else '-'):<10} {took:<6} {why}")
    return lines
