"""What tests that point Celery at another broker share."""

import uuid
from contextlib import contextmanager

import redis
from kombu import pools

from readiness.celery import app


def reset_broker_connections() -> None:
    """Forget every pooled connection and producer: kombu keeps producer pools per broker URL, and a
    closed one left behind fails the next test that sends a message ("Acquire on closed pool")."""
    pools.reset()
    pool = getattr(app, "_pool", None)
    if pool is not None:
        pool.force_close_all()
        app._pool = None
    app.__dict__.pop("amqp", None)


@contextmanager
def celery_on_redis(settings, redis_url: str, prefix: str):
    """Point Celery at the real Redis with a default queue of one test alone; yield the queue's name.
    Afterwards the app's configuration comes back and the queue's keys are deleted."""
    keys = ("broker_url", "task_always_eager", "task_default_queue", "task_routes", "result_backend")
    saved = {key: app.conf[key] for key in keys}
    queue = f"{prefix}-{uuid.uuid4().hex[:10]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    settings.CELERY_BROKER_URL = redis_url
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.update(
        broker_url=redis_url,
        task_always_eager=False,
        task_default_queue=queue,
        task_routes={},
        result_backend=None,
    )
    reset_broker_connections()
    try:
        yield queue
    finally:
        app.conf.update(saved)
        reset_broker_connections()
        client = redis.Redis.from_url(redis_url)
        for key in client.keys(f"*{queue}*"):
            client.delete(key)
        client.close()
