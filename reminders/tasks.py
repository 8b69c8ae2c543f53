"""Celery beat task: today's reminder digests (see reminders.services)."""

from celery import shared_task


@shared_task(name="reminders.tasks.send_reminders")
def send_reminders() -> dict:
    from .services import send_reminders as send

    return send()
