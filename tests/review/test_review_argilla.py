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

    from review.dataset import dataset_name
    from review.push import disputed_candidates

    for key, value in argilla_server.env().items():
        monkeypatch.setenv(key, value)
    lake = disputed_lake(5)
    lake_arg = ["--lake", str(lake.root), "--dataset", DATASET]

    # push: limited, then the rest, then nothing (record ids are solution ids)
    assert _cli("push", *lake_arg, "--limit", "3", "--min-submitted", "2") == 0
    out = capsys.readouterr().out
    assert "3 records pushed (1 to disputed-e2e-5-steps (created), 1 to disputed-e2e-3-steps (created)" in out
    assert _cli("push", *lake_arg) == 0
    assert "2 records pushed" in capsys.readouterr().out
    assert _cli("push", *lake_arg) == 0
    out = capsys.readouterr().out
    assert "0 records pushed" in out and "5 already in the disputed-e2e datasets" in out

    # one dataset per step count, each offering exactly its solutions' steps
    owner = rg.Argilla(api_url=argilla_server.api_url, api_key=argilla_server.api_key)
    steps = {s.solution_id: len(s.steps) for s in lake.records("solutions")}
    group = {n: owner.datasets(dataset_name(DATASET, n)) for n in sorted(set(steps.values()))}
    assert sorted(group) == [3, 4, 5]
    ranked = [s for s, _ in disputed_candidates(lake)]
    records = {}
    for n, ds in group.items():
        offered = list(ds.settings.questions["first_error"].labels)
        assert offered == ["no_error"] + [f"step_{k}" for k in range(1, n + 1)]
        held = list(ds.records(with_suggestions=True))
        assert [r.id for r in held] == [s for s in ranked if steps[s] == n]  # highest priority first
        records.update({r.id: (r, ds) for r in held})
    top, _ = records[ranked[0]]
    assert not list(top.suggestions)  # a suggestion would pre-fill the reviewer's form
    assert top.fields["verdicts"].startswith("**Annotators' answer** (not pre-selected: answer yourself): "
                                             "first error step 1 by judge")
    assert "| step | judge | mc-binary |" in top.fields["verdicts"].replace("&emsp;", "")
    assert top.metadata["strategy"] == ["qwen-filter"] and top.metadata["priority"] == 5.0

    alice, alice_key = _reviewer(owner, "alice")
    bob, _ = _reviewer(owner, "bob")
    alice_client = rg.Argilla(api_url=argilla_server.api_url, api_key=alice_key)

    def everywhere(body: dict) -> list[str]:
        """The external ids a search finds over the group's datasets."""
        return [item["record"]["external_id"] for ds in group.values()
                for item in _search(alice_client, ds.id, body)["items"]]

    # alice works through her queues like the UI does: pending records, highest priority first
    queues = {n: _search(alice_client, ds.id, PENDING)["items"] for n, ds in group.items()}
    assert sum(len(q) for q in queues.values()) == 5
    for n, queue in queues.items():
        assert [item["record"]["external_id"] for item in queue] == [s for s in ranked if steps[s] == n]
    first = queues[steps[ranked[0]]][0]["record"]
    third = next(item["record"] for item in queues[steps[ranked[2]]] if item["record"]["external_id"] == ranked[2])
    alice_client.api.records.create_record_response(first["id"], UserResponseModel(
        values={"first_error": {"value": "step_2"}, "wrong_steps": {"value": ["step_2", "step_4"]},
                "comment": {"value": "step 1 is fine: 3 + 4 eggs are used"}},
        status="submitted", user_id=None))
    alice_client.api.records.create_record_response(third["id"], UserResponseModel(
        values={"first_error": {"value": "no_error"}}, status="draft", user_id=None))

    # bob's answers go in through the high-level SDK, logged on his behalf
    for solution_id, value, status in ((ranked[0], "step_1", "submitted"), (ranked[1], "step_1", "discarded")):
        ds = group[steps[solution_id]]
        record = next(r for r in ds.records(with_responses=True) if r.id == solution_id)
        record.responses.add(rg.Response("first_error", value, user_id=bob.id, status=status))
        ds.records.log([record])

    # the search engine answers per-user status filters, metadata and suggestion filters, metrics
    assert len(everywhere(PENDING)) == 3
    totals: dict[str, int] = {}
    for ds in group.values():
        metrics = alice_client.http_client.get(f"/api/v1/me/datasets/{ds.id}/metrics").json()
        for key, value in metrics["responses"].items():
            totals[key] = totals.get(key, 0) + value
    assert totals == {"total": 5, "submitted": 1, "discarded": 0, "draft": 1, "pending": 3}
    high = {"filters": {"and": [{"type": "range", "scope": {"entity": "metadata", "metadata_property": "priority"},
                                 "ge": 4}]}}
    assert sorted(everywhere(high)) == sorted(ranked[:2])
    answered = {"filters": {"and": [{"type": "terms", "scope": {"entity": "response", "question": "first_error"},
                                      "values": ["step_2"]}]}}
    assert everywhere(answered) == [ranked[0]]
    text = {"query": {"text": {"q": "ducks"}}}
    assert everywhere(text) == [ranked[0]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert sum(ds.progress()["total"] for ds in group.values()) == 5

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
    assert human.comment.startswith("step 1 is fine")
    assert human.dataset.endswith(f"/{DATASET}-{n_steps}-steps")
    assert reviews[("bob", ranked[0])].first_error == 0
    assert reviews[("bob", ranked[1])].status == "discarded"
    assert reviews[("alice", ranked[2])].status == "draft"
    submitted = lake.query("select count(*) from reviews where status = 'submitted'").column(0)[0].as_py()
    assert submitted == 2
    assert _cli("pull", *lake_arg) == 0
    assert "0 new rows in reviews" in capsys.readouterr().out
