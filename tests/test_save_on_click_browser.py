"""Saving in place in a real headless Chromium: a score circle or a checklist answer saves when clicked
(no Save to press), says how it stands (unsaved, saving…, saved ✓, not saved), offers an Undo for a few
seconds, shows any refusal of the server beside the value and puts the stored value back; and the
meeting's keys keep working after any click."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from evidence import services as evidence_services
from reviews import services
from reviews.models import Answer, AuditEvent, CategoryScore, ChecklistAnswer, ChecklistItem
from tests.factories import answer_critical, category

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")


@pytest.fixture
def csp_watch(page):
    """Every console error of the page; none may be a Content-Security-Policy violation."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.text} {m.location}") if m.type == "error" else None)
    yield errors
    assert not [e for e in errors if "Content Security Policy" in e], errors


@pytest.fixture
def meeting(page, live_server, review, architect, member, csp_watch):
    """Alice, the chair, at the meeting of a review where every category but security has evidence."""
    answer_critical(review, architect)  # so that the scores count as given
    for cat in review.catalogue.categories.exclude(code="security"):
        evidence_services.add_link(
            review=review,
            category=cat,
            title=f"{cat.name} evidence",
            url=f"https://ci.example.com/{cat.code}",
            actor=architect,
            observed_at=timezone.now() - timedelta(days=2),
        )
    page.set_viewport_size({"width": 1440, "height": 900})
    sign_in(page, live_server, "alice")

    def go(step):
        page.goto(f"{live_server.url}/reviews/{review.pk}/meeting/{step}/")
        expect(page.locator("#step-title")).to_be_visible()

    return go


def stored(review, code):
    return CategoryScore.objects.filter(review=review, category__code=code).first()


def circle(page, code, n):
    return page.locator(f"#score-{code} label.score-choice-{n}")


def radio(page, code, n):
    return page.locator(f"#score-{code}-{n}")


def state(page, code):
    return page.locator(f"#score-{code} .save-state")


def test_a_clicked_score_is_saved_and_survives_a_reload(page, meeting, review, architect):
    meeting(11)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "meeting-scoring-before-click.png"), caret="initial")
    expect(page.get_by_role("button", name="Save")).to_have_count(0)  # nothing to press
    circle(page, "capacity", 2).click()
    expect(state(page, "capacity")).to_contain_text(re.compile(r"Saved ✓ \d\d:\d\d:\d\d"))
    expect(page.locator("#save-announcer")).to_contain_text("Score for Capacity, performance & cost: Saved ✓")
    page.screenshot(path=str(ARTIFACTS / "meeting-scoring-after-click.png"), caret="initial")
    assert stored(review, "capacity").score == 2
    page.reload()
    expect(radio(page, "capacity", 2)).to_be_checked()
    # The owner saves when chosen, the notes when the field is left; both show unsaved until then.
    page.locator("#owner-capacity").select_option(str(architect.pk))
    expect(state(page, "capacity")).to_contain_text("Saved ✓")
    page.locator("#notes-capacity").fill("Drill of 2 weeks ago")
    expect(state(page, "capacity")).to_contain_text("Unsaved")
    page.keyboard.press("Tab")
    expect(state(page, "capacity")).to_contain_text("Saved ✓")
    row = stored(review, "capacity")
    assert (row.score, row.owner.username, row.notes) == (2, "alice", "Drill of 2 weeks ago")


def test_saving_shows_while_the_answer_is_on_the_way(page, meeting, review):
    meeting(11)
    held = []
    page.route("**/meeting/scores/**", lambda route: held.append(route))
    circle(page, "capacity", 3).click()
    expect(state(page, "capacity")).to_have_text("Saving…")
    expect(page.locator("#score-capacity")).to_have_attribute("aria-busy", "true")
    held[0].continue_()
    expect(state(page, "capacity")).to_contain_text("Saved ✓")
    expect(page.locator("#score-capacity")).not_to_have_attribute("aria-busy", "true")
    assert stored(review, "capacity").score == 3


