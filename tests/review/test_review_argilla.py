"""End to end against a real local Argilla server (argilla-server 2.8.0, SQLite, Redis and the
stepforge search engine): push disputed solutions, review them as annotators, pull the labels."""

from __future__ import annotations

import argparse
import warnings
from typing import Any

import pytest

pytestmark = [pytest.mark.argilla,
              pytest.mark.filterwarnings("ignore:`user_id` not provided:UserWarning")]

DATASET = "disputed-e2e"


def _cli(*argv: str) -> int:
    """Run ``stepforge review ...`` through the real command module."""
    from pipelines.commands import review

    parser = argparse.ArgumentParser(prog="stepforge")
    review.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["review", *argv])
    return args.handler(args)


def _reviewer(owner: Any, name: str) -> tuple[Any, str]:
    """An annotator in the owner's workspace and its API key."""
    import argilla as rg

    workspace = owner.workspaces.default
    user = rg.User(username=name, password="reviewer-pass", role="annotator", client=owner).create()
    user.add_to_workspace(workspace)
    key = owner.http_client.get(f"/api/v1/users/{user.id}").raise_for_status().json()["api_key"]
    return user, key


def _search(client: Any, dataset_id: Any, body: dict) -> dict:
    """The annotator's search endpoint the UI calls (answered by the SQLite engine)."""
    response = client.http_client.post(f"/api/v1/me/datasets/{dataset_id}/records/search",
                                       json=body, params={"include": ["responses", "suggestions"]})
    return response.raise_for_status().json()


PENDING = {"filters": {"and": [{"type": "terms", "scope": {"entity": "response", "property": "status"},
                                "values": ["pending"]}]},
           "sort": [{"scope": {"entity": "metadata", "metadata_property": "priority"}, "order": "desc"}]}


def test_push_review_pull_round_trip(argilla_server, disputed_lake, monkeypatch, capsys):
    import argilla as rg
    from argilla._models._record._response import UserResponseModel

    from review.push import disputed_candidates

    for key, value in argilla_server.env().items():
        monkeypatch.setenv(key, value)
    lake = disputed_lake(5)
    lake_arg = ["--lake", str(lake.root), "--dataset", DATASET]

    # push: limited, then the rest, then nothing (record ids are solution ids)
    assert _cli("push", *lake_arg, "--limit", "3", "--min-submitted", "2") == 0
    assert "3 records pushed" in capsys.readouterr().out
    assert _cli("push", *lake_arg) == 0
    assert "2 records pushed" in capsys.readouterr().out
    assert _cli("push", *lake_arg) == 0
    out = capsys.readouterr().out
    assert "0 records pushed" in out and "5 already in the dataset" in out

    owner = rg.Argilla(api_url=argilla_server.api_url, api_key=argilla_server.api_key)
    dataset = owner.datasets(DATASET)
    records = list(dataset.records(with_suggestions=True))
    ranked = [s for s, _ in disputed_candidates(lake)]
    assert [r.id for r in records] == ranked  # logged highest priority first
    top = records[0]
    assert not list(top.suggestions)  # a suggestion would pre-fill the reviewer's form
    assert top.fields["verdicts"].startswith("**Annotators' answer** (not pre-selected: answer yourself): "
                                             "first error step 1 by judge")
    assert "| step | judge | mc-binary |" in top.fields["verdicts"].replace("&emsp;", "")
    assert top.metadata["strategy"] == ["qwen-filter"] and top.metadata["priority"] == 5.0

    alice, alice_key = _reviewer(owner, "alice")
    bob, _ = _reviewer(owner, "bob")
    alice_client = rg.Argilla(api_url=argilla_server.api_url, api_key=alice_key)

    # alice works through her queue like the UI does: pending records, highest priority first
    queue = _search(alice_client, dataset.id, PENDING)
    assert queue["total"] == 5
    queue_ids = [item["record"]["external_id"] for item in queue["items"]]
    assert queue_ids == ranked
    first, third = queue["items"][0]["record"], queue["items"][2]["record"]
    alice_client.api.records.create_record_response(first["id"], UserResponseModel(
        values={"first_error": {"value": "step_2"}, "wrong_steps": {"value": ["step_2", "step_4"]},
                "comment": {"value": "step 1 is fine: 3 + 4 eggs are used"}},
        status="submitted", user_id=None))
    alice_client.api.records.create_record_response(third["id"], UserResponseModel(
        values={"first_error": {"value": "no_error"}}, status="draft", user_id=None))

    # bob's answers go in through the high-level SDK, logged on his behalf
    by_id = {r.id: r for r in dataset.records(with_responses=True)}
    by_id[ranked[0]].responses.add(rg.Response("first_error", "step_1", user_id=bob.id, status="submitted"))
    by_id[ranked[1]].responses.add(rg.Response("first_error", "step_1", user_id=bob.id, status="discarded"))
    dataset.records.log([by_id[ranked[0]], by_id[ranked[1]]])

    # the search engine answers per-user status filters, metadata and suggestion filters, metrics
    assert _search(alice_client, dataset.id, PENDING)["total"] == 3
    metrics = alice_client.http_client.get(f"/api/v1/me/datasets/{dataset.id}/metrics").json()
    assert metrics["responses"] == {"total": 5, "submitted": 1, "discarded": 0, "draft": 1, "pending": 3}
    high = {"filters": {"and": [{"type": "range", "scope": {"entity": "metadata", "metadata_property": "priority"},
                                 "ge": 4}]}}
    assert _search(alice_client, dataset.id, high)["total"] == 2
    answered = {"filters": {"and": [{"type": "terms", "scope": {"entity": "response", "question": "first_error"},
                                      "values": ["step_2"]}]}}
    assert _search(alice_client, dataset.id, answered)["total"] == 1
    text = {"query": {"text": {"q": "ducks"}}}
    assert [i["record"]["external_id"] for i in _search(alice_client, dataset.id, text)["items"]] == [ranked[0]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert dataset.progress()["total"] == 5

    # pull: every response stored with its status; agreement over the submitted ones
    assert _cli("pull", *lake_arg) == 0
    out = capsys.readouterr().out
    assert "1 discarded, 1 draft, 2 submitted" in out and "4 new rows in reviews" in out
    assert "1 records with 2+ reviewers, 1 pairs, pairwise agreement 0.0%" in out
    reviews = {(r.reviewer, r.solution_id): r for r in lake.records("reviews")}
    assert len(reviews) == 4
    human = reviews[("alice", ranked[0])]
    assert (human.status, human.first_error) == ("submitted", 1)
    n_steps = top.metadata["n_steps"]
    assert human.step_labels == [1, 0, 1, 0] + [1] * (n_steps - 4)
    assert human.comment.startswith("step 1 is fine") and human.dataset.endswith("/" + DATASET)
    assert reviews[("bob", ranked[0])].first_error == 0
    assert reviews[("bob", ranked[1])].status == "discarded"
    assert reviews[("alice", ranked[2])].status == "draft"
    submitted = lake.query("select count(*) from reviews where status = 'submitted'").column(0)[0].as_py()
    assert submitted == 2
    assert _cli("pull", *lake_arg) == 0
    assert "0 new rows in reviews" in capsys.readouterr().out
