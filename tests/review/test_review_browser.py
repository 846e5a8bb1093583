"""The Argilla UI shows a pushed record readably: headless Chromium (Debian's, through
Playwright) logs in, opens the dataset and screenshots a record with its steps and the annotators' answer
(``test-output/review/record.png``), and a 4-step solution is offered exactly Step 1..4 and "No error"
(``record-4-steps.png``). Google Fonts requests are blocked: there is no network."""

from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.argilla

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_ui_shows_steps_with_their_verdicts_and_the_annotators_answer(argilla_server, disputed_lake, test_output,
                                                                     monkeypatch):
    playwright = pytest.importorskip("playwright.sync_api", reason="scripts/argilla-serve.sh install --browser")
    if not shutil.which("chromium"):
        pytest.skip("no chromium: scripts/argilla-serve.sh install --browser")
    import argilla as rg

    from review.config import PushConfig
    from review.push import push

    for key, value in argilla_server.env().items():
        monkeypatch.setenv(key, value)
    lake = disputed_lake(3)  # GSM8K samples of 5, 3 and 4 steps
    assert push(PushConfig(dataset="browser-check"), lake).pushed == 3
    owner = rg.Argilla(api_url=argilla_server.api_url, api_key=argilla_server.api_key)
    dataset_id = owner.datasets("browser-check-5-steps").id
    four_steps_id = owner.datasets("browser-check-4-steps").id

    out = test_output / "review"
    out.mkdir(parents=True, exist_ok=True)
    png = out / "record.png"
    png.unlink(missing_ok=True)
    blocked = []
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1350})
            for pattern in ("**/fonts.googleapis.com/**", "**/fonts.gstatic.com/**"):
                page.route(pattern, lambda route: (blocked.append(route.request.url), route.abort()))
            page.goto(f"{argilla_server.api_url}/sign-in")
            page.get_by_label("Username").fill(argilla_server.username)
            page.get_by_label("Password").fill(argilla_server.password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda url: "sign-in" not in url, timeout=60_000)
            page.goto(f"{argilla_server.api_url}/dataset/{dataset_id}/annotation-mode")
            page.get_by_text("Step 1.").first.wait_for(timeout=60_000)
            page.get_by_text("qwen-filter rule").first.wait_for()
            page.get_by_text("First wrong step").first.wait_for()
            page.wait_for_load_state("networkidle")
            body = page.inner_text("body")
            (out / "record.txt").write_text(body)
            page.screenshot(path=str(png))
            offered = _offered(page, f"{argilla_server.api_url}/dataset/{four_steps_id}/annotation-mode",
                               out / "record-4-steps.png")
        finally:
            browser.close()
    assert "Janet" in body and "Step 5." in body and "Final answer: 224" in body
    assert "No error" in body and "first error step 1 by judge" in body  # the annotators' answer, as text
    assert "✗ 0.10" in body and "⚠ disputed, P(correct) 0.50" in body
    # the verdicts sit right under each step, not only in the table further down
    after_step_2 = body.split("Step 2.", 1)[1].split("Step 3.", 1)[0]
    assert "judge" in after_step_2 and "qwen-filter rule" in after_step_2
    # a 4-step solution: its own 4 steps and "No error", nothing more (no "Step 5", no "+k")
    assert offered["first_error"] == ["No error", "Step 1", "Step 2", "Step 3", "Step 4"]
    assert offered["wrong_steps"] == ["None", "Step 1", "Step 2", "Step 3", "Step 4"]
    assert offered["more"] == []
    assert "<<" not in body
    assert png.exists() and png.stat().st_size > 20_000


def _offered(page, url: str, png) -> dict[str, list[str]]:
    """The choices the record's two step questions show (their labels' text, in order), and any
    "+k" / "more" toggles, read from the page at ``url``; a screenshot goes to ``png``."""
    page.goto(url)
    first = page.locator('[aria-label="Question: first_error"]')
    first.locator("label").first.wait_for(timeout=60_000)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(png))
    offered = {}
    for name in ("first_error", "wrong_steps"):
        question = page.locator(f'[aria-label="Question: {name}"]')
        texts = question.locator(f'label[for^="{name}_"]').all_inner_texts()
        offered[name] = [t.strip().splitlines()[-1].strip() for t in texts]  # after the key number
    buttons = page.locator('[aria-label^="Question: "] button').all_inner_texts()
    offered["more"] = [t.strip() for t in buttons if t.strip().startswith("+") or "more" in t.lower()]
    return offered
