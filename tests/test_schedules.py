"""Schedules (Celery beat): scheduled probe runs, reviews past their next-review date, evidence that went
stale, pruning. Each task writes one ScheduleRun with what it did, and a second run repeats nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from api import services as api_services
from api.models import IdempotencyRecord
from evidence import tasks as evidence_tasks
from evidence.models import Evidence, EvidenceKind
from probes import services as probe_services
from probes import tasks as probe_tasks
from probes.models import ProbeRun, ProbeTarget, RunState
from reviews import services as review_services
from reviews.models import AuditEvent, ReviewState
from schedules import tasks as schedule_tasks
from schedules.models import ScheduleRun, ScheduleRunState
from schedules.recording import run_recorded
from tests.factories import ReviewFactory, category

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_worker(monkeypatch):
    """Runs are queued, not executed: the probe engine has its own tests."""
    monkeypatch.setattr(probe_tasks.run_probe_run, "delay", lambda run_id: None)


def test_every_beat_task_is_scheduled_and_registered():
    from readiness.celery import app

    app.loader.import_default_modules()
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for name in (
        "probes.tasks.run_scheduled_probes",
        "schedules.tasks.mark_overdue_reviews",
        "evidence.tasks.record_stale_evidence",
        "schedules.tasks.prune_records",
        "reviews.tasks.expire_exceptions",
    ):
        assert name in tasks, name
        assert name in app.tasks, name


# --- Recording


def test_a_run_records_its_window_counts_and_details():
    def work(report):
        report.count("seen", 3)
        report.note(item=1)

    first = run_recorded("demo.task", work)
    assert (first.state, first.counts, first.details, first.window_start) == (
        "done",
        {"seen": 3},
        [{"item": 1}],
        None,
    )
    assert first.finished_at >= first.started_at
    second = run_recorded("demo.task", lambda report: None)
    assert second.window_start == first.window_end
    assert second.summary == "nothing to do"


def test_a_failed_run_is_recorded_with_its_error_and_raised_again():
    def work(report):
        report.count("before_failing")
        raise RuntimeError("broker went away")

    with pytest.raises(RuntimeError):
        run_recorded("demo.failing", work)
    run = ScheduleRun.objects.get(task="demo.failing")
    assert run.state == ScheduleRunState.FAILED
    assert run.error == "RuntimeError: broker went away"
    assert run.counts == {"before_failing": 1}
    # A failed run does not move the window: the next run looks again from where the last good one ended.
    assert run_recorded("demo.failing", lambda report: None).window_start is None


def test_schedule_runs_are_in_the_admin_read_only(admin_client):
    run_recorded("demo.task", lambda report: report.count("x"))
    assert admin.site.is_registered(ScheduleRun)
    listing = admin_client.get(reverse("admin:schedules_schedulerun_changelist"))
    assert listing.status_code == 200
    assert b"demo.task" in listing.content and b"x 1" in listing.content
    assert admin_client.get(reverse("admin:schedules_schedulerun_add")).status_code == 403


# --- Scheduled probe runs


@pytest.fixture
def target(system, architect):
    return probe_services.create_target(
        system=system,
        name="primary",
        dsn="postgresql://probe:pw@127.0.0.1:1/none",
        actor=architect,
        schedule_hours=6,
    )


def test_a_scheduled_target_gets_a_run_for_the_open_review_once_per_interval(target, review, no_worker):
    unscheduled = ProbeTarget.objects.create(
        system=target.system, name="replica", host="127.0.0.1", port=1, schedule_hours=None
    )

    counts = probe_tasks.run_scheduled_probes()

    assert counts == {"started": 1}
    run = ProbeRun.objects.get()
    assert (run.target, run.review, run.state, run.started_by) == (target, review, RunState.QUEUED, None)
    assert AuditEvent.objects.filter(action="probe_run.schedule", actor=None).count() == 1
    assert not unscheduled.runs.exists()
    recorded = ScheduleRun.objects.get(task="probes.tasks.run_scheduled_probes")
    assert recorded.details == [
        {"target": target.pk, "name": str(target), "run": run.pk, "review": review.pk}
    ]

    ProbeRun.objects.update(state=RunState.DONE)
    assert probe_tasks.run_scheduled_probes() == {}  # the interval has not passed
    ProbeRun.objects.update(created_at=timezone.now() - timedelta(hours=6, minutes=1))
    assert probe_tasks.run_scheduled_probes() == {"started": 1}
    assert ProbeRun.objects.count() == 2
    assert ScheduleRun.objects.filter(task="probes.tasks.run_scheduled_probes").count() == 3


def test_a_busy_target_waits_and_a_decided_review_is_left_alone(target, review, no_worker):
    ProbeRun.objects.create(
        target=target, state=RunState.RUNNING, created_at=timezone.now() - timedelta(days=1)
    )
    assert probe_tasks.run_scheduled_probes() == {}
    ProbeRun.objects.update(state=RunState.DONE)
    type(review).objects.filter(pk=review.pk).update(state=ReviewState.DECIDED)
    assert probe_tasks.run_scheduled_probes() == {"started": 1}
    assert ProbeRun.objects.latest("created_at").review is None


def test_the_schedule_is_set_on_the_target_page(client, architect, target):
    client.force_login(architect)
    response = client.post(
        reverse("probe_target_edit", args=[target.pk]),
        {"name": "primary", "environment": "production", "schedule_hours": "24"},
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.schedule_hours == 24
    refused = client.post(
        reverse("probe_target_edit", args=[target.pk]),
        {"name": "primary", "environment": "production", "schedule_hours": "0"},
    )
    assert refused.status_code == 200 and "schedule_hours" in refused.context["form"].errors


def test_the_sweeper_is_recorded_too():
    assert probe_tasks.sweep_stale_runs() == {"requeued": 0, "failed": 0}
    assert ScheduleRun.objects.get(task="probes.tasks.sweep_stale_runs").state == "done"


# --- Reviews past their next-review date


def _decide(review, architect, next_review):
    for cat in review.catalogue.categories.all():
        from evidence import services as evidence_services

        evidence_services.add_link(
            review=review, category=cat, title=f"{cat.code}", url="https://ci.example.com/x", actor=architect
        )
        review_services.set_score(review=review, category=cat, score=2, actor=architect)
    return review_services.record_decision(review=review, actor=architect, next_review=next_review)


def test_an_overdue_review_is_marked_once_in_its_trail(review, architect, system):
    decision = _decide(review, architect, timezone.localdate() + timedelta(days=30))
    assert schedule_tasks.mark_overdue_reviews() == {"overdue": 0}
    later = timezone.now() + timedelta(days=45)

    counts = schedule_tasks.mark_overdue(now=later)

    assert counts == {"overdue": 1, "marked": 1}
    event = AuditEvent.objects.get(action="review.overdue")
    assert (event.actor, event.review, event.object_id) == (None, review, str(decision.pk))
    assert event.after == {
        "system": system.slug,
        "next_review": decision.next_review.isoformat(),
        "days_overdue": 15,
    }
    assert schedule_tasks.mark_overdue(now=later) == {"overdue": 1}
    assert AuditEvent.objects.filter(action="review.overdue").count() == 1
    runs = ScheduleRun.objects.filter(task="schedules.tasks.mark_overdue_reviews")
    assert runs.count() == 3
    assert [r.details[0]["days_overdue"] for r in runs if r.details] == [15]


# --- Stale evidence


def test_evidence_that_went_stale_since_the_last_run_is_recorded_once(review, architect):
    other = ReviewFactory(system=review.system, created_by=architect, state=ReviewState.DECIDED)
    now = timezone.now()

    def item(r, kind, days, code="backup"):
        return Evidence.objects.create(
            review=r, category=category(r, code), kind=kind, title=f"{kind} {days}", url="https://x.example",
            observed_at=now - timedelta(days=days), added_by=architect,
        )  # fmt: skip

    drill = item(review, EvidenceKind.RESTORE_DRILL, 95)
    item(review, EvidenceKind.RESTORE_DRILL, 30)
    item(review, EvidenceKind.LINK, 900)
    item(other, EvidenceKind.RESTORE_DRILL, 95)  # a decided review's evidence no longer moves a gate

    assert evidence_tasks.record_stale_evidence() == {"went_stale": 1, "reviews": 1}
    event = AuditEvent.objects.get(action="evidence.stale")
    assert (event.review, event.object_id, event.actor) == (review, str(drill.pk), None)
    assert event.after["max_age_days"] == 90

    assert evidence_tasks.record_stale_evidence() == {"went_stale": 0, "reviews": 0}
    probe = item(review, EvidenceKind.PROBE_RESULT, 6, code="security")
    assert evidence_tasks.record_stale(now=now + timedelta(hours=23)) == {"went_stale": 0, "reviews": 0}
    counts = evidence_tasks.record_stale(now=now + timedelta(days=1, minutes=1))
    assert counts == {"went_stale": 1, "reviews": 1}
    last = (
        ScheduleRun.objects.filter(task="evidence.tasks.record_stale_evidence")
        .order_by("-started_at")
        .first()
    )
    assert last.details[0]["evidence"] == probe.pk and last.details[0]["kind"] == "probe_result"
    assert AuditEvent.objects.filter(action="evidence.stale").count() == 2


# --- Pruning


def test_old_idempotency_records_and_schedule_runs_are_pruned(team, architect):
    token, _ = api_services.create_token(team=team, actor=architect, name="ci", scopes=["read"])
    old = timezone.now() - timedelta(days=settings.API_IDEMPOTENCY_KEEP_DAYS + 1)
    IdempotencyRecord.objects.create(
        token=token, key="old", request_hash="x", method="POST", path="/", created_at=old
    )
    IdempotencyRecord.objects.create(token=token, key="new", request_hash="x", method="POST", path="/")
    ScheduleRun.objects.create(
        task="demo", started_at=timezone.now() - timedelta(days=settings.SCHEDULE_RUN_KEEP_DAYS + 1)
    )

    counts = schedule_tasks.prune_records()

    assert counts == {"idempotency_records": 1, "schedule_runs": 1}
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
    assert ScheduleRun.objects.filter(task="schedules.tasks.prune_records").count() == 1


@pytest.mark.django_db
def test_exception_expiry_is_recorded_as_a_schedule_run():
    from reviews import tasks
    from schedules.models import ScheduleRun

    tasks.expire_exceptions()
    run = ScheduleRun.objects.get(task="reviews.tasks.expire_exceptions")
    assert run.counts.get("expired") == 0 and run.state == "done"
