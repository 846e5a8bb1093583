"""Human review round trip through a real Argilla server (argilla-server 2.8.0, started here):
what a reviewer sets is exactly what ``review pull`` stores, and nothing else.

The truth is the reviewer's own input, chosen by this test: the clicks in Argilla's UI (headless
Chromium, when installed) and the values a reviewer's form holds. Argilla's UI opens a pending
record with its form pre-filled from the record's suggestions (``Record.completeQuestion`` in
argilla-frontend: ``if (this.isPending) question.response(suggestion)``) and submits every value
the form holds, so ``ui_form`` starts from the suggestions as the UI does; the browser test shows
the UI really sends them. The disputed solutions reproduce issue 23's defect 7: the judge calls
steps 3-8 wrong, mc-binary skipped every step, and the reviewer picks only the first wrong step.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from review.dataset import dataset_name
from schemas.records import Consensus, Problem, Solution, StepVote

pytestmark = [pytest.mark.argilla, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:`user_id` not provided:UserWarning")]

N_STEPS = 8
JUDGE_FIRST_ERROR = 2          # 0-based: the judge calls steps 3..8 wrong
JUDGE_TICKS = [f"step_{k}" for k in range(JUDGE_FIRST_ERROR + 1, N_STEPS + 1)]
PASSWORD = "reviewer-pass"


def _disputed(n: int) -> dict[str, list]:
    """``n`` eight-step solutions: the judge labels steps 3..8 wrong, mc-binary skipped them all
    (no informative vote), every step disputed."""
    tables: dict[str, list] = {"problems": [], "solutions": [], "step_votes": [], "consensus": []}
    for k in range(n):
        problem = Problem(question=f"Ann has {k + 3} boxes of 12 pens. How many pens?",
                          reference_answer=str(12 * (k + 3)), source="truth")
        steps = [f"Step text {i + 1} of solution {k}: {k + 3} * 12 = {12 * (k + 3) + i}" for i in range(N_STEPS)]
        solution = Solution(problem_id=problem.problem_id, generator="truth", text="\n\n".join(steps),
                            steps=steps, final_answer=str(12 * (k + 3) + 7), is_correct=False)
        tables["problems"].append(problem)
        tables["solutions"].append(solution)
        for i in range(N_STEPS):
            label = 0 if i >= JUDGE_FIRST_ERROR else 1
            tables["step_votes"].append(StepVote(
                solution_id=solution.solution_id, step_index=i, annotator="judge", annotator_version="1",
                model="scripted", label=label, score=0.1 if label == 0 else 0.9))
            tables["step_votes"].append(StepVote(
                solution_id=solution.solution_id, step_index=i, annotator="mc-binary", annotator_version="1",
                model="scripted", status="skipped", rationale="unsolvable: no rollout reached the answer"))
            tables["consensus"].append(Consensus(
                solution_id=solution.solution_id, step_index=i, strategy="majority", status="disputed",
                probability=0.5, annotators=["judge", "mc-binary"], priority=float(n - k)))
    return tables


def _lake(root: Path, n: int) -> Any:
    from store.lake import Lake

    lake = Lake(root)
    for table, records in _disputed(n).items():
        lake.append(table, records)
    return lake


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from review.server.local import LocalArgilla

    with LocalArgilla(data_dir=tmp_path_factory.mktemp("argilla"), port=0, fresh=True) as running:
        yield running


@pytest.fixture(scope="module")
def owner(server: Any) -> Any:
    import argilla as rg

    return rg.Argilla(api_url=server.api_url, api_key=server.api_key)


def _reviewer(owner: Any, name: str) -> Any:
    """An annotator of the owner's workspace, and an SDK client logged in with her own key."""
    import argilla as rg

    user = rg.User(username=name, password=PASSWORD, role="annotator", client=owner).create()
    user.add_to_workspace(owner.workspaces.default)
    key = owner.http_client.get(f"/api/v1/users/{user.id}").raise_for_status().json()["api_key"]
    return rg.Argilla(api_url=owner.api_url, api_key=key)


def _push(server: Any, lake: Any, dataset: str) -> None:
    from review.config import PushConfig
    from review.push import push

    summary = push(PushConfig(dataset=dataset, max_steps=10), lake, _conn(server))
    assert summary.pushed == summary.candidates > 0


