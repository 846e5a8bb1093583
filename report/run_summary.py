"""What ``stepforge run`` prints at the end: each stage's line, then the lake's overview
(counts, agreement between annotators, cost in tokens) and where the outputs are."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from store.lake import Lake

OVERVIEW_SQL = {
    "tables": """
        SELECT (SELECT count(*) FROM problems) AS problems,
               (SELECT count(*) FROM solutions) AS solutions,
               (SELECT count(*) FILTER (WHERE is_correct) FROM solutions) AS correct,
               (SELECT count(*) FROM steps) AS steps,
               (SELECT count(*) FROM step_votes) AS votes,
               (SELECT count(*) FROM reviews) AS reviews""",
    "costs": """
        SELECT annotator, count(*) AS votes, count(*) FILTER (WHERE status = 'labeled') AS labeled,
               sum(prompt_tokens)::BIGINT AS prompt_tokens,
               sum(completion_tokens)::BIGINT AS completion_tokens, sum(rollouts)::BIGINT AS rollouts
        FROM step_votes GROUP BY annotator ORDER BY annotator""",
    "retention": "SELECT strategy, solutions, kept, agreed, human, disputed FROM retention",
    "agreement": """SELECT annotator_a, annotator_b, steps, kappa, first_error_rate
                     FROM annotator_agreement""",
}


@dataclass
class RunSummary:
    """One line per stage that ran, the lake overview, and output locations."""

    lake: str
    stages: dict[str, str] = field(default_factory=dict)
    overview: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    health: str = ""  # the label-health verdict and reasons (report.label_health), first


def lake_overview(lake: Lake) -> dict[str, list[dict[str, Any]]]:
    """Counts, per-annotator costs, retention per strategy and pairwise agreement."""
    return {name: lake.query(sql).to_pylist() for name, sql in OVERVIEW_SQL.items()}


def _num(value: Any, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def render(summary: RunSummary) -> str:
    """The summary as terminal text."""
    lines = ["stepforge run summary", ""]
    if summary.health:
        lines += [summary.health, ""]
    width = max(map(len, summary.stages), default=0)
    for stage, text in summary.stages.items():
        first, *rest = text.splitlines() or [""]
        lines.append(f"  {stage:<{width}}  {first}")
        lines += [f"  {'':<{width}}  {line.strip()}" for line in rest]
    t = (summary.overview.get("tables") or [{}])[0]
    if t:
        lines += ["", f"lake {summary.lake}: {t['problems']} problems, {t['solutions']} solutions "
                  f"({t['correct']} correct), {t['steps']} steps, {t['votes']} step votes, "
                  f"{t['reviews']} reviews"]
    for row in summary.overview.get("costs", []):
        lines.append(f"  {row['annotator']}: {row['labeled']}/{row['votes']} steps labeled, "
                     f"{row['prompt_tokens']:,} prompt + {row['completion_tokens']:,} completion "
                     f"tokens, {row['rollouts']:,} rollouts")
    for row in summary.overview.get("agreement", []):
        lines.append(f"  agreement {row['annotator_a']} vs {row['annotator_b']}: kappa "
                     f"{_num(row['kappa'])} on {row['steps']} steps, same first error "
                     f"{_num(row['first_error_rate'])}")
    for row in summary.overview.get("retention", []):
        lines.append(f"  {row['strategy']}: {row['kept']}/{row['solutions']} solutions kept "
                     f"({row['human']} with human labels), {row['disputed']} disputed")
    lines += ["", "outputs:", f"  lake      {summary.lake}  (stepforge sql --lake {summary.lake} "
              '"select * from retention")']
    lines += [f"  {name:<9} {where}" for name, where in summary.outputs.items()]
    return "\n".join(lines)
