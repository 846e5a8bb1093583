"""Turn what the rollouts found into one StepVote per step, for each MC mode.

Costs: an evaluation of prefix size s is charged to step s-1 (the step it evaluates); the bare
problem's evaluation (size 0) is charged to step 0, split over the solutions that share it. The
sum over a batch's votes is therefore the batch's total cost.
"""

from __future__ import annotations

from annotators.base import Stamp, apportion, first_error
from annotators.mc.config import MCConfig
from annotators.mc.search import Item, first_error_of
from schemas import StepVote

_EPS = 1e-9


def step_costs(item: Item) -> list[tuple[int, int, int]]:
    """(rollouts, prompt_tokens, completion_tokens) charged to each step of ``item``."""
    costs = [[0, 0, 0] for _ in range(item.n)]
    for size, result in item.evals.items():
        parts = (result.rollouts, result.prompt_tokens, result.completion_tokens)
        if size == 0:
            index, count = item.share
            parts = tuple(apportion(p, count)[index] for p in parts)
        for j, part in enumerate(parts):
            costs[max(size - 1, 0)][j] += part
    return [tuple(c) for c in costs]


def _vote(stamp: Stamp, item: Item, step: int, cost: tuple[int, int, int], **fields) -> StepVote:
    rollouts, prompt_tokens, completion_tokens = cost
    return StepVote(solution_id=item.solution.solution_id, step_index=step,
                    annotator=stamp.annotator, annotator_version=stamp.annotator_version,
                    config_hash=stamp.config_hash, model=stamp.model, rollouts=rollouts,
                    prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, **fields)


def skipped_votes(stamp: Stamp, item: Item) -> list[StepVote]:
    costs = step_costs(item)
    verified = {"verified": item.verification} if item.verification else {}
    return [_vote(stamp, item, i, costs[i], status="skipped", rationale=item.skip or "",
                  details=_prefix_details(item, i + 1, graded=False)
                  | {"skip_kind": item.skip_kind or "other"} | verified) for i in range(item.n)]


def _truncated_vote(stamp: Stamp, item: Item, step: int, cost: tuple[int, int, int],
                    size: int, details: dict) -> StepVote:
    """A skipped vote for a step whose prefix's rollouts were mostly cut off at max_tokens."""
    result = item.evals[size]
    return _vote(stamp, item, step, cost, status="skipped", details=details | {
        "skip_kind": "truncated"}, rationale=f"{result.truncated}/{result.rollouts} rollouts "
        "were cut off at max_tokens: too few completed to estimate the MC value")


def _mostly_truncated(item: Item, size: int, config: MCConfig) -> bool:
    result = item.evals.get(size)
    return (size < item.n and result is not None and result.correct < config.min_correct
            and result.mostly_truncated(config.max_truncated))


def _prefix_details(item: Item, size: int, graded: bool = True) -> dict:
    """What is known about the prefix ending at this step (and the bare problem for step 0)."""
    details: dict = {}
    if size == item.n and graded:
        details.update(source="final_answer", final_answer=item.final_answer,
                       final_correct=item.final_correct)
    if size in item.evals:
        details.update(source="rollouts", prefix=item.evals[size].summary(),
                       samples=item.evals[size].samples)
    if size == 1 and 0 in item.evals:
        details["empty_prefix"] = item.evals[0].summary()
    if size == 1 and item.policy_check:
        details["policy_check"] = item.policy_check
    truncated = item.evals[size].truncated if size in item.evals else 0
    if size == 1 and 0 in item.evals:
        truncated += item.evals[0].truncated if item.share[0] == 0 else 0
    details["truncated_rollouts"] = truncated
    return details


def _provenance(item: Item, size: int) -> str:
    """``measured`` when rollouts of this prefix (or, for the last step, the solution's own
    graded answer) gave the label; ``inferred`` when it follows from other evidence."""
    return "measured" if size == item.n or size in item.evals else "inferred"


def _measured(item: Item, size: int, min_correct: int) -> tuple[float | None, int, str]:
    """(MC value, hard label, how it is known) of a prefix for the sweep modes; the value is
    None where no rollout measured it (a correct solution witnessing its prefixes)."""
    if size == item.n:
        return float(item.final_correct), int(item.final_correct), "the solution's own answer"
    if size not in item.evals:  # a correct solution witnesses every prefix (mc-hard)
        return None, 1, "witnessed by the correct solution itself (no rollouts)"
    result = item.evals[size]
    return (result.value, int(result.correct >= min_correct),
            f"{result.correct}/{result.rollouts} rollouts reached the gold answer")


