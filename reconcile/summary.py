"""What a reconcile did: per strategy its rows, statuses, solutions kept and MC evidence, and the
votes it read; ``describe`` turns that into the lines the CLI prints.

Each slice fills its own summary from its tables (``summarise``, ``count_votes``); ``merge``
adds them up (solutions never span slices).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from reconcile.staging import one
from reconcile.statuses import PROVENANCE, STATUS_NAMES


@dataclass
class StrategySummary:
    strategy: str
    rows: int = 0                 # rows the strategy emitted
    written: int = 0              # rows new in the lake
    steps: dict[str, int] = field(default_factory=dict)      # per status
    solutions: dict[str, int] = field(default_factory=dict)  # kept / disputed / single-source
    provenance: dict[str, int] = field(default_factory=dict)  # labelled steps per MC provenance
    reliabilities: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ReconcileSummary:
    votes: int = 0
    labeled: int = 0
    unparsed: int = 0
    skipped: int = 0
    superseded: int = 0           # votes of older runs a newer run of the annotator replaced
    superseded_labels: int = 0    # of which labeled: old labels that no longer count
    reviews: int = 0
    strategies: list[StrategySummary] = field(default_factory=list)


def summarise(con: duckdb.DuckDBPyConnection, name: str, details: dict[str, list]) -> StrategySummary:
    """``_summarise`` over ``dec``: rows, statuses, solutions kept / disputed, MC provenance."""
    out = StrategySummary(strategy=name)
    steps = dict(con.sql("SELECT status, count(*) FROM dec WHERE emit GROUP BY ALL").fetchall())
    out.steps = {s: int(steps.get(i, 0)) for i, s in enumerate(STATUS_NAMES)}
    out.rows = sum(out.steps.values())
    kept, disputed, single = one(
        con, "SELECT count(*) FILTER (WHERE NOT d AND NOT s), count(*) FILTER (WHERE d), count(*) "
        "FILTER (WHERE s AND NOT d) FROM (SELECT bool_or(status = 1) AS d, bool_or(status = 3) AS s "
        "FROM dec WHERE emit GROUP BY sid)")
    out.solutions = {"kept": int(kept), "disputed": int(disputed), "single-source": int(single)}
    prov = dict(con.sql("SELECT prov, count(*) FROM dec WHERE emit AND label >= 0 AND status <> 3 "
                        "GROUP BY ALL").fetchall())
    out.provenance = {p: int(prov.get(i, 0)) for i, p in enumerate(PROVENANCE)}
    if details:
        out.reliabilities = [dict(zip(details, values)) for values in zip(*details.values())]
    return out


def count_votes_from(total: ReconcileSummary, part: ReconcileSummary) -> None:
    for key in ("votes", "labeled", "unparsed", "skipped", "superseded", "superseded_labels"):
        setattr(total, key, getattr(total, key) + getattr(part, key))


def count_votes(con: duckdb.DuckDBPyConnection, summary: ReconcileSummary) -> None:
    """Add the staged slice's votes by status to ``summary``."""
    counts = one(con, "SELECT count(*), count(*) FILTER (WHERE status = 'labeled'), count(*) FILTER "
                 "(WHERE status = 'unparsed'), count(*) FILTER (WHERE status = 'skipped') FROM v")
    for key, n in zip(("votes", "labeled", "unparsed", "skipped"), counts):
        setattr(summary, key, getattr(summary, key) + int(n))


def merge(total: ReconcileSummary, name: str, part: StrategySummary) -> None:
    """Add one slice's strategy summary to the total (solutions never span slices)."""
    into = next((s for s in total.strategies if s.strategy == name), None)
    if into is None:
        total.strategies.append(part)
        return
    into.rows += part.rows
    into.written += part.written
    for counted in ("steps", "solutions", "provenance"):
        mine = getattr(into, counted)
        for k, v in getattr(part, counted).items():
            mine[k] = mine.get(k, 0) + v


def describe(summary: ReconcileSummary, dry_run: bool = False) -> str:
    """A few lines: the votes read, then per strategy its rows, statuses and solutions kept."""
    lines = [f"reconcile: {summary.votes} votes ({summary.labeled} labeled, {summary.unparsed} "
             f"unparsed, {summary.skipped} skipped: not votes), {summary.reviews} submitted reviews"]
    if summary.superseded:
        lines.append(f"  superseded: {summary.superseded} votes of older runs ({summary.superseded_labels} "
                     "labels) no longer count: a newer run of the same annotator voted on their "
                     "solutions (kept in step_votes)")
    verb = "would write" if dry_run else "wrote"
    for s in summary.strategies:
        steps = ", ".join(f"{v} {k}" for k, v in s.steps.items())
        total = sum(s.solutions.values()) or 1
        single = s.steps.get("single-source", 0)
        lines.append(f"  {s.strategy}: {s.rows} steps ({steps}); solutions kept "
                     f"{s.solutions.get('kept', 0)}/{total} ({s.solutions.get('kept', 0) / total:.1%}); "
                     f"{verb} {s.written} new rows")
        if single:
            lines.append(f"    {single} single-source steps: one annotator's labeled vote alone, "
                         "not agreed (the export refuses them without --force)")
        labelled = sum(s.provenance.values())
        if labelled:
            lines.append("    MC evidence of the labelled steps: " + ", ".join(
                f"{name} {n / labelled:.0%}" for name, n in s.provenance.items() if n))
        for r in s.reliabilities:
            if not r["votes"]:  # no labelled vote: the prior, not a reliability
                continue
            lines.append(f"    {r['annotator']}: sensitivity {r['sensitivity']:.3f}, specificity "
                         f"{r['specificity']:.3f}, accuracy {r['accuracy']:.3f} "
                         f"({r['votes']} labelled votes)")
    return "\n".join(lines)
