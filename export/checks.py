"""Information checks on a selection before it is written: refuse a training set whose labels
carry no information, rather than ship it looking like one.

Two failures, each a sentence naming the numbers (counted in SQL over the selection):

- one label value on every exported step (all correct or all wrong): a PRM trained on it learns a
  constant; this is what a policy that solves nothing gives (MC puts every first error at step 1);
- every label resting on one annotator that skipped or could not parse most of its votes: the few
  it labelled are whatever it happened to read, not a sample of the steps;
- single-source steps under the strategy (reconcile's status ``single-source``: one annotator's
  labeled vote alone, e.g. the judge where MC skipped): they are not agreed labels, and a set
  built around them would pass for agreement. Checked even when nothing else is selected
  (without ``--force`` those steps are not labels, so the set may be empty because of them).

``stepforge export --force`` writes the set anyway (single-source steps then exported as
labels); the card then says which checks failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from export.select import Selection
from store.lake import Lake
from store.sql import literal

MOSTLY = 0.5  # an annotator with more than this share of skipped + unparsed votes


class ExportRefused(ValueError):
    """The selected labels failed the information checks and ``force`` was not given."""

    def __init__(self, failures: list[str]) -> None:
        self.failures = failures
        super().__init__("export refused, nothing written: " + "; ".join(failures)
                         + ". Pass --force (export.force: true) to write it anyway.")


@dataclass
class CheckResult:
    """The failures found (empty: passed) and whether the set was written despite them."""

    failures: list[str] = field(default_factory=list)
    forced: bool = False
    checked: bool = True  # False when there was nothing to check (no examples)

    @property
    def passed(self) -> bool:
        return not self.failures

    def line(self) -> str:
        if not self.checked:
            return "no labels selected"
        if self.passed:
            return ("passed (both label values present, labels not from one mostly-failing "
                    "annotator)")
        return ("FAILED, written anyway (--force): " if self.forced else "FAILED: ") \
            + "; ".join(self.failures)


def single_value(selection: Selection) -> str | None:
    """The failure sentence when every exported step has the same label."""
    row = selection.query("""SELECT count(*) AS labels, count(DISTINCT label) AS values,
                                    any_value(label) AS value
                             FROM (SELECT unnest(labels) AS label FROM selected)""").to_pylist()[0]
    if not row["labels"] or row["values"] > 1:
        return None
    value = "correct (1)" if row["value"] == 1 else "wrong (0)"
    return (f"all {row['labels']} step labels of the {selection.total} examples are "
            f"{value}: the set carries no information to train a PRM on")


def failing_annotator(lake: Lake, selection: Selection) -> str | None:
    """The failure sentence when one machine annotator is behind every label and most of its
    votes were skipped or unparsed."""
    machines = [a for a in selection.annotators if a != "human"]
    if len(machines) != 1 or not selection.total:
        return None
    row = lake.query(f"""
        SELECT count(*) AS votes, count(*) FILTER (WHERE status = 'skipped') AS skipped,
               count(*) FILTER (WHERE status = 'unparsed') AS unparsed
        FROM step_votes WHERE annotator = {literal(machines[0])}""").to_pylist()[0]
    bad = row["skipped"] + row["unparsed"]
    if not row["votes"] or bad <= MOSTLY * row["votes"]:
        return None
    return (f"every label comes from {machines[0]}, which skipped {row['skipped']} and could not "
            f"parse {row['unparsed']} of its {row['votes']} votes ({bad / row['votes']:.0%}): the "
            "steps it did label are not a sample to train on")


def single_source(selection: Selection) -> str | None:
    """The failure sentence when the strategy's current rows hold single-source steps (steps a
    human reviewed are not counted: the human label wins)."""
    row = selection.query("""
        SELECT count(*) AS steps, count(DISTINCT solution_id) AS solutions,
               list_sort(list_distinct(flatten(list(annotators)))) AS sources
        FROM consensus_rows c
        WHERE status = 'single-source' AND NOT EXISTS (
          SELECT 1 FROM consensus_rows h WHERE h.status = 'human'
            AND h.solution_id = c.solution_id AND h.step_index = c.step_index)""").to_pylist()[0]
    if not row["steps"]:
        return None
    return (f"{row['steps']} steps of {row['solutions']} solutions are single-source (labelled by "
            f"one annotator alone: {', '.join(row['sources'] or [])}; the others skipped, could not "
            "parse or did not vote): no second source backs them, they are not agreed labels")


def check_selection(lake: Lake, selection: Selection) -> CheckResult:
    """Run every check on ``selection``; an empty selection is only checked for single-source
    steps (the reason it may be empty)."""
    single = single_source(selection)
    if not selection.total:
        return CheckResult(failures=[single] if single else [], checked=bool(single))
    failures = [f for f in (single_value(selection), failing_annotator(lake, selection), single)
                if f]
    return CheckResult(failures=failures)


def card_section(result: CheckResult) -> str:
    """The dataset card's paragraph on the checks."""
    if not result.checked:
        return ""
    if result.passed:
        return ("\n## Information checks\n\nPassed: the labels hold both values and do not all "
                "rest on one annotator that skipped or failed to parse most of its votes.\n")
    text = ("\n## Information checks\n\nWARNING: written with `--force` although these checks "
            "failed:\n\n" + "\n".join(f"- {f}" for f in result.failures) + "\n")
    if any("single-source" in f for f in result.failures):
        text += ("\nThe single-source steps are exported as labels (status `single-source`): each "
                 "rests on one annotator's vote, with no second source agreeing.\n")
    return text
