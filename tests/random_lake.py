"""A seeded random lake for tests that compare an aggregate with the per-step computation it
replaces, and a comparison of nested results with floats within 1e-9."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from schemas import Problem, Review, Solution, StepVote

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
ANNOTATORS = ("judge", "mc-binary", "mc-soft", "small-judge")


def random_lake(lake, seed: int):
    """Solutions of 1-8 steps (a few voted on but missing from ``solutions``); per step each
    annotator votes or not, labeled / unparsed / skipped (with a skip kind or none); some
    solutions re-run later by an annotator under another config (the newer run counts);
    mc-binary with rollouts, some truncated; spark only fails to parse; reviews by first error
    or step labels, some drafts."""
    rng = np.random.default_rng(seed)
    problem = Problem(question=f"q{seed}", reference_answer="1")
    sols = [Solution(problem_id=problem.problem_id, generator="g", text=f"t{seed}-{k}",
                     steps=[f"s{i}" for i in range(int(rng.integers(1, 9)))]) for k in range(40)]
    lake.append("problems", [problem])
    lake.append("solutions", sols[:-3])
    votes, t = [], 0
    for s in sols:
        # a run labels every step of a solution (the annotate pipeline's batches); some
        # annotators re-ran the solution later under another config: that newer run counts
        reruns = [name for name in ANNOTATORS if rng.random() < 0.15]
        for config, names in (("a", ANNOTATORS), ("b", reruns)):
            for i in range(len(s.steps) + (1 if s is sols[-1] else 0)):
                for name in names:
                    if rng.random() > 0.75:
                        continue
                    t += 1
                    status = str(rng.choice(["labeled", "unparsed", "skipped"], p=[0.8, 0.1, 0.1]))
                    label = int(rng.random() < 0.6) if status == "labeled" else None
                    score = (None if label is None or rng.random() < 0.1
                             else float(np.clip(label * 0.5 + rng.random() * 0.5, 0, 1)))
                    kind = str(rng.choice(["unsolvable", "truncated", "-"]))
                    details = ({"skip_kind": kind} if status == "skipped" and kind != "-" else
                               {"truncated_rollouts": int(rng.integers(0, 3))}
                               if name == "mc-binary" else {})
                    votes.append(StepVote(solution_id=s.solution_id, step_index=i, annotator=name,
                                          annotator_version="1", config_hash=config, status=status,
                                          label=label, score=score, details=details,
                                          rollouts=4 if name == "mc-binary" else 0,
                                          created_at=T0 + timedelta(seconds=t)))
                if config == "a" and rng.random() < 0.1:
                    votes.append(StepVote(solution_id=s.solution_id, step_index=i, annotator="spark",
                                          annotator_version="1", status="unparsed"))
    lake.append("step_votes", votes)
    reviews = []
    for s in sols[::3]:
        for reviewer in ("r0", "r1", "r2")[: int(rng.integers(1, 4))]:
            n = len(s.steps)
            if rng.random() < 0.3:
                labels = [int(rng.random() < 0.5) for _ in range(n)]
                reviews.append(Review(solution_id=s.solution_id, reviewer=reviewer,
                                      status="submitted", step_labels=labels))
            else:
                status = "draft" if rng.random() < 0.1 else "submitted"
                reviews.append(Review(solution_id=s.solution_id, reviewer=reviewer, status=status,
                                      first_error=int(rng.integers(-1, n + 1))))
    lake.append("reviews", reviews)
    return lake


def close(a, b) -> None:
    """Equal dicts / lists, floats within 1e-9."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            close(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            close(x, y)
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=0, abs=1e-9)
    else:
        assert a == b
