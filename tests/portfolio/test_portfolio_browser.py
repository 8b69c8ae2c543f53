"""The portfolio and history pages in headless Chromium: filters, sorting by keyboard, screenshots."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reviews.models import CategoryScore, Decision, Review

from ..factories import MembershipFactory, ReviewFactory, SystemFactory, catalogue
from .conftest import build_portfolio

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")


def test_portfolio_filters_and_keyboard_sorting(page, live_server, architect, team, other_team):
    MembershipFactory(user=architect, team=other_team, role="architect")
    build_portfolio(team, architect, 6)
    fresh = SystemFactory(team=other_team, name="Fresh", slug="fresh")
    review = ReviewFactory(system=fresh, created_by=architect)
    for c in review.catalogue.categories.all()[:5]:
        CategoryScore.objects.create(review=review, category=c, score=c.number % 4, updated_by=architect)
    sign_in(page, live_server, "alice")
    page.get_by_role("link", name="Portfolio").click()
    page.wait_for_url(f"{live_server.url}/portfolio/")
    rows = page.locator("#portfolio tbody tr[data-system]")
    rows.first.wait_for()
    assert rows.count() == 7
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1500, "height": 900})
    page.screenshot(path=str(ARTIFACTS / "portfolio.png"), full_page=True)

    page.get_by_label("Team").select_option(other_team.slug)
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url("**team=identity**")
    rows.first.wait_for()
    assert rows.count() == 1 and rows.first.get_attribute("data-system") == "fresh"

    page.get_by_label("Team").select_option("")
    page.get_by_label("Gate outcome").select_option("BLOCKED")
    page.get_by_label("Overdue only").check()
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url("**overdue=1**")
    rows.first.wait_for()
    assert rows.count() == 6
    assert "6 of 7 systems" in page.locator("#portfolio-count").inner_text()

    # Sort by the system column from the keyboard: focus its header link and press Enter, twice.
    link = page.locator('#portfolio thead a[data-sort="system"]')
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**sort=system&dir=asc**")
    page.locator("#portfolio th.sorted").wait_for()
    assert rows.first.get_attribute("data-system") == "sys-0000"
    page.locator('#portfolio thead a[data-sort="system"]').focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**sort=system&dir=desc**")
    page.locator("#portfolio th.sorted[aria-sort=descending]").wait_for()
    assert rows.first.get_attribute("data-system") == "sys-0005"
    assert "overdue=1" in page.url and "outcome=BLOCKED" in page.url  # filters kept while sorting

    # A cell leads to that category of the system's current review.
    page.locator('#portfolio tbody tr[data-system="sys-0005"] td.cell a').nth(6).click()
    page.wait_for_url("**/checklist/backup/")


def test_history_page_screenshot(page, live_server, architect, system):
    version = catalogue()
    codes = list(version.categories.order_by("number").values_list("code", flat=True))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    previous = ""
    for i, outcome in enumerate(["BLOCKED", "APPROVED_WITH_EXCEPTIONS", "APPROVED", "APPROVED"]):
        review = Review.objects.create(
            system=system,
            catalogue=version,
            release_scope=f"Ledger {i + 1}.0",
            created_by=architect,
            chair=architect,
            state="decided",
            created_at=start + timedelta(days=45 * i),
        )
        scorecard = [
            {
                "number": n + 1,
                "category": c,
                "name": c,
                "score": min(3, (n + i) % 4),
                "effective_score": min(3, (n + i) % 4),
            }
            for n, c in enumerate(codes)
        ]
        digest = f"{i + 1:064x}"
        Decision.objects.create(
            review=review,
            system=system,
            outcome=outcome,
            next_review=(start + timedelta(days=400)).date(),
            approver=architect,
            recorded_at=start + timedelta(days=45 * i + 1),
            record={"outcome": outcome, "scorecard": scorecard},
            digest=digest,
            previous_digest=previous,
        )
        previous = digest
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/systems/{system.slug}/history/")
    assert page.locator("circle.pt").count() == 4 * 14
    page.set_viewport_size({"width": 1366, "height": 900})
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "history.png"), full_page=True)
