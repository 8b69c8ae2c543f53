"""Four eyes through the pages: the finding form and the meeting propose a loosening, the review page shows
it awaiting confirmation with Confirm/Reject for the people who may decide, the gate panel says it, and
owner pickers offer only people who may act."""

import pytest
from django.urls import reverse

from reviews import loosening, services
from reviews.models import FindingStatus, Level, Loosening, LooseningState
from tests.factories import attach, category

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def p0(review, member):
    return services.add_finding(
        review=review,
        category=category(review, "security"),
        title="App connects as superuser",
        level=Level.P0,
        actor=member,
    )


def edit_post(finding, **data):
    return {
        "title": finding.title,
        "description": finding.description,
        "level": finding.level,
        "status": "open",
        "version": finding.version,
        **data,
    }


def propose(p0, member):
    return loosening.propose(
        finding=p0, actor=member, level=Level.P3, status="open", reason="Only the staging replica uses it"
    )


def test_the_finding_form_proposes_a_regrade_with_a_reason(client, member, p0):
    client.force_login(member)
    url = reverse("finding_edit", args=[p0.pk])
    refused = client.post(url, edit_post(p0, level="P3"))
    assert refused.status_code == 200 and "needs a reason" in refused.content.decode()
    response = client.post(
        url, edit_post(p0, level="P3", note="Only the staging replica uses it"), follow=True
    )
    assert "Proposed: Lower P0 to P3" in response.content.decode()
    p0.refresh_from_db()
    assert p0.level == Level.P0
    assert Loosening.objects.get().proposed_by == member


def test_the_review_page_shows_the_proposal_and_buttons_only_to_who_may_decide(
    client, review, member, lead, auditor, p0
):
    proposal = propose(p0, member)
    confirm = reverse("loosening_confirm", args=[proposal.pk])
    client.force_login(lead)
    body = client.get(review.get_absolute_url()).content.decode()
    assert "Lower P0 to P3" in body and "awaiting confirmation" in body
    assert f"proposed by {member.get_full_name() or member.username}" in body
    assert "Only the staging replica uses it" in body
    assert confirm in body
    assert "still counts as P0" in body  # the gate panel's note
    client.force_login(member)
    body = client.get(review.get_absolute_url()).content.decode()
    assert confirm not in body and reverse("loosening_withdraw", args=[proposal.pk]) in body
    client.force_login(auditor)
    assert confirm not in client.get(review.get_absolute_url()).content.decode()


def test_a_lead_confirms_from_the_page_and_the_chain_is_shown(client, review, member, lead, p0):
    proposal = propose(p0, member)
    client.force_login(lead)
    response = client.post(reverse("loosening_confirm", args=[proposal.pk]), follow=True)
    p0.refresh_from_db()
    assert p0.level == Level.P3
    body = response.content.decode()
    assert "Confirmed: Lower P0 to P3" in body
    assert "confirmed by" in body and "Only the staging replica uses it" in body


def test_the_proposer_confirming_gets_the_four_eyes_message_and_nothing_changes(client, architect, p0):
    proposal = loosening.propose(finding=p0, actor=architect, level=Level.P3, status="open", reason="x")
    client.force_login(architect)
    response = client.post(reverse("loosening_confirm", args=[proposal.pk]), follow=True)
    assert "Four eyes" in response.content.decode()
    proposal.refresh_from_db()
    assert proposal.state == LooseningState.PROPOSED


def test_confirm_access(client, member, auditor, outsider, p0):
    proposal = propose(p0, member)
    url = reverse("loosening_confirm", args=[proposal.pk])
    client.force_login(outsider)
    assert client.post(url).status_code == 404
    client.force_login(auditor)
    assert client.post(url).status_code == 403
    client.force_login(member)
    assert client.post(url).status_code == 403
    assert client.get(url).status_code == 405
    proposal.refresh_from_db()
    assert proposal.state == LooseningState.PROPOSED


def test_a_lead_rejects_with_htmx_and_is_sent_back_to_the_page(client, review, member, lead, p0):
    proposal = propose(p0, member)
    client.force_login(lead)
    response = client.post(
        reverse("loosening_reject", args=[proposal.pk]),
        {"note": "It is production"},
        HTTP_HX_CURRENT_URL=f"http://testserver{review.get_absolute_url()}",
        **HX,
    )
    assert response.headers["HX-Redirect"] == review.get_absolute_url()
    proposal.refresh_from_db()
    assert (proposal.state, proposal.decision_note) == (LooseningState.REJECTED, "It is production")


def test_the_queue_lists_pending_loosenings_for_architects_and_leads(client, member, lead, architect, p0):
    proposal = propose(p0, member)
    for who in (lead, architect):
        client.force_login(who)
        assert (
            reverse("loosening_confirm", args=[proposal.pk])
            in client.get(reverse("exception_queue")).content.decode()
        )
    client.force_login(member)
    assert (
        reverse("loosening_confirm", args=[proposal.pk])
        not in client.get(reverse("exception_queue")).content.decode()
    )


def test_the_meeting_triage_proposes_instead_of_regrading(client, review, member, p0):
    client.force_login(member)
    url = reverse("meeting_triage", args=[p0.pk])
    refused = client.post(url, {"level": "P3", "status": "open", "version": p0.version}, **HX)
    assert refused.status_code == 422
    response = client.post(
        url, {"level": "P3", "status": "open", "version": p0.version, "note": "Staging only"}, **HX
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "awaiting confirmation" in body and "Open P0 blocker" in body
    p0.refresh_from_db()
    assert p0.level == Level.P0


def test_resolving_a_p0_from_the_form_asks_for_a_note_and_evidence(client, review, member, p0):
    client.force_login(member)
    url = reverse("finding_edit", args=[p0.pk])
    body = client.post(url, edit_post(p0, status="resolved")).content.decode()
    assert "evidence of the fix" in body
    attach(review, "security", member)
    client.post(url, edit_post(p0, status="resolved", note="Rotated to app_rw"))
    p0.refresh_from_db()
    assert p0.status == FindingStatus.RESOLVED and p0.resolution_note == "Rotated to app_rw"


@pytest.mark.parametrize("name", ["finding_create", "score_edit"])
def test_owner_pickers_offer_only_people_who_may_act(
    client, review, architect, lead, member, auditor, outsider, name
):
    client.force_login(member)
    args = [review.pk] if name == "finding_create" else [review.pk, "backup"]
    body = client.get(reverse(name, args=args)).content.decode()
    options = body[body.index('name="owner"') :].split("</select>")[0]
    assert f'value="{member.pk}"' in options and f'value="{lead.pk}"' in options
    assert f'value="{auditor.pk}"' not in options and f'value="{outsider.pk}"' not in options


def test_the_meeting_owner_picker_leaves_out_auditors(client, review, member, auditor, p0):
    client.force_login(member)
    row = client.get(reverse("meeting_triage", args=[p0.pk]), **HX).content.decode()
    options = row[row.index('name="owner"') :].split("</select>")[0]
    assert f'value="{member.pk}"' in options and f'value="{auditor.pk}"' not in options


def test_posting_an_auditor_as_owner_is_refused(client, review, member, auditor):
    client.force_login(member)
    client.post(
        reverse("finding_create", args=[review.pk]),
        {"category": category(review, "security").pk, "title": "x", "level": "P3", "owner": auditor.pk},
    )
    assert not review.findings.exists()
