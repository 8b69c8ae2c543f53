"""A signature covers exactly the terms the lead saw: Sign and Reject carry the version and digest of the
terms on screen, and a mismatch refuses, signs nothing and shows the current terms."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from reviews import services
from reviews.models import AuditEvent, ExceptionState, Level
from tests.factories import category

pytestmark = pytest.mark.django_db


@pytest.fixture
def requested(review, member):
    finding = services.add_finding(
        review=review,
        category=category(review, "backup"),
        title="No restore drill",
        level=Level.P1,
        actor=member,
    )
    return services.request_exception(
        finding=finding,
        justification="Drill booked for next sprint",
        compensating_control="Nightly snapshot checked by hand",
        expires_at=timezone.now() + timedelta(days=20),
        actor=member,
    )


def seen(exc) -> dict:
    return {"version": exc.version, "digest": services.exception_digest(exc)}


def test_the_requester_edits_after_the_lead_opened_it_and_the_leads_sign_is_refused(
    client, requested, member, lead
):
    client.force_login(lead)
    page = client.get(reverse("exception_detail", args=[requested.pk])).content.decode()
    shown = seen(requested)
    assert f'name="digest" value="{shown["digest"]}"' in page
    services.edit_exception(
        exception=requested,
        actor=member,
        justification="accepted indefinitely, no fix planned",
        compensating_control="none",
        expires_at=timezone.now() + timedelta(days=89),
        version=requested.version,
    )
    events = AuditEvent.objects.count()
    response = client.post(reverse("exception_decide", args=[requested.pk, "sign"]), shown, follow=True)
    requested.refresh_from_db()
    assert requested.state == ExceptionState.REQUESTED and requested.signer is None
    assert AuditEvent.objects.count() == events
    body = response.content.decode()
    assert "terms changed since you opened them" in body
    assert "accepted indefinitely, no fix planned" in body  # the new terms, on screen
    assert response.redirect_chain[-1][0] == reverse("exception_detail", args=[requested.pk])


def test_the_lead_signs_the_terms_they_saw(client, requested, lead):
    client.force_login(lead)
    client.post(reverse("exception_decide", args=[requested.pk, "sign"]), seen(requested))
    requested.refresh_from_db()
    assert requested.state == ExceptionState.SIGNED
    assert requested.signed_digest == seen(requested)["digest"]


def test_a_sign_without_the_terms_seen_is_refused(client, requested, lead):
    client.force_login(lead)
    response = client.post(reverse("exception_decide", args=[requested.pk, "sign"]), follow=True)
    requested.refresh_from_db()
    assert requested.state == ExceptionState.REQUESTED
    assert "Which terms did you see?" in response.content.decode()


def test_a_reject_with_an_old_version_is_refused(client, requested, member, lead):
    client.force_login(lead)
    shown = seen(requested)
    services.edit_exception(
        exception=requested,
        actor=member,
        justification="Different",
        compensating_control=requested.compensating_control,
        expires_at=requested.expires_at,
    )
    client.post(reverse("exception_decide", args=[requested.pk, "reject"]), shown)
    requested.refresh_from_db()
    assert requested.state == ExceptionState.REQUESTED


def test_a_retitled_finding_changes_the_digest_and_the_sign_is_refused(client, requested, member, lead):
    """The version of the exception stays; the digest covers the finding's title, which changed."""
    client.force_login(lead)
    shown = seen(requested)
    finding = requested.finding
    services.update_finding(
        finding=finding,
        actor=member,
        version=finding.version,
        title="Restore drill optional",
        description="",
        level=Level.P1,
        status="open",
    )
    client.post(reverse("exception_decide", args=[requested.pk, "sign"]), shown)
    requested.refresh_from_db()
    assert requested.state == ExceptionState.REQUESTED


def test_the_service_refuses_a_stale_digest(requested, lead):
    with pytest.raises(services.ConflictError):
        services.sign_exception(exception=requested, actor=lead, version=requested.version, digest="0" * 64)
    requested.refresh_from_db()
    assert requested.state == ExceptionState.REQUESTED


@pytest.mark.parametrize("where", ["exception_queue", "review_detail"])
def test_every_sign_form_carries_the_version_and_digest(client, requested, lead, review, where):
    client.force_login(lead)
    url = reverse(where) if where == "exception_queue" else review.get_absolute_url()
    body = client.get(url).content.decode()
    assert f'name="version" value="{requested.version}"' in body
    assert f'name="digest" value="{services.exception_digest(requested)}"' in body


def test_a_finding_described_anew_after_signing_voids_the_signature(requested, member, lead):
    """The risk a lead signed for is what the finding describes: rewritten, the signature no longer holds."""
    services.sign_exception(exception=requested, actor=lead)
    finding = requested.finding
    finding.refresh_from_db()
    services.update_finding(
        finding=finding,
        actor=member,
        version=finding.version,
        title=finding.title,
        description="Backups are not taken at all; nobody knows how to restore.",
        level=finding.level,
        status="open",
        owner=finding.owner,
        due_date=finding.due_date,
    )
    requested.refresh_from_db()
    assert requested.state != ExceptionState.SIGNED
    assert AuditEvent.objects.filter(action="exception.void", object_id=str(requested.pk)).exists()
