"""With the message broker down, nothing the user did is misreported: a probe run started from a page or
the API, a decision recorded, a PDF opened — each is saved and answered with "queued, will run when
the workers are back", never a 500. The broker is a closed port; the transactions really commit."""

import logging
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from probes import services as probe_services
from probes.models import ProbeRun, RunState
from readiness import dispatch
from readiness.celery import app
from reviews import services
from reviews.models import AuditEvent, Decision, ReviewState
from tests.api.conftest import Api
from tests.brokers import reset_broker_connections
from tests.factories import score_all

CLOSED_PORT = "redis://127.0.0.1:1/0"


@pytest.fixture
def broker_down(settings):
    """Celery sends real messages, to a broker nobody listens on (a refused connection, retried briefly)."""
    keys = ("broker_url", "task_always_eager", "broker_connection_timeout", "task_publish_retry_policy")
    saved = {key: app.conf[key] for key in keys}
    settings.CELERY_BROKER_URL = CLOSED_PORT
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.update(
        broker_url=CLOSED_PORT,
        task_always_eager=False,
        broker_connection_timeout=1,
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.1},
    )
    reset_broker_connections()
    yield
    app.conf.update(saved)
    reset_broker_connections()


@pytest.fixture
def target(system, architect):
    return probe_services.create_target(
        system=system, name="primary", dsn="postgresql://probe:pw@127.0.0.1:1/none", actor=architect
    )


def test_a_send_to_an_unreachable_broker_is_reported_not_raised(broker_down, caplog):
    from reviews.tasks import render_decision_pdf

    with caplog.at_level(logging.WARNING, logger="readiness.dispatch"):
        sent = dispatch.send(render_decision_pdf, 123)
    assert (sent.sent, sent.waiting_for_workers) == (False, True)
    assert "OperationalError" in sent.error
    assert "broker unreachable" in caplog.text and "render_decision_pdf" in caplog.text


@pytest.mark.django_db
def test_an_error_that_is_not_the_brokers_still_propagates(monkeypatch):
    from reviews.tasks import render_decision_pdf

    def broken(*args):
        raise ZeroDivisionError

    monkeypatch.setattr(render_decision_pdf, "delay", broken)
    with pytest.raises(ZeroDivisionError):
        dispatch.send(render_decision_pdf, 1)


@pytest.mark.django_db(transaction=True)
def test_starting_a_probe_run_from_the_page_says_queued_and_keeps_the_run(
    broker_down, client, member, target
):
    client.force_login(member)
    response = client.post(reverse("probe_run_start", args=[target.pk]), follow=True)
    assert response.status_code == 200
    run = ProbeRun.objects.get(target=target)
    assert run.state == RunState.QUEUED
    assert AuditEvent.objects.filter(action="probe_run.start", object_id=str(run.pk)).exists()
    body = response.content.decode()
    assert "Queued — it will run when the workers are back." in body
    assert "started." not in body


