"""``stepforge eval``: score annotators and consensus strategies against gold labels.

Examples::

    stepforge eval --gold processbench_gsm8k.jsonl --labels annotator
    stepforge eval --gold out/pb --labels consensus --strategy consensus --json-path eval.json
    stepforge eval --gold /data/gsm8k/example_model_solutions.jsonl   # outcome-level gold

Gold: ProcessBench rows (problem, steps, label = earliest wrong step or -1), per-step ratings
(step_labels 1/0, or PRM800K ratings -1/0/1, or PRM800K's own rows), or outcome verdicts
(is_correct per solution). Cases match lake solutions by problem text + steps (or text).
Metrics: ProcessBench F1 (harmonic mean of the accuracy on erroneous and on correct cases),
step-level precision / recall / F1 of the wrong-step class, first-error exact match, outcome
agreement, coverage and tokens per labelled step. Outcome gold supports only the outcome
metrics; the others are listed as unsupported.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pipelines.flags import add_config_args, add_deprecated_alias, flags_for

STEP_COLUMNS = [("processbench_f1", "PB F1"), ("acc_error", "acc err"), ("acc_correct", "acc corr"),
                ("first_error_match", "1st-err EM"), ("step_precision", "step P"),
                ("step_recall", "step R"), ("step_f1", "step F1")]
OUTCOME_COLUMNS = [("outcome_acc_correct", "no-err|correct"), ("outcome_acc_wrong", "err|wrong"),
                   ("outcome_f1", "outcome F1"), ("balanced_accuracy", "bal acc")]


def register(sub: argparse._SubParsersAction) -> None:
    from report.evaluate import EvalConfig

    parser = sub.add_parser("eval", help="score annotators / consensus against gold labels",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML config file (its `eval:` section)")
    parser.add_argument("--lake", help="lake root (default: $STEPFORGE_LAKE or data/lake)")
    add_config_args(parser, EvalConfig)
    add_deprecated_alias(parser, "--json", "--json-path", "json_path")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from report.evaluate import EvalConfig, evaluate
    from pipelines.config.lake_check import existing_lake
    from pipelines.config.project import read_project

    project = read_project(args.config, flags={"eval": flags_for(args, EvalConfig)})
    config = project.eval
    report = evaluate(existing_lake(args.lake or project.lake), config)
    print(render(report))
    if config.json_path:
        Path(config.json_path).write_text(json.dumps(report.as_dict(), indent=2, sort_keys=True)
                                          + "\n", encoding="utf-8")
    if config.fail_below is not None and failing(report, config.fail_below):
        print(f"eval: F1 below {config.fail_below} for {', '.join(failing(report, config.fail_below))}")
        return 1
    return 0


def failing(report: Any, threshold: float) -> list[str]:
    key = "outcome_f1" if report.unsupported else "processbench_f1"
    return [r["name"] for r in report.rows if r.get(key) is None or 100 * r[key] < threshold]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{100 * value:.1f}"
    return str(value)


def render(report: Any) -> str:
    """Header lines and one aligned table (rates x100), rows grouped annotators then strategies."""
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(report.kinds.items()))
    lines = [f"eval: {report.cases} gold cases ({kinds}) from {report.gold}; "
             f"{report.matched} matched lake solutions"]
    if not report.rows:
        lines.append("  no labels on the matched solutions" if report.matched else
                     "  nothing to score: ingest the gold's solutions first "
                     "(stepforge ingest --kind processbench|solutions)")
        return "\n".join(lines)
    columns = [("labels", "labels"), ("name", "name"), ("cases", "cases"), ("coverage", "cover")]
    columns += [] if report.unsupported else STEP_COLUMNS
    columns += OUTCOME_COLUMNS + [("tokens_per_labeled_step", "tok/step")]
    table = [[h for _, h in columns]]
    for row in report.rows:
        cells = [_cell(row.get(k)) for k, _ in columns]
        cells[-1] = "-" if row["tokens_per_labeled_step"] is None else \
            f"{row['tokens_per_labeled_step']:.0f}"
        table.append(cells)
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    for r in table:
        lines.append("  " + "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                                      for i, (c, w) in enumerate(zip(r, widths))))
    lines.append("  rates are percentages; a missing first-error verdict counts as wrong; "
                 "cover = cases with a first-error verdict")
    if report.unsupported:
        lines.append(f"  not computed ({next(iter(report.unsupported.values()))}): "
                     + ", ".join(report.unsupported))
    return "\n".join(lines)
