"""``stepforge annotate``: label the steps of stored solutions (Prefect flow).

Examples::

    stepforge annotate                                   # mc-binary on every unlabelled solution
    stepforge annotate --annotators mc-binary,judge --limit 20
    stepforge annotate --annotators judge,mc-verify      # MC checks the judge's first errors
    stepforge annotate --annotators judge --engine-backend openai --engine-model Qwen/Qwen2.5-7B-Instruct
    stepforge annotate --input data/samples/gsm8k_model_solutions_50.jsonl --annotators judge

Each annotator writes one vote per step: labeled, unparsed (raw text kept) or skipped (with a
reason); solutions already labelled by the same annotator and config are not redone.
mc-verify runs after the annotator whose first errors it checks (judge), and fails before any
work when that annotator neither runs nor has votes in the lake.
"""

from __future__ import annotations

import argparse

from pipelines.flags import (
    add_common_args, add_config_args, add_lock_timeout_arg, flags_for, load_project,
)
from pipelines.tasks.annotate import AnnotateConfig, skipped_lines


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("annotate", help="label solution steps with annotators (Prefect flow)",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    add_config_args(parser, AnnotateConfig)
    add_lock_timeout_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    project = load_project(args, "annotate", flags_for(args, AnnotateConfig))
    config = project.annotate

    from datetime import datetime, timezone

    from engines.preflight import check_engines
    from pipelines.tasks.annotate import restrict_to_input
    from pipelines.config.lake_check import existing_lake

    if not config.input:  # --input ingests its file first, creating the lake when needed
        existing_lake(project.lake)
    used = {}
    for name in config.annotators:
        used |= config.engines_used(name, project.engines)
    check_engines(used)  # in seconds, before Prefect, a lock or a model

    from pipelines.commands._failure import USER_ERRORS, quiet_tracebacks, report_failure
    from pipelines.runtime.progress import set_quiet
    from store.lake import Lake
    from store.lock import lake_lock

    set_quiet(args.quiet)
    since = datetime.now(timezone.utc)
    lake = Lake(project.lake)
    try:
        with lake_lock(lake, "annotate", args.lock_timeout) as lock:  # before Prefect starts
            config = restrict_to_input(config, lake)  # a bad --input fails here, before Prefect
            from pipelines.flows.annotate import annotate_flow

            quiet_tracebacks(getattr(args, "verbose", False))  # after Prefect sets its logging up
            totals = annotate_flow(config, project.engines, project.lake, lock=lock)
    except USER_ERRORS:
        raise
    except Exception as exc:  # noqa: BLE001 - a batch failed after its retries: one line
        return report_failure("annotate", exc)
    for name, t in totals.items():
        print(f"annotate {name}: {t.solutions} solutions, {t.votes_added} votes added "
              f"({t.labeled} labeled, {t.unparsed} unparsed, {t.skipped} skipped), "
              f"{t.prompt_tokens}+{t.completion_tokens} tokens, {t.rollouts} rollouts")
        for line in skipped_lines(lake, name, t.already_done, since):
            print("  " + line)
    return 0
