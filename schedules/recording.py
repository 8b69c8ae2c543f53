"""Recording what a scheduled task did. Every beat task runs inside `recorded`, which writes one
ScheduleRun: started, then finished with counts and details, or failed with the error."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from .models import ScheduleRun, ScheduleRunState

logger = logging.getLogger(__name__)

MAX_DETAILS = 200


@dataclass
class Report:
    """What a task fills in while it runs; `window_start` is where the previous run left off."""

    run: ScheduleRun
    window_start: datetime | None
    now: datetime
    counts: dict[str, int] = field(default_factory=dict)
    details: list[dict[str, Any]] = field(default_factory=list)

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def note(self, **detail: Any) -> None:
        if len(self.details) < MAX_DETAILS:
            self.details.append(detail)
        else:
            self.count("details_not_kept")


def last_window_end(task: str) -> datetime | None:
    return (
        ScheduleRun.objects.filter(task=task, state=ScheduleRunState.DONE, window_end__isnull=False)
        .order_by("-window_end")
        .values_list("window_end", flat=True)
        .first()
    )


def run_recorded(task: str, work: Callable[[Report], Any], *, now: datetime | None = None) -> ScheduleRun:
    """Run `work(report)` and record it as one ScheduleRun of `task`. The row is written before the work
    starts (so a run that hangs is visible) and finished after it; an error is recorded, then raised
    again for Celery to log."""
    now = now or timezone.now()
    run = ScheduleRun.objects.create(
        task=task, started_at=now, window_start=last_window_end(task), window_end=now
    )
    report = Report(run=run, window_start=run.window_start, now=now)
    try:
        work(report)
    except Exception as exc:
        ScheduleRun.objects.filter(pk=run.pk).update(
            state=ScheduleRunState.FAILED,
            finished_at=max(timezone.now(), now),
            counts=report.counts,
            details=report.details,
            error=f"{type(exc).__name__}: {exc}"[:4000],
        )
        logger.exception("scheduled task %s failed", task)
        raise
    ScheduleRun.objects.filter(pk=run.pk).update(
        state=ScheduleRunState.DONE,
        finished_at=max(timezone.now(), now),
        counts=report.counts,
        details=report.details,
    )
    run.refresh_from_db()
    return run
