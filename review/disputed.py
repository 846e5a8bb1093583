"""A disputed solution as review sees it: its votes grouped per annotator, and what most of
them say (the plurality first error, the steps most labeled votes call wrong)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from schemas.records import Consensus, Problem, Solution, StepVote

UNSETTLED = ("disputed", "single-source")  # consensus statuses a human decides


@dataclass
class AnnotatorView:
    """One annotator's verdicts on one solution: per-step (status, label, score, rationale)."""

    name: str
    steps: dict[int, StepVote] = field(default_factory=dict)

    def first_error(self) -> int | None:
        """0-based first step labelled wrong, -1 when none is, None when nothing was labeled."""
        labeled = [v for v in self.steps.values() if v.status == "labeled"]
        if not labeled:
            return None
        wrong = [v.step_index for v in labeled if v.label == 0]
        return min(wrong) if wrong else -1


@dataclass
class Disputed:
    """A disputed solution with everything its record shows."""

    solution: Solution
    problem: Problem | None
    votes: list[StepVote]
    consensus: list[Consensus]
    priority: float = 0.0

    @property
    def strategies(self) -> list[str]:
        return sorted({c.strategy for c in self.consensus if c.status in UNSETTLED})

    def annotators(self) -> list[AnnotatorView]:
        """Votes grouped per annotator configuration; names disambiguated when one annotator ran
        with several versions or configs."""
        groups: dict[tuple[str, str, str], AnnotatorView] = {}
        for vote in sorted(self.votes, key=lambda v: v.created_at):
            key = (vote.annotator, vote.annotator_version, vote.config_hash)
            groups.setdefault(key, AnnotatorView(vote.annotator)).steps[vote.step_index] = vote
        names = Counter(k[0] for k in groups)
        for (name, version, config), view in groups.items():
            if names[name] > 1:
                view.name = f"{name}@{version}" + (f"/{config[:6]}" if config else "")
        return sorted(groups.values(), key=lambda v: v.name)


def plurality_first_error(views: Sequence[AnnotatorView]) -> tuple[int, list[str], float] | None:
    """The first error most annotators name (ties: the earliest), who names it, and their share."""
    claims = {v.name: v.first_error() for v in views if v.first_error() is not None}
    if not claims:
        return None
    counts = Counter(claims.values())
    best = max(counts.values())
    winner = min((k for k, c in counts.items() if c == best), key=lambda k: (k < 0, k))
    backers = sorted(n for n, k in claims.items() if k == winner)
    return winner, backers, best / len(claims)


def wrong_step_shares(views: Sequence[AnnotatorView], n_steps: int) -> dict[int, float]:
    """Per step, the share of labeled votes calling it wrong (steps nobody labeled left out)."""
    shares = {}
    for i in range(n_steps):
        labels = [v.steps[i].label for v in views if i in v.steps and v.steps[i].status == "labeled"]
        if labels:
            shares[i] = sum(1 for label in labels if label == 0) / len(labels)
    return shares


def wrong_by_majority(views: Sequence[AnnotatorView], n_steps: int) -> tuple[list[int], list[str]]:
    """The steps most labeled votes call wrong, and the annotators whose labeled vote calls one
    of them wrong (an annotator that skipped or could not be parsed backs nothing)."""
    shares = wrong_step_shares(views, n_steps)
    steps = [i for i, share in sorted(shares.items()) if share > 0.5]
    backers = sorted({v.name for v in views for i in steps
                      if i in v.steps and v.steps[i].status == "labeled" and v.steps[i].label == 0})
    return steps, backers
