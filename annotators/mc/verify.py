"""mc-verify: check another annotator's first error by rollouts instead of searching for it.

Consensus keeps a solution only where MC and the judge locate the same first error, so MC need
not find the error, only check the judge's claim. A claim "step f is the first error" of a wrong
solution is decided by two prefixes: prefix f (steps 0..f-1) must still reach the gold answer
and prefix f+1 (through step f) must not. Prefix f is evaluated first (early stop: a reachable
prefix usually costs one round), prefix f+1 only where prefix f reached, so a claim that comes
too late is refuted by one evaluation. Prefix 0 is the bare problem (the solvability check) and
prefix n the solution's graded answer, so a claim on the first or last step costs one
evaluation. Where the claim holds the vote is a measured first error equal to the claim, with
the two MC fractions as scores. Where it fails, the search goes on (``refuted: search``) by
mc-binary's bisection inside the interval the evaluations left, so the label is as good as
mc-binary's; ``refuted: stop`` keeps only what the evaluations proved (consensus disputes the
solution either way). A correct solution costs nothing: its own steps witness every prefix, as
in mc-binary, whatever the claim; a wrong solution claimed correct is refuted by its graded
answer and searched from the start.

The solvability check runs only where the labels rest on prefix 0: a prefix of the solution
that reaches the gold answer is itself evidence that the policy solves the problem (it is the
``lo`` end of the interval), so a confirmed claim on step f >= 1 needs no bare-problem rollouts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping, Sequence

from pydantic import Field

from annotators.mc.config import MCConfig
from annotators.mc.rollouts import Grader, RolloutStats
from annotators.mc.search import Item, check_solvable, evaluate, narrow, probe
from engines.base import Engine


class VerifyConfig(MCConfig):
    """mc-verify's settings: the rollout settings of every MC mode, plus whose claims it checks."""

    verify: str = Field(
        "judge", description="mc-verify: the annotator whose first error (its stored step "
        "votes, as reconcile reads them: per step the latest labelled vote) is checked; it must "
        "have run first")
    refuted: Literal["search", "stop"] = Field(
        "search", description="mc-verify: where rollouts refute the claim, binary-search the "
        "interval they left (search: a label as good as mc-binary's) or keep only what they "
        "proved, the steps in between skipped (stop: consensus disputes the solution anyway)")
    unclaimed: Literal["search", "skip"] = Field(
        "search", description="mc-verify: a wrong solution whose claimed first error cannot be "
        "read (the annotator's votes are missing, unparsed or skipped up to it): search it as "
        "mc-binary does, or skip its votes with the reason")


@dataclass(frozen=True)
class Claim:
    """An annotator's first error of one solution: 0-based step, -1 for "no error", None when
    its votes do not locate one (``why`` says what was missing)."""

    first_error: int | None
    annotator: str = "judge"
    why: str = ""
    runs: tuple[tuple[str, str], ...] = ()  # (annotator_version, config_hash) of the votes read

    def describe(self) -> dict:
        return {"annotator": self.annotator, "claim": self.first_error,
                "runs": [list(run) for run in self.runs]} | ({"why": self.why} if self.why else {})


def claim_from_votes(annotator: str, n_steps: int,
                     votes: Sequence[tuple[int, str, int | None]],
                     runs: Sequence[tuple[str, str]] = ()) -> Claim:
    """The first error an annotator's votes (step, status, label), one per step, locate, by
    consensus's rule: the first step labelled 0, or -1 when every step is labelled 1; none
    when a step before it has no labelled vote."""
    by_step = {step: (status, label) for step, status, label in votes}
    for step in range(n_steps):
        status, label = by_step.get(step, ("missing", None))
        if status != "labeled" or label is None:
            return Claim(None, annotator, f"{annotator}'s vote on step {step} is {status}: it "
                         "locates no first error", tuple(runs))
        if label == 0:
            return Claim(step, annotator, runs=tuple(runs))
    return Claim(-1, annotator, runs=tuple(runs))


@dataclass
class _Plan:
    """One wrong solution under verification."""

    item: Item
    claim: int | None
    outcome: str = ""  # confirmed, refuted, unclaimed, undecided
    notes: list[str] = field(default_factory=list)