def test_a_lost_connection_says_not_saved_and_puts_the_stored_score_back(page, meeting, review, architect):
    services.set_score(review=review, category=category(review, "capacity"), score=1, actor=architect)
    meeting(11)
    page.route("**/meeting/scores/**", lambda route: route.abort())
    circle(page, "capacity", 3).click()
    expect(state(page, "capacity")).to_contain_text("Not saved: the server did not answer")
    expect(radio(page, "capacity", 1)).to_be_checked()
    assert stored(review, "capacity").score == 1


def test_undo_restores_the_previous_score(page, meeting, review, architect):
    services.set_score(review=review, category=category(review, "capacity"), score=1, actor=architect)
    meeting(11)
    circle(page, "capacity", 3).click()
    expect(state(page, "capacity")).to_contain_text("Saved ✓")
    assert stored(review, "capacity").score == 3
    page.locator("#score-capacity").get_by_role("button", name="Undo").click()
    expect(state(page, "capacity")).to_contain_text("Undone ✓")
    expect(radio(page, "capacity", 1)).to_be_checked()
    expect(page.locator("#score-capacity").get_by_role("button", name="Undo")).to_have_count(0)
    row = stored(review, "capacity")
    assert (row.score, row.version) == (1, 3)  # a normal versioned save
    # and the keys work after the undo
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(r"/meeting/12/$"))


def test_undo_of_a_first_score_leaves_it_unscored_and_goes_away_after_a_few_seconds(page, meeting, review):
    meeting(11)
    circle(page, "query-index", 2).click()
    undo = page.locator("#score-query-index").get_by_role("button", name="Undo")
    expect(undo).to_be_visible()
    undo.click()
    expect(state(page, "query-index")).to_contain_text("Undone ✓")
    expect(page.locator("#score-query-index input[name=score]:checked")).to_have_count(0)
    assert stored(review, "query-index") is None
    # A save's Undo stays for about eight seconds, then leaves.
    circle(page, "query-index", 1).click()
    expect(undo).to_be_visible()
    page.mouse.click(5, 400)  # focus elsewhere: a focused Undo waits for the focus to leave
    expect(undo).to_have_count(0, timeout=12000)
    expect(state(page, "query-index")).to_contain_text("Saved ✓")


def test_undo_after_someone_else_changed_the_score_reports_the_conflict(page, meeting, review, member):
    meeting(11)
    circle(page, "capacity", 2).click()
    expect(state(page, "capacity")).to_contain_text("Saved ✓")
    services.set_score(review=review, category=category(review, "capacity"), score=0, actor=member, version=1)
    page.locator("#score-capacity").get_by_role("button", name="Undo").click()
    expect(page.locator("#score-capacity .save-message")).to_contain_text("Someone else changed this")
    expect(state(page, "capacity")).to_contain_text("Not saved")
    expect(radio(page, "capacity", 0)).to_be_checked()
    assert stored(review, "capacity").score == 0


def test_a_refused_score_shows_the_message_beside_it_and_the_circle_reverts(page, meeting, review, architect):
    services.set_score(review=review, category=category(review, "security"), score=1, actor=architect)
    meeting(11)
    circle(page, "security", 3).click()
    message = page.locator("#score-security .save-message")
    # Security scores 1, below its minimum: a raise needs a reason (and a second person)...
    expect(message).to_contain_text("needs a second person")
    expect(radio(page, "security", 1)).to_be_checked()
    page.locator("#score-security").get_by_label("Reason for raising").fill("Superuser role removed")
    circle(page, "security", 3).click()
    # ...and, like any 3, evidence: the proposal is refused with the server's words.
    expect(message).to_contain_text("Attach evidence to Security & access control before scoring it 3")
    expect(state(page, "security")).to_contain_text("Not saved")
    expect(radio(page, "security", 1)).to_be_checked()
    expect(radio(page, "security", 3)).not_to_be_checked()
    expect(page.locator("#score-security").get_by_role("button", name="Undo")).to_have_count(0)
    expect(message).to_have_attribute("role", "alert")  # read out as it comes
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#score-security").screenshot(
        path=str(ARTIFACTS / "meeting-score-refused.png"), caret="initial"
    )
    assert stored(review, "security").score == 1


