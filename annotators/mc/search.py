"""Which prefixes each mode evaluates: the per-step sweep (Math-Shepherd), the lockstep binary
search for the first error (OmegaPRM), and the full value curve for progress (PAV).

Prefix sizes count steps: size s holds steps[:s], so it evaluates step s-1; size 0 is the bare
problem (shared by every solution of a problem and evaluated once), size n is the whole solution,
whose value is known from its own final answer and never rolled out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from annotators.mc.config import MCConfig
from annotators.mc.rollouts import (
    Grader, PrefixEval, PrefixJob, RolloutStats, evaluate_prefixes,
)
from engines.base import Engine
from schemas import Problem, RecordError, Solution


@dataclass
class Item:
    """One solution being labelled and what is known about its prefixes."""

    solution: Solution
    problem: Problem
    skip: str | None = None
    skip_kind: str | None = None  # why, as a short key the report counts (unsolvable, truncated...)
    final_answer: str | None = None
    final_correct: bool = False
    evals: dict[int, PrefixEval] = field(default_factory=dict)  # prefix size -> rollouts
    share: tuple[int, int] = (0, 1)  # (my index, solutions sharing the size-0 evaluation)
    lo: int = 0  # binary search: largest prefix size known to reach the answer
    hi: int = 0  # binary search: smallest prefix size known not to
    path: list[dict] = field(default_factory=list)
    stopped: str | None = None  # binary search: why it ended before locating the first error
    stop_kind: str = "truncated"  # the skip_kind of the steps a stopped search leaves open
    verification: dict = field(default_factory=dict)  # mc-verify: the claim and its outcome
    policy_check: dict = field(default_factory=dict)  # how the problem was found solvable

    def skip_as(self, kind: str, reason: str) -> None:
        self.skip, self.skip_kind = reason, kind

    @property
    def n(self) -> int:
        return len(self.solution.steps)

    @property
    def gold(self) -> str:
        return self.problem.reference_answer or ""

    def job(self, size: int) -> PrefixJob:
        key = f"problem:{self.problem.problem_id}" if size == 0 else f"{self.solution.solution_id}:{size}"
        return PrefixJob(key, self.problem.question, self.gold, tuple(self.solution.steps[:size]))

    def value(self, size: int) -> float:
        """MC(prefix of ``size`` steps): measured, or known for the whole solution."""
        return float(self.final_correct) if size == self.n else self.evals[size].value


def prepare(problems: Mapping[str, Problem], solutions: Sequence[Solution], config: MCConfig,
            grader: Grader) -> list[Item]:
    """Pair solutions with problems, grade their own final answers, mark what must be skipped."""
    items, gold_checked = [], {}
    for solution in solutions:
        problem = problems.get(solution.problem_id)
        if problem is None:
            raise RecordError(f"solution {solution.solution_id}", "problem_id",
                              f"problem {solution.problem_id!r} was not given to the annotator")
        item = Item(solution, problem)
        items.append(item)
        gold = problem.reference_answer
        if gold is None or not gold.strip():
            item.skip_as("no_reference", f"problem {problem.problem_id} has no reference_answer")
            continue
        if gold not in gold_checked:
            gold_checked[gold] = grader.gold_problem(gold)
        if gold_checked[gold]:
            item.skip_as("bad_reference", f"problem {problem.problem_id}: {gold_checked[gold]}")
            continue
        if solution.finish_reason == "length":
            item.skip_as("truncated_solution", "the solution was cut off at max_tokens "
                         "(finish_reason=length): it states no answer, so it is neither searched "
                         "as a wrong solution nor labelled as a right one")
            continue
        if config.max_steps is not None and item.n > config.max_steps:
            item.skip_as("max_steps", f"{item.n} steps exceed max_steps={config.max_steps}")
            continue
        item.final_answer, item.final_correct = grader.grade(solution.text, gold)
    return items


def evaluate(engine: Engine, wanted: list[tuple[Item, int]], config: MCConfig, grader: Grader,
             stats: RolloutStats, settle_early: bool) -> None:
    """Evaluate the (item, size) prefixes in one batch; size 0 once per problem."""
    jobs: list[PrefixJob] = []
    owners: list[list[Item]] = []
    by_problem: dict[str, int] = {}
    for item, size in wanted:
        if size == 0 and item.problem.problem_id in by_problem:
            owners[by_problem[item.problem.problem_id]].append(item)
            continue
        if size == 0:
            by_problem[item.problem.problem_id] = len(jobs)
        jobs.append(item.job(size))
        owners.append([item])
    results = evaluate_prefixes(engine, jobs, config, grader, stats, settle_early)
    for job, result, items in zip(jobs, results, owners):
        for index, item in enumerate(items):
            item.evals[job.size] = result
            if job.size == 0:
                item.share = (index, len(items))


def check_solvable(engine: Engine, items: Sequence[Item], todo: Sequence[Item], config: MCConfig,
                   grader: Grader, stats: RolloutStats, policy_model: str,
                   settle_early: bool = True) -> None:
    """Skip the ``todo`` items of problems the policy never solves (openr's question filter).

    A problem counts as solvable when a solution of the batch written by the policy itself
    (generator == ``policy_model``, not cut off) is correct: the generate stage's samples are
    reused. Otherwise its bare problem is rolled out k times, once per problem; with no success
    every solution of it is skipped: MC would put the first error on step 1 of each (the policy
    fails from every prefix), a label nobody can stand behind.
    """
    samples: dict[str, list[Item]] = {}
    for item in items:
        if item.solution.generator == policy_model and item.solution.finish_reason != "length" \
                and item.skip_kind not in ("no_reference", "bad_reference"):
            samples.setdefault(item.problem.problem_id, []).append(item)
    open_: list[Item] = []
    for item in todo:
        if item.skip:
            continue
        mine = samples.get(item.problem.problem_id, [])
        solved = sum(s.final_correct for s in mine)
        item.policy_check = {"generate_samples": len(mine), "generate_correct": solved}
        if solved:
            item.policy_check["source"] = "generate samples"
        else:
            open_.append(item)
    evaluate(engine, [(item, 0) for item in open_ if 0 not in item.evals], config, grader,
              stats, settle_early)
    for item in open_:
        result = item.evals[0]
        item.policy_check.update(source="empty-prefix rollouts", rollouts=result.rollouts,
                                 correct=result.correct, truncated=result.truncated)
        if result.correct >= 1:
            continue
        tried = (f"0/{result.completed} completed rollouts from the bare problem and "
                 f"0/{item.policy_check['generate_samples']} generate samples of the policy "
                 "reached the gold answer")
        if result.mostly_truncated(config.max_truncated):
            item.skip_as("truncated", f"{result.truncated}/{result.rollouts} rollouts from the "
                         f"bare problem were cut off at max_tokens and none succeeded ({tried})")
        else:
            item.skip_as("unsolvable", f"the policy never solves this problem ({tried}): MC "
                         "cannot tell a wrong step from a problem the policy cannot solve")


def sweep(engine: Engine, items: Sequence[Item], config: MCConfig, grader: Grader,
          stats: RolloutStats, *, first_size: int, settle_early: bool,
          witness_correct: bool) -> None:
    """Evaluate every prefix size first_size..n-1 of every solution in one batch.

    With ``witness_correct`` a correct solution is skipped: its own steps prove that each of its
    prefixes can reach the answer, so every hard label is 1 without a rollout.
    """
    wanted = [(item, size) for item in items if not item.skip
              if not (witness_correct and item.final_correct)
              for size in range(first_size, item.n) if size not in item.evals]
    evaluate(engine, wanted, config, grader, stats, settle_early)


def reach(result: PrefixEval, config: MCConfig) -> bool | None:
    """Whether a prefix still reaches the gold answer (>= min_correct successes); None when
    too few rollouts completed to tell (mostly cut off at max_tokens, too few successes)."""
    if result.correct >= config.min_correct:
        return True
    return None if result.mostly_truncated(config.max_truncated) else False


def probe(item: Item, size: int, config: MCConfig, **note) -> bool | None:
    """Move ``item``'s interval by the evaluated prefix ``size``: reachable -> lo, not -> hi;
    a prefix mostly cut off stops the search where it stands (``stopped``)."""
    reachable = reach(item.evals[size], config)
    item.path.append({"prefix": size, "reachable": reachable, **note})
    if reachable is None:
        result = item.evals[size]
        item.stopped = (f"{result.truncated}/{result.rollouts} rollouts from prefix {size} were "
                        "cut off at max_tokens: the first error lies somewhere in steps "
                        f"{item.lo}..{item.hi - 1} (0-based)")
    elif reachable:
        item.lo = size
    else:
        item.hi = size
    return reachable


def binary_search(engine: Engine, items: Sequence[Item], config: MCConfig, grader: Grader,
                  stats: RolloutStats) -> None:
    """Locate the first error of every wrong solution, all searches advancing in lockstep.

    Invariant: prefix ``lo`` reaches the gold answer (size 0: checked by ``check_solvable``),
    prefix ``hi`` does not (size n: the solution is wrong). Each round evaluates the middle
    prefix of every open search in one batch, so a solution of n steps costs ceil(log2 n)
    evaluations. The first error is step ``hi - 1``. A middle prefix whose rollouts were mostly
    cut off (and too few succeeded) stops that search where it stands (``stopped``): the first
    error lies in steps lo..hi-1, and what ``lo`` and ``hi`` already prove is kept.
    """
    wrong = [item for item in items if not item.skip and not item.final_correct]
    for item in wrong:
        item.lo, item.hi = 0, item.n
    narrow(engine, wrong, config, grader, stats)


def narrow(engine: Engine, items: Sequence[Item], config: MCConfig, grader: Grader,
           stats: RolloutStats) -> None:
    """Halve every open interval lo..hi of ``items`` in lockstep until each is one step wide
    (or its search stopped): the binary search from wherever ``lo`` and ``hi`` stand."""
    while True:
        open_ = [item for item in items
                 if not item.skip and not item.stopped and item.hi - item.lo > 1]
        if not open_:
            break
        wanted = [(item, (item.lo + item.hi) // 2) for item in open_]
        evaluate(engine, wanted, config, grader, stats, True)
        for item, mid in wanted:
            probe(item, mid, config)


def first_error_of(item: Item) -> int | None:
    """0-based first wrong step found by the binary search, -1 for a correct solution, None
    when the search stopped before locating it."""
    if item.final_correct:
        return -1
    return None if item.stopped else item.hi - 1