def verify_first_errors(engine: Engine, items: Sequence[Item], claims: Mapping[str, Claim],
                        config: VerifyConfig, grader: Grader, stats: RolloutStats) -> None:
    """Check each solution's claimed first error (module docstring); sets ``lo``/``hi``/
    ``stopped`` as mc-binary's search does, so ``binary_votes`` turns them into votes, and
    ``verification`` with the claim and its outcome."""
    plans: list[_Plan] = []
    for item in items:
        if item.skip:
            continue
        claim = claims.get(item.solution.solution_id) or Claim(
            None, config.verify, f"no votes of {config.verify} on this solution")
        if claim.first_error is not None and not -1 <= claim.first_error < item.n:
            claim = Claim(None, claim.annotator, f"{claim.annotator}'s first error "
                          f"{claim.first_error} is not a step of this {item.n}-step solution",
                          claim.runs)
        item.verification = claim.describe()
        if item.final_correct:  # its own steps witness every prefix: no rollouts (mc-binary)
            item.verification["outcome"] = _free_outcome(claim.first_error)
            continue
        item.lo, item.hi = 0, item.n
        plan = _Plan(item, claim.first_error)
        if claim.first_error is None and config.unclaimed == "skip":
            item.skip_as("no_claim", f"{claim.why}; mc-verify has no claim to check "
                         "(unclaimed: skip)")
            continue
        if claim.first_error is None:
            plan.outcome = "unclaimed"
        elif claim.first_error == -1:
            plan.outcome = "refuted"
            plan.notes.append("the solution's graded answer is wrong")
        plans.append(plan)
    _check(engine, items, plans, config, grader, stats)
    for plan in plans:
        plan.item.verification["outcome"] = plan.outcome
        if plan.notes:
            plan.item.verification["evidence"] = "; ".join(plan.notes)


def _free_outcome(claim: int | None) -> str:
    if claim is None:
        return "unclaimed"
    return "confirmed" if claim == -1 else "refuted"


def _check(engine: Engine, items: Sequence[Item], plans: list[_Plan], config: VerifyConfig,
           grader: Grader, stats: RolloutStats) -> None:
    """Prefix f, then the solvability check where the labels rest on prefix 0, then prefix
    f+1, then the search of what is left; every step batched over all solutions."""
    first = [p for p in plans if p.claim is not None and p.claim >= 1]
    evaluate(engine, [(p.item, p.claim) for p in first], config, grader, stats, True)
    for plan in first:
        reached = probe(plan.item, plan.claim, config, verify="prefix before the claimed step")
        if reached is False:
            plan.outcome = "refuted"
            plan.notes.append(f"prefix {plan.claim} no longer reaches the gold answer: the first "
                              f"error is before step {plan.claim}")
        elif reached is None:
            plan.outcome = "undecided"
    # every label resting on prefix 0 (a stopped search's graded last step included) needs it
    if config.check_empty_prefix:
        check_solvable(engine, items, [p.item for p in plans if p.item.lo == 0], config,
                       grader, stats, engine.model_id)
    second = [p for p in plans if not p.item.skip and not p.item.stopped
              and p.claim is not None and p.claim >= 0
              and p.item.lo == p.claim and not p.outcome]
    evaluate(engine, [(p.item, p.claim + 1) for p in second if p.claim + 1 < p.item.n],
             config, grader, stats, True)
    for plan in second:
        size = plan.claim + 1
        reached = (probe(plan.item, size, config, verify="prefix through the claimed step")
                   if size < plan.item.n else False)
        if reached is False:
            plan.outcome = "confirmed"
        elif reached is None:
            plan.outcome = "undecided"
        else:
            plan.outcome = "refuted"
            plan.notes.append(f"prefix {size} still reaches the gold answer: the first error is "
                              f"after step {plan.claim}")
    rest = [p.item for p in plans if not p.item.skip and not p.item.stopped
            and p.item.hi - p.item.lo > 1]
    if config.refuted == "stop":
        for plan in plans:
            if plan.outcome == "refuted" and plan.item in rest:
                plan.item.stop_kind = "not_searched"
                plan.item.stopped = (f"{config.verify}'s first error was refuted and the search "
                                     "is off (refuted: stop): the first error lies somewhere in "
                                     f"steps {plan.item.lo}..{plan.item.hi - 1} (0-based)")
        rest = [item for item in rest if not item.stopped]
    narrow(engine, rest, config, grader, stats)
