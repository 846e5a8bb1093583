"""``review pull`` with a rejected answer (a step the solution does not have, in a dataset of the
one-dataset layout): the other answers are stored, the rejection is printed once, naming the
record and reviewer, and the command exits non-zero."""

from __future__ import annotations

import argparse
import logging

from review.dataset import FIRST_ERROR
from review.pull import PullSummary, to_review
from schemas import RecordError


def _cli(*argv: str) -> int:
    from pipelines.commands import review

    parser = argparse.ArgumentParser(prog="stepforge")
    review.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["review", *argv])
    return args.handler(args)


def test_a_rejected_answer_fails_pull_and_is_printed_once(disputed_lake, monkeypatch, capsys, caplog):
    import review.pull as pull_module

    lake = disputed_lake(1)
    record = {"id": "uuid-1", "external_id": "sol-4", "metadata": {"n_steps": 4}}
    response = {"status": "submitted", "user_id": "u1", "updated_at": "2026-12-01T10:00:00",
                "values": {FIRST_ERROR: {"value": "step_9"}}}
    try:
        to_review(record, response, "rita", "argilla/ds")
        raise AssertionError("an answer past the last step must be rejected")
    except RecordError as exc:
        rejected = str(exc)
    good = to_review({**record, "external_id": "sol-ok"}, {**response, "values": {FIRST_ERROR: {"value": "step_2"}}},
                     "rita", "argilla/ds")[0]
    summary = PullSummary(dataset="argilla/ds", records=2, invalid=[rejected])
    summary.responses["submitted"] = 2
    monkeypatch.setattr(pull_module, "read_reviews", lambda config, conn: ([good], summary))
    monkeypatch.setenv("ARGILLA_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ARGILLA_API_KEY", "unused")
    with caplog.at_level(logging.WARNING):
        rc = _cli("pull", "--lake", str(lake.root))
    out, err = capsys.readouterr()
    assert rc == 1, err
    assert "1 new rows in reviews" in out  # the valid answer is stored
    printed = out + err + "".join(r.getMessage() for r in caplog.records)
    assert printed.count("answers Step 9 but the solution has 4 steps") == 1
    assert "sol-4" in err and "rita" in err
    assert [r.first_error for r in lake.records("reviews")] == [1]
