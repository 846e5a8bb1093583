"""Soft labels, the column TRL and Math-Shepherd sets carry beside their 0/1 labels:
``soft_labels[i]``, the consensus probability that step i is correct (null where unknown). TRL
casts labels with ``int()``, so soft labels never go in ``labels``; TRL ignores this column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from export.card import CardFacts
    from export.config import ExportConfig


def soft_columns(config: ExportConfig) -> list[str]:
    """The soft-label column when ``soft_labels`` is on."""
    return ["probabilities AS soft_labels"] if config.soft_labels else []


def soft_features(config: ExportConfig) -> dict[str, Any]:
    """Its feature, when ``soft_labels`` is on."""
    import datasets

    return {"soft_labels": datasets.List(datasets.Value("float64"))} if config.soft_labels else {}


# What each annotator's vote contributes to a step's soft label, with reconcile's default
# soft_scores (mc-hard, mc-soft, mc-binary: their vote score; the others: their 0/1 label).
SOFT_BY_ANNOTATOR = {
    "mc-soft": "the MC success fraction of the prefix ending at the step: of its k rollouts not "
               "cut off at max_tokens, the share reaching the gold answer (3 of 8 -> 0.375)",
    "mc-hard": "the MC success fraction over the rollouts drawn from the step's prefix (early "
               "stop may draw fewer than k: 4 of 4 -> 1.0); none for the steps of a correct "
               "solution, labelled 1 from its own steps without a rollout",
    "mc-binary": "the MC success fraction at the prefixes its binary search rolled out (about "
                 "log2 n per wrong solution: 1 of 4 -> 0.25 on a step labelled 1); none for every "
                 "other step, whose 0/1 label is inferred from the search",
    "mc-verify": "the MC success fraction at the prefixes it rolled out to check the judge's "
                 "first error (the steps before and at it; more where the check failed and it "
                 "searched); none for every other step, whose 0/1 label is inferred",
}
SOFT_LAST_STEP = ("an MC annotator's value for the last step is the solution's own graded answer "
                  "(1.0 right, 0.0 wrong)")


def soft_label_text(strategy: str, facts: CardFacts) -> list[str]:
    """What the ``soft_labels`` column holds, per annotator whose votes entered the labels."""
    lines = [f"`soft_labels[i]` is the `probability` of step i's consensus row under "
             f"`{strategy}`, an estimate that the step is correct; null where none of the votes it "
             "rests on has a value (an MC vote has one only where rollouts or the graded answer "
             "measured it: no soft value stands for a measurement that was not made). "
             "`consensus`: the MC annotator's value on agreed steps (null where it has none); "
             "`majority`: the weighted mean of the values the voting annotators have; "
             "`dawid-skene`: the posterior; a human-reviewed step: the share of reviewers "
             "calling it correct. Train on it with a loss of your own; TRL reads only `labels`.",
             "", "What each annotator's vote contributes (reconcile's default `soft_scores`: "
             f"mc-hard, mc-soft, mc-binary, mc-verify; {SOFT_LAST_STEP}):", ""]
    names = sorted({a["annotator"] for a in facts.annotators}) or ["(none recorded)"]
    for name in names:
        lines.append(f"- `{name}`: " + SOFT_BY_ANNOTATOR.get(
            name, "its 0/1 label (1.0 / 0.0)" if name != "(none recorded)" else "human labels only")
            + ("; its score, (A + 1) / 2 of the advantage A, is not a success probability"
               if name == "mc-progress" else "") + ".")
    if facts.soft_missing is not None:
        nulls, total = facts.soft_missing
        lines += ["", f"Exported steps without a soft value (null): {nulls} of {total}."]
    return lines + [""]



def soft_notes(config: ExportConfig, facts: CardFacts) -> list[str]:
    """The card's soft-label lines, when the set has the column."""
    return soft_label_text(config.strategy, facts) if config.soft_labels else []
