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
    final_answer: str | None = None
    final_correct: bool = False
    evals: dict[int, PrefixEval] = field(default_factory=dict)  # prefix size -> rollouts
    share: tuple[int, int] = (0, 1)  # (my index, solutions sharing the size-0 evaluation)
    lo: int = 0  # binary search: largest prefix size known to reach the answer
    hi: int = 0  # binary search: smallest prefix size known not to
    path: list[dict] = field(default_factory=list)

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
            item.skip = f"problem {problem.problem_id} has no reference_answer"
            continue
        if gold not in gold_checked:
            gold_checked[gold] = grader.gold_problem(gold)
        if gold_checked[gold]:
            item.skip = f"problem {problem.problem_id}: {gold_checked[gold]}"
            continue
        if config.max_steps is not None and item.n > config.max_steps:
            item.skip = f"{item.n} steps exceed max_steps={config.max_steps}"
            continue
        item.final_answer, item.final_correct = grader.grade(solution.text, gold)
    return items


def _evaluate(engine: Engine, wanted: list[tuple[Item, int]], config: MCConfig, grader: Grader,
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


def sweep(engine: Engine, items: Sequence[Item], config: MCConfig, grader: Grader,
          stats: RolloutStats, *, first_size: int, settle_early: bool,
          witness_correct: bool) -> None:
    """Evaluate every prefix size first_size..n-1 of every solution in one batch.

    With ``witness_correct`` a correct solution is skipped: its own steps prove that each of its
    prefixes can reach the answer, so every hard label is 1 without a rollout.
    """
    wanted = [(item, size) for item in items if not item.skip
              if not (witness_correct and item.final_correct)
              for size in range(first_size, item.n)]
    _evaluate(engine, wanted, config, grader, stats, settle_early)


def binary_search(engine: Engine, items: Sequence[Item], config: MCConfig, grader: Grader,
                  stats: RolloutStats) -> None:
    """Locate the first error of every wrong solution, all searches advancing in lockstep.

    Invariant: prefix ``lo`` reaches the gold answer (size 0 by assumption or check), prefix
    ``hi`` does not (size n: the solution is wrong). Each round evaluates the middle prefix of
    every open search in one batch, so a solution of n steps costs ceil(log2 n) evaluations.
    The first error is step ``hi - 1``.
    """
    wrong = [item for item in items if not item.skip and not item.final_correct]
    for item in wrong:
        item.lo, item.hi = 0, item.n
    if config.check_empty_prefix and wrong:
        _evaluate(engine, [(item, 0) for item in wrong], config, grader, stats, True)
        for item in wrong:
            if item.evals[0].correct < config.min_correct:
                item.skip = (f"no rollout from the bare problem reached the gold answer "
                             f"({item.evals[0].rollouts} tried): the policy cannot locate an error")
    while True:
        open_ = [item for item in wrong if not item.skip and item.hi - item.lo > 1]
        if not open_:
            break
        wanted = [(item, (item.lo + item.hi) // 2) for item in open_]
        _evaluate(engine, wanted, config, grader, stats, True)
        for item, mid in wanted:
            reachable = item.evals[mid].correct >= config.min_correct
            item.path.append({"prefix": mid, "reachable": reachable})
            item.lo, item.hi = (mid, item.hi) if reachable else (item.lo, mid)


def first_error_of(item: Item) -> int:
    """0-based first wrong step found by the binary search, -1 for a correct solution."""
    return -1 if item.final_correct else item.hi - 1
