"""Why an export selected no rows, and what to do about it.

An empty training set is almost never what the user wanted: the default strategy (consensus)
may have every solution disputed, the strategy may never have been reconciled, or the filters
may have dropped every kept solution. ``why_empty`` reads the lake's consensus and retention
views and says which of these it is, which strategies do have rows, and why solutions are
disputed (for the first-error consensus: the MC and judge first errors differ, or one of them
could not be located).
"""

from __future__ import annotations

import difflib
from typing import Sequence

from export.select import ExportConfig, Selection
from store.lake import Lake
from store.sql import literal


def _strategies(lake: Lake) -> dict[str, dict[str, int]]:
    rows = lake.query("SELECT strategy, solutions, kept, disputed FROM retention").to_pylist()
    return {r["strategy"]: r for r in rows}


def _dispute_reasons(lake: Lake, strategy: str) -> dict[str, int]:
    """Disputed solutions of ``strategy`` counted by reason (one reason per solution)."""
    sql = f"""
    WITH d AS (
      SELECT solution_id, bool_or(json_exists(details, '$.mc_first_error')) AS roles,
             any_value(nullif(details->>'mc_first_error', '-2')) AS mc,
             any_value(nullif(details->>'judge_first_error', '-2')) AS judge,
             sum(coalesce((details->>'unparsed')::INT, 0)) AS unparsed,
             sum(coalesce((details->>'skipped')::INT, 0)) AS skipped
      FROM consensus WHERE strategy = {literal(strategy)} AND status = 'disputed'
      GROUP BY solution_id)
    SELECT CASE
      WHEN roles AND mc IS NULL AND judge IS NULL THEN 'neither MC nor judge votes locate a first error'
      WHEN roles AND mc IS NULL THEN 'the MC votes locate no first error (steps unlabelled or skipped)'
      WHEN roles AND judge IS NULL THEN 'the judge votes locate no first error (unparsed or missing)'
      WHEN roles THEN 'MC and judge put the first error on different steps'
      WHEN unparsed > 0 THEN 'some votes are unparsed (the verdict could not be read)'
      WHEN skipped > 0 THEN 'some votes are skipped'
      ELSE 'the annotators disagree on a step' END AS reason, count(*) AS n
    FROM d GROUP BY reason ORDER BY n DESC, reason"""
    return {r["reason"]: r["n"] for r in lake.query(sql).to_pylist()}


def why_empty(lake: Lake, config: ExportConfig, selection: Selection,
              builtin: Sequence[str] = ()) -> list[str]:
    """Lines saying why ``selection`` holds no example and what to try instead; ``builtin``:
    the strategy kinds reconcile knows, so a misspelt one is named instead of suggesting a
    reconcile that would fail."""
    strategies = _strategies(lake)
    name = config.strategy
    others = sorted(((s, r["kept"]) for s, r in strategies.items() if s != name and r["kept"]),
                    key=lambda item: -item[1])
    hint = ("; try " + ", ".join(f"--strategy {s} ({n} solutions kept)" for s, n in others)
            if others else "")
    if name not in strategies and builtin and name not in builtin:
        close = difflib.get_close_matches(name, sorted({*strategies, *builtin}), n=1)
        return [f"no strategy {name!r}" + (f": did you mean --strategy {close[0]}?" if close
                                           else "") + f" (built in: {', '.join(builtin)}; "
                f"reconciled here: {', '.join(sorted(strategies)) or 'none'}; a strategy of your own is a "
                "`reconcile.variants` entry of --config)"]
    if not strategies:
        return ["no consensus rows yet: run `stepforge reconcile` first (it needs step votes: "
                "`stepforge annotate`)"]
    if name not in strategies:
        return [f"no consensus rows under strategy {name!r} (reconciled: "
                f"{', '.join(sorted(strategies))}): run `stepforge reconcile --strategies {name}`"
                + hint]
    row = strategies[name]
    lines = []
    if not row["kept"]:
        lines.append(f"all {row['solutions']} solutions under strategy {name!r} are disputed"
                     + hint)
        for reason, n in _dispute_reasons(lake, name).items():
            lines.append(f"  {n} disputed: {reason}")
        lines.append("  a reviewer settles disputes: `stepforge review push`, then "
                     "`stepforge review pull` and `stepforge reconcile`")
    else:
        dropped = ", ".join(f"{n} {why}" for why, n in sorted(selection.dropped.items()))
        lines.append(f"{row['kept']} solutions are kept under strategy {name!r}, but the export "
                     f"options left every one out ({dropped or 'no labelled steps selected'}); "
                     "check --statuses, --annotators, --min-probability, --max-steps" + hint)
    return lines
