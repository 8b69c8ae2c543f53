"""Celery tasks of the evidence domain: recording the evidence that went stale since the last run."""

from datetime import datetime

from celery import shared_task

from schedules.recording import Report, run_recorded

from . import services

TASK = "evidence.tasks.record_stale_evidence"


@shared_task(name=TASK, ignore_result=True)
def record_stale_evidence() -> dict[str, int]:
    """Hourly (CELERY_BEAT_SCHEDULE): each item of an undecided review that passed its maximum age since
    the last run gets one `evidence.stale` event in its review's audit trail. Recorded as a ScheduleRun."""
    return record_stale()


def record_stale(*, now: datetime | None = None) -> dict[str, int]:
    return run_recorded(TASK, _record_stale_evidence, now=now).counts


def _record_stale_evidence(report: Report) -> None:
    candidates = services.newly_stale(since=report.window_start, now=report.now)
    recorded = services.record_stale(candidates)
    report.count("went_stale", len(recorded))
    report.count("reviews", len({e.review_id for e in recorded}))
    for item in recorded:
        report.note(
            evidence=item.pk,
            review=item.review_id,
            kind=item.kind,
            category=item.category.code,
            title=item.title,
            observed_at=item.observed_at.isoformat(),
        )
