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

from pipelines.config import add_config_args, flags_for, load_config


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
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from export import run_export
    from export.select import ExportConfig
    from export.write import WriteConfig
    from pipelines.project_config import load_project
    from pipelines.lake_check import existing_lake

    project = load_project(args)
    config, write = export_configs(project.export, flags_for(args, ExportConfig),
                                   flags_for(args, WriteConfig))
    result = run_export(existing_lake(project.lake), config, write)
    print(describe(result, config))
    return 0


def export_configs(section: dict, export_flags: dict, write_flags: dict,
                   write_defaults: dict | None = None):
    """The (ExportConfig, WriteConfig) of the config's ``export:`` section, flags winning; a key
    neither takes is an error naming it."""
    from export.select import ExportConfig
    from export.write import WriteConfig

    unknown = set(section) - set(ExportConfig.model_fields) - set(WriteConfig.model_fields)
    if unknown:
        raise ValueError(f"export section: unknown keys {sorted(unknown)}")
    pick = lambda model: {k: v for k, v in section.items() if k in model.model_fields}  # noqa: E731
    config = load_config(ExportConfig, pick(ExportConfig), export_flags, "export")
    write = load_config(WriteConfig, {**(write_defaults or {}), **pick(WriteConfig)}, write_flags,
                        "export")
    return config, write


def describe(result, config) -> str:
    """Rows per split, what was left out, where the files are (and the Hub commit)."""
    sel = result.selection
    splits = ", ".join(f"{s} {n}" for s, n in result.written.rows.items()) or "no rows"
    dropped = ", ".join(f"{n} {why}" for why, n in sorted(sel.dropped.items())) or "none"
    lines = [f"export {config.format} ({config.strategy}): {splits} -> {result.written.out}",
             f"  solutions with labels: {sel.considered}; left out: {dropped}",
             f"  files: {', '.join(result.written.files)}"]
    if result.pushed:
        lines.append(f"  pushed: {result.pushed}")
    return "\n".join(lines)
