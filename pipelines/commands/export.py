"""``stepforge export``: consensus labels -> a PRM training set (Parquet shards + dataset card).

Examples::

    stepforge export --format trl --out out/prm-trl
    stepforge export --format math-shepherd --strategy majority --min-probability 0.8 --out out/ms
    stepforge export --format processbench --test-fraction 0 --out out/pb
    stepforge export --format trl --out out/prm --push-to-hub me/my-prm-set --private true

Labels: the latest consensus row per step under --strategy with status agreed or human (human
wins); by default an example stops at its first wrong step (Qwen). The split is by problem hash.
Same lake + same options -> byte-identical files. Options also come from the `export:` section
of --config.
"""

from __future__ import annotations

import argparse
import sys

from export import describe
from pipelines.sections import export_configs
from pipelines.config import add_config_args, flags_for

__all__ = ["describe", "export_configs", "register", "run"]  # helpers kept importable here


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
    for action in parser._actions:  # bare --private / --overwrite / --force mean true
        if action.dest in ("private", "overwrite", "force"):
            action.nargs, action.const = "?", True
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from export import run_export
    from export.select import ExportConfig
    from export.write import WriteConfig
    from pipelines.project_config import load_project
    from store.lake import Lake

    project = load_project(args)
    config, write = export_configs(project.export, flags_for(args, ExportConfig),
                                   flags_for(args, WriteConfig), file=project.file)
    from export.checks import ExportRefused

    try:
        result = run_export(Lake(project.lake), config, write)
    except ExportRefused as refused:
        print(f"stepforge export: {refused}", file=sys.stderr)
        return 3
    print(describe(result, config))
    return 0
