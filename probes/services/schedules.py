"""Scheduled probe runs: targets with `schedule_hours` get a run when that long has passed since their
newest run. The run is for the system's newest undecided review, so its results become that review's
evidence and keep it fresh."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Subquery

from reviews.models import Review, ReviewState
from reviews.services import ServiceError

from ..models import ACTIVE_STATES, ProbeRun, ProbeTarget
from .runs import start_scheduled_run


@dataclass(frozen=True)
class ScheduledStart:
    target: ProbeTarget
    run: ProbeRun | None
    skipped: str = ""  # why no run was started


def due_targets(now: datetime) -> list[ProbeTarget]:
    """Targets with a schedule whose newest run is older than their interval (or that never ran), and
    that have no run queued or running: one query. Longest waiting first (never run first, then by when
    each became due), the order their runs go to the queue, so no target waits behind later ones."""
    newest = ProbeRun.objects.filter(target=OuterRef("pk")).order_by("-created_at", "-pk")
    targets = (
        ProbeTarget.objects.filter(schedule_hours__isnull=False)
        .annotate(
            last_run_at=Subquery(newest.values("created_at")[:1]),
            busy=Exists(ProbeRun.objects.filter(target=OuterRef("pk"), state__in=ACTIVE_STATES)),
        )
        .filter(busy=False)
        .select_related("system")
        .order_by("pk")
    )
    due = [
        t
        for t in targets
        if t.last_run_at is None or t.last_run_at <= now - timedelta(hours=t.schedule_hours)
    ]
    never = [t for t in due if t.last_run_at is None]
    ran = [t for t in due if t.last_run_at is not None]
    ran.sort(key=lambda t: (t.last_run_at + timedelta(hours=t.schedule_hours), t.pk))
    return never + ran


def open_reviews_by_system(system_ids: list[int]) -> dict[int, Review]:
    """The newest review of each system that is not decided yet: one query."""
    reviews: dict[int, Review] = {}
    for review in (
        Review.objects.filter(system_id__in=system_ids)
        .exclude(state=ReviewState.DECIDED)
        .order_by("system_id", "-created_at", "-id")
    ):
        reviews.setdefault(review.system_id, review)
    return reviews


def start_due_runs(now: datetime) -> list[ScheduledStart]:
    """Start a run of every due target, longest waiting first: one task each on the probe queue, taken
    in that order by whichever worker slot is free. A refusal (a run started meanwhile) skips that
    target only."""
    targets = due_targets(now)
    reviews = open_reviews_by_system(sorted({t.system_id for t in targets}))
    started = []
    for target in targets:
        try:
            run = start_scheduled_run(target=target, review=reviews.get(target.system_id))
        except ServiceError as err:
            started.append(ScheduledStart(target, None, " ".join(err.messages)))
        else:
            started.append(ScheduledStart(target, run))
    return started
