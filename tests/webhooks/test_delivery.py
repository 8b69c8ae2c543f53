"""Deliveries against a real HTTP receiver on a local port, with tasks in-process (as the quick start runs
them): what each event sends, to whom (team and event filters), the signature, retries then failure on
500, a receiver that is slow or down, the admin's replay, the sweeper, and the beat jobs' events."""

import json
import threading
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse
from django.utils import timezone
from prometheus_client import REGISTRY

from reviews import services as review_services
from reviews.models import AuditEvent
from schedules.tasks import mark_overdue
from tests.factories import SystemFactory, category, score_all
from webhooks import events, services, signing
from webhooks.models import Delivery, DeliveryState, Event, Format, Subscription

from .conftest import DOWN_PORT, subscribe
from .receiver import Receiver

pytestmark = pytest.mark.django_db


def decide(review, actor, days=90):
    return review_services.record_decision(
        review=review, actor=actor, next_review=timezone.localdate() + timedelta(days=days)
    )


def decided(review, architect, member, capture, days=90):
    score_all(review, member)
    with capture(execute=True):
        return decide(review, architect, days=days)


def metric(name, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def due_now(delivery):
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def test_a_decision_recorded_reaches_the_receiver_once_signed(
    receiver, webhook_settings, review, architect, member, django_capture_on_commit_callbacks
):
    sub = subscribe(receiver.url)
    decision = decided(review, architect, member, django_capture_on_commit_callbacks)

    (got,) = receiver.requests
    assert got.answered == 204
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["Readiness-Event"] == "decision.recorded"
    assert signing.verify(services.secret_of(sub), got.body, got.headers["Readiness-Signature"])
    body = json.loads(got.body)
    assert body["id"] == f"decision.recorded:{decision.pk}"
    assert body["team"] == {"id": review.system.team_id, "name": "Payments"}
    assert body["data"]["outcome"] == decision.outcome
    assert body["url"] == f"https://readiness.example/decisions/{decision.pk}/"

    delivery = Delivery.objects.get()
    assert str(delivery.uuid) == got.headers["Readiness-Delivery"]
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == (DeliveryState.DELIVERED, 1, 204)
    assert list(delivery.attempt_log.values_list("number", "status_code", "error")) == [(1, 204, "")]

    # The same event again adds no delivery; a repeated message sends nothing.
    payload, team = events.decision_recorded(decision, at=timezone.now())
    assert services.emit(payload=payload, team=team) == []
    assert services.attempt(delivery.pk) == "not claimed"
    assert len(receiver.requests) == 1


def test_with_no_subscription_recording_a_decision_sends_and_stores_nothing(
    review, architect, member, django_capture_on_commit_callbacks
):
    decided(review, architect, member, django_capture_on_commit_callbacks)
    assert not Delivery.objects.exists()


def test_each_subscription_hears_only_its_teams_and_events(
    receiver,
    webhook_settings,
    review,
    architect,
    member,
    team,
    other_team,
    django_capture_on_commit_callbacks,
):
    everyone = subscribe(receiver.url, name="all teams")
    mine = subscribe(receiver.url, teams=[team], events=[Event.DECISION_RECORDED], name="payments")
    theirs = subscribe(receiver.url, teams=[other_team], name="identity")
    other_event = subscribe(receiver.url, events=[Event.PROBE_RUN_FAILED], name="probes only")
    off = subscribe(receiver.url, name="off")
    off.active = False
    off.save()
    decided(review, architect, member, django_capture_on_commit_callbacks)
    heard = set(Delivery.objects.values_list("subscription__name", flat=True))
    assert heard == {everyone.name, mine.name}
    assert theirs.name not in heard and other_event.name not in heard
    assert len(receiver.accepted) == 2


def test_a_receiver_answering_500_is_retried_with_backoff_then_failed(
    receiver, webhook_settings, review, member
):
    receiver.mode = "500"
    subscribe(receiver.url)
    errors = metric("readiness_webhook_attempts_total", event="exception.awaiting_signature", outcome="error")
    failures = metric("readiness_webhook_failures_total", event="exception.awaiting_signature")
    exc = request_p1_exception(review, member)
    (delivery,) = Delivery.objects.all()
    assert services.attempt(delivery.pk) == "retry"
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.PENDING and delivery.last_status_code == 500
    waited = (delivery.next_attempt_at - delivery.attempt_log.get().started_at).total_seconds()
    assert 0.2 <= waited < 1
    assert services.attempt(delivery.pk) == "not claimed"  # not due yet
    due_now(delivery)
    assert services.attempt(delivery.pk) == "retry"
    assert services.backoff_s(2) == 0.4 and services.backoff_s(5) == 1  # doubling, capped
    due_now(delivery)
    assert services.attempt(delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == (DeliveryState.FAILED, 3, None)
    assert delivery.last_error == "the receiver answered 500"
    assert list(delivery.attempt_log.values_list("status_code", "response_excerpt")) == [(500, "nope\n")] * 3
    assert len(receiver.requests) == 3 and {r.headers["Readiness-Delivery"] for r in receiver.requests} == {
        str(delivery.uuid)
    }
    assert json.loads(receiver.requests[0].body)["data"]["exception_id"] == exc.pk
    after = metric("readiness_webhook_attempts_total", event="exception.awaiting_signature", outcome="error")
    assert after == errors + 3
    assert metric("readiness_webhook_failures_total", event="exception.awaiting_signature") == failures + 1


def test_a_slow_receiver_is_a_failed_attempt_after_the_timeout(receiver, webhook_settings, review, member):
    receiver.mode, receiver.slow_s = "slow", 1.5
    subscribe(receiver.url)
    request_p1_exception(review, member)
    delivery = Delivery.objects.get()
    assert services.attempt(delivery.pk) == "retry"
    delivery.refresh_from_db()
    assert delivery.last_error == "no answer within 0.5 s" and delivery.last_status_code is None
    assert delivery.attempt_log.get().duration_ms >= 500


def test_a_receiver_that_is_down_is_retried_and_reached_once_it_is_back(webhook_settings, review, member):
    sub = subscribe(f"http://127.0.0.1:{DOWN_PORT}/hook")
    request_p1_exception(review, member)
    delivery = Delivery.objects.get()
    assert services.attempt(delivery.pk) == "retry"
    delivery.refresh_from_db()
    assert delivery.last_error.startswith("could not connect:")
    back = Receiver(DOWN_PORT).start()
    try:
        due_now(delivery)
        assert services.attempt(delivery.pk) == "delivered"
        due_now(delivery)
        assert services.attempt(delivery.pk) == "not claimed"
    finally:
        back.stop()
    (got,) = back.requests
    assert signing.verify(services.secret_of(sub), got.body, got.headers["Readiness-Signature"])


def test_redirects_are_not_followed(webhook_settings, review, member):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(307)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 8823), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        subscribe("http://127.0.0.1:8823/hook")
        request_p1_exception(review, member)
        delivery = Delivery.objects.get()
        assert services.attempt(delivery.pk) == "retry"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    delivery.refresh_from_db()
    assert delivery.last_status_code == 307


def test_a_turned_off_subscription_fails_its_waiting_deliveries_without_sending(
    receiver, webhook_settings, review, member
):
    sub = subscribe(receiver.url)
    request_p1_exception(review, member)
    Subscription.objects.filter(pk=sub.pk).update(active=False)
    delivery = Delivery.objects.get()
    assert services.attempt(delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert delivery.last_error == "the subscription is turned off" and not receiver.requests


def test_slack_and_teams_subscriptions_get_their_bodies(
    receiver, webhook_settings, review, architect, member, django_capture_on_commit_callbacks
):
    subscribe(receiver.url, fmt=Format.SLACK, name="slack")
    subscribe(receiver.url, fmt=Format.TEAMS, name="teams")
    decided(review, architect, member, django_capture_on_commit_callbacks)
    bodies = sorted((json.loads(r.body) for r in receiver.accepted), key=lambda b: "attachments" in b)
    slack, teams = bodies
    assert (
        slack["text"].startswith("A decision recorded: Ledger: ") and slack["blocks"][0]["type"] == "header"
    )
    card = teams["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard" and card["actions"][0]["url"].startswith(
        "https://readiness.example/"
    )


# --- The admin


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw")


def test_the_admin_replays_a_failed_delivery_audited_and_the_receiver_gets_it(
    client, receiver, webhook_settings, review, member, admin_user, django_capture_on_commit_callbacks
):
    receiver.mode = "500"
    subscribe(receiver.url)
    request_p1_exception(review, member)
    delivery = Delivery.objects.get()
    for _ in range(3):
        due_now(delivery)
        services.attempt(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED
    receiver.mode = "ok"
    client.force_login(admin_user)
    changelist = reverse("admin:webhooks_delivery_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            changelist, {"action": "replay", "_selected_action": [delivery.pk]}, follow=True
        )
    assert response.status_code == 200
    assert "1 delivery queued to be sent again." in response.content.decode()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (DeliveryState.DELIVERED, 4)
    assert [r.answered for r in receiver.requests] == [500, 500, 500, 204]
    event = AuditEvent.objects.get(action="webhook_delivery.replay")
    assert event.actor == admin_user and event.before["state"] == "failed"
    # The log page shows every attempt.
    page = client.get(reverse("admin:webhooks_delivery_change", args=[delivery.pk])).content.decode()
    assert page.count("the receiver answered 500") == 3


def test_a_delivery_still_being_sent_is_not_replayed(webhook_settings, review, member, admin_user):
    subscribe(f"http://127.0.0.1:{DOWN_PORT}/hook")
    request_p1_exception(review, member)
    delivery = Delivery.objects.get()
    with pytest.raises(review_services.ServiceError):
        services.replay(delivery=delivery, actor=admin_user)
    assert not AuditEvent.objects.filter(action="webhook_delivery.replay").exists()


def test_the_delivery_log_is_for_administrators_only(client, member, lead, webhook_settings):
    for user in (member, lead):
        client.force_login(user)
        response = client.get(reverse("admin:webhooks_delivery_changelist"))
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_subscription_added_in_the_admin_gets_a_secret_shown_on_its_page_and_is_audited(
    client, admin_user, team
):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:webhooks_subscription_add"),
        {
            "name": "Ops",
            "url": "https://hooks.example/x",
            "format": "slack",
            "events": ["review.overdue"],
            "teams": [team.pk],
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    sub = Subscription.objects.get()
    secret = services.secret_of(sub)
    assert secret.startswith("whsec_") and secret not in sub.secret_encrypted
    assert sub.events == ["review.overdue"] and list(sub.teams.all()) == [team]
    page = client.get(reverse("admin:webhooks_subscription_change", args=[sub.pk])).content.decode()
    assert secret in page
    assert set(AuditEvent.objects.values_list("action", flat=True)) == {
        "subscription.create",
        "subscription.teams",
    }
    client.post(
        reverse("admin:webhooks_subscription_changelist"),
        {"action": "rotate_secrets", "_selected_action": [sub.pk]},
    )
    assert services.secret_of(Subscription.objects.get()) != secret
    assert AuditEvent.objects.filter(action="subscription.rotate_secret").count() == 1


@pytest.mark.parametrize("url", ["ftp://hooks.example/x", "file:///etc/passwd", "not a url"])
def test_the_admin_refuses_a_url_that_is_not_http(client, admin_user, url):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:webhooks_subscription_add"),
        {"name": "Ops", "url": url, "format": "generic", "events": ["review.overdue"], "active": "on"},
    )
    assert response.status_code == 200 and "Enter a valid URL." in response.content.decode()
    assert not Subscription.objects.exists() and not AuditEvent.objects.exists()


# --- The other events


def request_p1_exception(review, member, days=30):
    finding = review_services.add_finding(
        review=review,
        category=category(review, "migration"),
        title="Lock on deploy",
        level="P1",
        actor=member,
    )
    return review_services.request_exception(
        finding=finding,
        justification="j",
        compensating_control="c",
        expires_at=timezone.now() + timedelta(days=days),
        actor=member,
    )


def test_an_exception_awaiting_signature_names_the_finding_and_links_to_it(webhook_settings, review, member):
    subscribe("http://127.0.0.1:1/", events=[Event.EXCEPTION_AWAITING_SIGNATURE])
    exc = request_p1_exception(review, member)
    payload = Delivery.objects.get().payload
    assert payload["event"] == "exception.awaiting_signature"
    assert payload["data"]["finding"] == {"id": exc.finding_id, "title": "Lock on deploy", "level": "P1"}
    assert payload["url"] == f"https://readiness.example/exceptions/{exc.pk}/"


def test_an_exception_expiring_soon_is_notified_once_per_expiry_date(webhook_settings, review, member, lead):
    subscribe("http://127.0.0.1:1/", events=[Event.EXCEPTION_EXPIRING])
    soon = review_services.sign_exception(exception=request_p1_exception(review, member, days=3), actor=lead)
    review_services.sign_exception(exception=request_p1_exception(review, member, days=30), actor=lead)
    assert events.notify_expiring_exceptions() == 1
    assert events.notify_expiring_exceptions() == 0
    (delivery,) = Delivery.objects.filter(event=Event.EXCEPTION_EXPIRING)
    assert delivery.payload["data"]["exception_id"] == soon.pk
    assert delivery.payload["data"]["days_left"] in (2, 3)


def test_an_overdue_review_is_notified_once(webhook_settings, review, architect, member):
    subscribe("http://127.0.0.1:1/", events=[Event.REVIEW_OVERDUE])
    score_all(review, member)
    decision = decide(review, architect, days=1)
    later = timezone.now() + timedelta(days=3)
    mark_overdue(now=later)
    mark_overdue(now=later)
    (delivery,) = Delivery.objects.all()
    assert delivery.payload["data"]["decision_id"] == decision.pk
    assert delivery.payload["data"]["days_overdue"] == 2


def _running_run(system, member):
    from probes.models import ProbeRun, ProbeTarget

    target = ProbeTarget.objects.create(
        system=system,
        name="ledger-prod",
        host="db.internal",
        dbname="ledger",
        db_user="probe",
        password_encrypted="gAAAA-not-a-real-token",
    )
    token = uuid.uuid4()
    run = ProbeRun.objects.create(target=target, state="running", started_by=member, claim_token=token)
    return run, token


def test_a_probe_run_that_fails_is_notified_to_its_team_only(
    webhook_settings, system, member, team, other_team
):
    from probes.services import runs

    subscribe("http://127.0.0.1:1/", events=[Event.PROBE_RUN_FAILED], teams=[team], name="mine")
    subscribe("http://127.0.0.1:1/", events=[Event.PROBE_RUN_FAILED], teams=[other_team], name="theirs")
    run, token = _running_run(system, member)
    assert runs._fail(run.pk, token, "the target refused the connection")
    (delivery,) = Delivery.objects.all()
    assert delivery.subscription.name == "mine"
    assert delivery.payload["data"]["error"] == "the target refused the connection"


def test_a_probe_run_that_raises_a_p0_is_notified_and_a_clean_one_is_not(webhook_settings, member, team):
    from probes.models import ProbeResult
    from probes.services import runs

    subscribe("http://127.0.0.1:1/", events=[Event.PROBE_RUN_P0])
    clean, token = _running_run(SystemFactory(team=team, name="Clean", slug="clean"), member)
    ProbeResult.objects.create(
        run=clean, probe_id="security.x", title="X", category="security", severity="P0", status="pass"
    )
    assert runs._finish(clean.pk, token) == "done"
    assert not Delivery.objects.exists()
    run, token = _running_run(SystemFactory(team=team, name="Dirty", slug="dirty"), member)
    ProbeResult.objects.create(
        run=run,
        probe_id="security.app-superuser",
        title="App role is superuser",
        category="security",
        severity="P0",
        status="fail",
        summary="Role app is a superuser",
    )
    ProbeResult.objects.create(
        run=run, probe_id="schema.no-pk", title="No PK", category="schema", severity="P1", status="fail"
    )
    assert runs._finish(run.pk, token) == "done"
    (delivery,) = Delivery.objects.all()
    assert [p["probe_id"] for p in delivery.payload["data"]["p0"]] == ["security.app-superuser"]
    assert delivery.payload["summary"] == "Dirty: the probe run on ledger-prod found 1 P0 blocker"


# --- The sweeper


def test_the_sweeper_takes_back_a_delivery_whose_worker_died_and_resends_lost_messages(
    receiver, webhook_settings, review, member
):
    subscribe(receiver.url)
    request_p1_exception(review, member)
    request_p1_exception(review, member)
    stuck, lost = Delivery.objects.order_by("pk")
    past = timezone.now() - timedelta(seconds=600)
    Delivery.objects.filter(pk=stuck.pk).update(state=DeliveryState.SENDING, attempts=1, lease_until=past)
    Delivery.objects.filter(pk=lost.pk).update(next_attempt_at=past)
    assert services.sweep() == {"released": 1, "failed": 0, "resent": 2}  # sent in-process here
    assert set(Delivery.objects.values_list("state", flat=True)) == {DeliveryState.DELIVERED}
    assert len(receiver.accepted) == 2
    assert services.sweep() == {"released": 0, "failed": 0, "resent": 0}


def test_a_secret_that_no_longer_decrypts_fails_the_delivery_with_the_reason(
    receiver, webhook_settings, review, member
):
    sub = subscribe(receiver.url)
    Subscription.objects.filter(pk=sub.pk).update(secret_encrypted="gAAAA-not-a-token")
    request_p1_exception(review, member)
    delivery = Delivery.objects.get()
    assert services.attempt(delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert "no longer decrypts" in delivery.last_error and not receiver.requests


def test_the_log_keeps_settled_deliveries_for_keep_days_and_never_prunes_waiting_ones(
    webhook_settings, review, member
):
    webhook_settings.WEBHOOK_KEEP_DAYS = 30
    subscribe("http://127.0.0.1:1/")
    for _ in range(4):
        request_p1_exception(review, member)
    old, recent, waiting, failed = Delivery.objects.order_by("pk")
    long_ago = timezone.now() - timedelta(days=31)
    Delivery.objects.filter(pk__in=[old.pk, waiting.pk, failed.pk]).update(created_at=long_ago)
    Delivery.objects.filter(pk__in=[old.pk, recent.pk]).update(state=DeliveryState.DELIVERED)
    Delivery.objects.filter(pk=failed.pk).update(state=DeliveryState.FAILED)
    assert services.prune() == 2
    assert set(Delivery.objects.values_list("pk", flat=True)) == {recent.pk, waiting.pk}
