"""Beat tasks that belong to no single app: reviews past their next-review date, and pruning the records
that are only kept for a while (idempotency keys, schedule runs). Each is recorded as a ScheduleRun."""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from reviews import audit
from reviews.models import AuditEvent, Decision, System
from reviews.selectors import overdue_systems

from .models import ScheduleRun
from .recording import Report, run_recorded

OVERDUE = "schedules.tasks.mark_overdue_reviews"
PRUNE = "schedules.tasks.prune_records"


@shared_task(name=OVERDUE, ignore_result=True)
def mark_overdue_reviews() -> dict[str, int]:
    """Hourly: a system whose newest decision's next-review date has passed gets one `review.overdue`
    event in that review's audit trail (once per decision; a new decision starts over)."""
    return mark_overdue()


def mark_overdue(*, now: datetime | None = None) -> dict[str, int]:
    return run_recorded(OVERDUE, _mark_overdue, now=now).counts


@transaction.atomic
def _mark_overdue(report: Report) -> None:
    today = timezone.localdate(report.now)
    overdue = list(overdue_systems(System.objects.all(), today=today))
    report.count("overdue", len(overdue))
    decision_ids = [s.latest_decision_id for s in overdue]
    already = set(
        AuditEvent.objects.filter(
            action="review.overdue",
            object_type="reviews.decision",
            object_id__in=[str(i) for i in decision_ids],
        ).values_list("object_id", flat=True)
    )
    decisions = (
        Decision.objects.select_related("review")
        .defer(*Decision.RECORD_FIELDS)
        .in_bulk([i for i in decision_ids if str(i) not in already])
    )
    for system in overdue:
        decision = decisions.get(system.latest_decision_id)
        if decision is None:
            continue
        days = (today - system.next_review).days
        audit.record(
            actor=None,
            action="review.overdue",
            obj=decision,
            review=decision.review,
            after={
                "system": system.slug,
                "next_review": system.next_review.isoformat(),
                "days_overdue": days,
            },
        )
        report.count("marked")
        report.note(
            system=system.slug,
            team=system.team.name,
            decision=decision.pk,
            review=decision.review_id,
            next_review=system.next_review.isoformat(),
            days_overdue=days,
        )


@shared_task(name=PRUNE, ignore_result=True)
def prune_records() -> dict[str, int]:
    """Daily: delete idempotency records past API_IDEMPOTENCY_KEEP_DAYS and schedule runs past
    SCHEDULE_RUN_KEEP_DAYS."""
    return run_recorded(PRUNE, _prune).counts


def _prune(report: Report) -> None:
    from api.services import prune_idempotency_records

    report.count("idempotency_records", prune_idempotency_records(now=report.now))
    cutoff = report.now - timedelta(days=settings.SCHEDULE_RUN_KEEP_DAYS)
    deleted, _ = ScheduleRun.objects.filter(started_at__lt=cutoff).delete()
    report.count("schedule_runs", deleted)
