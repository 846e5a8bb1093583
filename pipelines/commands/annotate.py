"""``stepforge annotate``: label the steps of stored solutions (Prefect flow)."""

from __future__ import annotations

import argparse

from pipelines.annotate import AnnotateConfig
from pipelines.config import add_config_args, flags_for, load_config
from pipelines.project_config import add_common_args, load_project
from store.lock import add_timeout_arg


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("annotate", help="label solution steps with annotators (Prefect flow)",
                            description=__doc__)
    add_common_args(parser)
    add_config_args(parser, AnnotateConfig)
    add_timeout_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    overrides = flags_for(args, AnnotateConfig)
    project = load_project(args, "annotate")
    config = load_config(AnnotateConfig, project.annotate, overrides, "annotate", file=project.file)

    from pipelines.flows.annotate import annotate_flow
    from store.lake import Lake
    from store.lock import lake_lock

    with lake_lock(Lake(project.lake), "annotate", args.lock_timeout):  # before Prefect starts
        totals = annotate_flow(config, project.engines, project.lake)
    for name, t in totals.items():
        print(f"annotate {name}: {t.solutions} solutions, {t.votes_added} votes added "
              f"({t.labeled} labeled, {t.unparsed} unparsed, {t.skipped} skipped), "
              f"{t.prompt_tokens}+{t.completion_tokens} tokens, {t.rollouts} rollouts")
    return 0
