"""/metrics for Prometheus, read with prometheus_client's own parser: hidden (404) without METRICS_TOKEN,
401 without the right bearer token; request latency by view, probe runs by outcome, PDF render time and
queue depth read from Redis at scrape time. And the request id: answered in the X-Request-ID header and
carried into a task that a request starts, whose log records on a real worker carry it."""

import json
import logging
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connections
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from probes import services as probe_services
from probes import tasks as probe_tasks
from probes.models import ProbeRun
from readiness import requestid
from readiness.celery import app
from reviews import records, services
from tests.brokers import celery_on_redis

TOKEN = "scrape-token-" + "x" * 20
REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client) -> dict[str, list]:
    """Every sample of a scrape, by sample name, as prometheus_client's parser reads the text."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples, name, **labels) -> float:
    found = [s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())]
    return sum(found)


def test_metrics_do_not_exist_without_a_token(client, db, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer", f"bearer  {TOKEN[:-1]}"],
)
def test_metrics_refuse_a_missing_or_wrong_token(client, db, token, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"readiness_" not in response.content


def test_a_session_is_not_a_token(client, architect, token):
    client.force_login(architect)
    assert client.get("/metrics").status_code == 401


def test_the_latency_of_a_view_just_requested_is_in_the_scrape(client, db, token):
    before = scrape(client)
    name = "readiness_http_request_duration_seconds"
    labels = {"view": "login", "method": "GET", "status": "200"}
    assert client.get(reverse("login")).status_code == 200
    after = scrape(client)
    assert value(after, f"{name}_count", **labels) == value(before, f"{name}_count", **labels) + 1
    assert value(after, f"{name}_sum", **labels) > value(before, f"{name}_sum", **labels)
    assert value(after, f"{name}_bucket", le="+Inf", **labels) == value(after, f"{name}_count", **labels)
    # Labelled by the route's name, never the path: a page of an object does not make a series per id.
    client.get("/systems/no-such-system/")
    paths = {s.labels["view"] for s in scrape(client)[f"{name}_count"]}
    assert "system_detail" in paths and not any("/" in view for view in paths)


def test_a_finished_probe_run_is_counted_with_its_outcome_and_duration(client, system, architect, token):
    target = probe_services.create_target(
        system=system, name="primary", dsn="postgresql://probe:pw@127.0.0.1:1/none", actor=architect
    )
    run = ProbeRun.objects.create(target=target, started_by=architect)
    before = scrape(client)
    assert probe_tasks.run_probe_run(run.pk) == "failed"  # nothing listens on port 1
    assert probe_tasks.run_probe_run(run.pk) == "not claimed"  # a redelivery: no second count
    after = scrape(client)
    total = "readiness_probe_runs_total"
    assert value(after, total, outcome="failed") == value(before, total, outcome="failed") + 1
    duration = "readiness_probe_run_duration_seconds_count"
    assert value(after, duration, outcome="failed") == value(before, duration, outcome="failed") + 1


def test_a_rendered_decision_pdf_is_timed(
    client, review, architect, token, django_capture_on_commit_callbacks
):
    for cat in review.catalogue.categories.all():
        services.set_score(review=review, category=cat, score=0, actor=architect)
    decision = services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )
    before = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        document = records.store_decision_pdf(decision.pk)
    after = scrape(client)
    name = "readiness_pdf_render_duration_seconds"
    assert value(after, f"{name}_count") == value(before, f"{name}_count") + 1
    added = value(after, f"{name}_sum") - value(before, f"{name}_sum")
    assert added == pytest.approx(document.render_ms / 1000)


@pytest.fixture
def broker(settings):
    """Celery on the real Redis, with a default queue of this test alone."""
    with celery_on_redis(settings, REDIS_URL, "metrics") as queue:
        yield queue


LOGGED = logging.getLogger("tests.test_metrics.task")


@app.task(name="tests.test_metrics.logged_task", ignore_result=True)
def logged_task(word: str) -> None:
    LOGGED.warning("task says %s", word)


def test_the_queue_depth_is_read_from_redis_at_scrape_time(client, db, token, broker):
    samples = scrape(client)
    assert value(samples, "readiness_celery_queue_depth", queue=broker) == 0
    for word in ("one", "two", "three"):
        logged_task.delay(word)
    assert value(scrape(client), "readiness_celery_queue_depth", queue=broker) == 3


def test_the_request_id_is_answered_kept_when_sane_and_replaced_when_not(client, db):
    response = client.get(reverse("login"))
    generated = response["X-Request-ID"]
    assert len(generated) == 32 and int(generated, 16) >= 0
    assert client.get(reverse("login"))["X-Request-ID"] != generated
    assert (
        client.get(reverse("login"), headers={"X-Request-ID": "lb-1234.abc"})["X-Request-ID"] == "lb-1234.abc"
    )
    for bad in ("x" * 65, "a b", "id\nINFO forged line", "<script>"):
        answered = client.get(reverse("login"), headers={"X-Request-ID": bad})["X-Request-ID"]
        assert answered != bad and len(answered) == 32
    assert client.get(reverse("health"))["X-Request-ID"]  # every answer, the health check's too


# A fresh process configured by LOG_FORMAT=json: a request to a page that is not there logs Django's
# "Not Found" warning through settings.LOGGING, as one JSON line carrying the request's id.
JSON_LOG_SCRIPT = """
import django
django.setup()
from django.test import Client
response = Client().get("/no-such-page/", headers={"X-Request-ID": "json-req-1"})
print(response.status_code, response["X-Request-ID"])
"""


def test_with_log_format_json_each_log_line_is_json_with_the_request_id():
    env = {
        **os.environ,
        "LOG_FORMAT": "json",
        "DJANGO_SETTINGS_MODULE": "readiness.settings_test",
        "ALLOWED_HOSTS": "testserver",
    }
    result = subprocess.run(
        [sys.executable, "-c", JSON_LOG_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == "404 json-req-1"
    lines = [json.loads(line) for line in result.stderr.strip().splitlines()]
    not_found = [line for line in lines if line["logger"] == "django.request"]
    assert len(not_found) == 1
    assert not_found[0]["level"] == "WARNING" and "Not Found: /no-such-page/" in not_found[0]["message"]
    assert not_found[0]["request_id"] == "json-req-1"
    assert all(set(line) >= {"time", "level", "logger", "message", "request_id"} for line in lines)


def test_an_unknown_log_format_is_refused():
    env = {**os.environ, "LOG_FORMAT": "xml"}
    result = subprocess.run(
        [sys.executable, "-c", "import readiness.settings"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "LOG_FORMAT must be" in result.stderr


class _Collect(logging.Handler):
    """Records as the console handler sees them: through the project's request-id filter."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.addFilter(requestid.RequestIdFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def _close_worker_connections(**kwargs):
    connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_a_task_started_by_a_request_logs_on_a_real_worker_with_the_requests_id(broker):
    """The request's id goes into the message's headers (before_task_publish) and the worker sets it
    while the task runs (task_prerun): the task's log record carries it."""
    collect = _Collect()
    LOGGED.addHandler(collect)

    def view(request):
        logged_task.delay("from a request")
        return HttpResponse("ok")

    middleware = requestid.RequestIdMiddleware(view)
    response = middleware(RequestFactory().get("/", headers={"X-Request-ID": "trace-7f3a"}))
    assert response["X-Request-ID"] == "trace-7f3a"
    assert requestid.current() == ""  # nothing leaks past the request
    task_postrun.connect(_close_worker_connections, weak=False)
    try:
        with start_worker(
            app, pool="threads", concurrency=1, perform_ping_check=False, queues=[broker], shutdown_timeout=30
        ):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not collect.records:
                time.sleep(0.05)
    finally:
        task_postrun.disconnect(_close_worker_connections)
        LOGGED.removeHandler(collect)
    assert [(r.getMessage(), r.request_id) for r in collect.records] == [
        ("task says from a request", "trace-7f3a")
    ]


