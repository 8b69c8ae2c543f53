"""Rough edges in a real headless Chromium: the gate's label inside its card, the chair's mark in the
agenda, recording a decision (progress, confirmation), branded error pages with DEBUG off, and dates shown
and typed as yyyy-mm-dd. Screenshots go to test-artifacts/ for review."""

import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from reviews import agenda, services
from reviews.models import Decision, Level
from reviews.views import meeting as meeting_views
from tests.factories import category, score_all

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")


def shot(target, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    target.screenshot(path=str(ARTIFACTS / name))


def inside(inner: dict, outer: dict) -> bool:
    return (
        inner["x"] >= outer["x"] - 0.5
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 0.5
        and inner["y"] >= outer["y"] - 0.5
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 0.5
    )


@pytest.fixture
def approved_with_exceptions(review, architect, lead):
    """Every category at 2 with evidence, and a P1 shipping on a signed exception."""
    score_all(review, architect)
    finding = services.add_finding(
        review=review,
        category=category(review, "migration"),
        level=Level.P1,
        actor=architect,
        title="Backfill of balances runs in one transaction",
    )
    exception = services.request_exception(
        finding=finding,
        justification="The backfill runs once, off-peak, on a table of 40k rows",
        compensating_control="A DBA watches locks and can cancel it",
        expires_at=timezone.now() + timedelta(days=30),
        actor=architect,
    )
    services.sign_exception(exception=exception, actor=lead)
    return review


@pytest.mark.parametrize("width,height", [(1024, 768), (1440, 900)])
def test_the_approved_with_exceptions_label_fits_its_card(
    page, live_server, approved_with_exceptions, width, height
):
    review = approved_with_exceptions
    page.set_viewport_size({"width": width, "height": height})
    sign_in(page, live_server, "alice")
    for url in (review.get_absolute_url(), f"/reviews/{review.pk}/meeting/decision/"):
        page.goto(f"{live_server.url}{url}")
        label = page.locator("#gate-panel .gate-outcome .outcome")
        expect(label).to_have_text("Approved with exceptions")
        assert inside(label.bounding_box(), page.locator("#gate-panel").bounding_box()), url
    big = page.locator("#decision .decision-big .outcome")
    expect(big).to_have_text("Approved with exceptions")
    assert inside(big.bounding_box(), page.locator("#meeting-main").bounding_box())
    shot(page.locator("#gate-panel"), f"gate-card-{width}.png")
    if width == 1024:
        shot(page, "meeting-decision-approved-with-exceptions-1024.png")


def test_the_chairs_mark_moves_with_the_chair_and_only_others_are_asked_to_follow(
    page, browser, live_server, review, architect, member
):
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/reviews/{review.pk}/meeting/3/")
    expect(page.locator('.agenda a[data-step="3"] .chair-here')).to_have_count(1)
    page.keyboard.press("n")
    expect(page.locator("#step-title")).to_have_text(agenda.step(4).title)
    # In the same answer as the step, not a pulse later.
    assert page.locator('.agenda a[data-step="4"] .chair-here').count() == 1
    assert page.locator(".chair-here").count() == 1

    other = browser.new_context(viewport={"width": 1440, "height": 900})
    mia = other.new_page()
    sign_in(mia, live_server, "mia")
    mia.goto(f"{live_server.url}/reviews/{review.pk}/meeting/2/")
    expect(mia.locator('.agenda a[data-step="4"] .chair-here')).to_have_count(1)
    expect(mia.locator("#activity")).to_contain_text("The chair is on step 4")
    page.keyboard.press("n")
    expect(mia.locator('.agenda a[data-step="5"] .chair-here')).to_have_count(1, timeout=8000)
    expect(mia.locator("#activity")).to_contain_text("The chair is on step 5", timeout=8000)
    expect(mia.locator('.agenda li.current a[data-step="2"]')).to_have_count(1)  # the member stays put
    other.close()

    page.wait_for_timeout(2500)  # a pulse or two: the chair is never told to follow herself
    expect(page.locator("#activity")).not_to_contain_text("follow")
    expect(page.locator('.agenda a[data-step="5"] .chair-here')).to_have_count(1)


def test_recording_a_decision_with_unscored_categories_confirms_shows_progress_and_says_it_is_done(
    page, live_server, review, architect, monkeypatch
):
    score_all(review, architect)
    review.scores.filter(category__code__in=["privacy", "capacity"]).delete()
    services.add_finding(
        review=review,
        category=category(review, "security"),
        level=Level.P0,
        actor=architect,
        title="Owner role",
    )
    recorded = services.record_decision

    def slow(**kwargs):  # the live server runs in this process: long enough to see the progress
        time.sleep(1.5)
        return recorded(**kwargs)

    monkeypatch.setattr(meeting_views.services, "record_decision", slow)
    sign_in(page, live_server, "alice")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/reviews/{review.pk}/meeting/decision/")
    next_review = page.get_by_label("Next review")
    assert (
        next_review.get_attribute("type") == "text"
        and next_review.get_attribute("placeholder") == "yyyy-mm-dd"
    )
    next_review.fill((timezone.localdate() + timedelta(days=60)).isoformat())
    for answer in page.locator("#decision input[type=radio][value=yes]").all():
        answer.check()
    confirm = page.locator("#unscored-confirm")
    expect(confirm).to_contain_text("2 categories unscored")
    expect(confirm).to_contain_text("Privacy, retention & compliance")
    button = page.get_by_role("button", name="Record the decision")
    button.click()  # without the confirmation the browser does not send it (and the server would refuse)
    page.wait_for_timeout(500)
    assert not Decision.objects.exists()
    confirm.get_by_label("Record the decision with 2 categories unscored").check()
    confirm.scroll_into_view_if_needed()
    button.click()
    busy = page.get_by_role("button", name="Recording…")
    expect(busy).to_be_disabled()
    expect(busy).to_have_text("Recording…", use_inner_text=True)
    expect(page.locator("#decision .recording-note")).to_be_visible()
    shot(page, "decision-recording.png")
    banner = page.locator("#decision-recorded")
    expect(banner).to_contain_text("Decision recorded", timeout=15000)
    expect(page.locator("#decision .decision-big")).to_have_text("Blocked")
    assert Decision.objects.get().outcome == "BLOCKED"
    shot(page, "decision-recorded.png")


def test_error_pages_are_branded_with_debug_off(page, live_server, architect, settings):
    settings.DEBUG = False
    settings.ROOT_URLCONF = "tests.test_rough_edges"
    sign_in(page, live_server, "alice")
    response = page.goto(f"{live_server.url}/no/such/page/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.locator(".topbar")).to_have_css(
        "background-color", "rgb(20, 27, 45)"
    )  # the stylesheet loaded
    page.set_viewport_size({"width": 1024, "height": 768})
    shot(page, "error-404.png")
    page.get_by_role("link", name="Go to the start page").click()
    page.wait_for_url(f"{live_server.url}/")

    response = page.goto(f"{live_server.url}/test-errors/forbidden/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()

    response = page.goto(f"{live_server.url}/test-errors/boom/")
    assert response.status == 500
    expect(page.get_by_role("heading", name="Something went wrong on our side")).to_be_visible()
    expect(page.locator(".topbar")).to_have_css("background-color", "rgb(20, 27, 45)")
    shot(page, "error-500.png")
    expect(page.get_by_role("link", name="Go to the start page")).to_have_attribute("href", "/")


def test_dates_show_and_save_as_yyyy_mm_dd(page, live_server, review, architect):
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/reviews/{review.pk}/meeting/13/")
    field = page.locator("#next-review-date")
    assert field.get_attribute("type") == "text"
    expect(field).to_have_attribute("placeholder", "yyyy-mm-dd")
    day = (timezone.localdate() + timedelta(days=45)).isoformat()
    field.fill(day)
    page.locator("#next-review").get_by_role("button", name="Save").click()
    expect(page.locator("#next-review")).to_contain_text("Saved")
    expect(page.locator("#next-review-date")).to_have_value(day)
    review.refresh_from_db()
    assert review.next_review_date.isoformat() == day
    # A date in another order is refused by the browser before it is sent.
    page.locator("#next-review-date").fill("03/04/2027")
    assert not page.locator("#next-review-date").evaluate("e => e.checkValidity()")
    shot(page.locator("#next-review"), "date-input.png")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", day)
