"""Four eyes in a real headless Chromium: a member proposes lowering a P0 to P3, the gate still blocks,
and a lead confirms it from the review page; the gate and the finding show the chain."""

import pytest
from playwright.sync_api import expect

from reviews import services
from reviews.models import Finding, Level, Loosening, LooseningState
from tests.factories import category, score_all

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")


def test_a_member_proposes_a_p0_regrade_and_a_lead_confirms_it(
    browser, live_server, review, architect, member, lead
):
    score_all(review, architect, value=2)
    finding = services.add_finding(
        review=review,
        category=category(review, "security"),
        level=Level.P0,
        actor=member,
        title="Application connects as the database owner role",
    )
    console_errors = []

    mia_context, linus_context = browser.new_context(), browser.new_context()
    mia = mia_context.new_page()
    mia.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    sign_in(mia, live_server, "mia")
    mia.goto(f"{live_server.url}/findings/{finding.pk}/edit/")
    mia.get_by_label("Level").select_option("P3")
    mia.get_by_label("Reason or fix note").fill("Only the staging replica connects this way")
    mia.get_by_role("button", name="Save").click()
    expect(mia.locator("body")).to_contain_text("Proposed: Lower P0 to P3")
    gate = mia.locator("#gate-panel")
    expect(gate.locator(".gate-outcome")).to_contain_text("Blocked")
    expect(gate).to_contain_text("Open P0 blocker: Application connects as the database owner role")
    expect(gate).to_contain_text("still counts as P0")
    expect(mia.get_by_role("button", name="Confirm")).to_have_count(0)  # not for the proposer

    linus = linus_context.new_page()
    linus.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    sign_in(linus, live_server, "linus")
    linus.goto(f"{live_server.url}{review.get_absolute_url()}")
    row = linus.locator(".loosening-open")
    expect(row).to_contain_text("Lower P0 to P3")
    expect(row).to_contain_text("Only the staging replica connects this way")
    expect(row).to_contain_text("awaiting confirmation")
    row.get_by_role("button", name="Confirm").click()  # htmx: the page reloads where it was
    expect(linus.locator("body")).to_contain_text("Confirmed: Lower P0 to P3")
    gate = linus.locator("#gate-panel")
    expect(gate.locator(".gate-outcome")).to_contain_text("Approved")
    expect(gate).to_contain_text("confirmed by")
    expect(linus.locator(".loosening-confirmed")).to_contain_text("proposed by")

    mia_context.close()
    linus_context.close()  # no keep-alive connection keeps a server thread (and its database session)

    finding.refresh_from_db()
    assert finding.level == Level.P3
    proposal = Loosening.objects.get()
    assert (proposal.state, proposal.proposed_by, proposal.decided_by) == (
        LooseningState.CONFIRMED,
        member,
        lead,
    )
    assert Finding.objects.filter(level=Level.P0).count() == 0
    assert not console_errors