def _push_as_efdb8c6(owner: Any, lake: Any, dataset: str) -> None:
    """The records as stepforge efdb8c6 pushed them: with suggestions on both label questions
    (a dataset created before this fix keeps them)."""
    import argilla as rg

    from review.dataset import build_record, build_settings
    from review.push import disputed_candidates, load_disputed

    settings = build_settings(10, 11, 1, owner)
    ds = rg.Dataset(name=dataset, workspace=owner.workspaces.default, settings=settings, client=owner).create()
    items, _ = load_disputed(lake, disputed_candidates(lake))
    records = []
    for item in items:
        record = build_record(item)
        record.suggestions.add(rg.Suggestion("first_error", f"step_{JUDGE_FIRST_ERROR + 1}", score=1.0,
                                             agent="plurality: judge"))
        record.suggestions.add(rg.Suggestion("wrong_steps", JUDGE_TICKS, score=[1.0] * len(JUDGE_TICKS),
                                             agent="majority: judge / mc-binary"))
        records.append(record)
    ds.records.log(records)


def _conn(server: Any) -> Any:
    from review.client import Connection

    return Connection(server.api_url, server.api_key, timeout=30, retries=2, backoff=0.5)


def _queue(client: Any, owner: Any, dataset: str) -> tuple[list[dict], dict[str, str]]:
    """The reviewer's pending records as the UI loads them (with suggestions), and question ids
    to names."""
    ds = owner.datasets(dataset)
    body = {"filters": {"and": [{"type": "terms", "scope": {"entity": "response", "property": "status"},
                                 "values": ["pending"]}]}}
    found = client.http_client.post(f"/api/v1/me/datasets/{ds.id}/records/search", json=body,
                                    params={"include": ["responses", "suggestions"], "limit": 50})
    items = [item["record"] for item in found.raise_for_status().json()["items"]]
    return items, {str(q.id): q.name for q in ds.settings.questions}


def ui_form(record: dict, questions: dict[str, str]) -> dict[str, Any]:
    """The form Argilla's UI opens a pending record with: every suggested value pre-filled."""
    return {questions[str(s["question_id"])]: {"value": s["value"]} for s in record.get("suggestions") or []}


def _submit(client: Any, record: dict, values: dict[str, Any]) -> None:
    from argilla._models._record._response import UserResponseModel

    client.api.records.create_record_response(
        record["id"], UserResponseModel(values=values, status="submitted", user_id=None))


def _pull(server: Any, lake: Any, dataset: str) -> tuple[Any, dict[str, Any]]:
    """Pull, then the stored reviews by solution id."""
    from review.config import PullConfig
    from review.pull import pull

    summary = pull(PullConfig(dataset=dataset), lake, _conn(server))
    return summary, {r.solution_id: r for r in lake.records("reviews")}


def _stored(review: Any) -> tuple:
    return review.status, review.first_error, review.step_labels or None, review.comment


def test_stored_review_is_exactly_what_the_reviewer_set(server, owner, tmp_path):
    lake = _lake(tmp_path / "lake", 3)
    _push(server, lake, "truth-api")
    rita = _reviewer(owner, "rita")
    records, questions = _queue(rita, owner, dataset_name("truth-api", N_STEPS))
    assert len(records) == 3
    # what rita sets on each record, on top of the form the UI opens
    answers = [
        {"first_error": {"value": "step_1"}},                        # only the first wrong step
        {"first_error": {"value": "step_2"}, "wrong_steps": {"value": ["step_2", "step_5"]},
         "comment": {"value": "steps 2 and 5 miscount"}},
        {"first_error": {"value": "no_error"}},
    ]
    for record, answer in zip(records, answers):
        _submit(rita, record, {**ui_form(record, questions), **answer})
    summary, stored = _pull(server, lake, "truth-api")
    assert summary.responses == {"submitted": 3} and summary.added == 3
    by_record = [_stored(stored[r["external_id"]]) for r in records]
    assert by_record == [
        ("submitted", 0, None, ""),                                  # no step labels: she set none
        ("submitted", 1, [1, 0, 1, 1, 0, 1, 1, 1], "steps 2 and 5 miscount"),
        ("submitted", -1, [1] * N_STEPS, ""),
    ]


