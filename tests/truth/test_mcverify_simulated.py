"""mc-verify against the simulated policy (benchmarks/sim_policy.py), whose first errors are
planted: the truth is the planted step, which prefixes the scripted policy was actually asked to
continue, and what it answered, never mc-verify's own output.

The clean policy (``p_recover`` 0) succeeds from a prefix with probability 0.9 per rollout while
the prefix holds no error and never after it, so with k = 8 a prefix's reachability is certain
(a miss has probability 0.1^8): every method that rolls out a prefix sees the same truth.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict

import pytest

from annotators.mc import Claim, build
from benchmarks.sim_policy import SimPolicy
from engines.scripted import ScriptedEngine

N_STEPS = 8
_PID = re.compile(r"\(sim problem (\d+)\)")
_ANSWER = re.compile(r"The answer is: (-?\d+)\s*$")


class Asked:
    """The simulated policy, recording per problem which prefix sizes it continued and how many
    of its completions stated the gold answer (its own tally, graded by its own truth)."""

    def __init__(self, sim: SimPolicy) -> None:
        self.sim = sim
        self.prefixes: dict[int, set[int]] = defaultdict(set)
        self.tally: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])

    def script(self, request, index: int) -> str:
        pid = int(_PID.search(request.messages[-1]["content"]).group(1))
        size = len(re.findall(r"Step \d+:", request.continuation or ""))
        text = self.sim.complete(request, index)
        found = _ANSWER.search(text)
        right = found is not None and int(found.group(1)) == self.sim.problems[pid].values[-1]
        self.prefixes[pid].add(size)
        self.tally[pid, size][0] += right
        self.tally[pid, size][1] += 1
        return text

    def engine(self) -> ScriptedEngine:
        return ScriptedEngine(self.script, model_id="sim-policy")


def setup(n: int = 60, seed: int = 0, **sim_args):
    sim = SimPolicy(seed=seed, **{"p_success": 0.9, "p_recover": 0.0, **sim_args})
    problems, solutions, truth = sim.make(n, N_STEPS)
    pid = {s.solution_id: int(_PID.search(problems[s.problem_id].question).group(1))
           for s in solutions}
    return sim, problems, solutions, truth, pid


def run(mode: str, sim: SimPolicy, problems, solutions, claims=None, **config):
    asked = Asked(sim)
    annotator = build(mode, {"k": 8, **config}, {"default": asked.engine()})
    votes = defaultdict(list)
    args = (problems, solutions) + ((claims,) if mode == "mc-verify" else ())
    for vote in annotator.annotate(*args):
        votes[vote.solution_id].append(vote)
    return {sid: sorted(vs, key=lambda v: v.step_index) for sid, vs in votes.items()}, asked


def located(votes) -> int | None:
    """The first step labelled 0 (-1: none); None when a step up to it has no label."""
    labels = [v.label for v in votes]
    found = labels.index(0) if 0 in labels else -1
    return None if None in (labels[:found + 1] if found >= 0 else labels) else found


def wrong_claim(rng: random.Random, true: int) -> int:
    """A judge's wrong answer: any other step, or "no error"."""
    return rng.choice([f for f in range(-1, N_STEPS) if f != true])


def test_a_right_judge_is_confirmed_by_two_prefix_evaluations():
    sim, problems, solutions, truth, pid = setup()
    claims = {sid: Claim(f) for sid, f in truth.items()}
    votes, asked = run("mc-verify", sim, problems, solutions, claims)
    interior = 0
    for s in solutions:
        f, mine = truth[s.solution_id], votes[s.solution_id]
        assert located(mine) == f
        assert mine[0].details["verified"]["outcome"] == "confirmed"
        if f == -1:  # a correct solution the judge calls correct: no rollout at all
            assert pid[s.solution_id] not in asked.prefixes
            assert [v.label for v in mine] == [1] * N_STEPS
            continue
        # exactly the two prefixes that decide the claim (prefix n is the graded answer)
        assert asked.prefixes[pid[s.solution_id]] == {f, f + 1} - {N_STEPS}
        interior += 1 <= f <= N_STEPS - 2
        # soft labels: the fractions the policy produced at those prefixes, none elsewhere
        for v in mine[:-1]:
            drawn = asked.tally.get((pid[s.solution_id], v.step_index + 1))
            assert v.score == (drawn[0] / drawn[1] if drawn else None)
        assert mine[f].score == 0.0 and mine[f].details["provenance"] == "measured"
    assert interior >= 20  # most claims are interior: two real evaluations each


def test_a_wrong_judge_gives_mc_binarys_first_error_on_the_same_seeds():
    sim, problems, solutions, truth, _ = setup(seed=1)
    rng = random.Random(7)
    claims = {sid: Claim(wrong_claim(rng, f)) for sid, f in truth.items()}
    verify, _ = run("mc-verify", sim, problems, solutions, claims)
    sim, problems, solutions, truth, _ = setup(seed=1)
    binary, _ = run("mc-binary", sim, problems, solutions)
    for s in solutions:
        sid = s.solution_id
        assert located(verify[sid]) == located(binary[sid]) == truth[sid]
        assert verify[sid][0].details["verified"]["outcome"] == "refuted"


