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

from pipelines.flags import add_config_args, add_lock_timeout_arg, flags_for, load_project
from reconcile import ReconcileConfig, describe


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("reconcile", help="reconcile step votes into consensus labels",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML config file (its `reconcile:` section)")
    parser.add_argument("--lake", help="lake root (default: $STEPFORGE_LAKE or data/lake)")
    add_config_args(parser, ReconcileConfig)
    add_lock_timeout_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pipelines.config.lake_check import existing_lake
    from reconcile import reconcile
    from store.lock import lake_lock

    project = load_project(args, "reconcile", flags_for(args, ReconcileConfig))
    config = project.reconcile

    lake = existing_lake(project.lake)
    with lake_lock(lake, "reconcile", args.lock_timeout, write=not config.dry_run):
        summary = reconcile(lake, config)
    print(describe(summary, config.dry_run))
    return 0
