"""``stepforge annotate``: label the steps of stored solutions (Prefect flow).

Examples::

    stepforge annotate                                   # mc-binary on every unlabelled solution
    stepforge annotate --annotators mc-binary,judge --limit 20
    stepforge annotate --annotators judge --engine-backend openai --engine-model Qwen/Qwen2.5-7B-Instruct
    stepforge annotate --input data/samples/gsm8k_model_solutions_50.jsonl --annotators judge

Each annotator writes one vote per step: labeled, unparsed (raw text kept) or skipped (with a
reason); solutions already labelled by the same annotator and config are not redone.
"""

from __future__ import annotations

import argparse

from pipelines.annotate import AnnotateConfig
from pipelines.config import add_config_args, flags_for, load_config
from pipelines.project_config import add_common_args, load_project
from store.lock import add_timeout_arg


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("annotate", help="label solution steps with annotators (Prefect flow)",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    add_config_args(parser, AnnotateConfig)
    add_timeout_arg(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    overrides = flags_for(args, AnnotateConfig)
    project = load_project(args, "annotate")
    config = load_config(AnnotateConfig, project.annotate, overrides, "annotate", file=project.file)

    from datetime import datetime, timezone

    from pipelines.flows.annotate import annotate_flow
    from pipelines.lake_check import existing_lake
    from pipelines.progress import set_quiet
    from store.lake import Lake
    from store.lock import lake_lock

    if not config.input:  # --input ingests its file first, creating the lake when needed
        existing_lake(project.lake)
    set_quiet(args.quiet)
    since = datetime.now(timezone.utc)
    lake = Lake(project.lake)
    with lake_lock(lake, "annotate", args.lock_timeout):  # before Prefect starts
        totals = annotate_flow(config, project.engines, project.lake)
    for name, t in totals.items():
        print(f"annotate {name}: {t.solutions} solutions, {t.votes_added} votes added "
              f"({t.labeled} labeled, {t.unparsed} unparsed, {t.skipped} skipped), "
              f"{t.prompt_tokens}+{t.completion_tokens} tokens, {t.rollouts} rollouts")
        for line in skipped_lines(lake, name, t.already_done, since):
            print("  " + line)
    return 0


def skipped_lines(lake, annotator: str, already_done: int, since) -> list[str]:
    """What this run left without a label and why: solutions labelled earlier (not redone),
    solutions that got no label, skip reasons and unparsed votes (raw text kept)."""
    lines = []
    if already_done:
        lines.append(f"skipped {already_done} solutions already labelled by {annotator} with "
                     "this config (not redone)")
    name = annotator.replace("'", "''")
    ts = since.isoformat()
    rows = lake.query(f"""
        SELECT status, coalesce(nullif(details->>'reason', ''), nullif(rationale, ''), 'no reason given')
               AS reason, count(*) AS n, count(DISTINCT solution_id) AS solutions
        FROM step_votes WHERE annotator = '{name}' AND created_at >= '{ts}'::TIMESTAMPTZ
          AND status <> 'labeled'
        GROUP BY ALL ORDER BY n DESC""").to_pylist()
    unlabelled = lake.query(f"""
        SELECT count(*) AS n FROM (SELECT solution_id FROM step_votes
          WHERE annotator = '{name}' AND created_at >= '{ts}'::TIMESTAMPTZ
          GROUP BY solution_id HAVING count(*) FILTER (WHERE status = 'labeled') = 0)""")
    n = unlabelled["n"][0].as_py()
    if n:
        lines.append(f"{n} solutions got no label from {annotator} (their votes are skipped or "
                     "unparsed, never 0/1)")
    skipped = [r for r in rows if r["status"] == "skipped"]
    for r in skipped[:3]:
        lines.append(f"{r['n']} votes skipped on {r['solutions']} solutions: "
                     f"{' '.join(r['reason'].split())[:120]}")
    if len(skipped) > 3:
        lines.append(f"... {sum(r['n'] for r in skipped[3:])} more skipped votes (other reasons)")
    unparsed = sum(r["n"] for r in rows if r["status"] == "unparsed")
    if unparsed:
        lines.append(f"{unparsed} votes unparsed: the verdict could not be read (raw text in "
                     "step_votes.rationale)")
    return lines