@pytest.mark.django_db(transaction=True)
def test_starting_a_probe_run_from_the_meeting_says_queued_in_the_panel_while_it_waits(
    broker_down, client, member, review, target
):
    client.force_login(member)
    url = reverse("probe_meeting_run", args=[review.pk, target.pk])
    response = client.post(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    run = ProbeRun.objects.get(target=target)
    panel = response.content.decode()
    assert "Queued — it will run when the workers are back." in panel
    assert "waiting=1" in panel  # the polling keeps saying it while the run waits
    poll = client.get(
        reverse("probe_meeting_panel", args=[review.pk]),
        {"run": run.pk, "waiting": "1"},
        headers={"HX-Request": "true"},
    )
    assert "Queued — it will run when the workers are back." in poll.content.decode()
    ProbeRun.objects.filter(pk=run.pk).update(state=RunState.RUNNING)
    poll = client.get(
        reverse("probe_meeting_panel", args=[review.pk]),
        {"run": run.pk, "waiting": "1"},
        headers={"HX-Request": "true"},
    )
    assert "when the workers are back" not in poll.content.decode()


@pytest.mark.django_db(transaction=True)
def test_starting_a_probe_run_through_the_api_answers_202_queued_with_the_message(
    broker_down, client, team, architect, target
):
    from api import services as api_services

    _, secret = api_services.create_token(
        team=team, actor=architect, name="pipeline", scopes=["read", "run:probes"], system=None
    )
    api = Api(client, secret)
    response = api.post(f"/api/probe-targets/{target.pk}/runs", {}, key="broker-down-1")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["state"] == "queued" and body["message"] == "Queued — it will run when the workers are back."
    assert ProbeRun.objects.get(pk=body["id"]).state == RunState.QUEUED


@pytest.mark.django_db
def test_with_the_broker_up_the_api_has_no_queued_message(client, team, architect, target, monkeypatch):
    from api import services as api_services
    from probes import tasks

    monkeypatch.setattr(tasks.run_probe_run, "delay", lambda run_id: None)
    _, secret = api_services.create_token(
        team=team, actor=architect, name="pipeline", scopes=["read", "run:probes"], system=None
    )
    response = Api(client, secret).post(f"/api/probe-targets/{target.pk}/runs", {})
    assert response.status_code == 202 and response.json()["message"] == ""


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_message_was_lost_is_sent_again_by_the_sweeper(broker_down, member, target, monkeypatch):
    run = probe_services.start_probe_run(target=target, actor=member)
    assert run.dispatch.waiting_for_workers
    from probes import tasks

    sent = []
    monkeypatch.setattr(tasks.run_probe_run, "delay", lambda run_id: sent.append(run_id))  # workers back
    assert probe_services.sweep_stale_runs(now=timezone.now()) == {"requeued": 0, "failed": 0}
    counts = probe_services.sweep_stale_runs(now=run.deadline + timedelta(seconds=1))
    assert counts == {"requeued": 1, "failed": 0} and sent == [run.pk]
    run.refresh_from_db()
    assert (run.state, run.attempts) == (RunState.QUEUED, 2)


@pytest.mark.django_db(transaction=True)
def test_recording_a_decision_with_the_broker_down_records_it_and_says_the_pdf_is_queued(
    broker_down, client, architect, review
):
    score_all(review, architect)
    client.force_login(architect)
    response = client.post(
        reverse("decision_create", args=[review.pk]),
        {"next_review": (timezone.localdate() + timedelta(days=90)).isoformat(), **_final_answers()},
        follow=True,
    )
    assert response.status_code == 200
    decision = Decision.objects.get(review=review)
    review.refresh_from_db()
    assert review.state == ReviewState.DECIDED
    body = response.content.decode()
    assert "Decision recorded" in body and "Queued — it will run when the workers are back." in body
    assert not hasattr(decision, "document") or decision.document is None


@pytest.mark.django_db(transaction=True)
def test_opening_a_pdf_with_the_broker_down_answers_202_queued(
    broker_down, client, architect, auditor, review, monkeypatch
):
    from django.core.cache import cache

    from reviews.views import decisions as decision_views

    score_all(review, architect)
    decision = services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )
    assert decision.pdf_dispatch.waiting_for_workers
    monkeypatch.setattr(decision_views, "PDF_RETRY_AFTER_SECONDS", -1)  # as if a minute had passed
    cache.clear()
    client.force_login(auditor)
    response = client.get(reverse("decision_pdf", args=[decision.pk]))
    assert response.status_code == 202
    assert "Queued — it will run when the workers are back." in response.content.decode()
    again = client.get(reverse("decision_pdf", args=[decision.pk]))  # within the minute: not sent again
    assert again.status_code == 202 and "when the workers are back" in again.content.decode()


def _final_answers() -> dict:
    from reviews import judgement

    return {f"fq_{q.code}": "yes" for q in judgement.FINAL_QUESTIONS}
