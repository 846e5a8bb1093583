"""``stepforge report``: write one self-contained HTML page (inline SVG plots, no network) about
the lake's labels: label distribution by step position, annotator agreement, retention per
strategy, cost per labelled step, annotator reliabilities, soft labels against gold (a
reliability diagram) and the disputed solutions. It opens with label health, judged on the
labels the export would ship (the `export:` section of --config; --strategy overrides), as
the summary of `stepforge run` with the same config prints it.

Examples::

    stepforge report                                     # out/lake/report.html from data/lake
    stepforge report --config embedded --strategy majority   # label health of majority's labels
    stepforge report --lake runs/big --out runs/big/report.html --gold processbench_gsm8k.jsonl
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("report", help="write an HTML report of labels and agreement",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML config file or preset (its `export:` section "
                        "says which labels label health judges)")
    parser.add_argument("--strategy", default=None, help="strategy whose labels label health "
                        "judges (default: export.strategy of --config, else consensus)")
    parser.add_argument("--lake", default=None,
                        help="lake root (default: $STEPFORGE_LAKE or data/lake)")
    parser.add_argument("--out", default=None, metavar="FILE",
                        help="HTML file to write (default: report.html in the lake's output "
                        "folder, out/<lake name>/: out/lake/report.html for data/lake)")
    parser.add_argument("--gold", default=None, metavar="PATH", help="gold file or folder (ProcessBench or "
                        "per-step ratings, as stepforge eval reads) for the reliability diagram; "
                        "human reviews in the lake are used either way")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pipelines.config.lake_check import existing_lake
    from pipelines.config.outputs import default_output
    from pipelines.flags import load_project
    from report.page import write_report

    flags = {"strategy": args.strategy} if args.strategy else {}
    project = load_project(args, "export", flags)
    export = project.export.select
    lake = existing_lake(project.lake)
    out = args.out or default_output(lake, "report.html")  # one folder per lake: never mixed
    path = write_report(lake, out, args.gold, export=export)
    print(f"report: wrote {path} ({path.stat().st_size:,} bytes); open it in a browser")
    return 0
