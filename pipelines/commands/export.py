"""``stepforge export``: consensus labels -> a PRM training set, or the judge answers that agree
with them as verifier SFT chats (Parquet shards + dataset card).

Examples::

    stepforge export --format trl --out out/prm-trl
    stepforge export --format math-shepherd --strategy majority --min-probability 0.8 --out out/ms
    stepforge export --format processbench --test-fraction 0 --out out/pb
    stepforge export --format trl --out out/prm --push-to-hub me/my-prm-set --private
    stepforge export --format verifier-sft --out out/verifier   # judge answers agreeing with the labels

Labels: the latest consensus row per step under --strategy with status agreed or human (human
wins); by default an example stops at its first wrong step (Qwen). The split is by problem hash.
Same lake + same options -> byte-identical files. Options also come from the `export:` section
of --config. Without --out the folder is prm-<format> in the lake's output folder
(out/<lake name>/, e.g. out/lake/prm-trl).
"""

from __future__ import annotations

import argparse
import sys

from export import describe
from pipelines.flags import add_config_args, add_switch, flags_for, load_project


def register(sub: argparse._SubParsersAction) -> None:
    from export.select import ExportConfig
    from export.write import WriteConfig

    parser = sub.add_parser("export", help="write a PRM training set (trl, math-shepherd, "
                            "processbench, jsonl)", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML config file (its `export:` section)")
    parser.add_argument("--lake", help="lake root (default: $STEPFORGE_LAKE or data/lake)")
    add_config_args(parser, ExportConfig)
    add_config_args(parser, WriteConfig)
    add_switch(parser, "--allow-empty", "allow_empty", default=False,
               help="exit 0 even when no solution has labels to export (default: an empty export "
               "says why and exits 1, writing nothing)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from export import ExportEmpty, run_export
    from export.checks import ExportRefused
    from export.empty import why_empty
    from reconcile import KINDS
    from export.select import ExportConfig
    from export.write import WriteConfig, hub_token
    from pipelines.config.lake_check import existing_lake
    from pipelines.config.outputs import default_output

    flags = flags_for(args, ExportConfig) | flags_for(args, WriteConfig)
    project = load_project(args, "export", flags)
    config, write = project.export.select, project.export.write
    lake = existing_lake(project.lake)
    if not write.out:  # one folder per lake (pipelines/config/outputs.py): out/lake/prm-trl
        write = write.model_copy(update={"out": str(default_output(lake, f"prm-{config.format}"))})
    if write.push_to_hub:  # a missing token fails before any work
        hub_token()
    try:  # the upload comes after, so a failed push still leaves the local copy (push below)
        result = run_export(lake, config, write.model_copy(update={"push_to_hub": None}),
                            allow_empty=args.allow_empty)
    except ExportEmpty as empty:
        lines = why_empty(lake, config, empty.selection, KINDS)
        print(f"export {config.format} ({config.strategy}): nothing to export, nothing "
              f"written: {lines[0]}", file=sys.stderr)
        for line in lines[1:] + ["  (--allow-empty writes the empty set anyway)"]:
            print(line, file=sys.stderr)
        return 1
    except ExportRefused as refused:
        print(f"stepforge export: {refused}", file=sys.stderr)
        return 3
    print(describe(result, config))
    return push(result, config, write)


def push(result, config, write) -> int:
    """Upload the written folder when --push-to-hub asks; a failure (offline, refused) is one
    line naming the repository, the cause and the local copy, and exit status 1."""
    import logging

    from export.write import push_to_hub

    if not write.push_to_hub:
        return 0
    try:
        result.pushed = push_to_hub(result.written.out, write.push_to_hub, write.private,
                                    endpoint=write.hub_endpoint, commit_message=f"stepforge "
                                    f"export ({config.format}, {config.strategy})")
    except Exception as exc:  # noqa: BLE001 - any failure of the upload leaves the local copy
        logging.getLogger(__name__).debug("push failed", exc_info=True)
        cause = (str(exc).strip().splitlines() or [""])[0][:160]
        print(f"export: push to the Hub repository {write.push_to_hub} failed "
              f"({type(exc).__name__}: {cause}); the local copy is complete in "
              f"{result.written.out}: push it later with `hf upload {write.push_to_hub} "
              f"{result.written.out} --repo-type dataset`", file=sys.stderr)
        return 1
    print(f"  pushed: {result.pushed}")
    return 0
