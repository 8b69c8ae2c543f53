"""Celery tasks of outgoing notifications; each takes ids only and is safe to run twice."""

from celery import shared_task

from . import events, services

DELIVER = "webhooks.tasks.deliver"


@shared_task(name=DELIVER, ignore_result=True)
def deliver(delivery_id: int) -> str:
    return services.attempt(delivery_id)


@shared_task(name="webhooks.tasks.sweep_deliveries", ignore_result=True)
def sweep_deliveries() -> dict[str, int]:
    return services.sweep()


@shared_task(name="webhooks.tasks.prune_deliveries", ignore_result=True)
def prune_deliveries() -> int:
    return services.prune()


@shared_task(name="webhooks.tasks.notify_expiring_exceptions", ignore_result=True)
def notify_expiring_exceptions() -> int:
    return events.notify_expiring_exceptions()
