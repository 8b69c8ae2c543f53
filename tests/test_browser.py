"""The review page in a real headless Chromium: sign in, read the gate, answer the checklist live."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from evidence import services as evidence_services
from reviews import services
from reviews.models import ChecklistAnswer, Level
from tests.factories import category

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")


def test_gate_panel_shows_blocked_with_its_reason_and_htmx_answers_swap_in_place(
    page, live_server, review, member
):
    services.add_finding(
        review=review,
        category=category(review, "security"),
        level=Level.P0,
        actor=member,
        title="Application connects as the database owner role",
    )
    evidence_services.add_link(
        review=review,
        category=category(review, "backup"),
        title="Restore report",
        url="https://ci.example.com/drill/7",
        actor=member,
        observed_at=timezone.now() - timedelta(days=3),
    )
    sign_in(page, live_server, "mia")

    page.goto(f"{live_server.url}{review.get_absolute_url()}")
    gate = page.locator("#gate-panel")
    assert "Blocked" in gate.locator(".gate-outcome").inner_text()
    assert "Open P0 blocker: Application connects as the database owner role" in gate.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.screenshot(path=str(ARTIFACTS / "review-page.png"), full_page=True)

    page.get_by_role("link", name="Checklist").click()
    first_row = page.locator("table.checklist tbody tr").first
    first_row.locator("input[name=note]").fill("Declared in the ADR")
    with page.expect_response(lambda r: "/answers/" in r.url) as response:
        first_row.locator("label.answer-choice-yes").click()  # a click saves the answer and the note
    assert response.value.status == 200
    page.wait_for_selector("table.checklist tbody tr.answer-yes")
    answer = ChecklistAnswer.objects.get(review=review)
    assert answer.answer == "yes" and answer.note == "Declared in the ADR"
    # The swap replaced only the row: the page was not reloaded, the URL is unchanged.
    assert "/checklist/" in page.url
