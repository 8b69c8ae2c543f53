"""A probe target's password never leaves the encrypted column: not on any page, in any export (audit CSV,
decision JSON, decision PDF), in the audit trail, in the logs or in a task's arguments."""

import io
import logging
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from probes import tasks as probe_tasks
from probes.models import ProbeRun, ProbeTarget
from reviews import services, tasks
from reviews.models import AuditEvent, DecisionDocument

PASSWORD = "Tr0ub4dor-x9Zq"
NEW_PASSWORD = "c0rrect-h0rse-7Vw"
# Port 1: nothing listens, so the connection test fails at once and honestly.
DSN = f"postgresql://probe:{PASSWORD}@127.0.0.1:1/ledger"
NEW_DSN = f"host=127.0.0.1 port=1 dbname=ledger user=probe password={NEW_PASSWORD}"


def body(response) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    if response.get("Content-Type", "").startswith("application/pdf"):
        return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(raw)).pages)
    return raw.decode("utf-8", "replace")


def assert_no_secret(where: str, text: str) -> None:
    for secret in (PASSWORD, NEW_PASSWORD):
        for form in (secret, quote(secret), secret.encode().hex()):
            assert form not in text, f"the password appears in {where}"


@pytest.mark.django_db
def test_a_targets_password_is_in_no_page_export_log_event_or_task_argument(
    client, caplog, monkeypatch, django_capture_on_commit_callbacks, review, architect, auditor
):
    caplog.set_level(logging.DEBUG)
    enqueued = []
    monkeypatch.setattr(
        probe_tasks.run_probe_run, "delay", lambda *args, **kwargs: enqueued.append((args, kwargs))
    )
    system = review.system
    client.force_login(architect)

    response = client.post(
        reverse("probe_target_create", args=[system.slug]),
        {"name": "primary", "environment": "production", "dsn": DSN, "params": ""},
    )
    assert response.status_code == 302, body(response)
    target = ProbeTarget.objects.get(system=system)
    pages = {"the redirect": response["Location"]}
    pages["the connection test"] = body(client.post(reverse("probe_target_test", args=[target.pk])))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("probe_run_start", args=[target.pk]), {"review": review.pk})
    assert enqueued, "the run was enqueued"
    # A DSN the form refuses is not echoed back either.
    refused = client.post(
        reverse("probe_target_edit", args=[target.pk]),
        {
            "name": "primary",
            "environment": "production",
            "dsn": f"postgresql://probe:{PASSWORD}@host:port",
            "params": "",
        },
    )
    pages["a refused edit"] = body(refused)
    client.post(
        reverse("probe_target_edit", args=[target.pk]),
        {"name": "primary", "environment": "production", "dsn": NEW_DSN, "params": ""},
    )
    run = ProbeRun.objects.get(target=target)

    for cat in review.catalogue.categories.all():
        services.set_score(review=review, category=cat, score=0, actor=architect)
    decision = services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=30)
    )
    tasks.render_decision_pdf(decision.pk)
    assert DecisionDocument.objects.filter(decision=decision).exists()

    urls = [
        reverse("dashboard"),
        reverse("system_detail", args=[system.slug]),
        reverse("review_detail", args=[review.pk]),
        reverse("meeting_step", args=[review.pk, 1]),
        reverse("meeting_decision", args=[review.pk]),
        reverse("review_audit", args=[review.pk]),
        reverse("review_audit_csv", args=[review.pk]),
        reverse("probe_targets", args=[system.slug]),
        reverse("probe_target_detail", args=[target.pk]),
        reverse("probe_target_edit", args=[target.pk]),
        reverse("probe_run_detail", args=[run.pk]),
        reverse("probe_run_progress", args=[run.pk]),
        reverse("probe_review_panel", args=[review.pk]),
        reverse("probe_meeting_panel", args=[review.pk]),
        reverse("decision_detail", args=[decision.pk]),
        reverse("decision_json", args=[decision.pk]),
        reverse("decision_pdf", args=[decision.pk]),
        reverse("audit_trail"),
        reverse("audit_trail_csv"),
        reverse("auditor_decisions"),
    ]
    for user in (architect, auditor):
        client.force_login(user)
        for url in urls:
            if user == auditor and url.endswith("/edit/"):
                continue  # an auditor changes nothing
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            pages[f"{url} as {user.username}"] = body(response)
    assert "127.0.0.1" in pages[f"{reverse('probe_target_detail', args=[target.pk])} as {auditor.username}"]
    assert "Ledger" in pages[f"{reverse('decision_pdf', args=[decision.pk])} as {auditor.username}"]

    for where, text in pages.items():
        assert_no_secret(where, text)
    for event in AuditEvent.objects.all():
        assert_no_secret(f"audit event {event.action}", f"{event.before} {event.after} {event.object_repr}")
    assert_no_secret("the task arguments", repr(enqueued))
    assert all(args == (run.pk,) and not kwargs for args, kwargs in enqueued)
    assert_no_secret("the log", caplog.text)
    target.refresh_from_db()
    assert_no_secret("the connection shown", target.connection)
    assert_no_secret("the plain connection fields", repr(target.ssl_files) + target.host + target.db_user)