def test_a_refusal_the_page_does_not_know_is_shown_too(page, meeting, review, monkeypatch):
    """The service may refuse a raise for reasons of its own (a second person's confirmation): the page
    shows its words and keeps the stored score."""
    real = services.set_score

    def second_person(**kwargs):
        if kwargs["category"].code == "capacity" and kwargs["score"] >= 2:
            raise services.ServiceError(
                "Raising Backup to 2 needs a reason and a second person's confirmation."
            )
        return real(**kwargs)

    monkeypatch.setattr(services, "set_score", second_person)
    meeting(11)
    circle(page, "capacity", 1).click()
    expect(state(page, "capacity")).to_contain_text("Saved ✓")
    circle(page, "capacity", 2).click()
    expect(page.locator("#score-capacity .save-message")).to_contain_text("a second person's confirmation")
    expect(radio(page, "capacity", 1)).to_be_checked()
    assert stored(review, "capacity").score == 1


def test_keys_work_after_clicking_a_score(page, meeting, review):
    meeting(11)
    circle(page, "capacity", 2).click()
    expect(state(page, "capacity")).to_contain_text("Saved ✓")
    expect(radio(page, "capacity", 2)).to_be_focused()  # focus stays where the click put it
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(r"/meeting/12/$"))
    page.keyboard.press("p")
    expect(page).to_have_url(re.compile(r"/meeting/11/$"))
    # After a click the digits stay step keys: 1 2 goes to step 12 and changes no score.
    circle(page, "capacity", 3).click()
    expect(state(page, "capacity")).to_contain_text("Saved ✓")
    page.keyboard.press("1")
    page.keyboard.press("2")
    expect(page).to_have_url(re.compile(r"/meeting/12/$"))
    assert stored(review, "capacity").score == 3
    page.keyboard.press("d")
    expect(page).to_have_url(re.compile(r"/meeting/decision/$"))


def test_digits_choose_a_score_while_its_circles_have_the_keyboards_focus(page, meeting, review):
    meeting(11)
    page.locator("#owner-capacity").focus()
    page.keyboard.press("Shift+Tab")  # into the circles, with the keyboard (on the last, none being checked)
    expect(radio(page, "capacity", 3)).to_be_focused()
    page.keyboard.press("2")
    expect(state(page, "capacity")).to_contain_text("Saved ✓")
    expect(radio(page, "capacity", 2)).to_be_focused()
    page.keyboard.press("3")
    expect(state(page, "capacity")).to_contain_text("Saved ✓")
    expect(radio(page, "capacity", 3)).to_be_checked()
    assert stored(review, "capacity").score == 3
    # Escape hands the digits back to the steps.
    page.keyboard.press("Escape")
    expect(page.locator("#step-title")).to_be_focused()
    page.keyboard.press("9")
    expect(page).to_have_url(re.compile(r"/meeting/9/$"))
    assert stored(review, "capacity").score == 3


def open_checklist(page, code):
    block = page.locator(f"#cat-{code}")
    block.locator("summary", has_text="Checklist").click()
    expect(block.locator("table.checklist")).to_be_visible()
    return block


def test_a_checklist_answer_saves_on_click_with_undo_and_keys_still_work(page, meeting, review):
    meeting(7)
    block = open_checklist(page, "backup")
    item = (
        ChecklistItem.objects.filter(category=category(review, "backup"), critical_level__isnull=True)
        .order_by("position")
        .first()
    )
    row = page.locator(f"#item-{item.pk}")
    row.locator("label.answer-choice-no").click()
    expect(row.locator(".save-state")).to_contain_text("Saved ✓")
    assert ChecklistAnswer.objects.get(review=review, item=item).answer == Answer.NO
    page.locator(f"#item-{item.pk}").get_by_role("button", name="Undo").click()
    expect(page.locator(f"#item-{item.pk} .save-state")).to_contain_text("Undone ✓")
    assert not ChecklistAnswer.objects.filter(review=review, item=item).exists()
    page.locator(f"#item-{item.pk} label.answer-choice-yes").click()
    expect(page.locator(f"#item-{item.pk} .save-state")).to_contain_text("Saved ✓")
    ARTIFACTS.mkdir(exist_ok=True)
    block.screenshot(path=str(ARTIFACTS / "meeting-checklist-saved.png"), caret="initial")
    assert ChecklistAnswer.objects.get(review=review, item=item).answer == Answer.YES
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(r"/meeting/8/$"))


