"""Evidence pages through the client: attaching each kind, downloading files, and who may do either."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from evidence import services as evidence_services
from evidence.models import Evidence, EvidenceKind, RestoreDrill, Runbook
from reviews.models import AuditEvent
from tests.factories import category

pytestmark = pytest.mark.django_db

KINDS = ["link", "file", "restore_drill", "runbook"]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def local_minute(delta: timedelta) -> str:
    return timezone.localtime(timezone.now() + delta).strftime("%Y-%m-%dT%H:%M")


def upload(name="restore-log.txt", content=b"pg_restore finished: 1204 tables, 0 errors\n"):
    return SimpleUploadedFile(name, content, content_type="text/plain")


def valid_data(kind: str, review) -> dict:
    if kind == "link":
        return {
            "category": category(review, "backup").pk,
            "title": "Restore job run 42",
            "url": "https://ci.example.com/restore/42",
            "notes": "green",
        }
    if kind == "file":
        return {"category": category(review, "backup").pk, "title": "Restore log", "file": upload()}
    if kind == "restore_drill":
        return {
            "title": "Quarterly restore drill",
            "database": "ledger",
            "backup_source": "pgBackRest repo2",
            "target_environment": "staging",
            "requested_recovery_point": local_minute(-timedelta(hours=5)),
            "actual_recovery_point": local_minute(-timedelta(hours=5, minutes=3)),
            "started_at": local_minute(-timedelta(hours=4)),
            "ended_at": local_minute(-timedelta(hours=3)),
            "rpo_target_minutes": "15",
            "rto_target_minutes": "120",
            "validation_queries": "select count(*) from journal;",
            "validation_passed": "on",
            "validation_result": "counts match",
            "follow_up_owner": "mia",
        }
    return {
        "name": "Primary failover",
        "url": "https://wiki.example.com/runbooks/failover",
        "severity": "SEV1",
        "symptoms": "writes fail",
        "immediate_safe_actions": "promote replica",
        "actions_forbidden": "do not drop slots",
        "owner": "mia",
        "last_tested": (timezone.localdate() - timedelta(days=20)).isoformat(),
    }


def evidence_state():
    return (
        list(Evidence.objects.order_by("pk").values()),
        RestoreDrill.objects.count(),
        Runbook.objects.count(),
        AuditEvent.objects.count(),
    )


def download(client, item):
    response = client.get(reverse("evidence_file", args=[item.pk]))
    # Consuming the stream closes the file; an extra close() would end the test's database connection.
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


@pytest.fixture
def stored_file(review, member):
    return evidence_services.add_file(
        review=review, category=category(review, "backup"), title="Restore log", upload=upload(), actor=member
    )


# --- access ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_member_gets_each_evidence_form(client, review, member, kind):
    client.force_login(member)
    response = client.get(reverse("evidence_create", args=[review.pk, kind]))
    assert response.status_code == 200
    assert b'enctype="multipart/form-data"' in response.content


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("kind", KINDS)
def test_auditor_may_not_attach_evidence(client, review, auditor, kind, method):
    client.force_login(auditor)
    url = reverse("evidence_create", args=[review.pk, kind])
    before = evidence_state()
    response = client.post(url, valid_data(kind, review)) if method == "post" else client.get(url)
    assert response.status_code == 403
    assert evidence_state() == before


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("kind", KINDS)
def test_another_teams_user_gets_404_for_evidence_forms(client, review, outsider, kind, method, media):
    client.force_login(outsider)
    url = reverse("evidence_create", args=[review.pk, kind])
    before = evidence_state()
    response = client.post(url, valid_data(kind, review)) if method == "post" else client.get(url)
    assert response.status_code == 404
    assert b"Ledger" not in response.content
    assert evidence_state() == before
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("kind", KINDS)
def test_anonymous_is_sent_to_login_for_evidence_forms(client, review, kind, method):
    url = reverse("evidence_create", args=[review.pk, kind])
    before = evidence_state()
    response = client.post(url, valid_data(kind, review)) if method == "post" else client.get(url)
    assert response.status_code == 302 and response.url == f"{reverse('login')}?next={url}"
    assert evidence_state() == before


@pytest.mark.parametrize("kind", ["probe_result", "record", "nonsense"])
def test_unknown_or_not_user_attachable_kind_is_404(client, review, member, kind):
    client.force_login(member)
    before = evidence_state()
    assert client.get(reverse("evidence_create", args=[review.pk, kind])).status_code == 404
    assert client.post(reverse("evidence_create", args=[review.pk, kind]), {"title": "x"}).status_code == 404
    assert evidence_state() == before


def test_file_download_as_member_and_auditor(client, stored_file, member, auditor):
    for person in (member, auditor):
        client.force_login(person)
        response, body = download(client, stored_file)
        assert response.status_code == 200
        assert body == b"pg_restore finished: 1204 tables, 0 errors\n"


def test_file_download_by_another_team_is_404(client, stored_file, outsider):
    client.force_login(outsider)
    response, body = download(client, stored_file)
    assert response.status_code == 404
    assert b"pg_restore" not in body


def test_file_download_by_anonymous_goes_to_login(client, stored_file):
    url = reverse("evidence_file", args=[stored_file.pk])
    response = client.get(url)
    assert response.status_code == 302 and response.url == f"{reverse('login')}?next={url}"


def test_file_url_of_non_file_evidence_is_404(client, review, member):
    link = evidence_services.add_link(
        review=review,
        category=category(review, "backup"),
        title="Link",
        url="https://example.com/x",
        actor=member,
    )
    client.force_login(member)
    response, _ = download(client, link)
    assert response.status_code == 404


def test_missing_stored_file_is_404_not_500(client, stored_file, member):
    stored_file.file.storage.delete(stored_file.file.name)
    client.force_login(member)
    response, _ = download(client, stored_file)
    assert response.status_code == 404


def test_unknown_evidence_id_is_404(client, member):
    client.force_login(member)
    assert client.get(reverse("evidence_file", args=[999999])).status_code == 404


# --- attaching each kind ---------------------------------------------------------------------------


def test_member_uploads_a_text_file_and_downloads_it_as_an_attachment(client, review, member, media):
    client.force_login(member)
    response = client.post(reverse("evidence_create", args=[review.pk, "file"]), valid_data("file", review))
    assert response.status_code == 302 and response.url == f"{review.get_absolute_url()}#evidence"
    item = Evidence.objects.get(review=review)
    assert item.kind == EvidenceKind.FILE and item.title == "Restore log" and item.added_by == member
    assert item.file.name.startswith(f"evidence/{review.pk}/") and item.file.name.endswith("-restore-log.txt")
    assert (media / item.file.name).read_bytes() == b"pg_restore finished: 1204 tables, 0 errors\n"
    assert AuditEvent.objects.filter(action="evidence.add", object_id=str(item.pk)).count() == 1

    page = client.get(review.get_absolute_url()).content.decode()
    assert "Evidence attached to Backup, restore &amp; DR." in page
    assert reverse("evidence_file", args=[item.pk]) in page

    response, body = download(client, item)
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="') and disposition.endswith('-restore-log.txt"')
    assert body == b"pg_restore finished: 1204 tables, 0 errors\n"


def test_member_attaches_a_link(client, review, member):
    client.force_login(member)
    response = client.post(reverse("evidence_create", args=[review.pk, "link"]), valid_data("link", review))
    assert response.status_code == 302
    item = Evidence.objects.get(review=review)
    assert (item.kind, item.url, item.category.code) == (
        EvidenceKind.LINK,
        "https://ci.example.com/restore/42",
        "backup",
    )
    assert timezone.now() - item.observed_at < timedelta(minutes=1)
    page = client.get(review.get_absolute_url()).content.decode()
    assert (
        '<a href="https://ci.example.com/restore/42" rel="noopener noreferrer">Restore job run 42</a>' in page
    )


def test_link_form_preselects_the_category_from_the_query(client, review, member):
    client.force_login(member)
    response = client.get(reverse("evidence_create", args=[review.pk, "link"]) + "?category=security")
    assert f'<option value="{category(review, "security").pk}" selected>'.encode() in response.content


def test_member_records_a_restore_drill(client, review, member):
    client.force_login(member)
    response = client.post(
        reverse("evidence_create", args=[review.pk, "restore_drill"]), valid_data("restore_drill", review)
    )
    assert response.status_code == 302
    item = Evidence.objects.get(review=review)
    drill = item.restore_drill
    assert item.kind == EvidenceKind.RESTORE_DRILL and item.category.code == "backup"
    assert drill.rpo_achieved == timedelta(minutes=3) and drill.rto_achieved == timedelta(hours=1)
    assert drill.passed
    assert item.observed_at == drill.ended_at
    event = AuditEvent.objects.get(action="evidence.restore_drill")
    assert event.after == {"rpo_minutes": 3.0, "rto_minutes": 60.0, "passed": True}
    page = client.get(review.get_absolute_url()).content.decode()
    assert "Quarterly restore drill" in page and "passed" in page


def test_restore_drill_that_misses_its_rto_is_shown_as_not_passed(client, review, member):
    client.force_login(member)
    data = {**valid_data("restore_drill", review), "rto_target_minutes": "30"}
    assert client.post(reverse("evidence_create", args=[review.pk, "restore_drill"]), data).status_code == 302
    assert not RestoreDrill.objects.get().passed
    assert b"did not pass" in client.get(review.get_absolute_url()).content


def test_member_records_a_runbook(client, review, member):
    client.force_login(member)
    data = valid_data("runbook", review)
    response = client.post(reverse("evidence_create", args=[review.pk, "runbook"]), data)
    assert response.status_code == 302
    item = Evidence.objects.get(review=review)
    runbook = item.runbook
    assert item.kind == EvidenceKind.RUNBOOK and item.category.code == "runbooks"
    assert (runbook.name, runbook.owner, runbook.severity) == ("Primary failover", "mia", "SEV1")
    assert runbook.last_tested.isoformat() == data["last_tested"]
    page = client.get(review.get_absolute_url()).content.decode()
    assert "Primary failover" in page and f"last tested {data['last_tested']}" in page


def test_evidence_lets_the_category_be_scored_2(client, review, member):
    client.force_login(member)
    client.post(reverse("evidence_create", args=[review.pk, "runbook"]), valid_data("runbook", review))
    form = client.get(reverse("score_edit", args=[review.pk, "runbooks"]))
    assert b"Evidence in this category: Primary failover." in form.content
    response = client.post(
        reverse("score_edit", args=[review.pk, "runbooks"]), {"score": "2", "version": "0"}
    )
    assert response.status_code == 302


@pytest.mark.parametrize("stem", ["a" * 246, "é" * 246, "日" * 246])
def test_a_very_long_file_name_is_stored_cut_with_its_extension(client, review, member, media, stem):
    client.force_login(member)
    data = {**valid_data("file", review), "file": upload(name=stem + ".txt")}
    response = client.post(reverse("evidence_create", args=[review.pk, "file"]), data)
    assert response.status_code == 302
    item = Evidence.objects.get(review=review)
    stored = item.file.name.rsplit("/", 1)[-1]
    assert stored.endswith(".txt") and len(stored.encode()) < 255 and stem[:20] in stored
    assert (media / item.file.name).read_bytes().startswith(b"pg_restore finished")
    response, body = download(client, item)
    assert response.status_code == 200 and body.startswith(b"pg_restore finished")


def test_a_record_added_from_a_meeting_step_returns_to_that_step(client, review, member):
    client.force_login(member)
    url = reverse("evidence_create", args=[review.pk, "signal"])
    page = client.get(f"{url}?step=8")
    assert reverse("meeting_step", args=[review.pk, 8]) in page.content.decode()  # Cancel goes back too
    data = {"area": "locking", "signals": "Lock waits", "source": "Prometheus", "owner": "dba"}
    response = client.post(f"{url}?step=8", data)
    assert response.status_code == 302 and response.url == reverse("meeting_step", args=[review.pk, 8])
    assert Evidence.objects.filter(review=review, kind="signal").count() == 1
    # Anything but a step number goes back to the review's evidence, never elsewhere.
    response = client.post(f"{url}?step=//evil.example.com", {**data, "area": "query"})
    assert response.status_code == 302 and response.url == f"{review.get_absolute_url()}#evidence"
