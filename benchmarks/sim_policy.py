"""A simulated policy for benchmarking the MC annotators: synthetic arithmetic problems whose
solutions carry errors planted at known steps, completed by a ScriptedEngine that succeeds with
a known probability before the error and recovers with a known (small) probability after it.

A problem is a chain of additions/subtractions; step j of a solution writes the running value
("Step 3: 12 - 4 = 8."), the last step ends with "The answer is: N". A planted error shifts the
value at its step and the later steps carry the wrong value on, so the final answer is wrong.
The script reads the prefix it is asked to continue, checks every step's value against the
truth, and samples the final answer accordingly. The true first error of every solution is
known, so first-error accuracy can be measured exactly.

Two failure modes of real policies can be switched on: ``p_unsolvable``, the share of problems
the policy never solves (no rollout from any prefix, the bare problem included, reaches the
answer: a 135M model on GSM8K), and ``p_truncate``, the chance that a rollout is cut off at
``max_tokens`` (the text fills the budget and states no answer; the scripted engine then
reports finish_reason "length"). Both are drawn from their own seeds, so the default (0, 0)
reproduces the earlier problems and rollouts exactly.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from engines.base import GenerationRequest
from engines.scripted import ScriptedEngine
from schemas import Problem, Solution
from schemas.ids import stable_id

_TAG = re.compile(r"\(sim problem (\d+)\)")
_STEP = re.compile(r"Step (\d+): .*?= (-?\d+)\.")


@dataclass
class SimProblem:
    start: int
    deltas: list[int]

    @property
    def values(self) -> list[int]:
        """The true running value after each step."""
        out, value = [], self.start
        for d in self.deltas:
            value += d
            out.append(value)
        return out


def step_text(index: int, before: int, delta: int, after: int, last: bool) -> str:
    op = "+" if delta >= 0 else "-"
    text = f"Step {index + 1}: {before} {op} {abs(delta)} = {after}."
    return text + (f" The answer is: {after}" if last else "")


@dataclass
class SimPolicy:
    """The problems, their planted solutions, and the scripted engine that completes them."""

    p_success: float = 0.9  # chance a rollout from a correct prefix reaches the gold answer
    p_recover: float = 0.03  # chance a rollout from a prefix holding the error still does
    seed: int = 0
    p_unsolvable: float = 0.0  # share of problems the policy never solves, from any prefix
    p_truncate: float = 0.0  # chance a rollout is cut off at max_tokens (no answer stated)
    problems: dict[int, SimProblem] = field(default_factory=dict)
    unsolvable: set[int] = field(default_factory=set)

    def question(self, pid: int) -> str:
        p = self.problems[pid]
        ops = ", then ".join(("add " if d >= 0 else "subtract ") + str(abs(d)) for d in p.deltas)
        return f"(sim problem {pid}) Start from {p.start}, then {ops}. What is the result?"

    def make(self, n_solutions: int, n_steps: int, wrong_fraction: float = 0.8,
             ) -> tuple[dict[str, Problem], list[Solution], dict[str, int]]:
        """Problems, one solution each, and the true first error (-1 = correct) per solution."""
        rng = random.Random(stable_id("sim", self.seed, n_solutions, n_steps, wrong_fraction))
        problems, solutions, truth = {}, [], {}
        for _ in range(n_solutions):
            pid = len(self.problems)
            sim = SimProblem(rng.randint(1, 50), [rng.choice([-1, 1]) * rng.randint(1, 20)
                                                  for _ in range(n_steps)])
            self.problems[pid] = sim
            draw = random.Random(stable_id("sim-unsolvable", self.seed, pid)).random()
            if draw < self.p_unsolvable:
                self.unsolvable.add(pid)
            problem = Problem(question=self.question(pid), reference_answer=str(sim.values[-1]),
                              source="sim")
            error = rng.randrange(n_steps) if rng.random() < wrong_fraction else -1
            steps, value = [], sim.start
            for j, delta in enumerate(sim.deltas):
                after = value + delta + (rng.choice([-3, -2, -1, 1, 2, 3]) if j == error else 0)
                steps.append(step_text(j, value, delta, after, j == n_steps - 1))
                value = after
            solution = Solution(problem_id=problem.problem_id, generator="sim",
                                text="\n\n".join(steps), steps=steps, final_answer=str(value),
                                is_correct=error == -1)
            problems[problem.problem_id] = problem
            solutions.append(solution)
            truth[solution.solution_id] = error
        return problems, solutions, truth

    def complete(self, request: GenerationRequest, index: int) -> str:
        """One rollout: the remaining steps, right with the known probability, else wrong."""
        text = "\n".join(m["content"] for m in request.messages or ())
        pid = int(_TAG.search(text).group(1))
        sim = self.problems[pid]
        written = [(int(k) - 1, int(v)) for k, v in _STEP.findall(request.continuation or "")]
        truth = sim.values
        clean = all(truth[j] == v for j, v in written)
        rng = random.Random(stable_id("sim-rollout", request.seed, index, request.continuation))
        ok = rng.random() < (self.p_success if clean else self.p_recover)
        ok = ok and pid not in self.unsolvable
        cut = random.Random(stable_id("sim-truncate", request.seed, index, request.continuation))
        if self.p_truncate and cut.random() < self.p_truncate:
            return " ".join(["and"] * request.max_tokens)  # fills the budget: cut off
        done = len(written)
        value = written[-1][1] if written else sim.start
        steps = []
        for j in range(done, len(sim.deltas)):
            after = value + sim.deltas[j]
            last = j == len(sim.deltas) - 1
            if last:
                after = truth[-1] if ok else truth[-1] + rng.choice([-7, -5, 5, 7])
            steps.append(step_text(j, value, sim.deltas[j], after, last))
            value = after
        return "\n\n".join(steps) if steps else f"The answer is: {truth[-1] if ok else truth[-1] + 5}"

    def engine(self) -> ScriptedEngine:
        return ScriptedEngine(self.complete, model_id=f"sim-policy(p={self.p_success},"
                                                       f"r={self.p_recover})")
