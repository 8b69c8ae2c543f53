"""Evidence: links, files, probe results and typed records (restore drills, runbooks, runbook tests,
migration rehearsals, load tests), with their age and whether it has gone stale (`evidence.freshness`)."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from . import freshness, kinds, verdict
from .kinds.runbooks import REQUIRED_RUNBOOKS


class EvidenceKind(models.TextChoices):
    LINK = "link", "Link"
    FILE = "file", "File"
    PROBE_RESULT = "probe_result", "Probe result"
    RESTORE_DRILL = "restore_drill", "Restore drill"
    RUNBOOK = "runbook", "Runbook"
    RUNBOOK_TEST = "runbook_test", "Runbook test"
    MIGRATION_REHEARSAL = "migration_rehearsal", "Migration rehearsal"
    LOAD_TEST = "load_test", "Load test"
    ACCESS_PATTERN = "access_pattern", "Access pattern"
    DERIVED_STORE = "derived_store", "Derived store"
    CAPACITY_ENVELOPE = "capacity_envelope", "Capacity envelope"
    # Declared in evidence.kinds, stored as a Record.
    INVARIANT = "invariant", "Invariant"
    WRITE_PATH = "write_path", "Write path"
    CONCURRENCY_TEST = "concurrency_test", "Concurrency test"
    FORECAST = "forecast", "Forecast"
    MIGRATION_PLAN = "migration_plan", "Migration plan"
    RECOVERY_OBJECTIVES = "recovery_objectives", "Recovery objectives"
    SIGNAL = "signal", "Signal"
    DASHBOARD = "dashboard", "Dashboard"
    ALERT_RULE = "alert_rule", "Alert rule"
    PRIVACY_FIELD = "privacy_field", "Privacy field"


# The typed records: each is the related name (and the kind) of a one-to-one record of an Evidence row.
# Pages select them with the evidence (select_related(*TYPED_RECORDS)) to draw each row in one query.
TYPED_RECORDS = (
    "restore_drill",
    "runbook",
    "runbook_test",
    "migration_rehearsal",
    "load_test",
    "access_pattern",
    "derived_store",
    "capacity_envelope",
    "record",  # the kinds declared in evidence.kinds
)

# The category each typed record is evidence for (catalogue codes), as each kind declares it.
KIND_CATEGORY = {kind: spec.category for kind, spec in kinds.ALL.items()}


# A stored file's name: "<timestamp>-<name>" must fit one path component (255 bytes on common file
# systems) and the whole path the column (300); longer upload names are cut, keeping the extension.
UPLOAD_NAME_MAX_CHARS = 100
UPLOAD_NAME_MAX_BYTES = 200


def short_upload_name(filename: str) -> str:
    """The upload's name cut to UPLOAD_NAME_MAX_CHARS characters and UPLOAD_NAME_MAX_BYTES UTF-8 bytes,
    its extension kept."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > 16:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    stem = stem[: UPLOAD_NAME_MAX_CHARS - len(suffix)]
    while stem and len((stem + suffix).encode("utf-8")) > UPLOAD_NAME_MAX_BYTES:
        stem = stem[:-1]
    return (stem or "file") + suffix


def evidence_upload_to(instance: "Evidence", filename: str) -> str:
    return f"evidence/{instance.review_id}/{timezone.now():%Y%m%d%H%M%S}-{short_upload_name(filename)}"


