"""Label health: what the labels in a lake are worth, in numbers a first-time user can read
without opening the code. Shown as one line at the top of the run summary and as the first
panel of the report.

- the policy's solve rate on the problems (generated solutions only; cut-off ones counted);
- per MC annotator: steps labelled, votes skipped and why (unsolvable: the policy never solves
  the problem; truncated: rollouts or the solution itself cut off at max_tokens), the share of
  rollouts cut off;
- per other annotator (the judges): votes, labelled, unparsed, skipped by reason (parse rate);
- the export's information checks (run summary: the export that ran; report: per strategy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from annotators.mc.config import MODES as MC_MODES
from store.analytics import counting_votes_sql
from store.lake import Lake

POLICY_SQL = """
SELECT count(DISTINCT problem_id)::BIGINT AS problems,
       count(DISTINCT problem_id) FILTER (WHERE is_correct)::BIGINT AS solved,
       count(*)::BIGINT AS solutions, count(*) FILTER (WHERE is_correct)::BIGINT AS correct,
       count(*) FILTER (WHERE finish_reason = 'length')::BIGINT AS cut_off
FROM solutions WHERE finish_reason IS DISTINCT FROM 'given'"""

# the vote that counts per (solution, step, annotator), with its skip reason and rollout counts
# (as annotator_labels picks it; the JSON is read per vote before the window, so the window
# sorts a few narrow columns of the repeated groups only)
VOTES_SQL = counting_votes_sql("""(
    SELECT solution_id, step_index, annotator, annotator_version, config_hash, status, created_at,
           vote_id, rollouts,
           CASE WHEN status = 'skipped'
                THEN coalesce(json_extract_string(details, '$.skip_kind'), 'other') END AS skip_kind,
           coalesce(try_cast(json_extract(details, '$.truncated_rollouts') AS BIGINT), 0) AS truncated
    FROM step_votes)""", "annotator, status, solution_id, skip_kind, rollouts, truncated")

# One pass over the counting votes: per (annotator, status, skip kind) the votes and rollouts;
# skipped votes are first grouped per solution, so only those groups meet the solutions (for
# the distinct problems) and the window over the votes runs once.
VOTE_GROUPS_SQL = f"""
WITH v AS ({VOTES_SQL}),
g AS (
  SELECT annotator, status, skip_kind, CASE WHEN status = 'skipped' THEN solution_id END AS sid,
         count(*) AS votes, sum(rollouts) AS rollouts, sum(truncated) AS truncated
  FROM v GROUP BY ALL)
SELECT g.annotator, g.status, g.skip_kind, sum(g.votes)::BIGINT AS votes,
       sum(g.rollouts)::BIGINT AS rollouts, sum(g.truncated)::BIGINT AS truncated,
       count(g.sid)::BIGINT AS solutions, count(DISTINCT s.problem_id)::BIGINT AS problems
FROM g LEFT JOIN solutions s ON s.solution_id = g.sid
GROUP BY g.annotator, g.status, g.skip_kind"""


def _total(values: list[int | None]) -> int | None:
    """SQL's sum: None when every value is None."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def per_annotator(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Votes by status, rollouts and truncated rollouts per annotator (sorted by name)."""
    out = []
    for name in sorted({g["annotator"] for g in groups}):
        mine = [g for g in groups if g["annotator"] == name]
        by = {status: sum(g["votes"] for g in mine if g["status"] == status)
              for status in ("labeled", "unparsed", "skipped")}
        out.append({"annotator": name, "votes": sum(g["votes"] for g in mine), **by,
                    "rollouts": _total([g["rollouts"] for g in mine]),
                    "truncated": _total([g["truncated"] for g in mine])})
    return out


