"""What each scheduled (Celery beat) task did: one ScheduleRun per execution, shown in the admin."""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class ScheduleRunState(models.TextChoices):
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ScheduleRun(models.Model):
    """One execution of a beat task: when it ran, the window it covered and what it did.

    `window_end` of the last finished run is where the next run of the same task starts looking, so a
    task that records what changed "since the last run" neither misses nor repeats a moment."""

    task = models.CharField(max_length=120)
    state = models.CharField(
        max_length=10, choices=ScheduleRunState.choices, default=ScheduleRunState.RUNNING
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    # Counts of what it did, e.g. {"started": 2, "skipped": 1}: summed in the admin's list.
    counts = models.JSONField(default=dict, blank=True)
    # What it did item by item, capped: ids, names and reasons an admin can follow up.
    details = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["task", "-started_at"], name="schedule_run_task_started")]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=ScheduleRunState.values), name="schedule_run_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True) | Q(finished_at__gte=models.F("started_at")),
                name="schedule_run_finishes_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task} at {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def summary(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.counts.items()) or "nothing to do"

    @property
    def duration_ms(self) -> int | None:
        if self.finished_at is None:
            return None
        return int((self.finished_at - self.started_at).total_seconds() * 1000)