class Evidence(models.Model):
    review = models.ForeignKey("reviews.Review", on_delete=models.CASCADE, related_name="evidence")
    category = models.ForeignKey("reviews.Category", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=24, choices=EvidenceKind.choices)
    title = models.CharField(max_length=200)
    url = models.URLField(max_length=500, blank=True)
    file = models.FileField(upload_to=evidence_upload_to, blank=True, max_length=300)
    notes = models.TextField(blank=True)
    # For a link or a file: what it shows toward a 3 (evidence.verdict.SHOWS_CHOICES); blank is a control.
    shows = models.CharField(max_length=8, blank=True, choices=verdict.SHOWS_CHOICES)
    # When the thing the evidence shows happened (the drill, the test, the probe run), which sets its age.
    observed_at = models.DateTimeField(default=timezone.now)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    added_at = models.DateTimeField(default=timezone.now)
    # The evidence of an earlier, decided review this item is carried from (reviews.carryover): the same
    # thing observed at the same time, so it keeps ageing from its observed_at.
    carried_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="carried_to"
    )

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

    @property
    def age_days(self) -> int:
        return freshness.age_days(self.observed_at, timezone.now())

    @property
    def max_age_days(self) -> int | None:
        return freshness.max_age_days(self.kind)

    @property
    def is_stale(self) -> bool:
        """Older than its kind's maximum age: it no longer supports a score of 2 or 3."""
        return freshness.is_stale(self.kind, self.observed_at, timezone.now())

    @property
    def stale_at(self):
        return freshness.stale_at(self.kind, self.observed_at)


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
    """A runbook (seed §18.2, all 14 fields of its template) with the date it was last exercised."""

    evidence = models.OneToOneField(Evidence, on_delete=models.CASCADE, related_name="runbook")
    name = models.CharField(max_length=200)
    # Which of the required runbooks it is (evidence.kinds.runbooks.REQUIRED_RUNBOOKS); blank: another.
    covers = models.CharField(max_length=40, blank=True)
    severity = models.CharField(max_length=40, blank=True)
    symptoms = models.TextField(blank=True)
    dashboards = models.TextField(blank=True)
    diagnostic_queries = models.TextField(blank=True)
    immediate_safe_actions = models.TextField(blank=True)
    actions_requiring_approval = models.TextField(blank=True)
    actions_forbidden = models.TextField(blank=True)
    rollback_recovery = models.TextField(blank=True)
    communication = models.TextField(blank=True)
    evidence_to_capture = models.TextField(blank=True)
    postmortem_questions = models.TextField(blank=True)
    owner = models.CharField(max_length=120)
    last_tested = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(covers="") | Q(covers__in=[code for code, _ in REQUIRED_RUNBOOKS]),
                name="runbook_covers_a_required_runbook",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RunbookTest(models.Model):
    """A runbook exercised (seed §18.2 "Last Tested"): a game day or drill of one runbook, and how it went.

    It names the runbook it tested; when the review holds a runbook of that name, it is linked."""

    evidence = models.OneToOneField(Evidence, on_delete=models.CASCADE, related_name="runbook_test")
    runbook = models.ForeignKey(
        Runbook, on_delete=models.SET_NULL, null=True, blank=True, related_name="tests"
    )
    runbook_name = models.CharField(max_length=200)
    scenario = models.TextField(help_text="What was simulated, e.g. a lock storm on the primary.")
    environment = models.CharField(max_length=200)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    passed = models.BooleanField(help_text="The runbook's steps recovered the service as written.")
    issues_found = models.TextField(blank=True)
    follow_up_owner = models.CharField(max_length=120, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__gte=models.F("started_at")), name="runbook_test_ends_after_start"
            ),
            models.CheckConstraint(condition=~Q(runbook_name=""), name="runbook_test_names_runbook"),
        ]

    def __str__(self) -> str:
        return f"Test of {self.runbook_name} ({self.started_at:%Y-%m-%d})"

    @property
    def duration(self) -> timedelta:
        return self.ended_at - self.started_at


class MigrationPhase(models.TextChoices):
    EXPAND = "expand", "Expand"
    MIGRATE = "migrate", "Migrate (backfill)"
    CONTRACT = "contract", "Contract"


class MigrationRehearsal(models.Model):
    """A migration rehearsed on production-like data (seed §10.1, §10.3): its measured runtime, the locks
    it took, and the validation query that proved the result."""

    evidence = models.OneToOneField(Evidence, on_delete=models.CASCADE, related_name="migration_rehearsal")
    migration = models.CharField(max_length=200, help_text="Which migration, e.g. 0042_orders_status.")
    phase = models.CharField(max_length=10, choices=MigrationPhase.choices)
    environment = models.CharField(max_length=200)
    dataset = models.CharField(
        max_length=300, help_text="The production-like data it ran on, e.g. snapshot of 1 Nov, 1.2 TB."
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    lock_behaviour = models.TextField(help_text="Which locks it took, on what, and for how long.")
    longest_lock_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="The longest time it held a lock that blocks writes, in ms."
    )
    validation_query = models.TextField()
    validation_passed = models.BooleanField()
    validation_result = models.TextField(blank=True)
    rollback_rehearsed = models.BooleanField(default=False)
    issues_found = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__gte=models.F("started_at")), name="rehearsal_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(phase__in=MigrationPhase.values), name="rehearsal_phase_valid"
            ),
            models.CheckConstraint(condition=~Q(validation_query=""), name="rehearsal_has_validation_query"),
            models.CheckConstraint(condition=~Q(lock_behaviour=""), name="rehearsal_has_lock_behaviour"),
        ]

    def __str__(self) -> str:
        return f"Rehearsal of {self.migration} ({self.started_at:%Y-%m-%d})"

    @property
    def runtime(self) -> timedelta:
        return self.ended_at - self.started_at

    @property
    def passed(self) -> bool:
        return self.validation_passed


