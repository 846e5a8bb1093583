"""Label health: whether the labels in a lake are usable to train a PRM, and why, in words a
first-time user can read without opening the code. One function decides it (``assess``); the
run summary (``stepforge run``) and the report (``stepforge report``) both print its verdict
and its reasons, the same words, so they cannot disagree on the same lake.

**Usable** is decided per strategy. A strategy's labels are usable when all three hold:

1. the export selects at least one example under it;
2. that selection passes the export's information checks (export/checks.py: both label
   values, not every label from one mostly-failing annotator);
3. at most ``MAX_SINGLE_SOURCE`` (20%) of its labels are single-source: a machine label with
   fewer than two labelled votes behind it (the judge's word alone where MC skipped, say).
   Human labels are never single-source. Passing the checks is not enough: a set that is the
   judge alone passes them.

The lake's verdict judges one strategy and names it: the export's (``export.strategy`` of the
config, ``consensus`` by default), the labels ``stepforge export`` would ship. Every other
reconciled strategy is judged by the same rule in the reasons, so a usable alternative is
named, never silently taken. The reasons: the policy's solve rate; per MC annotator the share
of its votes skipped and why; per judge its parse rate; annotator pairs that agree no better
than chance (Cohen's kappa <= 0); per strategy its labels, their single-source share and MC
evidence, and the export checks.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from annotators.mc.config import MODES as MC_MODES
from export.checks import CheckResult, check_selection
from export.config import ExportConfig
from store.analytics import counting_votes_sql
from store.lake import Lake

MAX_SINGLE_SOURCE = 0.2  # the most of a strategy's labels that may rest on one vote

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


# per LLM annotator: the first server that refused the constrained shape (its votes were asked
# in free text) and whether its model was marked too small to judge (``informed: false``)
JUDGE_NOTES_SQL = """
SELECT annotator,
       min(json_extract_string(details, '$.constraints_refused')) AS refused,
       bool_or(coalesce(json_extract_string(details, '$.informed') = 'false', false)) AS uninformed
FROM step_votes GROUP BY annotator"""


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


# Per strategy, its current labelled consensus rows: single-source ones (a machine label with
# fewer than two labelled votes behind it: the row's ``annotators`` lists the annotators whose
# labelled votes the rule used, plus "human" when reviewed) grouped by the one annotator behind
# them ('' when none).
SINGLE_SOURCE_SQL = """
SELECT strategy, single, CASE WHEN single THEN coalesce(machines[1], '') END AS alone,
       count(*)::BIGINT AS labels
FROM (SELECT strategy, list_filter(annotators, lambda a: a <> 'human') AS machines,
             status <> 'human' AND len(machines) < 2 AS single
      FROM consensus WHERE label IS NOT NULL)
