"""``stepforge reconcile``: turn the step votes (and human reviews) into consensus labels.

Strategies (combine them; each writes its own rows): consensus (MC and judge agree on the first
error, Qwen), majority, unanimous, dawid-skene, or variants named in the config's
``reconcile.variants``. Re-running with the same votes adds nothing.

Examples::

    stepforge reconcile
    stepforge reconcile --strategies consensus,majority,dawid-skene
    stepforge reconcile --dry-run                        # report, write nothing
"""

from __future__ import annotations

import argparse

from pipelines.config.flags import add_config_args, flags_for, load_config
from reconcile import ReconcileConfig, describe
from store.lock import add_timeout_arg

__all__ = ["describe", "register", "run"]  # describe lives in reconcile/__init__.py


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("reconcile", help="reconcile step votes into consensus labels",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML config file (its `reconcile:` section)")
    parser.add_argument("--lake", help="lake root (default: $STEPFORGE_LAKE or data/lake)")
    add_config_args(parser, ReconcileConfig)
    add_timeout_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pipelines.config.project import load_project
    from reconcile import reconcile
    from pipelines.config.lake_check import existing_lake

    project = load_project(args, "reconcile")
    config = load_config(ReconcileConfig, project.reconcile, flags_for(args, ReconcileConfig),
                         "reconcile", file=project.file)
    from store.lock import lake_lock

    lake = existing_lake(project.lake)
    with lake_lock(lake, "reconcile", args.lock_timeout, write=not config.dry_run):
        summary = reconcile(lake, config)
    print(describe(summary, config.dry_run))
    return 0