class LoadTest(models.Model):
    """A production-like load test (seed §17.2): latency percentiles and the saturation point."""

    evidence = models.OneToOneField(Evidence, on_delete=models.CASCADE, related_name="load_test")
    scenario = models.CharField(max_length=200)
    environment = models.CharField(max_length=200)
    tool = models.CharField(max_length=80, blank=True, help_text="k6, pgbench, Gatling …")
    data_shape = models.TextField(blank=True, help_text="Data size, skew, large tenants.")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    peak_concurrency = models.PositiveIntegerField(null=True, blank=True)
    throughput_per_s = models.FloatField(help_text="Requests or transactions per second sustained.")
    p50_ms = models.FloatField()
    p95_ms = models.FloatField()
    p99_ms = models.FloatField()
    error_rate_percent = models.FloatField(null=True, blank=True)
    target_p95_ms = models.FloatField(null=True, blank=True, help_text="The p95 the system must keep.")
    saturation_point = models.TextField(
        help_text="Where it saturated, or the estimate: e.g. CPU-bound at 4,200 TPS."
    )
    saturation_throughput_per_s = models.FloatField(null=True, blank=True)
    bottleneck = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__gte=models.F("started_at")), name="load_test_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(p50_ms__gte=0)
                & Q(p95_ms__gte=models.F("p50_ms"))
                & Q(p99_ms__gte=models.F("p95_ms")),
                name="load_test_percentiles_ordered",
            ),
            models.CheckConstraint(
                condition=Q(throughput_per_s__gte=0), name="load_test_throughput_positive"
            ),
            models.CheckConstraint(condition=~Q(saturation_point=""), name="load_test_has_saturation_point"),
        ]

    def __str__(self) -> str:
        return f"Load test {self.scenario} ({self.started_at:%Y-%m-%d})"

    @property
    def passed(self) -> bool | None:
        """Whether p95 kept its target; None when no target was given."""
        return None if self.target_p95_ms is None else self.p95_ms <= self.target_p95_ms


class Pagination(models.TextChoices):
    KEYSET = "keyset", "Keyset"
    OFFSET = "offset", "Offset (bounded)"
    NONE = "none", "None (bounded result)"


class AccessPattern(models.Model):
    """One important query of the workload (seed §8.1): who runs it how often, what it filters and sorts
    on, how it pages, its expected p95 and the index that serves it."""

    evidence = models.OneToOneField(Evidence, on_delete=models.CASCADE, related_name="access_pattern")
    query_name = models.CharField(max_length=200, help_text="e.g. Case inbox.")
    actor = models.CharField(max_length=120, help_text="Who runs it, e.g. investigator.")
    frequency = models.CharField(max_length=120, help_text="e.g. 500/min peak.")
    freshness = models.CharField(max_length=200, blank=True, help_text="e.g. primary after an update.")
    predicate = models.TextField(help_text="e.g. tenant_id, assigned_user_id, status in active states.")
    sort = models.CharField(max_length=200, blank=True, help_text="e.g. due_at asc, priority desc.")
    pagination = models.CharField(max_length=10, choices=Pagination.choices)
    expected_p95_ms = models.FloatField(help_text="The p95 the query must keep, in milliseconds.")
    index = models.TextField(help_text="The index that serves it, e.g. (tenant_id, status, due_at, id).")
    plan_evidence = models.TextField(blank=True, help_text="EXPLAIN ANALYZE on production-like data.")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(pagination__in=Pagination.values), name="access_pattern_pagination"
            ),
            models.CheckConstraint(condition=Q(expected_p95_ms__gt=0), name="access_pattern_p95_positive"),
            models.CheckConstraint(condition=~Q(index=""), name="access_pattern_has_index"),
        ]

    def __str__(self) -> str:
        return f"Access pattern {self.query_name}"

    def data(self) -> dict:
        """What the API and the decision record say of it."""
        return {
            "query_name": self.query_name,
            "actor": self.actor,
            "frequency": self.frequency,
            "freshness": self.freshness,
            "predicate": self.predicate,
            "sort": self.sort,
            "pagination": self.pagination,
            "expected_p95_ms": self.expected_p95_ms,
            "index": self.index,
        }


