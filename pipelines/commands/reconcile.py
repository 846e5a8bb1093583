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

from pipelines.config import add_config_args, flags_for, load_config
from pipelines.reconcile import ReconcileConfig, ReconcileSummary


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("reconcile", help="reconcile step votes into consensus labels",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML config file (its `reconcile:` section)")
    parser.add_argument("--lake", help="lake root (default: $STEPFORGE_LAKE or data/lake)")
    add_config_args(parser, ReconcileConfig)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pipelines.project_config import load_project
    from pipelines.reconcile import reconcile
    from pipelines.lake_check import existing_lake

    project = load_project(args, "reconcile")
    config = load_config(ReconcileConfig, project.reconcile, flags_for(args, ReconcileConfig),
                         "reconcile")
    summary = reconcile(existing_lake(project.lake), config)
    print(describe(summary, config.dry_run))
    return 0


def describe(summary: ReconcileSummary, dry_run: bool = False) -> str:
    """A few lines: the votes read, then per strategy its rows, statuses and solutions kept."""
    lines = [f"reconcile: {summary.votes} votes ({summary.labeled} labeled, {summary.unparsed} "
             f"unparsed, {summary.skipped} skipped: not votes), {summary.reviews} submitted reviews"]
    verb = "would write" if dry_run else "wrote"
    for s in summary.strategies:
        steps = ", ".join(f"{v} {k}" for k, v in s.steps.items())
        total = sum(s.solutions.values()) or 1
        lines.append(f"  {s.strategy}: {s.rows} steps ({steps}); solutions kept "
                     f"{s.solutions.get('kept', 0)}/{total} ({s.solutions.get('kept', 0) / total:.1%}); "
                     f"{verb} {s.written} new rows")
        for r in s.reliabilities:
            if not r["votes"]:  # no labelled vote: the prior, not a reliability
                continue
            lines.append(f"    {r['annotator']}: sensitivity {r['sensitivity']:.3f}, specificity "
                         f"{r['specificity']:.3f}, accuracy {r['accuracy']:.3f} "
                         f"({r['votes']} labelled votes)")
    return "\n".join(lines)
