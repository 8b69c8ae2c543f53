"""Prometheus metrics, served at /metrics to a scraper that sends `Authorization: Bearer <METRICS_TOKEN>`.

Without METRICS_TOKEN the page does not exist (404); with a missing or wrong token it answers 401.

What is measured, in the process that does the work:
- readiness_http_request_duration_seconds{view,method,status}: every request (RequestMetricsMiddleware),
  by the name of the view that answered ("unmatched" for a 404 that matched no route);
- readiness_probe_run_duration_seconds{outcome} and readiness_probe_runs_total{outcome}: probe runs that
  finished ("done" or "failed"), where the worker runs them (probes.tasks.run_probe_run);
- readiness_pdf_render_duration_seconds: decision PDFs rendered (from each stored DecisionDocument);
- readiness_celery_queue_depth{queue}: messages waiting in each queue, read from Redis at scrape time;
- readiness_webhook_attempts_total{event,outcome}: webhook POSTs ("delivered", or "error": down, slow,
  not 2xx) and readiness_webhook_failures_total{event}: deliveries given up after their last attempt,
  where the worker sends them (webhooks.services).

Several processes (gunicorn workers, Celery's prefork children, web and workers on one host): set
PROMETHEUS_MULTIPROC_DIR to an empty directory that all of them share, emptied before they start; each
process writes its values there and /metrics adds them up (prometheus_client's multiprocess mode). File
names carry host name and process id, so containers sharing one volume do not collide.
"""

from __future__ import annotations

import hmac
import os
import socket
import time

import redis
from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_save
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
if MULTIPROCESS:  # before any metric is made: their values live in files named by host and process
    values.ValueClass = values.MultiProcessValue(lambda: f"{socket.gethostname()}-{os.getpid()}")

REQUEST_LATENCY = Histogram(
    "readiness_http_request_duration_seconds",
    "Time to answer a request, by the view that answered.",
    ["view", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PROBE_RUN_DURATION = Histogram(
    "readiness_probe_run_duration_seconds",
    "Time a worker spent on a probe run, by how the run ended.",
    ["outcome"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
PROBE_RUNS = Counter("readiness_probe_runs", "Probe runs that finished, by how they ended.", ["outcome"])
PDF_RENDER = Histogram(
    "readiness_pdf_render_duration_seconds",
    "Time to render a decision record's PDF.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32),
)
WEBHOOK_ATTEMPTS = Counter(
    "readiness_webhook_attempts",
    "Webhook POSTs, by event and whether the receiver took it.",
    ["event", "outcome"],
)
WEBHOOK_FAILURES = Counter(
    "readiness_webhook_failures", "Webhook deliveries given up on after their last attempt.", ["event"]
)

# Outcomes of probes.services.execute_run that are a finished run ("not claimed" and "lost claim" are a
# duplicate delivery doing nothing).
FINISHED = ("done", "failed")


def observe_probe_run(outcome: str, seconds: float) -> None:
    if outcome in FINISHED:
        PROBE_RUN_DURATION.labels(outcome=outcome).observe(seconds)
        PROBE_RUNS.labels(outcome=outcome).inc()


def observe_webhook_attempt(*, event: str, delivered: bool, gave_up: bool) -> None:
    WEBHOOK_ATTEMPTS.labels(event=event, outcome="delivered" if delivered else "error").inc()
    if gave_up:
        WEBHOOK_FAILURES.labels(event=event).inc()


def _pdf_stored(sender, instance, created, **kwargs) -> None:
    if created and instance.render_ms is not None:
        seconds = instance.render_ms / 1000
        transaction.on_commit(lambda: PDF_RENDER.observe(seconds))


def connect_signals() -> None:
    """Called at start-up (readiness.apps) in web and worker processes: the PDF's render time is stored on
    its document (reviews.records.store_decision_pdf); each new document is observed once it commits."""
    from reviews.models import DecisionDocument

    post_save.connect(_pdf_stored, sender=DecisionDocument, dispatch_uid="readiness.metrics.pdf")


class RequestMetricsMiddleware:
    """Times each request and labels it with the view's URL name (never the path: ids would explode the
    number of series)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or match._func_path) if match else "unmatched"
        REQUEST_LATENCY.labels(
            view=view, method=_method(request.method), status=str(response.status_code)
        ).observe(time.perf_counter() - started)
        return response


_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def _method(method: str | None) -> str:
    return method if method in _METHODS else "other"


def queue_keys(queue: str) -> list[str]:
    """The Redis lists kombu keeps a queue in: the queue's name, and one more per priority step."""
    return [queue] + [f"{queue}\x06\x16{step}" for step in (3, 6, 9)]


class QueueDepthCollector:
    """Messages waiting in the default and the probe queue, read from the broker at scrape time."""

    def collect(self):
        family = GaugeMetricFamily(
            "readiness_celery_queue_depth", "Messages waiting in a Celery queue.", labels=["queue"]
        )
        url = settings.CELERY_BROKER_URL
        if url.startswith(("redis://", "rediss://")):
            client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
            try:
                for queue in (settings.CELERY_TASK_DEFAULT_QUEUE, settings.PROBE_QUEUE):
                    pipe = client.pipeline()
                    for key in queue_keys(queue):
                        pipe.llen(key)
                    family.add_metric([queue], float(sum(pipe.execute())))
            except redis.RedisError:
                return  # the broker is down: /health/ says so; no made-up depth here
            finally:
                client.close()
        yield family


def exposition() -> bytes:
    """The text a scrape gets: this process's metrics (or every process's, in multiprocess mode), then
    the queue depths read now."""
    if MULTIPROCESS:
        main = CollectorRegistry()
        multiprocess.MultiProcessCollector(main)
    else:
        main = REGISTRY
    queues = CollectorRegistry()
    queues.register(QueueDepthCollector())
    return generate_latest(main) + generate_latest(queues)


def _authorised(request) -> bool:
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


@require_GET
def metrics_view(request):
    if not settings.METRICS_TOKEN:
        raise Http404
    if not _authorised(request):
        response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
