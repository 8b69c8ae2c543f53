"""/health/: can this installation do its work? For load balancers and operators; anonymous.

Three checks, each answered "ok", "unavailable", or (the quick start: no broker, tasks run in-process)
"not configured":
- database: the app's database answers a query;
- broker: Redis at CELERY_BROKER_URL answers PING;
- workers: for each queue (the default one and the probe queue), a worker ran the heartbeat task
  (readiness.tasks.record_heartbeat, sent by beat every HEALTH_HEARTBEAT_EVERY_S to each queue) less
  than HEALTH_HEARTBEAT_STALE_S ago. So beat, the broker and each queue's worker are all shown alive.

200 when every check is ok or not configured, 503 otherwise. The answer names no host, address, user or
error text: only each check's status and the heartbeat's age in seconds.
"""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

OK, UNAVAILABLE, STALE, MISSING, NOT_CONFIGURED = (
    "ok",
    "unavailable",
    "stale",
    "no heartbeat",
    "not configured",
)
HEARTBEAT_KEY = "readiness:heartbeat:{queue}"


def broker_client() -> redis.Redis | None:
    """A client of the broker's Redis with short timeouts (a health check must answer quickly), or None
    when no Redis broker is configured."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return None
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def queues() -> list[str]:
    return [settings.CELERY_TASK_DEFAULT_QUEUE, settings.PROBE_QUEUE]


def record_heartbeat(queue: str, *, at: float | None = None) -> None:
    """Write the time a worker of `queue` was last seen (kept a day: an old key means a dead worker)."""
    client = broker_client()
    if client is None:
        return
    try:
        client.set(HEARTBEAT_KEY.format(queue=queue), repr(time.time() if at is None else at), ex=86400)
    finally:
        client.close()


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        return {"status": UNAVAILABLE}
    return {"status": OK}


def _broker_and_workers() -> tuple[dict, dict]:
    if not settings.CELERY_BROKER_URL:
        note = "no broker: tasks run in-process"
        return {"status": NOT_CONFIGURED, "note": note}, {"status": NOT_CONFIGURED, "note": note}
    client = broker_client()
    if client is None:  # a broker other than Redis: not checked here
        return {"status": NOT_CONFIGURED, "note": "not a Redis broker"}, {"status": NOT_CONFIGURED}
    try:
        client.ping()
        stamps = client.mget([HEARTBEAT_KEY.format(queue=q) for q in queues()])
    except (redis.RedisError, OSError):
        return {"status": UNAVAILABLE}, {"status": UNAVAILABLE}
    finally:
        client.close()
    now, stale_after = time.time(), settings.HEALTH_HEARTBEAT_STALE_S
    per_queue = {}
    for queue, stamp in zip(queues(), stamps, strict=True):
        try:
            age = max(0, int(now - float(stamp))) if stamp is not None else None
        except ValueError:
            age = None
        if age is None:
            per_queue[queue] = {"status": MISSING}
        else:
            per_queue[queue] = {"status": OK if age <= stale_after else STALE, "heartbeat_age_s": age}
    healthy = all(q["status"] == OK for q in per_queue.values())
    return {"status": OK}, {"status": OK if healthy else UNAVAILABLE, "queues": per_queue}


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    broker, workers = _broker_and_workers()
    checks = {"database": _database(), "broker": broker, "workers": workers}
    healthy = all(check["status"] in (OK, NOT_CONFIGURED) for check in checks.values())
    return JsonResponse(
        {"status": OK if healthy else "unhealthy", "checks": checks}, status=200 if healthy else 503
    )
