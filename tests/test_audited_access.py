"""Audited access (seed §14): taking a copy of an evidence file or a decision record, signing an exception
and changing who holds which role are audit events, with the actor; a refused request records nothing."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone

from evidence import services as evidence_services
from reviews import services
from reviews.models import AuditEvent, InstallationAuditor, Level, Membership, Role

from .factories import UserFactory, category

pytestmark = pytest.mark.django_db


def close_file(response) -> None:
    """Close the served file without response.close(), which would end the test's database connection."""
    for closer in response._resource_closers:
        closer()


@pytest.fixture
def stored_file(settings, tmp_path, review, member):
    settings.MEDIA_ROOT = tmp_path / "media"
    return evidence_services.add_file(
        review=review,
        category=category(review, "backup"),
        title="Restore log",
        upload=SimpleUploadedFile("restore.txt", b"restored 3 tables\n", content_type="text/plain"),
        actor=member,
    )


def test_an_evidence_download_is_an_audit_event_served_as_an_attachment(client, stored_file, auditor):
    client.force_login(auditor)
    response = client.get(reverse("evidence_file", args=[stored_file.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"restored 3 tables\n"
    close_file(response)
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    event = AuditEvent.objects.get(action="evidence.download")
    assert event.actor == auditor and event.review == stored_file.review
    assert event.object_type == "evidence.evidence" and event.object_id == str(stored_file.pk)
    assert event.after["file"].endswith("restore.txt")


def test_a_refused_evidence_download_records_nothing(client, stored_file, outsider):
    client.force_login(outsider)
    assert client.get(reverse("evidence_file", args=[stored_file.pk])).status_code == 404
    client.logout()
    assert client.get(reverse("evidence_file", args=[stored_file.pk])).status_code == 302
    assert not AuditEvent.objects.filter(action="evidence.download").exists()


def test_the_installation_wide_auditor_downloads_any_teams_file_and_is_recorded(client, stored_file):
    inspector = UserFactory(username="inspector")
    InstallationAuditor.objects.create(user=inspector)
    client.force_login(inspector)
    response = client.get(reverse("evidence_file", args=[stored_file.pk]))
    close_file(response)
    assert response.status_code == 200
    assert AuditEvent.objects.get(action="evidence.download").actor == inspector


def test_signing_an_exception_is_an_audit_event_with_the_signer(client, review, architect, lead):
    finding = services.add_finding(
        review=review, category=category(review, "backup"), title="No drill", level=Level.P1, actor=architect
    )
    exc = services.request_exception(
        finding=finding,
        justification="Drill booked",
        compensating_control="Snapshots checked daily",
        expires_at=timezone.now() + timedelta(days=20),
        actor=architect,
    )
    client.force_login(lead)
    client.post(
        reverse("exception_decide", args=[exc.pk, "sign"]),
        {"version": exc.version, "digest": services.exception_digest(exc)},
    )
    event = AuditEvent.objects.get(action="exception.sign")
    assert event.actor == lead and event.object_id == str(exc.pk) and event.review == review


@pytest.fixture
def admin_client_(client, db):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    client.force_login(root)
    return client, root


def test_role_changes_in_the_admin_are_audit_events(admin_client_, team):
    client, root = admin_client_
    mia = UserFactory(username="mia")

    response = client.post(
        reverse("admin:reviews_membership_add"), {"user": mia.pk, "team": team.pk, "role": Role.MEMBER}
    )
    assert response.status_code == 302, response.content[:500]
    membership = Membership.objects.get(user=mia, team=team)
    created = AuditEvent.objects.get(action="membership.create")
    assert created.actor == root and created.after["role"] == Role.MEMBER

    response = client.post(
        reverse("admin:reviews_membership_change", args=[membership.pk]),
        {"user": mia.pk, "team": team.pk, "role": Role.LEAD},
    )
    assert response.status_code == 302
    updated = AuditEvent.objects.get(action="membership.update")
    assert (updated.before["role"], updated.after["role"]) == (Role.MEMBER, Role.LEAD)

    response = client.post(reverse("admin:reviews_membership_delete", args=[membership.pk]), {"post": "yes"})
    assert response.status_code == 302
    deleted = AuditEvent.objects.get(action="membership.delete")
    assert deleted.actor == root and deleted.before["role"] == Role.LEAD
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_granting_and_withdrawing_installation_wide_audit_are_audit_events(admin_client_):
    client, root = admin_client_
    inspector = UserFactory(username="inspector")
    response = client.post(
        reverse("admin:reviews_installationauditor_add"),
        {"user": inspector.pk, "granted_at_0": "2026-01-05", "granted_at_1": "09:00:00"},
    )
    assert response.status_code == 302, response.content[:800]
    grant = InstallationAuditor.objects.get(user=inspector)
    assert AuditEvent.objects.get(action="installationauditor.create").actor == root
    response = client.post(
        reverse("admin:reviews_installationauditor_delete", args=[grant.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="installationauditor.delete", actor=root).exists()


def test_uploads_are_stored_outside_static_and_no_url_but_the_checked_view_serves_them(stored_file):
    media = Path(settings.MEDIA_ROOT).resolve()
    stored = Path(stored_file.file.path).resolve()
    assert stored.is_relative_to(media)
    for static in [settings.STATIC_ROOT, *settings.STATICFILES_DIRS]:
        assert not stored.is_relative_to(Path(static).resolve())
    for prefix in (settings.MEDIA_URL or "/media/", "/" + settings.STATIC_URL.lstrip("/")):
        with pytest.raises(Resolver404):
            resolve(f"/{prefix.strip('/')}/{stored_file.file.name}")