def skip_rows(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Skipped votes per (annotator, skip kind): most votes first within an annotator."""
    rows = [{k: g[k] for k in ("annotator", "skip_kind", "votes", "solutions", "problems")}
            for g in groups if g["status"] == "skipped"]
    return sorted(rows, key=lambda r: (r["annotator"], -r["votes"], r["skip_kind"]))


@dataclass
class LabelHealth:
    """The numbers behind the label-health line and panel."""

    policy: dict[str, int] = field(default_factory=dict)
    annotators: list[dict[str, Any]] = field(default_factory=list)
    skips: list[dict[str, Any]] = field(default_factory=list)
    export: list[tuple[str, str]] = field(default_factory=list)  # (strategy / run, outcome)
    provenance: list[dict[str, Any]] = field(default_factory=list)  # the label_provenance view

    def skips_of(self, annotator: str) -> list[dict[str, Any]]:
        return [s for s in self.skips if s["annotator"] == annotator]


def gather_health(lake: Lake) -> LabelHealth:
    """Read the numbers from the lake's views."""
    health = LabelHealth()
    health.policy = lake.query(POLICY_SQL).to_pylist()[0]
    groups = lake.query(VOTE_GROUPS_SQL).to_pylist()
    health.annotators = per_annotator(groups)
    health.skips = skip_rows(groups)
    health.provenance = lake.query("SELECT * FROM label_provenance").to_pylist()
    return health


def export_checks_per_strategy(lake: Lake) -> list[tuple[str, str]]:
    """(strategy, outcome of the export's information checks on its default selection)."""
    from export.checks import check_selection
    from export.select import ExportConfig, select

    strategies = [r["strategy"] for r in lake.query(
        "SELECT DISTINCT strategy FROM consensus ORDER BY strategy").to_pylist()]
    out = []
    for strategy in strategies:
        with select(lake, ExportConfig(strategy=strategy)) as selection:
            result = check_selection(lake, selection)
        out.append((strategy, result.line()))
    return out


# details.skip_kind -> words for a first-time reader
SKIP_WORDS = {"unsolvable": "policy never solves the problem",
              "truncated": "rollouts cut off at max_tokens",
              "truncated_solution": "solution cut off at max_tokens",
              "max_steps": "more steps than max_steps", "no_reference": "no reference answer",
              "bad_reference": "unparseable reference answer"}


def _skip(s: dict[str, Any]) -> str:
    words = SKIP_WORDS.get(s["skip_kind"], s["skip_kind"])
    if s["skip_kind"] == "unsolvable":
        words += f": {s['problems']} problems, {s['solutions']} solutions"
    return f"{s['votes']} ({words})"


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "n/a"


def policy_text(health: LabelHealth) -> str:
    p = health.policy
    if not p.get("solutions"):
        return "no generated solutions"
    cut = f", {p['cut_off']} cut off" if p["cut_off"] else ""
    return (f"policy solved {p['solved']}/{p['problems']} problems ({p['correct']}/"
            f"{p['solutions']} solutions correct{cut})")


def annotator_text(health: LabelHealth, row: dict[str, Any]) -> str:
    """One annotator's part: MC annotators with their skip reasons and truncation, the others
    (judges) with their parse rate."""
    name, votes = row["annotator"], row["votes"]
    if name in MC_MODES:
        parts = [f"{name} labelled {row['labeled']}/{votes} steps"]
        skips = health.skips_of(name)
        if skips:
            parts.append("skipped " + ", ".join(_skip(s) for s in skips))
        if row["rollouts"]:
            parts.append(f"{_pct(row['truncated'], row['rollouts'])} of {row['rollouts']} "
                         "rollouts cut off")
        return ", ".join(parts)
    judged = votes - row["skipped"]
    text = (f"{name} parsed {row['labeled']}/{judged} ({_pct(row['labeled'], judged)}), "
            f"{row['unparsed']} unparsed")
    skips = health.skips_of(name)
    if skips:
        text += ", skipped " + ", ".join(_skip(s) for s in skips)
    return text


def verdict(health: LabelHealth) -> str:
    """Whether the labels are usable, and the main reason when not."""
    if any(" passed" in f" {o}" for _, o in health.export):
        return "labels usable"
    p = health.policy
    if p.get("solutions") and not p.get("solved"):
        why = ("the policy solved none of the problems, so MC cannot locate errors (its votes "
               "are skipped)")
    elif not any(r["labeled"] for r in health.annotators):
        why = "no annotator labelled a step"
    else:
        why = "the selected labels fail the export checks"
    return f"labels NOT usable: {why}"


def health_line(health: LabelHealth) -> str:
    """The run summary's one line: the verdict, then the numbers behind it."""
    parts = [policy_text(health)] + [annotator_text(health, r) for r in health.annotators]
    parts += [f"export {what + ': ' if what else ''}{outcome}" for what, outcome in health.export]
    return f"label health: {verdict(health)} ({'; '.join(parts)})"


def health_panel(health: LabelHealth) -> str:
    """The report's first panel (HTML): the same facts, one line each."""
    import html

    items = [policy_text(health)] + [annotator_text(health, r) for r in health.annotators]
    items += [f"{r['strategy']} labels' MC evidence: measured {_pct(r['measured'], r['labels'])}, "
              f"inferred {_pct(r['inferred'], r['labels'])}, no MC vote "
              f"{_pct(r['no_mc'], r['labels'])}, human {_pct(r['human'], r['labels'])} "
              f"(of {r['labels']})" for r in health.provenance]
    items += [f"export checks, {what}: {outcome}" for what, outcome in health.export] or [
        "export checks: no consensus labels yet"]
    return (f"<p><b>{html.escape(verdict(health))}</b></p><ul>"
            + "".join(f"<li>{html.escape(item)}</li>" for item in items) + "</ul>")
