"""Information checks on a selection before it is written: refuse a training set whose labels
carry no information, rather than ship it looking like one.

Two failures, each a sentence naming the numbers:

- one label value on every exported step (all correct or all wrong): a PRM trained on it learns a
  constant; this is what a policy that solves nothing gives (MC puts every first error at step 1);
- every label resting on one annotator that skipped or could not parse most of its votes: the few
  it labelled are whatever it happened to read, not a sample of the steps.

``stepforge export --force`` writes the set anyway; the card then says which checks failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.export.legacy.select import Selection
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
    labels = [label for e in selection.examples for label in e.labels]
    if not labels or len(set(labels)) > 1:
        return None
    value = "correct (1)" if labels[0] == 1 else "wrong (0)"
    return (f"all {len(labels)} step labels of the {len(selection.examples)} examples are "
            f"{value}: the set carries no information to train a PRM on")


def failing_annotator(lake: Lake, selection: Selection) -> str | None:
    """The failure sentence when one machine annotator is behind every label and most of its
    votes were skipped or unparsed."""
    machines = [a for a in selection.annotators if a != "human"]
    if len(machines) != 1 or not selection.examples:
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


def check_selection(lake: Lake, selection: Selection) -> CheckResult:
    """Run every check on ``selection``; an empty selection is not checked here."""
    if not selection.examples:
        return CheckResult(checked=False)
    failures = [f for f in (single_value(selection), failing_annotator(lake, selection)) if f]
    return CheckResult(failures=failures)


def card_section(result: CheckResult) -> str:
    """The dataset card's paragraph on the checks."""
    if not result.checked:
        return ""
    if result.passed:
        return ("\n## Information checks\n\nPassed: the labels hold both values and do not all "
                "rest on one annotator that skipped or failed to parse most of its votes.\n")
    return ("\n## Information checks\n\nWARNING: written with `--force` although these checks "
            "failed:\n\n" + "\n".join(f"- {f}" for f in result.failures) + "\n")