GROUP BY ALL ORDER BY ALL"""


def single_source_counts(lake: Lake) -> dict[str, dict[str, Any]]:
    """Per strategy: ``labels`` (current consensus rows with a label), ``single`` (of them,
    single-source) and ``alone`` (single-source labels by the annotator behind them)."""
    out: dict[str, dict[str, Any]] = {}
    for row in lake.query(SINGLE_SOURCE_SQL).to_pylist():
        counts = out.setdefault(row["strategy"], {"labels": 0, "single": 0, "alone": {}})
        counts["labels"] += row["labels"]
        if row["single"]:
            counts["single"] += row["labels"]
            counts["alone"][row["alone"] or "no vote"] = row["labels"]
    return out


@dataclass
class StrategyHealth:
    """One strategy's labels judged by the rule of the module docstring."""

    strategy: str
    reconciled: bool = True  # any consensus rows under it
    labels: int = 0  # current consensus rows with a label
    single: int = 0  # of them single-source
    alone: dict[str, int] = field(default_factory=dict)  # single-source labels per annotator
    retention: dict[str, Any] = field(default_factory=dict)  # the retention view's row
    provenance: dict[str, Any] = field(default_factory=dict)  # the label_provenance view's row
    checks: CheckResult | None = None  # the export checks on its selection

    def problems(self) -> list[str]:
        """Why its labels are not usable (empty: usable)."""
        if not self.reconciled:
            return [f"no consensus rows under strategy {self.strategy} (run `stepforge "
                    f"reconcile --strategies {self.strategy}`)"]
        out = []
        if self.checks is None or not self.checks.checked:
            r = self.retention
            out.append(f"the export selects no labels ({r.get('kept', 0)} of "
                       f"{r.get('solutions', 0)} solutions kept, {r.get('disputed', 0)} disputed)")
        elif not self.checks.passed:
            out.append("the export checks fail: " + "; ".join(self.checks.failures))
        if self.labels and self.single > MAX_SINGLE_SOURCE * self.labels:
            out.append(f"{self.single_text()}, more than {MAX_SINGLE_SOURCE:.0%}")
        return out

    @property
    def usable(self) -> bool:
        return not self.problems()

    def single_text(self) -> str:
        who = ", ".join(f"{n} {name} alone" for name, n in sorted(
            self.alone.items(), key=lambda item: (-item[1], item[0])))
        return (f"{self.single}/{self.labels} labels ({_pct(self.single, self.labels)}) "
                f"single-source (fewer than two labelled votes{': ' + who if who else ''})")

    def text(self) -> str:
        """Its line among the reasons: the verdict, then the numbers behind it."""
        problems = self.problems()
        head = (f"{self.strategy}: NOT usable: {'; '.join(problems)}" if problems
                else f"{self.strategy}: usable")
        if not self.labels:
            return head
        facts = [f"{self.labels} labels"]
        if not any("single-source" in p for p in problems):
            facts.append(self.single_text())
        p = self.provenance
        if p.get("labels"):
            facts.append(f"MC evidence: measured {_pct(p['measured'], p['labels'])}, inferred "
                         f"{_pct(p['inferred'], p['labels'])}, no MC vote "
                         f"{_pct(p['no_mc'], p['labels'])}, human {_pct(p['human'], p['labels'])}")
        if self.checks is not None and self.checks.checked and self.checks.passed:
            facts.append("export checks passed")
        return f"{head} ({'; '.join(facts)})"


@dataclass
class LabelHealth:
    """The numbers behind the verdict and its reasons."""

    policy: dict[str, int] = field(default_factory=dict)
    annotators: list[dict[str, Any]] = field(default_factory=list)
    skips: list[dict[str, Any]] = field(default_factory=list)
    agreement: list[dict[str, Any]] = field(default_factory=list)  # annotator_agreement rows
    judged: StrategyHealth | None = None  # the export's strategy
    judge_notes: dict[str, dict[str, Any]] = field(default_factory=dict)  # JUDGE_NOTES_SQL
    others: list[StrategyHealth] = field(default_factory=list)  # every other reconciled one

    def skips_of(self, annotator: str) -> list[dict[str, Any]]:
        return [s for s in self.skips if s["annotator"] == annotator]


def gather_health(lake: Lake) -> LabelHealth:
    """Read the per-annotator numbers from the lake's views (no strategy judged yet)."""
    health = LabelHealth()
    health.policy = lake.query(POLICY_SQL).to_pylist()[0]
    groups = lake.query(VOTE_GROUPS_SQL).to_pylist()
    health.annotators = per_annotator(groups)
    health.skips = skip_rows(groups)
    health.judge_notes = {r["annotator"]: r for r in lake.query(JUDGE_NOTES_SQL).to_pylist()}
    health.agreement = lake.query("SELECT annotator_a, annotator_b, steps, kappa "
                                  "FROM annotator_agreement").to_pylist()
    return health


def judge_strategy(lake: Lake, export: ExportConfig, sources: dict[str, dict[str, Any]],
                   retention: dict[str, dict], provenance: dict[str, dict]) -> StrategyHealth:
    """``export.strategy``'s labels under the export's selection ``export``."""
    from export.select import select

    name = export.strategy
    if name not in retention:
        return StrategyHealth(name, reconciled=False)
    counts = sources.get(name, {"labels": 0, "single": 0, "alone": {}})
    with select(lake, export) as selection:
        checks = check_selection(lake, selection)
    return StrategyHealth(name, labels=counts["labels"], single=counts["single"],
                          alone=counts["alone"], retention=retention[name],
                          provenance=provenance.get(name, {}), checks=checks)


