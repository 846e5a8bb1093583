"""verifier-sft selection rules on hand-built judge votes (the labelled_lake fixture's solutions:
s0 all correct, s1 error at step 1 of 3, s5 error at step 2 of 4)."""

from __future__ import annotations

from datetime import timedelta

from export import ExportConfig
from export.formats import columns, features
from export.select import select
from schemas import StepVote

from .conftest import T0

PROMPT = [{"role": "user", "content": "Check these steps."}]


def run(solution, verdicts, minutes=1, answer="my critique", version="2", status=None):
    """One judge run: a labelled vote per verdict (None: a skipped step), the transcript on
    step 0 unless ``answer`` is None."""
    out = []
    for i, v in enumerate(verdicts):
        details = {"style": "critic", "first_error": (verdicts.index(0) if 0 in verdicts else -1)}
        if i == 0 and answer is not None:
            details.update(prompt=PROMPT, answer=answer)
        st = status or ("skipped" if v is None else "labeled")
        out.append(StepVote(solution_id=solution.solution_id, step_index=i, annotator="judge",
                            annotator_version=version, config_hash="c", status=st,
                            label=v if st == "labeled" else None, details=details,
                            created_at=T0 + timedelta(minutes=minutes)))
    return out


def test_each_drop_reason(labelled_lake):
    lake, _, sols = labelled_lake  # its older judge votes carry no transcript: superseded here
    lake.append("step_votes", run(sols[0], [1, 1], answer="all fine")  # kept
                + run(sols[1], [1, None, 0])  # no verdict on the final first error
                + run(sols[5], [1, 1, 0, 0], answer=None)  # no transcript
                + run(sols[2], [1, 1, 1]))  # disputed step: no final labels
    config = ExportConfig(format="verifier-sft", test_fraction=0.0)
    with select(lake, config) as selection:
        kept = selection.query("SELECT solution_id, messages, labels FROM selected").to_pylist()
        assert [r["solution_id"] for r in kept] == [sols[0].solution_id]
        assert [e.solution_id for e in selection.examples] == [sols[0].solution_id]
        assert kept[0]["messages"] == [*PROMPT, {"role": "assistant", "content": "all fine"}]
        dropped = selection.answers_dropped
        assert selection.answers_read == 4
        assert (dropped["partial verdicts"], dropped["no answer text"],
                dropped["no final labels"]) == (1, 1, 1)


def test_the_newest_run_counts_even_unparsed(labelled_lake):
    lake, _, sols = labelled_lake
    lake.append("step_votes", run(sols[0], [1, 1], minutes=1)
                + run(sols[0], [None, None], minutes=2, version="3", status="unparsed"))
    with select(lake, ExportConfig(format="verifier-sft")) as selection:
        assert selection.total == 0 and selection.answers_dropped["unparsed"] == 1


def test_columns_match_features():
    for metadata in (True, False):
        config = ExportConfig(format="verifier-sft", metadata=metadata)
        names = [c.split(" AS ")[-1] for c in columns(config)]
        assert names == list(features(config))