# Multiprocess mode (several gunicorn workers, or web and workers sharing PROMETHEUS_MULTIPROC_DIR): what
# one process observed is in another process's scrape.
OBSERVE_SCRIPT = """
import django
django.setup()
from readiness import metrics
metrics.observe_probe_run("done", 2.0)
metrics.observe_probe_run("done", 3.0)
"""
SCRAPE_SCRIPT = """
import os
import django
django.setup()
from django.test import Client
response = Client().get("/metrics", headers={"Authorization": "Bearer " + os.environ["METRICS_TOKEN"]})
assert response.status_code == 200, response.status_code
print(response.content.decode())
"""


def test_in_multiprocess_mode_a_scrape_adds_up_every_process(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "readiness.settings_test",
        "ALLOWED_HOSTS": "testserver",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "METRICS_TOKEN": TOKEN,
    }
    for _ in range(2):  # two processes, one after the other, each observing two runs
        subprocess.run([sys.executable, "-c", OBSERVE_SCRIPT], env=env, check=True, timeout=60)
    assert any(path.name.startswith("histogram_") for path in tmp_path.iterdir())
    scraped = subprocess.run(
        [sys.executable, "-c", SCRAPE_SCRIPT], env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    samples = {}
    for family in text_string_to_metric_families(scraped):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    assert value(samples, "readiness_probe_runs_total", outcome="done") == 4
    assert value(samples, "readiness_probe_run_duration_seconds_sum", outcome="done") == 10.0