def assess(lake: Lake, export: ExportConfig | None = None) -> LabelHealth:
    """The lake's label health: the numbers, the export's strategy judged (``export``: the
    export's options, default ``ExportConfig()``), every other reconciled strategy judged
    with the same options."""
    export = export or ExportConfig()
    health = gather_health(lake)
    sources = single_source_counts(lake)
    retention = {r["strategy"]: r for r in lake.query("SELECT * FROM retention").to_pylist()}
    provenance = {r["strategy"]: r for r in lake.query(
        "SELECT * FROM label_provenance").to_pylist()}
    health.judged = judge_strategy(lake, export, sources, retention, provenance)
    health.others = [judge_strategy(lake, export.model_copy(update={"strategy": name}), sources,
                                    retention, provenance)
                     for name in sorted(retention) if name != export.strategy]
    return health


# details.skip_kind -> words for a first-time reader
SKIP_WORDS = {"unsolvable": "policy never solves the problem",
              "truncated": "rollouts cut off at max_tokens",
              "truncated_solution": "solution cut off at max_tokens",
              "max_steps": "more steps than max_steps", "no_reference": "no reference answer",
              "bad_reference": "unparseable reference answer",
              "no_reference_solution": "no reference solution (SPARE aligns to one)",
              "bad_reference_solution": "reference solution has no steps to align to",
              "no_claim": "no first-error claim of the checked annotator (mc-verify)",
              "not_searched": "first error not searched after a refuted claim (mc-verify)",
              "not_critiqued": "index implied but step never critiqued"}


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
            parts.append(f"skipped {row['skipped']}/{votes} ({_pct(row['skipped'], votes)}): "
                         + ", ".join(_skip(s) for s in skips))
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
    notes = health.judge_notes.get(name) or {}
    if notes.get("refused"):
        text += (f", constrained decoding refused by {notes['refused'].split(': ')[0]} "
                 "(free text sent)")
    if notes.get("uninformed"):
        text += ", verdicts uninformed (a model too small to judge)"
    return text


def chance_agreement(health: LabelHealth) -> list[str]:
    """Annotator pairs whose labels agree no better than chance where both labelled."""
    return [f"{r['annotator_a']} and {r['annotator_b']} agree no better than chance on the "
            f"{r['steps']} steps both labelled (Cohen's kappa {r['kappa']:.2f})"
            for r in health.agreement if r["kappa"] is not None and r["kappa"] <= 0]


def verdict(health: LabelHealth) -> str:
    """The headline: usable or not under the judged strategy, named, and the main reasons."""
    judged = health.judged
    if judged is None:
        return "labels NOT usable: not assessed"
    where = f"under strategy {judged.strategy} (the export's)"
    problems = judged.problems()
    if not problems:
        return (f"labels usable {where}: {judged.labels} labels, "
                f"{_pct(judged.single, judged.labels)} single-source, export checks passed")
    p = health.policy
    if p.get("solutions") and not p.get("solved"):
        problems.append("the policy solved none of the problems, so MC cannot locate errors "
                        "(its votes are skipped)")
    elif not any(r["labeled"] for r in health.annotators):
        problems.append("no annotator labelled a step")
    usable = [s.strategy for s in health.others if s.usable]
    if usable:
        problems.append("usable instead: " + ", ".join(
            f"{s} (stepforge export --strategy {s})" for s in usable))
    return f"labels NOT usable {where}: {'; '.join(problems)}"


def reasons(health: LabelHealth) -> list[str]:
    """The facts behind the verdict, one sentence each (the same in the summary and report)."""
    items = [policy_text(health)] + [annotator_text(health, r) for r in health.annotators]
    items += chance_agreement(health)
    items += [s.text() for s in ([health.judged] if health.judged else []) + health.others]
    if not health.others and health.judged is not None and not health.judged.reconciled:
        items.append("no consensus labels yet: run `stepforge reconcile`")
    return items


def health_text(health: LabelHealth) -> str:
    """The run summary's block: the verdict, then one reason a line."""
    return "\n".join([f"label health: {verdict(health)}"]
                     + [f"  - {item}" for item in reasons(health)])


def health_panel(health: LabelHealth) -> str:
    """The report's first panel (HTML): the same verdict and reasons."""
    return (f"<p><b>{html.escape(verdict(health))}</b></p><ul>"
            + "".join(f"<li>{html.escape(item)}</li>" for item in reasons(health)) + "</ul>")
