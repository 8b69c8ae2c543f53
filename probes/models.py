"""Probe targets (with their encrypted DSN), invariant checks, probe runs and their results."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from reviews.models import Level


class Environment(models.TextChoices):
    PRODUCTION = "production", "Production"
    STAGING = "staging", "Staging"
    TEST = "test", "Test"
    DEVELOPMENT = "development", "Development"


class ProbeTarget(models.Model):
    """A PostgreSQL database of a system that probes connect to.

    The connection is kept as plain fields (host, port, database, user, sslmode, certificate files under
    PROBE_SSL_DIR) and the password apart, only as a Fernet token (`probes.crypto`). Pages, API, audit
    events, exports and logs show `connection` (user@host:port/dbname) at most; the password is
    decrypted only by `probes.services.targets._conninfo`, where a connection is made.
    """

    system = models.ForeignKey("reviews.System", on_delete=models.CASCADE, related_name="probe_targets")
    name = models.CharField(max_length=120)
    environment = models.CharField(max_length=16, choices=Environment.choices, default=Environment.PRODUCTION)
    host = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(default=5432)
    dbname = models.CharField(max_length=63, blank=True)
    db_user = models.CharField("user", max_length=63, blank=True)
    sslmode = models.CharField(max_length=12, default="prefer")
    # {sslcert|sslkey|sslrootcert|sslcrl|sslcrldir: a path relative to PROBE_SSL_DIR}
    ssl_files = models.JSONField(default=dict, blank=True)
    password_encrypted = models.TextField(blank=True, default="", editable=False)
    # Per-probe settings, {probe id: {parameter: value}}, over the probe's default thresholds.
    params = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # The last "test connection": when, whether it connected, and what the server said (or the error).
    last_test_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_result = models.JSONField(default=dict, blank=True)
    # When a "test connection" was asked for: pending while later than last_test_at (a worker tests it).
    test_requested_at = models.DateTimeField(null=True, blank=True)
    # Run every probe of this target every so many hours (Celery beat, `probes.tasks.run_scheduled_probes`);
    # None: only when someone starts a run. Scheduled runs keep probe evidence fresh (7 days by default).
    schedule_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="Run the probes every so many hours; empty for no schedule."
    )

    class Meta:
        ordering = ["system__name", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(schedule_hours__isnull=True)
                | (Q(schedule_hours__gte=1) & Q(schedule_hours__lte=8760)),
                name="probe_target_schedule_1h_to_1y",
            ),
            models.UniqueConstraint(fields=["system", "name"], name="probe_target_name_unique_per_system"),
            models.CheckConstraint(condition=~Q(name=""), name="probe_target_name_required"),
            models.CheckConstraint(
                condition=Q(environment__in=Environment.values), name="probe_target_environment_valid"
            ),
            models.CheckConstraint(
                condition=Q(port__gte=1) & Q(port__lte=65535), name="probe_target_port_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.system} · {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("probe_target_detail", args=[self.pk])

    @property
    def test_pending(self) -> bool:
        return self.test_requested_at is not None and (
            self.last_test_at is None or self.last_test_at < self.test_requested_at
        )

    @property
    def connection(self) -> str:
        """What may be shown of the connection: user@host:port/dbname."""
        user = f"{self.db_user}@" if self.db_user else ""
        return f"{user}{self.host}:{self.port}/{self.dbname}"


class InvariantCheck(models.Model):
    """A user's SQL that returns the rows breaking an invariant (seed §6.1, §11.4): zero rows passes."""

    target = models.ForeignKey(ProbeTarget, on_delete=models.CASCADE, related_name="invariant_checks")
    name = models.CharField(max_length=120)
    sql = models.TextField()
    category = models.SlugField(max_length=40, default="data-model", help_text="Catalogue category code.")
    severity = models.CharField(max_length=2, choices=Level.choices, default=Level.P1)
    row_cap = models.PositiveIntegerField(default=100)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["target", "name"]
        constraints = [
            models.UniqueConstraint(fields=["target", "name"], name="invariant_name_unique_per_target"),
            models.CheckConstraint(condition=~Q(name=""), name="invariant_name_required"),
            models.CheckConstraint(condition=~Q(sql=""), name="invariant_sql_required"),
            models.CheckConstraint(condition=Q(severity__in=Level.values), name="invariant_severity_valid"),
            models.CheckConstraint(
                condition=Q(row_cap__gte=1) & Q(row_cap__lte=1000), name="invariant_row_cap_1_to_1000"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def probe_id(self) -> str:
        """The id its results carry in a run: stable across runs, so findings and resumes match."""
        return f"invariant.{self.pk}"


class RunState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


ACTIVE_STATES = (RunState.QUEUED, RunState.RUNNING)


class ProbeRun(models.Model):
    """One execution of every probe (and invariant check) of a target, optionally for a review.

    A worker claims the run by setting a fresh `claim_token`; every later write of that worker is
    conditional on the token, so a worker that was presumed dead and replaced stops at its next write.
    `attempts` counts dispatches to the queue (the first one and each re-enqueue by the sweeper).
    """

    target = models.ForeignKey(ProbeTarget, on_delete=models.CASCADE, related_name="runs")
    review = models.ForeignKey(
        "reviews.Review", on_delete=models.SET_NULL, null=True, blank=True, related_name="probe_runs"
    )
    state = models.CharField(max_length=10, choices=RunState.choices, default=RunState.QUEUED)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    current_probe = models.CharField(max_length=120, blank=True)
    error = models.TextField(blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    # Whether its results became evidence and findings of the review (not when the review was decided).
    applied_to_review = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=RunState.values), name="probe_run_state_valid"),
            models.CheckConstraint(
                condition=Q(progress_done__lte=models.F("progress_total")), name="probe_run_progress_le_total"
            ),
            models.UniqueConstraint(
                fields=["target"],
                condition=Q(state__in=["queued", "running"]),
                name="probe_run_one_active_per_target",
            ),
        ]
        indexes = [models.Index(fields=["state", "deadline"], name="probe_run_state_deadline")]

    def __str__(self) -> str:
        return f"Probe run #{self.pk} of {self.target.name}"

    def get_absolute_url(self) -> str:
        return reverse("probe_run_detail", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.state in (RunState.DONE, RunState.FAILED)

    @property
    def percent(self) -> int:
        return int(100 * self.progress_done / self.progress_total) if self.progress_total else 0


class ResultStatus(models.TextChoices):
    PASS = "pass", "Pass"
    WARN = "warn", "Warn"
    FAIL = "fail", "Fail"
    SKIPPED = "skipped", "Skipped"
    ERROR = "error", "Error"


class ProbeResult(models.Model):
    """One probe's result in one run. Stored once per (run, probe): a redelivered task adds nothing."""

    run = models.ForeignKey(ProbeRun, on_delete=models.CASCADE, related_name="results")
    probe_id = models.CharField(max_length=120)
    title = models.CharField(max_length=200)
    category = models.SlugField(max_length=40)
    severity = models.CharField(max_length=2, choices=Level.choices)
    status = models.CharField(max_length=10, choices=ResultStatus.choices)
    summary = models.TextField(blank=True)
    details = models.JSONField(default=list, blank=True)  # [{object, status, message, data}]
    rows = models.JSONField(default=list, blank=True)  # the raw rows, capped
    fix = models.TextField(blank=True)
    duration_ms = models.FloatField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    evidence = models.OneToOneField(
        "evidence.Evidence", on_delete=models.SET_NULL, null=True, blank=True, related_name="probe_result"
    )

    class Meta:
        ordering = ["category", "probe_id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "probe_id"], name="probe_result_once_per_run"),
            models.CheckConstraint(
                condition=Q(status__in=ResultStatus.values), name="probe_result_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.probe_id}: {self.status}"


class ProbeFinding(models.Model):
    """What the probes know of a finding they opened: which (probe, object) it is about, the level the
    probe last set (a different `finding.level` means a person regraded it, which re-runs keep), and
    which run opened, last saw and resolved it."""

    finding = models.OneToOneField("reviews.Finding", on_delete=models.CASCADE, related_name="probe_link")
    probe_id = models.CharField(max_length=120)
    object = models.CharField(max_length=300, blank=True)
    probe_level = models.CharField(max_length=2, choices=Level.choices)
    # The target that last reported the object failing: only a run of that target resolves the finding,
    # so a clean staging database does not resolve what production still shows.
    target = models.ForeignKey(
        ProbeTarget, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    opened_by_run = models.ForeignKey(
        ProbeRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_seen_run = models.ForeignKey(
        ProbeRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_by_run = models.ForeignKey(
        ProbeRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="resolved_findings"
    )

    def __str__(self) -> str:
        return f"{self.probe_id}:{self.object}"