def test_answers_prefilled_from_old_suggestions_are_not_stored_as_the_reviewers(server, owner, tmp_path):
    from review.config import PushConfig
    from review.push import push

    lake = _lake(tmp_path / "lake", 3)
    _push_as_efdb8c6(owner, lake, "truth-legacy")
    rosa = _reviewer(owner, "rosa")
    records, questions = _queue(rosa, owner, "truth-legacy")
    # rosa picks Step 1 on the first record, submits the second one untouched, leaves the third
    _submit(rosa, records[0], {**ui_form(records[0], questions), "first_error": {"value": "step_1"}})
    _submit(rosa, records[1], ui_form(records[1], questions))
    summary, stored = _pull(server, lake, "truth-legacy")
    assert _stored(stored[records[0]["external_id"]]) == ("submitted", 0, None, "")
    assert _stored(stored[records[1]["external_id"]]) == ("submitted", None, None, "")
    assert len(summary.prefilled) == 2 and len(stored) == 2
    # push --update takes the suggestions off the record nobody answered, so its form opens empty;
    # answered records keep theirs and pull still drops the values equal to them
    assert push(PushConfig(dataset="truth-legacy", update=True), lake, _conn(server)).suggestions_removed == 1
    after = {r.id: list(r.suggestions) for r in owner.datasets("truth-legacy").records(with_suggestions=True)}
    assert [len(after[r["external_id"]]) for r in records] == [2, 2, 0]
    summary, again = _pull(server, lake, "truth-legacy")
    assert len(summary.prefilled) == 2 and summary.added == 0


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _click_first_wrong_step_and_submit(server: Any, dataset_id: Any, username: str, step: int) -> str:
    """In headless Chromium: sign in as ``username``, open the dataset's first pending record,
    click Step ``step`` of the first-wrong-step question, submit. The page text before the click."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1350})
            for pattern in ("**/fonts.googleapis.com/**", "**/fonts.gstatic.com/**"):
                page.route(pattern, lambda route: route.abort())
            page.goto(f"{server.api_url}/sign-in")
            page.get_by_label("Username").fill(username)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda url: "sign-in" not in url, timeout=60_000)
            page.goto(f"{server.api_url}/dataset/{dataset_id}/annotation-mode")
            question = page.locator('[aria-label="Question: first_error"]')
            question.locator(f'label[for="first_error_step_{step}"]').wait_for(timeout=60_000)
            page.wait_for_load_state("networkidle")
            text = page.inner_text("body")
            question.locator(f'label[for="first_error_step_{step}"]').click()
            with page.expect_response(lambda r: "/responses" in r.url and r.request.method != "GET",
                                      timeout=30_000):
                page.locator("button.button--submit").click()
            return text
        finally:
            browser.close()


def _wait_for_response(owner: Any, dataset: str) -> dict:
    """The one submitted response of the dataset's one record (the UI saves asynchronously)."""
    ds = owner.datasets(dataset)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = owner.http_client.get(f"/api/v1/datasets/{ds.id}/records",
                                     params={"include": "responses"}).raise_for_status().json()
        responses = body["items"][0].get("responses") or []
        if responses and responses[0]["status"] == "submitted":
            return responses[0]
        time.sleep(0.5)
    raise AssertionError("the UI's submit did not reach the server")


def test_clicking_only_the_first_wrong_step_in_the_ui_stores_only_it(server, owner, tmp_path):
    pytest.importorskip("playwright.sync_api", reason="scripts/argilla-serve.sh install --browser")
    if not shutil.which("chromium"):
        pytest.skip("no chromium: scripts/argilla-serve.sh install --browser")
    _reviewer(owner, "uma")
    # a dataset pushed now, and one pushed as efdb8c6 did (with suggestions): one record each
    fresh, legacy = _lake(tmp_path / "fresh", 1), _lake(tmp_path / "legacy", 1)
    _push(server, fresh, "truth-ui")
    _push_as_efdb8c6(owner, legacy, "truth-ui-legacy")

    page = _click_first_wrong_step_and_submit(server, owner.datasets(dataset_name("truth-ui", N_STEPS)).id, "uma", 1)
    sent = _wait_for_response(owner, dataset_name("truth-ui", N_STEPS))
    _, stored = _pull(server, fresh, "truth-ui")
    assert [_stored(r) for r in stored.values()] == [("submitted", 0, None, "")]
    assert sent["values"] == {"first_error": {"value": "step_1"}}
    assert "first error step 3 by judge (1 of 1 annotator with labels)" in page  # shown as text

    # the premise: Argilla's UI submits the untouched pre-filled ticks along with the click
    _click_first_wrong_step_and_submit(server, owner.datasets("truth-ui-legacy").id, "uma", 1)
    sent = _wait_for_response(owner, "truth-ui-legacy")
    assert sent["values"]["first_error"] == {"value": "step_1"}
    assert sorted(sent["values"]["wrong_steps"]["value"]) == sorted(JUDGE_TICKS)
    summary, stored = _pull(server, legacy, "truth-ui-legacy")
    assert [_stored(r) for r in stored.values()] == [("submitted", 0, None, "")]
    assert len(summary.prefilled) == 1