def test_not_applicable_waits_for_its_reason_then_saves(page, meeting, review):
    meeting(7)
    open_checklist(page, "backup")
    item = ChecklistItem.objects.filter(category=category(review, "backup")).order_by("position").first()
    row = page.locator(f"#item-{item.pk}")
    row.locator("label.answer-choice-na").click()
    expect(row.locator(".save-state")).to_contain_text("Not applicable needs a reason")
    expect(row.locator("input[name=note]")).to_be_focused()
    assert not ChecklistAnswer.objects.filter(review=review, item=item).exists()
    page.keyboard.type("No point-in-time restore: the data is rebuilt nightly")
    page.keyboard.press("Enter")
    expect(page.locator(f"#item-{item.pk} .save-state")).to_contain_text("Saved ✓")
    answer = ChecklistAnswer.objects.get(review=review, item=item)
    assert (answer.answer, answer.note) == ("na", "No point-in-time restore: the data is rebuilt nightly")
    # Enter both changes and submits the field: one save, not two.
    assert AuditEvent.objects.filter(action="checklist.answer", object_id=str(answer.pk)).count() == 1


def test_release_flags_save_on_click_and_the_next_review_date_says_it_is_unsaved(page, meeting, review):
    meeting(1)
    page.locator("#scope-schema-no").check()
    expect(page.locator("#scope .save-state")).to_contain_text("Saved ✓")
    review.refresh_from_db()
    assert review.schema_changing is False
    page.keyboard.press("n")  # the flag's radio has the focus: keys still work
    expect(page).to_have_url(re.compile(r"/meeting/2/$"))
    page.keyboard.press("1")
    page.keyboard.press("3")
    expect(page).to_have_url(re.compile(r"/meeting/13/$"))
    # A date saves with its button (a date field changes with every digit); until then it says unsaved.
    date = page.locator("#next-review-date")
    date.fill((timezone.localdate() + timedelta(days=90)).isoformat())
    expect(page.locator("#next-review .save-state")).to_have_text("Unsaved: press Save to keep it.")
    page.locator("#next-review").get_by_role("button", name="Save").click()
    expect(page.locator("#next-review .save-state")).to_contain_text("Saved ✓")
    review.refresh_from_db()
    assert review.next_review_date == timezone.localdate() + timedelta(days=90)


def test_a_change_by_someone_else_waits_for_the_undo_then_shows(page, meeting, review, member):
    meeting(11)
    circle(page, "backup", 2).click()
    undo = page.locator("#score-backup").get_by_role("button", name="Undo")
    expect(undo).to_be_visible()
    page.mouse.click(5, 400)
    services.set_score(review=review, category=category(review, "schema"), score=1, actor=member)
    expect(page.locator("#changed-banner")).to_be_visible(timeout=8000)
    expect(undo).to_be_visible()  # the refresh did not take the Undo away
    # Once the Undo has gone, the step shows the other person's score.
    expect(radio(page, "schema", 1)).to_be_checked(timeout=15000)
    expect(undo).to_have_count(0)
    expect(page.locator("#changed-banner")).to_have_count(0)


def test_a_second_click_while_the_first_is_saving_is_saved_after_it(page, meeting, review):
    meeting(11)
    held, sent = [], []

    def hold_the_first(route):
        sent.append(route.request.post_data)
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route("**/meeting/scores/capacity/", hold_the_first)
    circle(page, "capacity", 1).click()
    expect(state(page, "capacity")).to_have_text("Saving…")
    circle(page, "capacity", 3).click()  # while 1 is on the way
    held[0].continue_()
    expect(state(page, "capacity")).to_contain_text("Saved ✓")
    expect(radio(page, "capacity", 3)).to_be_checked()
    page.wait_for_function("!document.querySelector('#score-capacity[aria-busy]')")
    row = stored(review, "capacity")
    assert (row.score, row.version) == (3, 2)  # 1, then 3 with the version the first save left
    assert len(sent) == 2 and "version=1" in sent[1]
