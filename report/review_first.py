"""The report's reviewer-facing parts: which disputed solutions to review first (with the
problem and the disputed step, and why they are disputed) and the strategies whose kept share
human reviews moved by more than 20 points (a few reviews swinging a whole strategy deserve a
second look before the set is exported)."""

from __future__ import annotations

import html
import json
from typing import Any

from store.lake import Lake

SWING_POINTS = 20.0
SNIPPET = 90


def snippet(text: str | None, limit: int = SNIPPET) -> str:
    """One line of at most ``limit`` characters, GSM8K calculator annotations as their result."""
    from review.render import strip_calculator

    text = " ".join(strip_calculator(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _step_name(value: Any) -> str:
    if value is None or value == -2:
        return "not located"
    return "none" if value == -1 else f"step {int(value) + 1}"


def dispute_reason(details: str | None, disputed_steps: int) -> str:
    """Why a solution is disputed, from its consensus row's details."""
    facts = json.loads(details) if details else {}
    if "mc_first_error" in facts:
        return (f"first error: MC {_step_name(facts.get('mc_first_error'))}, judge "
                f"{_step_name(facts.get('judge_first_error'))}")
    bits = [f"{disputed_steps} step{'s' if disputed_steps != 1 else ''} without a majority"]
    if facts.get("unparsed"):
        bits.append(f"{facts['unparsed']} unparsed votes")
    if facts.get("skipped"):
        bits.append(f"{facts['skipped']} skipped votes")
    return ", ".join(bits)


def review_first(lake: Lake, limit: int = 15) -> list[dict]:
    """Disputed solutions, highest review priority first (then most disputed steps), one row per
    solution: its strategies, priority, the problem and the step in question as snippets, why
    (from the details of its first disputed step, so the same lake always gives the same words)."""
    rows = lake.query(f"""
        WITH d AS (
          SELECT solution_id, strategy, max(priority) AS priority, count(*) AS disputed_steps,
                 min(step_index) AS first_step, arg_min(details, step_index) AS details
          FROM consensus WHERE status = 'disputed' GROUP BY solution_id, strategy),
        s AS (
          SELECT solution_id, max(priority) AS priority, max(disputed_steps) AS disputed_steps,
                 min(first_step) AS first_step, string_agg(strategy, ', ' ORDER BY strategy) AS strategies,
                 coalesce(any_value(details) FILTER (WHERE strategy = 'consensus'),
                          arg_min(details, strategy)) AS details
          FROM d GROUP BY solution_id),
        top AS (  -- the first ``limit`` before any text is read: only they meet the solutions
          SELECT * FROM s ORDER BY priority DESC NULLS LAST, disputed_steps DESC, solution_id
          LIMIT {int(limit)})
        SELECT top.*, p.question, so.steps
        FROM top LEFT JOIN solutions so USING (solution_id) LEFT JOIN problems p USING (problem_id)
        ORDER BY top.priority DESC NULLS LAST, top.disputed_steps DESC, top.solution_id""").to_pylist()
    for r in rows:
        r["problem"] = snippet(r.pop("question"))
        at = focus_step(r["details"], r["first_step"])
        steps = r.pop("steps") or []
        r["step"] = f"{at + 1}: {snippet(steps[at] if at < len(steps) else '', 70)}"
        r["why"] = dispute_reason(r.pop("details"), r["disputed_steps"])
    return rows


def focus_step(details: str | None, first_step: int) -> int:
    """The step a reviewer should read first: the earlier of the MC and judge first errors when
    the consensus located them, else the first disputed step."""
    facts = json.loads(details) if details else {}
    located = [v for v in (facts.get("mc_first_error"), facts.get("judge_first_error"))
               if isinstance(v, int) and v >= 0]
    return min(located) if located else first_step


def review_swings(lake: Lake) -> list[dict]:
    """Per strategy: the kept share before the first human review and now, when they differ by
    more than ``SWING_POINTS`` points (local and remote lakes: reads the consensus history).

    The history (every consensus row ever written) is aggregated by DuckDB over the part files:
    the latest status per (strategy, solution, step) before the first review, then kept
    solutions per strategy; only one row per strategy comes back."""
    first = lake.query("SELECT min(created_at) AS t, count(DISTINCT solution_id) AS n "
                       "FROM reviews WHERE status = 'submitted'").to_pylist()[0]
    if first["t"] is None or not lake.files("consensus"):
        return []
    now = {r["strategy"]: r for r in lake.query(
        "SELECT strategy, solutions, kept, kept_share FROM retention").to_pylist()}
    before = lake.query(f"""
        WITH latest AS (
          SELECT strategy, solution_id, step_index, arg_max(status, created_at) AS status
          FROM (SELECT strategy, solution_id, step_index, status, created_at
                FROM {lake.history_source("consensus")})
          WHERE created_at < (SELECT min(created_at) FROM reviews WHERE status = 'submitted')
          GROUP BY strategy, solution_id, step_index),
        sol AS (SELECT strategy, solution_id, bool_and(status IN ('agreed', 'human')) AS kept
                FROM latest GROUP BY strategy, solution_id)
        SELECT strategy, count(*) AS solutions, count(*) FILTER (WHERE kept) AS kept
        FROM sol GROUP BY strategy ORDER BY strategy""").to_pylist()
    swings = []
    for row in before:
        strategy, solutions, kept = row["strategy"], row["solutions"], row["kept"]
        if strategy not in now or not solutions:
            continue
        old, new = 100.0 * kept / solutions, 100.0 * (now[strategy]["kept_share"] or 0.0)
        if abs(new - old) > SWING_POINTS:
            swings.append({"strategy": strategy, "before": f"{kept}/{solutions}",
                           "now": f"{now[strategy]['kept']}/{now[strategy]['solutions']}",
                           "points": new - old, "reviewed": first["n"]})
    return swings


def swing_notes(swings: list[dict]) -> str:
    """One warning paragraph per swing."""
    return "".join(
        f'<p class="note">⚠ {html.escape(s["strategy"])}: human reviews of {s["reviewed"]} '
        f'solution{"s" if s["reviewed"] != 1 else ""} moved the kept share by '
        f'{s["points"]:+.0f} points ({html.escape(s["before"])} kept before the first review, '
        f'{html.escape(s["now"])} now). A few reviews swinging a whole strategy (Dawid-Skene '
        "re-fits every reliability from them) deserve a second look before exporting.</p>"
        for s in swings)
