"""Evidence: links, files, probe results and typed records (restore drills, runbooks), with their age."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class EvidenceKind(models.TextChoices):
    LINK = "link", "Link"
    FILE = "file", "File"
    PROBE_RESULT = "probe_result", "Probe result"
    RESTORE_DRILL = "restore_drill", "Restore drill"
    RUNBOOK = "runbook", "Runbook"


def evidence_upload_to(instance: "Evidence", filename: str) -> str:
    return f"evidence/{instance.review_id}/{timezone.now():%Y%m%d%H%M%S}-{filename}"


class Evidence(models.Model):
    review = models.ForeignKey("reviews.Review", on_delete=models.CASCADE, related_name="evidence")
    category = models.ForeignKey("reviews.Category", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=EvidenceKind.choices)
    title = models.CharField(max_length=200)
    url = models.URLField(max_length=500, blank=True)
    file = models.FileField(upload_to=evidence_upload_to, blank=True, max_length=300)
    notes = models.TextField(blank=True)
    # When the thing the evidence shows happened (the drill, the test, the probe run), which sets its age.
    observed_at = models.DateTimeField(default=timezone.now)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "evidence"
        ordering = ["-observed_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=EvidenceKind.values), name="evidence_kind_valid"),
            models.CheckConstraint(condition=~Q(title=""), name="evidence_title_required"),
            models.CheckConstraint(
                condition=~Q(kind=EvidenceKind.LINK) | ~Q(url=""), name="evidence_link_has_url"
            ),
            models.CheckConstraint(
                condition=~Q(kind=EvidenceKind.FILE) | ~Q(file=""), name="evidence_file_has_file"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def age(self) -> timedelta:
        return timezone.now() - self.observed_at


class RestoreDrill(models.Model):
    """A restore drill report, seed §11.3: measured, not guessed."""

    evidence = models.OneToOneField(Evidence, on_delete=models.CASCADE, related_name="restore_drill")
    database = models.CharField(max_length=200)
    backup_source = models.CharField(max_length=200)
    target_environment = models.CharField(max_length=200)
    requested_recovery_point = models.DateTimeField()
    actual_recovery_point = models.DateTimeField()
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    rpo_target_minutes = models.PositiveIntegerField(help_text="Maximum acceptable data loss, in minutes.")
    rto_target_minutes = models.PositiveIntegerField(
        help_text="Maximum acceptable recovery time, in minutes."
    )
    validation_queries = models.TextField()
    validation_passed = models.BooleanField()
    validation_result = models.TextField(blank=True)
    issues_found = models.TextField(blank=True)
    follow_up_owner = models.CharField(max_length=120, blank=True)
    next_drill_date = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__gte=models.F("started_at")), name="drill_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(actual_recovery_point__lte=models.F("requested_recovery_point")),
                name="drill_actual_point_not_after_requested",
            ),
        ]

    def __str__(self) -> str:
        return f"Restore drill of {self.database} ({self.started_at:%Y-%m-%d})"

    @property
    def rpo_achieved(self) -> timedelta:
        """Data lost: how far the restore fell short of the requested recovery point."""
        return self.requested_recovery_point - self.actual_recovery_point

    @property
    def rto_achieved(self) -> timedelta:
        return self.ended_at - self.started_at

    @property
    def rpo_met(self) -> bool:
        return self.rpo_achieved <= timedelta(minutes=self.rpo_target_minutes)

    @property
    def rto_met(self) -> bool:
        return self.rto_achieved <= timedelta(minutes=self.rto_target_minutes)

    @property
    def passed(self) -> bool:
        return self.validation_passed and self.rpo_met and self.rto_met


class Runbook(models.Model):
    """A runbook with the date it was last exercised, seed §18.2."""

    evidence = models.OneToOneField(Evidence, on_delete=models.CASCADE, related_name="runbook")
    name = models.CharField(max_length=200)
    severity = models.CharField(max_length=40, blank=True)
    symptoms = models.TextField(blank=True)
    immediate_safe_actions = models.TextField(blank=True)
    actions_forbidden = models.TextField(blank=True)
    owner = models.CharField(max_length=120)
    last_tested = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name
