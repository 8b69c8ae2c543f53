"""/health/ on the real database and Redis: healthy when both answer and each queue's worker has sent its
heartbeat lately; 503 when the broker is a closed port or a heartbeat is stale or missing; healthy
again once the broker is back. The quick start (no broker) says so and stays healthy. Nothing in the
answer names a host, a port or a user."""

import time
import uuid

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connections
from django.urls import reverse

from readiness import health
from readiness import tasks as readiness_tasks
from readiness.celery import app
from tests.brokers import reset_broker_connections

REDIS_URL = "redis://127.0.0.1:6379/15"
CLOSED_PORT = "redis://127.0.0.1:1/0"


@pytest.fixture
def broker(settings):
    """Celery on the real Redis, sending for real (not eagerly), with queues (and so heartbeat keys) of
    this test alone: a suite running next to it never interferes. app.conf reads the Django settings
    live: it is saved before any setting changes, so the test's queues never outlive the test."""
    keys = ("broker_url", "task_always_eager", "task_default_queue", "task_routes", "result_backend")
    saved = {key: app.conf[key] for key in keys}
    suffix = uuid.uuid4().hex[:10]
    names = [f"health-default-{suffix}", f"health-probes-{suffix}"]
    settings.CELERY_TASK_DEFAULT_QUEUE, settings.PROBE_QUEUE = names
    settings.CELERY_BROKER_URL = REDIS_URL
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.update(
        broker_url=REDIS_URL,
        task_always_eager=False,
        task_default_queue=names[0],
        task_routes={},
        result_backend=None,
    )
    reset_broker_connections()
    yield names
    app.conf.update(saved)
    reset_broker_connections()
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(*[health.HEARTBEAT_KEY.format(queue=q) for q in names], *names)
    for key in client.keys(f"*{suffix}*"):
        client.delete(key)
    client.close()


def _fresh_heartbeats(queues, *, age: float = 0.0):
    for queue in queues:
        health.record_heartbeat(queue, at=time.time() - age)


def _no_host_in(body: str):
    for word in ("127.0.0.1", "6379", "5432", "localhost", "postgres", "redis://"):
        assert word not in body


@pytest.mark.django_db
def test_healthy_with_the_database_redis_and_fresh_heartbeats(client, broker):
    _fresh_heartbeats(broker)
    response = client.get(reverse("health"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"status": "ok"}
    assert body["checks"]["broker"] == {"status": "ok"}
    assert body["checks"]["workers"]["status"] == "ok"
    assert set(body["checks"]["workers"]["queues"]) == set(broker)
    assert all(q["heartbeat_age_s"] <= 1 for q in body["checks"]["workers"]["queues"].values())
    assert response["Cache-Control"].startswith("max-age=0")
    _no_host_in(response.content.decode())


@pytest.mark.django_db
def test_a_stale_heartbeat_is_unhealthy_and_a_fresh_one_heals_it(client, broker, settings):
    default_queue, probe_queue = broker
    _fresh_heartbeats([default_queue])
    _fresh_heartbeats([probe_queue], age=settings.HEALTH_HEARTBEAT_STALE_S + 5)
    response = client.get(reverse("health"))
    assert response.status_code == 503
    workers = response.json()["checks"]["workers"]
    assert workers["status"] == "unavailable"
    assert workers["queues"][default_queue]["status"] == "ok"
    assert workers["queues"][probe_queue]["status"] == "stale"
    assert workers["queues"][probe_queue]["heartbeat_age_s"] >= settings.HEALTH_HEARTBEAT_STALE_S + 5
    assert response.json()["checks"]["broker"] == {"status": "ok"}

    _fresh_heartbeats([probe_queue])
    assert client.get(reverse("health")).status_code == 200


@pytest.mark.django_db
def test_no_heartbeat_at_all_is_unhealthy(client, broker):
    response = client.get(reverse("health"))
    assert response.status_code == 503
    assert {q["status"] for q in response.json()["checks"]["workers"]["queues"].values()} == {"no heartbeat"}


@pytest.mark.django_db
def test_a_broker_on_a_closed_port_is_unhealthy_then_healthy_when_back(client, broker, settings):
    _fresh_heartbeats(broker)
    assert client.get(reverse("health")).status_code == 200

    settings.CELERY_BROKER_URL = CLOSED_PORT
    app.conf.broker_url = CLOSED_PORT
    reset_broker_connections()
    started = time.monotonic()
    response = client.get(reverse("health"))
    assert time.monotonic() - started < 5  # a load balancer's check must not hang
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["broker"] == {"status": "unavailable"}
    assert body["checks"]["workers"] == {"status": "unavailable"}
    assert body["checks"]["database"] == {"status": "ok"}
    _no_host_in(response.content.decode())

    settings.CELERY_BROKER_URL = REDIS_URL
    app.conf.broker_url = REDIS_URL
    reset_broker_connections()
    assert client.get(reverse("health")).status_code == 200


def test_the_quick_start_without_a_broker_says_tasks_run_in_process(client, db, settings):
    settings.CELERY_BROKER_URL = ""
    response = client.get(reverse("health"))
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["broker"] == {"status": "not configured", "note": "no broker: tasks run in-process"}
    assert checks["workers"]["status"] == "not configured"


def test_anonymous_and_get_only(client, db):
    assert client.get(reverse("health")).status_code == 200
    assert client.post(reverse("health")).status_code == 405


def _close_worker_connections(**kwargs):
    connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_takes_the_heartbeat_that_beat_sends_and_health_turns_healthy(client, broker, settings):
    """What beat sends (settings.CELERY_BEAT_SCHEDULE's heartbeat entries, here to this test's queues),
    taken by a real worker on Redis: the heartbeat keys appear and /health/ answers 200."""
    assert client.get(reverse("health")).status_code == 503  # no worker seen yet
    entries = [e for name, e in settings.CELERY_BEAT_SCHEDULE.items() if name.startswith("heartbeat-")]
    assert [e["task"] for e in entries] == [readiness_tasks.record_heartbeat.name] * 2
    task_postrun.connect(_close_worker_connections, weak=False)
    try:
        with start_worker(
            app, pool="threads", concurrency=1, perform_ping_check=False, queues=broker, shutdown_timeout=30
        ):
            for queue in broker:  # as beat sends it: the queue's name, to that queue
                readiness_tasks.record_heartbeat.apply_async(args=(queue,), queue=queue)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and client.get(reverse("health")).status_code != 200:
                time.sleep(0.1)
    finally:
        task_postrun.disconnect(_close_worker_connections)
    assert client.get(reverse("health")).status_code == 200
