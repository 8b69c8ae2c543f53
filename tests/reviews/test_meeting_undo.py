"""Saving in place and its Undo through the client: a save offers the value it replaced, the undo puts it
back as a normal versioned save (or takes a first score or answer away), reports a conflict when someone
changed it since, and is refused as every change is (404 another team, 403 who may only read)."""

import html

import pytest
from django.urls import reverse

from evidence import services as evidence_services
from reviews import services
from reviews.models import Answer, AuditEvent, CategoryScore, ChecklistAnswer, ChecklistItem, Review
from tests.factories import attach, category

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def score_url(review, code="capacity"):
    return reverse("meeting_score", args=[review.pk, code])


def undo_url(review, code="capacity"):
    return reverse("meeting_score_undo", args=[review.pk, code])


def stored(review, code="capacity"):
    return CategoryScore.objects.filter(review=review, category__code=code).first()


def item_of(review, code="backup"):
    return ChecklistItem.objects.filter(category=category(review, code)).order_by("position").first()


# --- Scores (capacity: a category without a minimum, so a raise needs no second person)


def test_a_score_save_answers_saved_with_the_time_and_an_undo_holding_the_previous_value(
    client, member, architect, review
):
    attach(review, "capacity", member)
    services.set_score(
        review=review,
        category=category(review, "capacity"),
        score=1,
        owner=architect,
        notes="old",
        actor=member,
    )
    client.force_login(member)
    response = client.post(score_url(review), {"score": "2", "version": "1", "notes": "drill passed"}, **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Saved ✓" in body and "<time" in body
    assert f'action="{undo_url(review)}"' in body
    assert 'name="score" value="1"' in body and f'name="owner" value="{architect.pk}"' in body
    assert 'name="notes" value="old"' in body and 'name="version" value="2"' in body
    assert "Save</button></noscript>" in body  # without JavaScript the form keeps its button


def test_saving_the_same_values_again_offers_no_undo(client, member, review):
    services.set_score(review=review, category=category(review, "capacity"), score=1, actor=member)
    client.force_login(member)
    body = client.post(score_url(review), {"score": "1", "version": "1"}, **HX).content.decode()
    assert "Saved ✓" in body and undo_url(review) not in body


def test_undo_puts_the_previous_score_back_as_a_new_version(client, member, architect, review):
    capacity = category(review, "capacity")
    attach(review, "capacity", member)
    services.set_score(review=review, category=capacity, score=1, owner=architect, notes="old", actor=member)
    client.force_login(member)
    client.post(score_url(review), {"score": "3", "version": "1", "notes": "new"}, **HX)
    response = client.post(
        undo_url(review), {"score": "1", "owner": str(architect.pk), "notes": "old", "version": "2"}, **HX
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Undone ✓" in body and undo_url(review) not in body  # no undo of the undo
    assert 'id="gate-panel"' in body  # the gate follows out of band
    row = stored(review)
    assert (row.score, row.owner, row.notes, row.version) == (1, architect, "old", 3)
    last = AuditEvent.objects.filter(action="score.set").order_by("-id").first()
    assert last.before["score"] == 3 and last.after["score"] == 1


def test_undo_of_a_first_score_leaves_the_category_unscored(client, member, review):
    client.force_login(member)
    body = client.post(score_url(review), {"score": "1", "version": "0"}, **HX).content.decode()
    assert 'name="score" value=""' in body and 'name="version" value="1"' in body
    response = client.post(undo_url(review), {"score": "", "owner": "", "notes": "", "version": "1"}, **HX)
    assert response.status_code == 200 and "Undone ✓" in response.content.decode()
    assert stored(review) is None
    event = AuditEvent.objects.get(action="score.clear")
    assert event.before["score"] == 1 and event.review_id == review.pk
    # and the category can be scored afresh
    assert client.post(score_url(review), {"score": "0", "version": "0"}, **HX).status_code == 200


def test_undo_after_someone_else_changed_the_score_reports_the_conflict_and_keeps_theirs(
    client, member, architect, review
):
    client.force_login(member)
    client.post(score_url(review), {"score": "1", "version": "0"}, **HX)
    services.set_score(
        review=review, category=category(review, "capacity"), score=0, actor=architect, version=1
    )
    response = client.post(undo_url(review), {"score": "", "version": "1"}, **HX)
    body = response.content.decode()
    assert response.status_code == 422
    assert "Someone else changed this" in body and "Not saved" in body
    assert stored(review).score == 0
    # the circles show what is stored: 0
    assert 'id="score-capacity-0" name="score" value="0" checked' in body


def test_a_refused_score_answers_422_with_the_reason_and_the_stored_value(client, member, review):
    services.set_score(review=review, category=category(review, "capacity"), score=1, actor=member)
    client.force_login(member)
    response = client.post(score_url(review), {"score": "3", "version": "1"}, **HX)
    body = response.content.decode()
    assert response.status_code == 422
    assert f"Attach evidence to {html.escape(category(review, 'capacity').name)} before scoring it 3" in body
    assert 'value="1" checked' in body and 'value="3" checked' not in body
    assert "Not saved" in body and "meeting/scores/capacity/undo/" not in body


def test_any_refusal_of_the_service_is_shown_in_place(client, member, review, monkeypatch):
    """The service may refuse for reasons the page does not know (a second person's confirmation, say):
    its words are shown, whatever they are."""

    def refuse(**kwargs):
        raise services.ServiceError("Raising Backup to 2 needs a reason and a second person's confirmation.")

    monkeypatch.setattr(services, "set_score", refuse)
    client.force_login(member)
    response = client.post(score_url(review), {"score": "2", "version": "0"}, **HX)
    assert response.status_code == 422
    assert "needs a reason and a second person&#x27;s confirmation" in response.content.decode()


def test_owner_or_notes_without_a_score_say_a_score_is_needed(client, member, review):
    client.force_login(member)
    response = client.post(score_url(review), {"notes": "later", "version": "0"}, **HX)
    assert response.status_code == 422 and "Choose a score, 0 to 3" in response.content.decode()


def test_undo_without_javascript_redirects_back_with_a_message(client, member, review):
    client.force_login(member)
    client.post(score_url(review), {"score": "1", "version": "0"}, **HX)
    response = client.post(undo_url(review), {"score": "", "version": "1"}, follow=True)
    assert response.redirect_chain[-1][0].endswith("/meeting/11/")
    assert "the change was undone" in response.content.decode()
    assert stored(review) is None


def test_score_undo_is_404_for_another_team_and_403_for_an_auditor(client, member, outsider, auditor, review):
    services.set_score(review=review, category=category(review, "capacity"), score=1, actor=member)
    data = {"score": "", "version": "1"}
    client.force_login(outsider)
    assert client.post(undo_url(review), data, **HX).status_code == 404
    client.force_login(auditor)
    assert client.post(undo_url(review), data, **HX).status_code == 403
    assert stored(review).score == 1
    assert not AuditEvent.objects.filter(action="score.clear").exists()


def test_undo_is_refused_on_a_decided_review(client, member, review):
    services.set_score(review=review, category=category(review, "capacity"), score=1, actor=member)
    Review.objects.filter(pk=review.pk).update(state="decided")
    client.force_login(member)
    response = client.post(undo_url(review), {"score": "", "version": "1"}, **HX)
    assert response.status_code == 422 and "frozen" in response.content.decode()
    assert stored(review).score == 1


def test_score_undo_has_a_small_fixed_query_budget(client, member, review, django_assert_max_num_queries):
    client.force_login(member)
    client.post(score_url(review), {"score": "1", "version": "0"}, **HX)
    client.post(score_url(review), {"score": "0", "version": "1"}, **HX)
    with django_assert_max_num_queries(30):
        assert client.post(undo_url(review), {"score": "1", "version": "2"}, **HX).status_code == 200


def test_clear_score_needs_the_version_it_clears(member, architect, review):
    capacity = category(review, "capacity")
    services.set_score(review=review, category=capacity, score=1, actor=member)
    services.set_score(review=review, category=capacity, score=0, actor=architect, version=1)
    with pytest.raises(services.ConflictError):
        services.clear_score(review=review, category=capacity, actor=member, version=1)
    services.clear_score(review=review, category=capacity, actor=member, version=2)
    assert stored(review) is None


# --- Checklist answers


def answer_url(review, item):
    return reverse("checklist_answer", args=[review.pk, item.pk])


def answer_undo_url(review, item):
    return reverse("checklist_answer_undo", args=[review.pk, item.pk])


def test_an_answer_save_offers_an_undo_and_the_undo_takes_a_first_answer_away(client, member, review):
    item = item_of(review)
    client.force_login(member)
    body = client.post(answer_url(review, item), {"answer": "yes", "version": "0"}, **HX).content.decode()
    assert "Saved ✓" in body and f'action="{answer_undo_url(review, item)}"' in body
    assert 'name="answer" value=""' in body
    response = client.post(answer_undo_url(review, item), {"answer": "", "note": "", "version": "1"}, **HX)
    assert response.status_code == 200 and "Undone ✓" in response.content.decode()
    assert not ChecklistAnswer.objects.filter(review=review, item=item).exists()
    assert AuditEvent.objects.get(action="checklist.clear").before["answer"] == "yes"


def test_answer_undo_puts_the_previous_answer_and_note_back(client, member, review):
    item = item_of(review)
    services.answer_item(
        review=review, item=item, answer=Answer.NOT_APPLICABLE, note="no replicas", actor=member
    )
    client.force_login(member)
    client.post(answer_url(review, item), {"answer": "yes", "note": "", "version": "1"}, **HX)
    response = client.post(
        answer_undo_url(review, item), {"answer": "na", "note": "no replicas", "version": "2"}, **HX
    )
    assert response.status_code == 200
    row = ChecklistAnswer.objects.get(review=review, item=item)
    assert (row.answer, row.note, row.version) == ("na", "no replicas", 3)


def test_answer_undo_after_someone_else_answered_reports_the_conflict(client, member, architect, review):
    item = item_of(review)
    client.force_login(member)
    client.post(answer_url(review, item), {"answer": "yes", "version": "0"}, **HX)
    services.answer_item(review=review, item=item, answer="unknown", actor=architect, version=1)
    response = client.post(answer_undo_url(review, item), {"answer": "", "version": "1"}, **HX)
    assert response.status_code == 422
    assert "Someone else changed this" in response.content.decode()
    assert ChecklistAnswer.objects.get(review=review, item=item).answer == "unknown"


def test_saving_an_answer_in_place_keeps_the_evidence_it_cites(client, member, review):
    item = item_of(review)
    evidence = evidence_services.add_link(
        review=review, category=item.category, title="Drill", url="https://ci.example.com/d", actor=member
    )
    services.answer_item(review=review, item=item, answer="yes", evidence=evidence, actor=member)
    client.force_login(member)
    client.post(answer_url(review, item), {"answer": "yes", "note": "seen", "version": "1"}, **HX)
    client.post(answer_undo_url(review, item), {"answer": "yes", "note": "", "version": "2"}, **HX)
    assert ChecklistAnswer.objects.get(review=review, item=item).evidence == evidence


def test_not_applicable_without_a_reason_is_refused_in_place(client, member, review):
    item = item_of(review)
    client.force_login(member)
    response = client.post(answer_url(review, item), {"answer": "na", "note": "", "version": "0"}, **HX)
    body = response.content.decode()
    assert response.status_code == 422 and "Not applicable needs a reason" in body and "Not saved" in body


def test_answer_undo_is_404_for_another_team_and_403_for_an_auditor(
    client, member, outsider, auditor, review
):
    item = item_of(review)
    services.answer_item(review=review, item=item, answer="yes", actor=member)
    data = {"answer": "", "version": "1"}
    client.force_login(outsider)
    assert client.post(answer_undo_url(review, item), data, **HX).status_code == 404
    client.force_login(auditor)
    assert client.post(answer_undo_url(review, item), data, **HX).status_code == 403
    assert ChecklistAnswer.objects.filter(review=review, item=item).exists()


def test_answer_undo_without_javascript_goes_back_to_the_checklist(client, member, review):
    item = item_of(review)
    services.answer_item(review=review, item=item, answer="yes", actor=member)
    client.force_login(member)
    response = client.post(answer_undo_url(review, item), {"answer": "", "version": "1"})
    assert response.status_code == 302
    assert response.url == reverse("review_checklist", args=[review.pk, item.category.code])