def sweep_votes(stamp: Stamp, item: Item, config: MCConfig, soft: bool) -> list[StepVote]:
    """mc-hard (label: >= min_correct rollouts right) or mc-soft (fraction > soft_threshold)."""
    costs = step_costs(item)
    measured = [_measured(item, i + 1, config.min_correct) for i in range(item.n)]
    labels = [int(value > config.soft_threshold + _EPS) if soft and value is not None else hard
              for value, hard, _ in measured]
    found = first_error(labels)
    votes = []
    for i, (value, _, how) in enumerate(measured):
        details = _prefix_details(item, i + 1) | {"first_error": found,
                                                  "provenance": _provenance(item, i + 1)}
        details |= {"value": None if value is None else round(value, 6)}
        if _mostly_truncated(item, i + 1, config):
            votes.append(_truncated_vote(stamp, item, i, costs[i], i + 1, details))
            continue
        votes.append(_vote(stamp, item, i, costs[i], label=labels[i], score=value,
                           rationale=f"MC {value:.3f}: {how}" if value is not None else how,
                           details=details))
    return votes


def _binary_score(item: Item, size: int) -> float | None:
    """The MC value of a prefix the search measured (the graded answer for the whole
    solution); None for a prefix it never rolled out: its label is inferred, not measured."""
    if size == item.n:
        return float(item.final_correct)
    return item.evals[size].value if size in item.evals else None


def _binary_label(item: Item, i: int, found: int | None, config: MCConfig) -> tuple[int | None, str]:
    """Step i's label and why; a None label means the step gets a skipped vote."""
    if found is None:  # the search stopped: only what lo and hi prove is known
        if i < item.lo:
            return 1, (f"before prefix {item.lo}, which reaches the gold answer (the search then "
                       f"stopped: {item.stopped})")
        if i >= item.hi - 1 and config.after_first_error == "negative":
            where = ("the solution's graded final answer is wrong" if item.hi == item.n
                     else f"prefix {item.hi} does not reach the gold answer")
            return 0, f"at or after the first error: {where}"
        return None, item.stopped or ""
    if found == -1 or i < found:
        return 1, ("the solution is correct" if found == -1
                   else f"before the first error (step {found})")
    if i == found:
        return 0, "first step whose prefix no longer reaches the gold answer"
    if config.after_first_error == "skip":
        return None, f"after the first error (step {found}); after_first_error=skip"
    return 0, f"after the first error (step {found})"


def binary_votes(stamp: Stamp, item: Item, config: MCConfig) -> list[StepVote]:
    """mc-binary: positive before the first error, negative at it, `after_first_error` after.
    The score is the MC value of the step's prefix where the search measured it, else None. A
    search stopped by cut-off rollouts keeps what it proved (steps before a reachable prefix are
    1; with `negative`, steps from the last unreachable prefix on are 0, the last step at least
    from the graded answer) and skips the steps where the first error may lie."""
    costs, found = step_costs(item), first_error_of(item)
    search = {"first_error": found, "search": item.path,
              "prefix_evaluations": len(item.path) + (0 in item.evals)}
    if item.verification:  # mc-verify: whose first error was checked, and what came of it
        search["verified"] = item.verification
    votes = []
    for i in range(item.n):
        details = _prefix_details(item, i + 1) | search | {"provenance": _provenance(item, i + 1)}
        details.setdefault("source", "inferred")
        label, why = _binary_label(item, i, found, config)
        if label is None:
            kind = item.stop_kind if found is None else "other"
            votes.append(_vote(stamp, item, i, costs[i], status="skipped", rationale=why,
                               details=details | {"skip_kind": kind}))
            continue
        votes.append(_vote(stamp, item, i, costs[i], label=label,
                           score=_binary_score(item, i + 1), rationale=why, details=details))
    return votes


def progress_votes(stamp: Stamp, item: Item, config: MCConfig) -> list[StepVote]:
    """mc-progress: A_i = MC(prefix_i) - MC(prefix_i-1) under the prover, score (A+1)/2."""
    costs, votes = step_costs(item), []
    for i in range(item.n):
        before, after = item.value(i), item.value(i + 1)
        advantage = after - before
        label = int(advantage >= -config.progress_tolerance - _EPS)
        details = _prefix_details(item, i + 1) | {
            "advantage": round(advantage, 6), "value_before": round(before, 6),
            "value_after": round(after, 6), "threshold": config.progress_tolerance,
            "provenance": "measured"}
        if _mostly_truncated(item, i, config) or _mostly_truncated(item, i + 1, config):
            votes.append(_truncated_vote(stamp, item, i, costs[i],
                                         i if _mostly_truncated(item, i, config) else i + 1,
                                         details))
            continue
        votes.append(_vote(stamp, item, i, costs[i], label=label,
                           score=min(1.0, max(0.0, (advantage + 1) / 2)), details=details,
                           rationale=f"success probability {before:.3f} -> {after:.3f} "
                                     f"(advantage {advantage:+.3f})"))
    return votes
