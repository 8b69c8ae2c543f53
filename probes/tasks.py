"""Celery tasks of the probe engine. They take ids, never DSNs or objects; the work is in services."""

from celery import shared_task

from . import services


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_probe_run(run_id: int) -> str:
    """Run one probe run. Idempotent: it claims the run atomically and stores each result once, so a
    redelivered message (acks_late) does nothing twice."""
    return services.execute_run(run_id)


@shared_task(ignore_result=True)
def sweep_stale_runs() -> dict[str, int]:
    """Every minute (CELERY_BEAT_SCHEDULE): re-enqueue or fail runs left queued or running."""
    return services.sweep_stale_runs()
