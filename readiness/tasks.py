"""The project's own Celery tasks: the workers' heartbeat (readiness.health)."""

from celery import shared_task

from . import health


@shared_task(name="readiness.tasks.record_heartbeat", ignore_result=True)
def record_heartbeat(queue: str) -> None:
    """Sent by beat to each queue: the worker that takes it writes the time it was seen."""
    health.record_heartbeat(queue)
