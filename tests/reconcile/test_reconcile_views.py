"""The analytics views (store/analytics.py) agree with the Python computations."""

from __future__ import annotations

import pytest

from tests.oracles.agreement import pairwise
from reconcile.statuses import UNKNOWN
from tests.oracles.consensus import first_errors
from tests.oracles.vote_matrix import vote_matrix
from reconcile import VOTE_COLUMNS
from schemas import Solution, StepVote
from store.analytics import pivot_sql

PLAN = {"s1": {"a": [1, 1, 1, 1, 0], "b": [1, 1, 0, 1, 0], "c": [1, 1, 1, 1, 1]},
        "s2": {"a": [0, 0, 1, 1, 0], "b": [0, 1, 1, 1, 1], "c": [0, "u", 1, 1, 0]},
        "s3": {"a": [1, "u", 0, 0, 0], "b": [1, 1, 1, 1, 1]}}


@pytest.fixture
def voted(lake):
    sols = {k: Solution(solution_id=k, problem_id="p", generator="g", text=k,
                        steps=[f"{k} step {i}" for i in range(5)]) for k in PLAN}
    lake.append("solutions", sols.values())
    lake.append("step_votes", [
        StepVote(solution_id=sid, step_index=i, annotator=name, annotator_version="1",
                 status="labeled" if v != "u" else "unparsed", label=None if v == "u" else v,
                 prompt_tokens=20, completion_tokens=4, rollouts=2 if name == "a" else 0)
        for sid, by in PLAN.items() for name, labels in by.items() for i, v in enumerate(labels)])
    return lake


def test_annotator_agreement_view_matches_python(voted):
    m = vote_matrix(voted.query(f"SELECT {VOTE_COLUMNS} FROM step_votes"))
    expected = {(p.a, p.b): p for p in pairwise(m)}
    rows = voted.query("SELECT * FROM annotator_agreement").to_pylist()
    assert len(rows) == 3
    for row in rows:
        p = expected[(row["annotator_a"], row["annotator_b"])]
        assert row["steps"] == p.steps
        assert row["kappa"] == pytest.approx(p.kappa)
        assert row["solutions"] == p.solutions
        assert row["first_error_rate"] == pytest.approx(p.first_error_rate)


def test_first_errors_view_matches_python(voted):
    m = vote_matrix(voted.query(f"SELECT {VOTE_COLUMNS} FROM step_votes"))
    view = {(r["solution_id"], r["annotator"]): r["first_error"]
            for r in voted.query("SELECT * FROM annotator_first_errors").to_pylist()}
    for j, name in enumerate(m.annotators):
        for s, fe in zip(m.solution_ids.to_pylist(), first_errors(m, j)):
            if (s, name) in view:
                assert view[(s, name)] == (None if fe == UNKNOWN else fe), (s, name)
    assert view[("s3", "a")] is None  # step 2 is its first 0 but step 1 is unparsed
    assert view[("s1", "c")] == -1


def test_wide_disagreements_and_pivot(voted):
    wide = voted.query("SELECT labels['a'] AS a, labels['c'] AS c, n_unparsed FROM step_labels_wide "
                       "WHERE solution_id = 's2' AND step_index = 1").to_pylist()
    assert wide == [{"a": 0, "c": None, "n_unparsed": 1}]
    dis = voted.query("SELECT * FROM disagreements WHERE solution_id = 's1' ORDER BY step_index")
    assert dis["step_index"].to_pylist() == [2, 4]
    assert dis["says_wrong"].to_pylist()[0] == ["b"] and dis["step"].to_pylist()[0] == "s1 step 2"
    pivot = voted.query(pivot_sql(["a", "b", "c"])).to_pylist()
    assert pivot[0] == {"solution_id": "s1", "step_index": 0, "a": 1, "b": 1, "c": 1}
    costs = {r["annotator"]: r for r in voted.query("SELECT * FROM annotator_costs").to_pylist()}
    assert costs["a"]["tokens_per_labeled_step"] == pytest.approx(24 * 15 / 14)
