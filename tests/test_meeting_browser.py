"""The meeting in a real headless Chromium: walk the agenda by keyboard, score, block on a P0, lift it,
see another participant's change arrive, and record the decision as the chair."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from evidence import services as evidence_services
from reviews import agenda, score_raise
from reviews.models import Decision, ScoreRaise
from tests.factories import answer_critical, category

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")


@pytest.fixture
def ready_review(review, architect, member):
    answer_critical(review, architect)  # unanswered, each critical item caps its category at 1
    for cat in review.catalogue.categories.all():
        evidence_services.add_link(
            review=review,
            category=cat,
            title=f"{cat.name} evidence",
            url=f"https://ci.example.com/{cat.code}",
            actor=architect,
            observed_at=timezone.now() - timedelta(days=2),
        )
    return review


def gate(page):
    return page.locator("#gate-panel .gate-outcome")


def test_chair_walks_the_agenda_scores_blocks_unblocks_and_records_the_decision(
    page, browser, live_server, ready_review, architect, member, lead
):
    review = ready_review
    console_errors = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/reviews/{review.pk}/meeting/")
    expect(page).to_have_url(re.compile(r"/meeting/1/$"))

    # Walk all 13 steps from the keyboard: the URL and the title follow.
    for s in agenda.STEPS[1:]:
        page.keyboard.press("n")
        expect(page).to_have_url(re.compile(rf"/meeting/{s.number}/$"))
        expect(page.locator("#step-title")).to_have_text(s.title)
    page.keyboard.press("3")
    expect(page).to_have_url(re.compile(r"/meeting/3/$"))
    page.keyboard.press("1")
    page.keyboard.press("1")
    expect(page).to_have_url(re.compile(r"/meeting/11/$"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"/meeting/3/$"))
    page.go_forward()
    expect(page).to_have_url(re.compile(r"/meeting/11/$"))
    expect(gate(page)).to_have_text("Not yet decidable")

    # Score the 14 categories in place: a click saves.
    for row in page.locator(".score-grid .score-widget").all():
        code = row.get_attribute("id").removeprefix("score-")
        widget = page.locator(f"#score-{code}")
        widget.locator("label.score-choice-2").click()
        expect(page.locator(f"#score-{code} .save-state")).to_contain_text("Saved ✓")
    expect(gate(page)).to_have_text("Approved")

    # A checklist opens in place and its answers save in place.
    page.keyboard.press("7")
    expect(page).to_have_url(re.compile(r"/meeting/7/$"))
    backup = page.locator("#cat-backup")
    backup.locator("summary", has_text="Checklist").click()
    first = backup.locator("table.checklist tbody tr").first
    first.locator("label.answer-choice-yes").click()
    critical = review.catalogue.categories.get(code="backup").items.filter(critical_level__isnull=False)
    # the critical items the fixture answered, and this one
    expect(backup.locator("table.checklist tbody tr.answer-yes")).to_have_count(critical.count() + 1)

    # A P0 at step 9 blocks; resolving it lifts the block.
    page.keyboard.press("9")
    expect(page).to_have_url(re.compile(r"/meeting/9/$"))
    block = page.locator("#findings-security")
    block.get_by_label("New finding").fill("Application connects as the database owner role")
    block.get_by_label("Level").select_option("P0")
    block.get_by_role("button", name="Add").click()
    expect(gate(page)).to_have_text("Blocked")
    expect(page.locator("#gate-panel")).to_contain_text(
        "Open P0 blocker: Application connects as the database owner"
    )
    # Resolving a P0 as fixed needs evidence of the fix and a note saying how.
    evidence = page.locator("#evidence-security")
    evidence.get_by_label("Evidence title").fill("Role audit after the fix")
    evidence.get_by_label("Link").fill("https://ci.example.com/roles/after")
    evidence.get_by_role("button", name="Attach link").click()
    expect(page.locator("#evidence-security")).to_contain_text("Role audit after the fix")
    finding = page.locator("#findings-security li.finding").first
    finding.get_by_role("link", name="Regrade or close").click()
    finding.get_by_label("Status").select_option("resolved")
    finding.get_by_label("Reason or fix note").fill("Connects as app_rw since the rotation")
    finding.get_by_role("button", name="Save").click()
    expect(gate(page)).to_have_text("Approved")

    # Another participant sees the chair's change within seconds, without reloading.
    other = browser.new_context(viewport={"width": 1400, "height": 900})
    mia = other.new_page()
    sign_in(mia, live_server, "mia")
    mia.goto(f"{live_server.url}/reviews/{review.pk}/meeting/11/")
    expect(mia.locator("#gate-panel .gate-outcome")).to_have_text("Approved")
    page.keyboard.press("1")
    page.keyboard.press("1")
    expect(page).to_have_url(re.compile(r"/meeting/11/$"))
    backup = page.locator("#score-backup")
    backup.locator("label.score-choice-1").click()
    expect(gate(page)).to_have_text("Blocked")
    expect(mia.locator("#gate-panel .gate-outcome")).to_have_text("Blocked", timeout=8000)
    expect(mia.locator("#score-backup input[name=score][value='1']")).to_be_checked(timeout=8000)
    # Raising it back above the minimum needs a reason and a second person: the gate keeps blocking.
    backup.locator("label.score-choice-3").click()
    expect(backup).to_contain_text("needs a second person")
    expect(backup.locator("input[name=score][value='1']")).to_be_checked()  # the circle shows what is stored
    backup.get_by_label("Reason for raising").fill("The drill on Monday met its RPO")
    backup.locator("label.score-choice-3").click()
    expect(backup).to_contain_text("awaiting confirmation")
    expect(gate(page)).to_have_text("Blocked")
    score_raise.confirm(raise_=ScoreRaise.objects.get(review=review), actor=lead)
    page.reload()
    expect(gate(page)).to_have_text("Approved")
    expect(page.locator("#score-backup")).to_contain_text("confirmed by")

    # The decision: a non-chair cannot record it; the chair can, and the page then shows it.
    mia.goto(f"{live_server.url}/reviews/{review.pk}/meeting/decision/")
    expect(mia.locator("#decision")).to_contain_text("Only the chair")
    expect(mia.get_by_role("button", name=re.compile("Record the decision"))).to_have_count(0)
    other.close()

    page.keyboard.press("d")
    expect(page).to_have_url(re.compile(r"/meeting/decision/$"))
    page.get_by_label("Next review").fill((timezone.localdate() + timedelta(days=90)).isoformat())
    expect(page.locator("#decision")).to_contain_text("Record the gate's outcome: Approved")
    for answer in page.locator("#decision input[type=radio][value=yes]").all():  # the final questions
        answer.check()
    page.get_by_role("button", name="Record the decision").click()
    expect(page.locator("#decision")).to_contain_text("Recorded", timeout=20000)  # the PDF renders in-process
    decision = Decision.objects.get(review=review)
    expect(page.locator("#decision")).to_contain_text(decision.digest)
    assert decision.outcome == "APPROVED"
    # The Content-Security-Policy allows no inline script or style, and nothing on the page needed one.
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors


def test_the_meeting_reads_without_javascript(browser, live_server, ready_review, architect):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/reviews/{ready_review.pk}/meeting/7/")
    expect(page.locator("#step-title")).to_have_text("Backup and restore evidence")
    page.get_by_role("link", name="Next →").click()
    expect(page).to_have_url(re.compile(r"/meeting/8/$"))
    # A plain form post works and comes back to the step.
    widget = page.locator("#score-observability")
    widget.locator("label.score-choice-2").click()
    widget.get_by_role("button", name="Save").click()
    expect(page.locator("#gate-panel")).to_contain_text("Observability & alerting scores 2")
    context.close()
    assert category(ready_review, "observability")
