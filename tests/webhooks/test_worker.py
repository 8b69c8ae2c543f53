"""Through a real Celery worker on Redis: a decision recorded in the app reaches a real receiver exactly
once, signed, even when the receiver is down for a while and comes back; a receiver answering 500 is
retried, given up on, counted in /metrics, and reached by the admin's replay."""

import json
import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from readiness.celery import app
from reviews import services as review_services
from reviews.models import Decision
from tests.brokers import celery_on_redis, reset_broker_connections
from tests.factories import score_all
from tests.reviews.test_judgement import all_yes_post
from tests.test_metrics import TOKEN, scrape, value
from webhooks import services, tasks
from webhooks.models import Delivery, DeliveryState

from .conftest import DOWN_PORT, subscribe
from .receiver import Receiver
from .test_bodies import documented_recipe

REDIS_URL = "redis://127.0.0.1:6379/12"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker(settings):
    with celery_on_redis(settings, REDIS_URL, "webhooks-test") as queue:
        yield queue


@pytest.fixture
def finished_tasks():
    """(task name, return value) of every task the worker finished."""
    done = []

    def record(sender=None, retval=None, **kwargs):
        done.append((sender.name, retval))
        connections.close_all()  # the worker thread's own connections, so the test database can be flushed

    task_postrun.connect(record, weak=False)
    yield done
    task_postrun.disconnect(record)


@pytest.fixture
def worker(broker, finished_tasks):
    with start_worker(
        app, pool="threads", concurrency=1, perform_ping_check=False, queues=[broker], shutdown_timeout=60
    ):
        yield finished_tasks


def wait_for(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s")


def delivery_in(state, min_attempts=0):
    return Delivery.objects.filter(state=state, attempts__gte=min_attempts).first()


def record_decision(review, architect, member):
    score_all(review, member)
    return review_services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )


def record_decision_on_the_page(client, review, architect, member):
    """As the chair does it: the decision form, posted."""
    score_all(review, member)
    client.force_login(architect)
    response = client.post(
        reverse("decision_create", args=[review.pk]),
        {"next_review": (timezone.localdate() + timedelta(days=90)).isoformat(), **all_yes_post()},
    )
    assert response.status_code == 302, response.content.decode()[:500]
    client.logout()
    return Decision.objects.get(review=review)


def test_a_decision_reaches_a_receiver_that_was_down_exactly_once_signed(
    client, worker, webhook_settings, review, architect, member
):
    webhook_settings.WEBHOOK_MAX_ATTEMPTS = 20
    webhook_settings.METRICS_TOKEN = TOKEN
    before = scrape(client)
    sub = subscribe(f"http://127.0.0.1:{DOWN_PORT}/hook")
    decision = record_decision_on_the_page(client, review, architect, member)

    # Down: the worker tries, fails to connect, and retries with backoff.
    wait_for(lambda: delivery_in(DeliveryState.PENDING, min_attempts=2))
    back = Receiver(DOWN_PORT).start()
    try:
        delivery = wait_for(lambda: delivery_in(DeliveryState.DELIVERED))
        # A repeated message (a broker redelivering, the sweeper) sends nothing again.
        tasks.deliver.delay(delivery.pk)
        wait_for(lambda: ("webhooks.tasks.deliver", "not claimed") in worker)
    finally:
        back.stop()

    (got,) = back.requests  # exactly once
    assert got.answered == 204
    assert documented_recipe()(services.secret_of(sub), got.body, got.headers["Readiness-Signature"])
    assert got.headers["Readiness-Delivery"] == str(delivery.uuid)
    body = json.loads(got.body)
    assert body["event"] == "decision.recorded" and body["data"]["decision_id"] == decision.pk
    assert body["data"]["outcome"] == decision.outcome
    log = list(delivery.attempt_log.order_by("number"))
    assert len(log) == delivery.attempts >= 3
    assert all(a.error.startswith("could not connect") for a in log[:-1]) and log[-1].status_code == 204
    # Each attempt is signed when it is sent, so a receiver down longer than the tolerance still accepts it.
    signed_at = int(got.headers["Readiness-Signature"].split(",")[0][2:])
    assert signed_at >= int(log[-2].started_at.timestamp())

    after = scrape(client)
    labels = {"event": "decision.recorded"}
    errors = value(after, "readiness_webhook_attempts_total", outcome="error", **labels) - value(
        before, "readiness_webhook_attempts_total", outcome="error", **labels
    )
    delivered = value(after, "readiness_webhook_attempts_total", outcome="delivered", **labels) - value(
        before, "readiness_webhook_attempts_total", outcome="delivered", **labels
    )
    assert (errors, delivered) == (len(log) - 1, 1)


def test_a_receiver_answering_500_is_given_up_on_counted_and_reached_by_a_replay(
    client, worker, receiver, webhook_settings, review, architect, member, django_user_model
):
    webhook_settings.METRICS_TOKEN = TOKEN
    before = scrape(client)
    receiver.mode = "500"
    subscribe(receiver.url)
    record_decision(review, architect, member)
    failed = wait_for(lambda: delivery_in(DeliveryState.FAILED))
    assert failed.attempts == 3 and [r.answered for r in receiver.requests] == [500, 500, 500]
    after = scrape(client)
    failures = value(after, "readiness_webhook_failures_total", event="decision.recorded") - value(
        before, "readiness_webhook_failures_total", event="decision.recorded"
    )
    assert failures == 1

    receiver.mode = "ok"
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    client.post(
        reverse("admin:webhooks_delivery_changelist"), {"action": "replay", "_selected_action": [failed.pk]}
    )
    delivered = wait_for(lambda: delivery_in(DeliveryState.DELIVERED))
    assert delivered.attempts == 4 and [r.answered for r in receiver.requests] == [500, 500, 500, 204]
    assert len({r.headers["Readiness-Delivery"] for r in receiver.requests}) == 1


def test_a_decision_recorded_while_the_broker_is_down_is_delivered_once_when_it_is_back(
    client, broker, finished_tasks, receiver, webhook_settings, review, architect, member
):
    webhook_settings.WEBHOOK_REQUEUE_AFTER_S = 0
    sub = subscribe(receiver.url)
    keys = ("broker_url", "broker_connection_timeout", "task_publish_retry_policy")
    saved = {key: app.conf[key] for key in keys}
    app.conf.update(
        broker_url="redis://127.0.0.1:1/0",  # nobody listens: the message cannot be sent
        broker_connection_timeout=1,
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.1},
    )
    reset_broker_connections()
    try:
        record_decision_on_the_page(client, review, architect, member)  # the page still answers
    finally:
        app.conf.update(saved)
        reset_broker_connections()
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts) == (DeliveryState.PENDING, 0)

    with start_worker(
        app, pool="threads", concurrency=1, perform_ping_check=False, queues=[broker], shutdown_timeout=60
    ):
        assert services.sweep()["resent"] == 1  # what beat's sweep_deliveries does
        wait_for(lambda: delivery_in(DeliveryState.DELIVERED))
    (got,) = receiver.requests
    assert documented_recipe()(services.secret_of(sub), got.body, got.headers["Readiness-Signature"])