def test_no_error_claims_cost_nothing_on_correct_solutions_and_are_searched_on_wrong_ones():
    sim, problems, solutions, truth, pid = setup(seed=2)
    claims = {sid: Claim(-1) for sid in truth}  # the judge calls every solution correct
    votes, asked = run("mc-verify", sim, problems, solutions, claims)
    binary, asked_binary = run("mc-binary", SimPolicy(seed=2, p_success=0.9, p_recover=0.0,
                                                      problems=sim.problems), problems, solutions)
    for s in solutions:
        sid, f = s.solution_id, truth[s.solution_id]
        if f == -1:
            assert pid[sid] not in asked.prefixes  # confirmed at no cost: no search
            assert votes[sid][0].details["verified"]["outcome"] == "confirmed"
        else:  # refuted by its own graded answer, then searched as mc-binary searches
            assert located(votes[sid]) == f
            assert "graded answer" in votes[sid][0].details["verified"]["evidence"]
            assert asked.prefixes[pid[sid]] == asked_binary.prefixes[pid[sid]]


def test_unclaimed_and_refuted_solutions_follow_their_settings():
    sim, problems, solutions, truth, pid = setup(seed=3)
    wrong = [s for s in solutions if truth[s.solution_id] >= 0]
    # no claim at all (the judge's votes were unparsed): skip -> reasons, no rollouts
    votes, asked = run("mc-verify", sim, problems, solutions, {}, unclaimed="skip")
    for s in wrong:
        assert {v.status for v in votes[s.solution_id]} == {"skipped"}
        assert {v.details["skip_kind"] for v in votes[s.solution_id]} == {"no_claim"}
        assert pid[s.solution_id] not in asked.prefixes
    right = [s for s in solutions if truth[s.solution_id] == -1]
    assert right and all(located(votes[s.solution_id]) == -1 for s in right)  # free labels
    # refuted: stop keeps what the two evaluations proved and skips the open interval
    rng = random.Random(3)
    claims = {s.solution_id: Claim(wrong_claim(rng, truth[s.solution_id])) for s in solutions}
    stop, asked_stop = run("mc-verify", SimPolicy(seed=3, p_success=0.9, p_recover=0.0,
                                                  problems=sim.problems), problems, solutions,
                           claims, refuted="stop")
    opened = 0
    for s in wrong:
        f, mine = truth[s.solution_id], stop[s.solution_id]
        kinds = [v.details.get("skip_kind") for v in mine]
        assert all(v.label == 1 for v in mine[:f] if v.status == "labeled")  # never a false 0
        assert all(v.label == 0 for v in mine[f:] if v.status == "labeled")
        opened += "not_searched" in kinds
        assert len(asked_stop.prefixes[pid[s.solution_id]] - {0}) <= 2
    assert opened >= 10


@pytest.mark.parametrize("min_correct", [1, 2])
def test_trust_policy_unsolvable_problems_are_skipped_and_confirmed_labels_are_right(min_correct):
    """The truth harness's hard policy (30% unsolvable problems, 30% of rollouts cut off, lucky
    recoveries after the error) with a judge right 70% of the time."""
    sim = SimPolicy(p_success=0.9, p_recover=0.03, seed=0, p_unsolvable=0.3, p_truncate=0.3)
    problems, solutions, truth = sim.make(200, N_STEPS)
    rng = random.Random(0)
    claims = {sid: Claim(f if rng.random() < 0.7 else wrong_claim(rng, f))
              for sid, f in truth.items()}
    votes, _ = run("mc-verify", sim, problems, solutions, claims, max_tokens=64,
                   min_correct=min_correct)
    confirmed = [sid for sid, vs in votes.items() if vs[0].status == "labeled"
                 and vs[0].details["verified"]["outcome"] == "confirmed"]
    for s in solutions:
        p = int(_PID.search(problems[s.problem_id].question).group(1))
        if p in sim.unsolvable and truth[s.solution_id] >= 0:
            assert located(votes[s.solution_id]) is None  # MC cannot tell: never labelled
    # a confirmed claim is right except where a lucky recovery passed a later claim
    right = sum(located(votes[sid]) == truth[sid] for sid in confirmed) / len(confirmed)
    assert right >= (0.95 if min_correct == 1 else 0.99), right  # measured: 83/85, 92/92


def test_check_empty_prefix_off_rolls_out_no_bare_problem():
    sim, problems, solutions, truth, pid = setup(seed=5)
    rng = random.Random(5)
    claims = {sid: Claim(wrong_claim(rng, f)) for sid, f in truth.items()}
    votes, asked = run("mc-verify", sim, problems, solutions, claims, check_empty_prefix=False)
    assert not any(0 in sizes for sizes in asked.prefixes.values())
    assert all(located(votes[s.solution_id]) == truth[s.solution_id] for s in solutions)
    _, asked = run("mc-verify", SimPolicy(seed=5, p_success=0.9, p_recover=0.0,
                                          problems=sim.problems), problems, solutions, claims)
    assert any(0 in sizes for sizes in asked.prefixes.values())  # on by default


def test_a_claim_outside_the_solution_is_no_claim():
    sim, problems, solutions, truth, pid = setup(n=10, seed=6)
    claims = {sid: Claim(N_STEPS + 3) for sid in truth}
    votes, asked = run("mc-verify", sim, problems, solutions, claims, unclaimed="skip")
    for s in solutions:
        if truth[s.solution_id] >= 0:
            assert {v.details["skip_kind"] for v in votes[s.solution_id]} == {"no_claim"}
            assert "is not a step" in votes[s.solution_id][0].rationale
    assert not asked.prefixes
