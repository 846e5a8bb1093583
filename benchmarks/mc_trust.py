"""Benchmark: MC labels with and without the trust handling (issue 13), on the simulated policy
with unsolvable problems and truncated rollouts (benchmarks/sim_policy.py).

"without": check_empty_prefix false, max_truncated 1.0 (every solution searched, a cut-off
rollout counts as a failure for the hard label, as before). "with": the defaults (a problem the
policy never solves from the bare problem is skipped; a prefix whose rollouts were mostly cut
off gives a skipped vote). Per mode, over the wrong solutions:

- labelled: share of wrong solutions whose first error MC located (the rest skipped);
- first-error acc (labelled): of those, the share at the true first error;
- wrong first errors shipped: labelled solutions whose first error is not the true one;
- on unsolvable problems: how many of those wrong labels come from problems the policy never
  solves (the failure the handling removes).

    .venv/bin/python benchmarks/mc_trust.py [--solutions 200] [--steps 8] [--unsolvable 0.3]
        [--truncate 0.3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from annotators.mc import build  # noqa: E402
from benchmarks.sim_policy import SimPolicy  # noqa: E402

WITHOUT = {"check_empty_prefix": False, "max_truncated": 1.0}


def run(mode: str, args: argparse.Namespace, handling: bool) -> dict:
    sim = SimPolicy(p_unsolvable=args.unsolvable, p_truncate=args.truncate, seed=args.seed)
    problems, solutions, truth = sim.make(args.solutions, args.steps)
    config = {"k": args.k, "max_tokens": 64, **({} if handling else WITHOUT)}
    annotator = build(mode, config, {"default": sim.engine()})
    votes: dict[str, list] = {}
    for vote in annotator.annotate(problems, solutions):
        votes.setdefault(vote.solution_id, []).append(vote)
    pid_of = {s.solution_id: int(problems[s.problem_id].question.split()[2].rstrip(")"))
              for s in solutions}
    wrong = [s for s in solutions if truth[s.solution_id] >= 0]
    labelled, hits, shipped_bad, bad_unsolvable = 0, 0, 0, 0
    for s in wrong:
        labels = [v.label for v in sorted(votes[s.solution_id], key=lambda v: v.step_index)]
        found = labels.index(0) if 0 in labels else -1
        if None in (labels[:found + 1] if found >= 0 else labels):
            continue  # a skipped step before the first error: MC located nothing here
        labelled += 1
        if found == truth[s.solution_id]:
            hits += 1
        else:
            shipped_bad += 1
            bad_unsolvable += pid_of[s.solution_id] in sim.unsolvable
    return {"mode": mode, "handling": "with" if handling else "without",
            "wrong": len(wrong), "labelled": labelled / max(1, len(wrong)),
            "acc_labelled": hits / max(1, labelled), "bad_shipped": shipped_bad,
            "bad_from_unsolvable": bad_unsolvable,
            "rollouts_per_solution": annotator.stats.rollouts / len(solutions),
            "truncated_share": annotator.stats.rollouts_truncated
            / max(1, annotator.stats.rollouts)}


def table(rows: list[dict]) -> str:
    head = ("| mode | handling | wrong solutions | labelled | first-error acc (labelled) | "
            "wrong first errors shipped | of them on unsolvable problems | rollouts / solution "
            "| rollouts cut off |")
    lines = [head, "|" + " --- |" * 9]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['handling']} | {r['wrong']} | {r['labelled']:.1%} | "
                     f"{r['acc_labelled']:.1%} | {r['bad_shipped']} | {r['bad_from_unsolvable']} "
                     f"| {r['rollouts_per_solution']:.1f} | {r['truncated_share']:.1%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solutions", type=int, default=200)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--unsolvable", type=float, default=0.3)
    parser.add_argument("--truncate", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modes", default="mc-binary,mc-hard")
    args = parser.parse_args(argv)
    rows = [run(mode, args, handling) for mode in args.modes.split(",")
            for handling in (False, True)]
    print(table(rows))


if __name__ == "__main__":
    main()
