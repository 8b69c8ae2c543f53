"""What tests that point Celery at another broker share."""

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
