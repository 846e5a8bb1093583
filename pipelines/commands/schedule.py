"""``stepforge schedule``: register the scheduled deployments of the config's ``schedules:``
section (default: annotate nightly, pull reviews every 15 minutes, export weekly) with Prefect.

Examples::

    stepforge schedule --dry-run                      # list the deployments and their schedules
    stepforge schedule --config prod.yaml             # serve them from this process (Ctrl-C stops)
    stepforge schedule --config prod.yaml --work-pool gpu-box   # register on a process work pool
    prefect worker start --pool gpu-box               # ... and run them with a worker

    stepforge schedule --runs                         # recent runs and their states

Deployments go to the Prefect API in PREFECT_API_URL. With none set, serving starts a local
Prefect server with its scheduler (on a free port, stopped with this command; Prefect's
embedded API has no scheduler, so its schedules would never fire), and --work-pool refuses: a
worker needs a server that outlives this command (`prefect server start`, then
`export PREFECT_API_URL=http://127.0.0.1:4200/api`; docs/orchestration.md). While serving, one
line per run says when it started and how it ended (completed, or failed with its reason).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading
from typing import Any, Iterator


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("schedule", help="register cron-scheduled deployments with Prefect",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="embedded",
                        help="YAML config file or bundled preset (default: embedded)")
    parser.add_argument("--lake", help="lake root the scheduled runs use (default: the config's)")
    parser.add_argument("--dry-run", action="store_true", help="list the deployments, register nothing")
    parser.add_argument("--only", metavar="NAME[,...]", help="comma-separated schedule names to register")
    parser.add_argument("--work-pool", metavar="POOL", help="register on this process work pool (created when "
                        "missing) instead of serving from this process")
    parser.add_argument("--pool-concurrency", type=int, default=1, metavar="N",
                        help="flow runs the work pool runs at once (default 1: one GPU)")
    parser.add_argument("--runs", type=int, nargs="?", const=20, metavar="N",
                        help="list the latest N runs of the deployments (default 20) and their "
                        "states, register nothing")
    parser.set_defaults(handler=run)


NO_SERVER = ("stepforge schedule --work-pool: PREFECT_API_URL is not set, and a worker needs a "
             "Prefect server that outlives this command: run `prefect server start`, then `export "
             "PREFECT_API_URL=http://127.0.0.1:4200/api` here and in the worker's shell")


def run(args: argparse.Namespace) -> int:
    if args.runs is not None:
        from pipelines.deploy.schedule_runs import recent_runs

        print("\n".join(recent_runs(args.runs)))
        return 0
    from pipelines.config.project import read_project
    from pipelines.config.schedules import load_schedules
    from pipelines.deploy.schedules import describe, plan

    project = read_project(args.config)
    specs = load_schedules(project.schedules)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(names) - specs.keys())
        if unknown:
            raise ValueError(f"--only: no schedule named {', '.join(unknown)} (defined: "
                             f"{', '.join(specs) or 'none'})")
        specs = {n: specs[n] for n in names}
    planned = plan(specs, args.config, args.lake)
    print(describe(planned, args.work_pool))
    if args.dry_run or not planned:
        return 0
    gpu_slot = project.run.gpu_slot
    if api_url():
        return register_or_serve(args, planned, gpu_slot)
    if args.work_pool:
        print(NO_SERVER, file=sys.stderr)
        return 2
    from pipelines.deploy.prefect_server import local_server

    with terminate_raises(), local_server() as url:
        print(f"started a local Prefect server with its scheduler at {url} (UI "
              f"{url.removesuffix('/api')}); it stops with this command", flush=True)
        return register_or_serve(args, planned, gpu_slot)
    return 130  # stopped while the server started


def api_url() -> str | None:
    """The Prefect API this process talks to (environment or Prefect profile), if any."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


@contextlib.contextmanager
def terminate_raises() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt here (as Ctrl-C does), so the local server is stopped
    even when the command is terminated while it starts."""
    def interrupt(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    except KeyboardInterrupt:
        print("stepforge schedule: stopped", file=sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, previous)


def register_or_serve(args: argparse.Namespace, planned: list, gpu_slot: str | None) -> int:
    from pipelines.deploy.schedules import deploy, ensure_limits, serve

    asyncio.run(ensure_limits(args.work_pool, args.pool_concurrency, gpu_slot, 1))
    if args.work_pool:
        ids = deploy(planned, args.work_pool)
        print(f"registered {len(ids)} deployment(s) on work pool {args.work_pool} (concurrency "
              f"{args.pool_concurrency}); start a worker: prefect worker start --pool "
              f"{args.work_pool}")
        return 0
    print(f"serving {len(planned)} deployment(s) from this process; one line per run below "
          "(Ctrl-C stops)", flush=True)
    serve(planned)
    return 0
