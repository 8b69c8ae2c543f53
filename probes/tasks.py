"""Celery tasks of the probe engine. They take ids, never passwords or objects; the work is in services."""

import time

from celery import shared_task
from django.conf import settings

from schedules.recording import Report, run_recorded

from . import services


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    # Routed to PROBE_QUEUE (CELERY_TASK_ROUTES). The limits need the prefork pool: the soft one
    # interrupts a probe waiting on a target that stopped answering (the run fails with the reason);
    # the hard one kills the worker child if that did not free it (the sweeper takes the run over).
    soft_time_limit=settings.PROBE_RUN_SOFT_TIME_LIMIT_S,
    time_limit=settings.PROBE_RUN_TIME_LIMIT_S,
)
def run_probe_run(self, run_id: int) -> str:
    """Run one probe run. Idempotent: it claims the run atomically and stores each result once, so a
    redelivered message (acks_late) does nothing twice. While another worker still probes the run's
    target ("target busy": it will stop at its next write, the run having been taken from it), the task
    comes back later, a few times; past that the sweeper sends the run again."""
    from readiness import metrics

    started = time.perf_counter()
    outcome = services.execute_run(run_id)
    metrics.observe_probe_run(outcome, time.perf_counter() - started)
    if outcome == "target busy" and self.request.retries < settings.PROBE_BUSY_RETRIES:
        raise self.retry(countdown=settings.PROBE_BUSY_RETRY_S, max_retries=settings.PROBE_BUSY_RETRIES)
    return outcome


@shared_task(ignore_result=True)
def test_target_connection(target_id: int) -> bool | None:
    """The "test connection" of a target, asked for on its page: connect, verify the role, store the
    result on the target (the page polls until it is there). Harmless to repeat."""
    from .models import ProbeTarget

    target = ProbeTarget.objects.select_related("system").filter(pk=target_id).first()
    if target is None:
        return None
    return services.test_connection(target=target, actor=None)["ok"]


@shared_task(ignore_result=True)
def sweep_stale_runs() -> dict[str, int]:
    """Every minute (CELERY_BEAT_SCHEDULE): re-enqueue or fail runs left queued or running. Recorded as a
    ScheduleRun."""
    return run_recorded("probes.tasks.sweep_stale_runs", _sweep).counts


def _sweep(report: Report) -> None:
    for what, n in services.sweep_stale_runs().items():
        report.count(what, n)


@shared_task(name="probes.tasks.run_scheduled_probes", ignore_result=True)
def run_scheduled_probes() -> dict[str, int]:
    """Every few minutes (CELERY_BEAT_SCHEDULE): start a run of each target whose schedule_hours have
    passed since its newest run. Recorded as a ScheduleRun."""
    return run_recorded("probes.tasks.run_scheduled_probes", _run_scheduled_probes).counts


def _run_scheduled_probes(report: Report) -> None:
    for start in services.start_due_runs(report.now):
        if start.run is None:
            report.count("skipped")
            report.note(target=start.target.pk, name=str(start.target), skipped=start.skipped)
        else:
            report.count("started")
            report.note(
                target=start.target.pk, name=str(start.target), run=start.run.pk, review=start.run.review_id
            )
