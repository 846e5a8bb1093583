"""``stepforge schedule``: register the scheduled deployments of the config's ``schedules:``
section (default: annotate nightly, pull reviews every 15 minutes, export weekly) with Prefect.

Examples::

    stepforge schedule --dry-run                      # list the deployments and their schedules
    stepforge schedule --config prod.yaml             # serve them from this process (Ctrl-C stops)
    stepforge schedule --config prod.yaml --work-pool gpu-box   # register on a process work pool
    prefect worker start --pool gpu-box               # ... and run them with a worker

Runs go to the Prefect API in PREFECT_API_URL; with none set, Prefect's embedded server (it
lives as long as this process). To see them in the Prefect UI, start `prefect server start` and
`export PREFECT_API_URL=http://127.0.0.1:4200/api` first (docs/orchestration.md).
"""

from __future__ import annotations

import argparse
import asyncio


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
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pipelines.config import load_config
    from pipelines.project_config import read_project
    from pipelines.run_config import RunConfig
    from pipelines.schedules import describe, load_schedules, plan

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

    from pipelines.schedules import deploy, ensure_limits, serve

    gpu_slot = load_config(RunConfig, project.run, {}, "run").gpu_slot
    asyncio.run(ensure_limits(args.work_pool, args.pool_concurrency, gpu_slot, 1))
    if args.work_pool:
        ids = deploy(planned, args.work_pool)
        print(f"registered {len(ids)} deployment(s) on work pool {args.work_pool} (concurrency "
              f"{args.pool_concurrency}); start a worker: prefect worker start --pool "
              f"{args.work_pool}")
        return 0
    serve(planned)
    return 0
