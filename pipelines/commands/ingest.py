"""``stepforge ingest``: load problems, solutions or ProcessBench cases into the lake.

Examples::

    stepforge ingest data/samples/gsm8k_test_50.jsonl
    stepforge ingest data/samples/gsm8k_model_solutions_50.jsonl --kind solutions
    stepforge ingest openai/gsm8k --subset main --split test --limit 200
    stepforge ingest Qwen/ProcessBench --kind processbench --split gsm8k
    stepforge ingest math.parquet --map question=problem,reference_solution=solution

Every row is validated before anything is written; re-ingesting adds nothing.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ingest.records import IngestConfig, Ingested, Written, ingest
from pipelines.config.project import DEFAULT_LAKE, read_project
from pipelines.flags import add_config_args, flags_for

if TYPE_CHECKING:
    from store.lake import Lake


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("ingest", help="load problems, solutions or ProcessBench cases",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", metavar="PATH_OR_HUB_ID",
                        help="a .jsonl/.json/.parquet file, a `datasets` folder, or a Hub dataset id")
    parser.add_argument("--config", help="YAML config file (its `ingest:` section is read)")
    parser.add_argument("--lake", help=f"lake root (default: $STEPFORGE_LAKE or {DEFAULT_LAKE})")
    add_config_args(parser, IngestConfig)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    project = read_project(args.config, flags={"ingest": flags_for(args, IngestConfig)})
    config = project.ingest

    from pipelines.config.needs import check_needs, input_problem, is_hub_id
    from store.lake import Lake

    if is_hub_id(args.input):  # offline or unknown: one line in seconds, not Hub retries
        check_needs([lambda: input_problem(args.input)])
    lake = Lake(args.lake or project.lake)
    ingested, written = ingest(args.input, config, lake)
    print(summary(config, ingested, written, lake))
    return 0


def summary(config: IngestConfig, ingested: Ingested, written: Written, lake: Lake) -> str:
    """Counts read, added and already present, and how grading agreed with the file."""
    verb = "would add" if config.dry_run else "added"
    lines = [f"ingest {config.kind}: {ingested.rows} rows read into {lake}"]
    for table in ("problems", "solutions"):
        if table in written.records:
            lines.append(f"  {table}: {written.records[table]} distinct, {written.added[table]} "
                         f"{verb}, {written.present(table)} already present")
    if ingested.graded or ingested.gold_errors:
        compared = ingested.agreements + len(ingested.disagreements)
        line = f"  graded {ingested.graded} solutions against the reference answers"
        if compared:
            line += (f"; the file's is_correct agrees on {ingested.agreements}/{compared}, "
                     f"disagrees on {len(ingested.disagreements)}")
        lines.append(line)
        for where in ingested.disagreements[:5]:
            lines.append(f"    disagreement: {where}")
        if ingested.gold_errors:
            lines.append(f"  {len(ingested.gold_errors)} problems have an unparseable reference "
                         "answer: their solutions are stored ungraded (is_correct empty)")
    if ingested.dropped:
        lines.append(f"  dropped {len(ingested.dropped)} rows (not stored):")
        lines += [f"    {where}: {why}" for where, why in ingested.dropped]
    return "\n".join(lines)
