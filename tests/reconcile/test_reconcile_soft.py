"""MC success fractions flow into consensus and majority probabilities; each consensus row says
where its MC evidence came from (measured / inferred / none)."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from pipelines.commands.reconcile import describe
from reconcile import ReconcileConfig
from tests.oracles.reconcile_reference import reconcile_arrays


def _votes(rows):
    names = ["solution_id", "step_index", "annotator", "status", "label", "score", "provenance"]
    cols = {n: [r[i] for r in rows] for i, n in enumerate(names)}
    cols["created_at"] = [None] * len(rows)
    cols["vote_id"] = [f"v{i}" for i in range(len(rows))]
    return pa.table({**cols, "step_index": pa.array(cols["step_index"], pa.int32()),
                     "label": pa.array(cols["label"], pa.int8()),
                     "created_at": pa.array(cols["created_at"], pa.timestamp("us", tz="UTC"))})


def test_soft_scores_and_provenance_reach_consensus_rows():
    votes = _votes([
        ("s", 0, "mc-soft", "labeled", 1, 0.375, "measured"),
        ("s", 1, "mc-soft", "labeled", 0, 0.0, "measured"),
        ("s", 0, "judge", "labeled", 1, None, None),
        ("s", 1, "judge", "labeled", 0, None, None),
        ("t", 0, "mc-binary", "labeled", 1, 1.0, "inferred"),
        ("t", 0, "judge", "labeled", 1, None, None),
    ])
    table, summary = reconcile_arrays(votes, pa.table({"solution_id": pa.array([], pa.string())}),
                                      None, ReconcileConfig(strategies=["consensus", "majority"]))
    rows = {(r["strategy"], r["solution_id"], r["step_index"]): r for r in table.to_pylist()}
    assert rows[("consensus", "s", 0)]["probability"] == pytest.approx(0.375)
    assert rows[("consensus", "s", 1)]["probability"] == 0.0
    assert rows[("majority", "s", 0)]["probability"] == pytest.approx((0.375 + 1) / 2)
    assert rows[("majority", "s", 0)]["label"] == 1
    kinds = {k: json.loads(r["details"])["mc_provenance"] for k, r in rows.items()}
    assert kinds[("consensus", "s", 0)] == "measured" and kinds[("majority", "t", 0)] == "inferred"
    majority = next(s for s in summary.strategies if s.strategy == "majority")
    assert majority.provenance == {"none": 0, "inferred": 1, "measured": 2}
    assert "MC evidence of the labelled steps: inferred 33%, measured 67%" in describe(summary)
    plain = ReconcileConfig(strategies=["majority"], soft_scores=[])
    table, _ = reconcile_arrays(votes, pa.table({"solution_id": pa.array([], pa.string())}),
                                None, plain)
    assert table.to_pylist()[0]["probability"] == 1.0  # without soft scores: the label share