class DerivedStore(models.Model):
    """A store derived from the system of record (seed §16.1): its source, freshness contract, how it
    is rebuilt, who owns it and what happens when it fails."""

    evidence = models.OneToOneField(Evidence, on_delete=models.CASCADE, related_name="derived_store")
    store = models.CharField(max_length=200, help_text="e.g. Search index.")
    source = models.CharField(max_length=200, help_text="e.g. CDC/outbox.")
    freshness = models.CharField(max_length=200, help_text="The freshness contract, e.g. < 30 s.")
    rebuild = models.TextField(help_text="How it is rebuilt from the source, e.g. full reindex.")
    owner = models.CharField(max_length=120)
    failure_action = models.TextField(help_text="What happens when it fails, e.g. disable search, fall back.")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(rebuild=""), name="derived_store_has_rebuild"),
            models.CheckConstraint(condition=~Q(failure_action=""), name="derived_store_has_failure_action"),
        ]

    def __str__(self) -> str:
        return f"Derived store {self.store}"

    def data(self) -> dict:
        """What the API and the decision record say of it."""
        return {
            "store": self.store,
            "source": self.source,
            "freshness": self.freshness,
            "rebuild": self.rebuild,
            "owner": self.owner,
            "failure_action": self.failure_action,
        }


class CapacityEnvelope(models.Model):
    """The capacity envelope (seed §17.3): today's size, load and latency, where they will be in 12
    months, the known bottleneck, what triggers action and the planned mitigation. Its review date is
    the evidence's observed_at, so it goes stale like any evidence."""

    evidence = models.OneToOneField(Evidence, on_delete=models.CASCADE, related_name="capacity_envelope")
    current_data_size = models.CharField(max_length=80, help_text="e.g. 420 GB.")
    projected_data_size = models.CharField(max_length=80, help_text="In 12 months, e.g. 1.1 TB.")
    current_peak_tps = models.FloatField()
    projected_peak_tps = models.FloatField(help_text="In 12 months.")
    current_p95_ms = models.FloatField()
    target_p95_ms = models.FloatField()
    known_bottleneck = models.TextField(blank=True)
    saturation_trigger = models.TextField(help_text="What starts the mitigation, e.g. CPU > 70% at peak.")
    planned_mitigation = models.TextField()
    owner = models.CharField(max_length=120)
    review_date = models.DateField(help_text="When the envelope was last reviewed.")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(current_peak_tps__gte=0)
                & Q(projected_peak_tps__gte=0)
                & Q(current_p95_ms__gte=0)
                & Q(target_p95_ms__gt=0),
                name="capacity_envelope_measures_positive",
            ),
            models.CheckConstraint(condition=~Q(saturation_trigger=""), name="capacity_envelope_has_trigger"),
            models.CheckConstraint(
                condition=~Q(planned_mitigation=""), name="capacity_envelope_has_mitigation"
            ),
        ]

    def __str__(self) -> str:
        return f"Capacity envelope ({self.review_date:%Y-%m-%d})"

    @property
    def within_target(self) -> bool:
        return self.current_p95_ms <= self.target_p95_ms

    def data(self) -> dict:
        """What the API and the decision record say of it."""
        return {
            "current_data_size": self.current_data_size,
            "projected_data_size": self.projected_data_size,
            "current_peak_tps": self.current_peak_tps,
            "projected_peak_tps": self.projected_peak_tps,
            "current_p95_ms": self.current_p95_ms,
            "target_p95_ms": self.target_p95_ms,
            "known_bottleneck": self.known_bottleneck,
            "saturation_trigger": self.saturation_trigger,
            "planned_mitigation": self.planned_mitigation,
            "owner": self.owner,
            "review_date": self.review_date,
            "within_target": self.within_target,
        }


class Record(models.Model):
    """A typed record of a kind declared in evidence.kinds (invariant, write path, privacy field …): its
    values as JSON, checked by the kind's description before they are stored (evidence.typed)."""

    evidence = models.OneToOneField(Evidence, on_delete=models.CASCADE, related_name="record")
    data = models.JSONField()

    def __str__(self) -> str:
        return self.evidence.title

    @property
    def spec(self) -> kinds.Spec:
        return kinds.KINDS[self.evidence.kind]

    @property
    def judged(self) -> verdict.Verdict:
        return self.spec.verdict(self.data)

    @property
    def summary(self) -> str:
        return self.spec.summary(self.data)

    @property
    def rows(self) -> list[tuple[str, str]]:
        return self.spec.rows(self.data)
