"""Attaching evidence to a review's category: links, files and typed records, each audited.

The pages and the API for pipelines call the same functions; each validates, writes and audits in one
transaction and refuses with a ServiceError that carries field errors."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from pathlib import PurePath

from django.conf import settings
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from guide.links import text as guide_text
from reviews import audit, opened, policy
from reviews.models import AuditEvent, Category, Review, ReviewState
from reviews.services import ServiceError, _require, _require_open

from . import freshness, kinds, verdict
from .kinds.runbooks import REQUIRED_NAMES
from .models import (
    KIND_CATEGORY,
    AccessPattern,
    CapacityEnvelope,
    DerivedStore,
    Evidence,
    EvidenceKind,
    LoadTest,
    MigrationPhase,
    MigrationRehearsal,
    Pagination,
    RestoreDrill,
    Runbook,
    RunbookTest,
)

ALLOWED_EXTENSIONS = {
    ".pdf",
    ".png",
    ".jpg",
    ".jpeg",
    ".txt",
    ".md",
    ".csv",
    ".json",
    ".log",
    ".sql",
    ".html",
    ".xml",
    ".yaml",
    ".yml",
}
EVIDENCE_FIELDS = ("category", "kind", "title", "url", "file", "notes", "observed_at", "shows")


def _locked_review(review: Review, actor) -> Review:
    review = Review.objects.select_for_update().select_related("system").get(pk=review.pk)
    _require(policy.can_edit_review(actor, review))
    _require_open(review)
    return review


def _check_common(review: Review, category: Category, title: str, observed_at: datetime | None) -> dict:
    errors = {}
    if category.version_id != review.catalogue_id:
        errors["category"] = "That category is not in this review's catalogue version."
    if not title.strip():
        errors["title"] = "Give the evidence a title."
    if observed_at is not None and observed_at > timezone.now() + timezone.timedelta(minutes=5):
        errors["observed_at"] = "Evidence cannot come from the future."
    return errors


def _create(review: Review, actor, **fields) -> Evidence:
    item = Evidence.objects.create(review=review, added_by=actor, **fields)
    audit.record(
        actor=actor,
        action="evidence.add",
        obj=item,
        review=review,
        after=audit.snapshot(item, EVIDENCE_FIELDS),
    )
    return item


@transaction.atomic
def add_link(
    *,
    review: Review,
    category: Category,
    title: str,
    url: str,
    actor,
    notes: str = "",
    observed_at: datetime | None = None,
    shows: str = "",
) -> Evidence:
    review = _locked_review(review, actor)
    errors = _check_common(review, category, title, observed_at)
    _check_shows(errors, shows)
    try:
        URLValidator(schemes=["http", "https"])(url)
    except Exception:
        errors["url"] = "Give a full http:// or https:// address."
    if errors:
        raise ServiceError(errors)
    return _create(
        review,
        actor,
        category=category,
        kind=EvidenceKind.LINK,
        title=title.strip(),
        url=url,
        notes=notes,
        observed_at=observed_at or timezone.now(),
        shows=shows,
    )


def _check_shows(errors: dict, shows: str) -> None:
    if shows not in ("", *(value for value, _ in verdict.SHOWS_CHOICES)):
        errors["shows"] = "Say whether it shows a control, an automated test or monitoring, or a runbook."


@transaction.atomic
def add_file(
    *,
    review: Review,
    category: Category,
    title: str,
    upload,
    actor,
    notes: str = "",
    observed_at: datetime | None = None,
    shows: str = "",
) -> Evidence:
    review = _locked_review(review, actor)
    errors = _check_common(review, category, title, observed_at)
    _check_shows(errors, shows)
    suffix = PurePath(upload.name or "").suffix.lower()
    if suffix not in ALLOWED_EXTENSIONS:
        errors["file"] = f"Files of type {suffix or '(none)'} are not accepted; use one of " + ", ".join(
            sorted(ALLOWED_EXTENSIONS)
        )
    elif upload.size > settings.EVIDENCE_MAX_UPLOAD_BYTES:
        errors["file"] = f"The file is larger than {settings.EVIDENCE_MAX_UPLOAD_BYTES // (1024 * 1024)} MB."
    if errors:
        raise ServiceError(errors)
    item = Evidence(
        review=review,
        added_by=actor,
        category=category,
        kind=EvidenceKind.FILE,
        title=title.strip(),
        notes=notes,
        observed_at=observed_at or timezone.now(),
        shows=shows,
    )
    item.file.save(PurePath(upload.name).name, upload, save=False)
    try:
        item.save()
        audit.record(
            actor=actor,
            action="evidence.add",
            obj=item,
            review=review,
            after=audit.snapshot(item, EVIDENCE_FIELDS),
        )
    except Exception:
        item.file.delete(save=False)  # no orphan file when the row is not written
        raise
    return item


@transaction.atomic
def add_restore_drill(
    *,
    review: Review,
    actor,
    title: str,
    database: str,
    backup_source: str,
    target_environment: str,
    requested_recovery_point: datetime,
    actual_recovery_point: datetime,
    started_at: datetime,
    ended_at: datetime,
    rpo_target_minutes: int,
    rto_target_minutes: int,
    validation_queries: str,
    validation_passed: bool,
    validation_result: str = "",
    issues_found: str = "",
    follow_up_owner: str = "",
    next_drill_date: date | None = None,
    url: str = "",
) -> Evidence:
    """A restore drill (seed §11.3) is evidence for the backup, restore & DR category."""
    review = _locked_review(review, actor)
    category = Category.objects.get(version_id=review.catalogue_id, code="backup")
    errors = _check_common(review, category, title, ended_at)
    if ended_at < started_at:
        errors["ended_at"] = "The drill cannot end before it started."
    if actual_recovery_point > requested_recovery_point:
        errors["actual_recovery_point"] = "The actual recovery point cannot be later than the one requested."
    for name, value in (
        ("database", database),
        ("backup_source", backup_source),
        ("target_environment", target_environment),
        ("validation_queries", validation_queries),
    ):
        if not value.strip():
            errors[name] = f"Required for a restore drill ({guide_text('restore_drill')})."
    _check_url(errors, url)
    if errors:
        raise ServiceError(errors)
    item = _create(
        review,
        actor,
        category=category,
        kind=EvidenceKind.RESTORE_DRILL,
        title=title.strip(),
        url=url,
        observed_at=ended_at,
    )
    drill = RestoreDrill.objects.create(
        evidence=item,
        database=database,
        backup_source=backup_source,
        target_environment=target_environment,
        requested_recovery_point=requested_recovery_point,
        actual_recovery_point=actual_recovery_point,
        started_at=started_at,
        ended_at=ended_at,
        rpo_target_minutes=rpo_target_minutes,
        rto_target_minutes=rto_target_minutes,
        validation_queries=validation_queries,
        validation_passed=validation_passed,
        validation_result=validation_result,
        issues_found=issues_found,
        follow_up_owner=follow_up_owner,
        next_drill_date=next_drill_date,
    )
    audit.record(
        actor=actor,
        action="evidence.restore_drill",
        obj=item,
        review=review,
        after={
            "rpo_minutes": drill.rpo_achieved.total_seconds() / 60,
            "rto_minutes": drill.rto_achieved.total_seconds() / 60,
            "passed": drill.passed,
        },
    )
    judge_record(item, actor=actor)
    return item


@transaction.atomic
def add_runbook(
    *,
    review: Review,
    actor,
    name: str,
    owner: str,
    last_tested: date | None,
    severity: str = "",
    symptoms: str = "",
    immediate_safe_actions: str = "",
    actions_forbidden: str = "",
    url: str = "",
    covers: str = "",
    **template: str,
) -> Evidence:
    """A runbook (seed §18.2) is evidence for the runbooks & incident response category. `template`: the
    rest of its template (RUNBOOK_TEMPLATE_FIELDS), each a text."""
    review = _locked_review(review, actor)
    category = Category.objects.get(version_id=review.catalogue_id, code="runbooks")
    errors = _check_common(review, category, name, None)
    if covers and covers not in REQUIRED_NAMES:
        errors["covers"] = "Choose one of the required runbooks: " + ", ".join(REQUIRED_NAMES) + "."
    for field, value in template.items():
        if field not in RUNBOOK_TEMPLATE_FIELDS:
            errors[field] = f"A runbook has no field {field!r}."
        elif not isinstance(value, str) or len(value) > 20000:
            errors[field] = "Give a text of at most 20,000 characters."
    if not owner.strip():
        errors["owner"] = f"A runbook needs an owner ({guide_text('runbook')})."
    if last_tested and last_tested > timezone.localdate():
        errors["last_tested"] = "The last test cannot be in the future."
    _check_url(errors, url)
    if errors:
        raise ServiceError(errors)
    observed = (
        timezone.make_aware(datetime.combine(last_tested, datetime.min.time()))
        if last_tested
        else timezone.now()
    )
    item = _create(
        review,
        actor,
        category=category,
        kind=EvidenceKind.RUNBOOK,
        title=name.strip(),
        url=url,
        observed_at=observed,
    )
    Runbook.objects.create(
        evidence=item,
        name=name.strip(),
        owner=owner,
        last_tested=last_tested,
        severity=severity,
        symptoms=symptoms,
        immediate_safe_actions=immediate_safe_actions,
        actions_forbidden=actions_forbidden,
        covers=covers,
        **template,
    )
    judge_record(item, actor=actor)
    return item


# The runbook template's fields beyond name, severity, symptoms, safe and forbidden actions, owner and
# last test: all texts.
RUNBOOK_TEMPLATE_FIELDS = (
    "dashboards",
    "diagnostic_queries",
    "actions_requiring_approval",
    "rollback_recovery",
    "communication",
    "evidence_to_capture",
    "postmortem_questions",
)


# --- Typed records that pipelines post as often as people do: runbook tests, migration rehearsals and
# load tests. Each is evidence for one fixed category and observed when it ended.

# Measurements above this are typing mistakes, not measurements (and would overflow nothing, but mislead).
MAX_MEASUREMENT = 1e12


def _typed_category(review: Review, kind: str) -> Category:
    return Category.objects.get(version_id=review.catalogue_id, code=KIND_CATEGORY[kind])


def _check_span(errors: dict, started_at: datetime, ended_at: datetime) -> None:
    if ended_at < started_at:
        errors["ended_at"] = "It cannot end before it started."


def _check_required(errors: dict, kind: str, **values: str) -> None:
    """Each value given must be filled in; the message names the guide's section on the record `kind`."""
    for name, value in values.items():
        if not (value or "").strip():
            errors[name] = f"Required ({guide_text(kind)})."


def _check_measurement(errors: dict, name: str, value: float | None, *, required: bool = True) -> None:
    if value is None:
        if required:
            errors[name] = "Required."
        return
    if not math.isfinite(value) or value < 0 or value > MAX_MEASUREMENT:
        errors[name] = "Give a number of 0 or more."


@transaction.atomic
def add_runbook_test(
    *,
    review: Review,
    actor,
    runbook_name: str,
    scenario: str,
    environment: str,
    started_at: datetime,
    ended_at: datetime,
    passed: bool,
    issues_found: str = "",
    follow_up_owner: str = "",
    title: str = "",
    url: str = "",
) -> Evidence:
    """A runbook exercised in a drill or game day (seed §18.2 "Last Tested"): evidence for runbooks &
    incident response. Linked to the review's runbook of that name when there is one."""
    review = _locked_review(review, actor)
    category = _typed_category(review, EvidenceKind.RUNBOOK_TEST)
    title = (title or "").strip() or f"Runbook test: {runbook_name.strip()}"[:200]
    errors = _check_common(review, category, title, ended_at)
    _check_span(errors, started_at, ended_at)
    _check_required(
        errors,
        EvidenceKind.RUNBOOK_TEST,
        runbook_name=runbook_name,
        scenario=scenario,
        environment=environment,
    )
    _check_url(errors, url)
    if errors:
        raise ServiceError(errors)
    runbook = (
        Runbook.objects.filter(evidence__review=review, name__iexact=runbook_name.strip())
        .order_by("-evidence__observed_at", "-pk")
        .first()
    )
    item = _create(
        review,
        actor,
        category=category,
        kind=EvidenceKind.RUNBOOK_TEST,
        title=title,
        url=url,
        observed_at=ended_at,
    )
    RunbookTest.objects.create(
        evidence=item,
        runbook=runbook,
        runbook_name=runbook_name.strip(),
        scenario=scenario,
        environment=environment,
        started_at=started_at,
        ended_at=ended_at,
        passed=passed,
        issues_found=issues_found,
        follow_up_owner=follow_up_owner,
    )
    audit.record(
        actor=actor,
        action="evidence.runbook_test",
        obj=item,
        review=review,
        after={
            "runbook": runbook_name.strip(),
            "passed": passed,
            "linked_runbook": runbook.pk if runbook else None,
        },
    )
    judge_record(item, actor=actor)
    return item


@transaction.atomic
def add_migration_rehearsal(
    *,
    review: Review,
    actor,
    migration: str,
    phase: str,
    environment: str,
    dataset: str,
    started_at: datetime,
    ended_at: datetime,
    lock_behaviour: str,
    validation_query: str,
    validation_passed: bool,
    longest_lock_ms: int | None = None,
    validation_result: str = "",
    rollback_rehearsed: bool = False,
    issues_found: str = "",
    title: str = "",
    url: str = "",
) -> Evidence:
    """A migration rehearsed on production-like data (seed §10): evidence for migration & compatibility,
    with its measured runtime, its lock behaviour and its validation query."""
    review = _locked_review(review, actor)
    category = _typed_category(review, EvidenceKind.MIGRATION_REHEARSAL)
    title = (title or "").strip() or f"Migration rehearsal: {migration.strip()}"[:200]
    errors = _check_common(review, category, title, ended_at)
    _check_span(errors, started_at, ended_at)
    _check_required(
        errors,
        EvidenceKind.MIGRATION_REHEARSAL,
        migration=migration,
        environment=environment,
        dataset=dataset,
        lock_behaviour=lock_behaviour,
        validation_query=validation_query,
    )
    if phase not in MigrationPhase.values:
        errors["phase"] = (
            "Say which phase it is: "
            + ", ".join(MigrationPhase.values)
            + f" ({guide_text('migration_rehearsal')})."
        )
    if longest_lock_ms is not None and not 0 <= longest_lock_ms <= 2_147_483_647:
        errors["longest_lock_ms"] = "Give the longest lock in milliseconds, 0 or more."
    _check_url(errors, url)
    if errors:
        raise ServiceError(errors)
    item = _create(
        review,
        actor,
        category=category,
        kind=EvidenceKind.MIGRATION_REHEARSAL,
        title=title,
        url=url,
        observed_at=ended_at,
    )
    rehearsal = MigrationRehearsal.objects.create(
        evidence=item,
        migration=migration.strip(),
        phase=phase,
        environment=environment,
        dataset=dataset,
        started_at=started_at,
        ended_at=ended_at,
        lock_behaviour=lock_behaviour,
        longest_lock_ms=longest_lock_ms,
        validation_query=validation_query,
        validation_passed=validation_passed,
        validation_result=validation_result,
        rollback_rehearsed=rollback_rehearsed,
        issues_found=issues_found,
    )
    audit.record(
        actor=actor,
        action="evidence.migration_rehearsal",
        obj=item,
        review=review,
        after={
            "migration": rehearsal.migration,
            "runtime_seconds": int(rehearsal.runtime.total_seconds()),
            "longest_lock_ms": longest_lock_ms,
            "validation_passed": validation_passed,
        },
    )
    judge_record(item, actor=actor)
    return item


@transaction.atomic
def add_load_test(
    *,
    review: Review,
    actor,
    scenario: str,
    environment: str,
    started_at: datetime,
    ended_at: datetime,
    throughput_per_s: float,
    p50_ms: float,
    p95_ms: float,
    p99_ms: float,
    saturation_point: str,
    tool: str = "",
    data_shape: str = "",
    peak_concurrency: int | None = None,
    error_rate_percent: float | None = None,
    target_p95_ms: float | None = None,
    saturation_throughput_per_s: float | None = None,
    bottleneck: str = "",
    title: str = "",
    url: str = "",
) -> Evidence:
    """A production-like load test (seed §17.2): evidence for capacity, performance & cost, with its
    p50/p95/p99 latency and its saturation point (measured or estimated)."""
    review = _locked_review(review, actor)
    category = _typed_category(review, EvidenceKind.LOAD_TEST)
    title = (title or "").strip() or f"Load test: {scenario.strip()}"[:200]
    errors = _check_common(review, category, title, ended_at)
    _check_span(errors, started_at, ended_at)
    _check_required(
        errors,
        EvidenceKind.LOAD_TEST,
        scenario=scenario,
        environment=environment,
        saturation_point=saturation_point,
    )
    for name, value, required in (
        ("throughput_per_s", throughput_per_s, True),
        ("p50_ms", p50_ms, True),
        ("p95_ms", p95_ms, True),
        ("p99_ms", p99_ms, True),
        ("target_p95_ms", target_p95_ms, False),
        ("saturation_throughput_per_s", saturation_throughput_per_s, False),
    ):
        _check_measurement(errors, name, value, required=required)
    if error_rate_percent is not None and not (
        math.isfinite(error_rate_percent) and 0 <= error_rate_percent <= 100
    ):
        errors["error_rate_percent"] = "Give a percentage from 0 to 100."
    if peak_concurrency is not None and not 0 <= peak_concurrency <= 2_147_483_647:
        errors["peak_concurrency"] = "Give the number of concurrent clients, 0 or more."
    if not errors.keys() & {"p50_ms", "p95_ms", "p99_ms"} and not p50_ms <= p95_ms <= p99_ms:
        errors["p99_ms"] = "Percentiles must not fall: p50 ≤ p95 ≤ p99."
    _check_url(errors, url)
    if errors:
        raise ServiceError(errors)
    item = _create(
        review,
        actor,
        category=category,
        kind=EvidenceKind.LOAD_TEST,
        title=title,
        url=url,
        observed_at=ended_at,
    )
    test = LoadTest.objects.create(
        evidence=item,
        scenario=scenario.strip(),
        environment=environment,
        tool=tool,
        data_shape=data_shape,
        started_at=started_at,
        ended_at=ended_at,
        peak_concurrency=peak_concurrency,
        throughput_per_s=throughput_per_s,
        p50_ms=p50_ms,
        p95_ms=p95_ms,
        p99_ms=p99_ms,
        error_rate_percent=error_rate_percent,
        target_p95_ms=target_p95_ms,
        saturation_point=saturation_point,
        saturation_throughput_per_s=saturation_throughput_per_s,
        bottleneck=bottleneck,
    )
    audit.record(
        actor=actor,
        action="evidence.load_test",
        obj=item,
        review=review,
        # Strings, not floats: the audit trail's JSON stays the same whatever serialises it.
        after={"p50_ms": str(p50_ms), "p95_ms": str(p95_ms), "p99_ms": str(p99_ms), "passed": test.passed},
    )
    judge_record(item, actor=actor)
    return item


@transaction.atomic
def add_access_pattern(
    *,
    review: Review,
    actor,
    query_name: str,
    actor_name: str,
    frequency: str,
    predicate: str,
    pagination: str,
    expected_p95_ms: float | None,
    index: str,
    freshness: str = "",
    sort: str = "",
    plan_evidence: str = "",
    url: str = "",
) -> Evidence:
    """An important query of the workload (seed §8.1): evidence for query & index."""
    review = _locked_review(review, actor)
    category = _typed_category(review, EvidenceKind.ACCESS_PATTERN)
    title = f"Access pattern: {query_name.strip()}"[:200]
    errors = _check_common(review, category, title, None)
    _check_required(
        errors,
        EvidenceKind.ACCESS_PATTERN,
        query_name=query_name,
        actor_name=actor_name,
        frequency=frequency,
        predicate=predicate,
        index=index,
    )
    if pagination not in Pagination.values:
        errors["pagination"] = (
            "Say how it pages: " + ", ".join(Pagination.values) + f" ({guide_text('access_pattern')})."
        )
    _check_measurement(errors, "expected_p95_ms", expected_p95_ms)
    if "expected_p95_ms" not in errors and not expected_p95_ms:
        errors["expected_p95_ms"] = "Give the p95 the query must keep, more than 0 ms."
    _check_url(errors, url)
    if errors:
        raise ServiceError(errors)
    item = _create(review, actor, category=category, kind=EvidenceKind.ACCESS_PATTERN, title=title, url=url)
    AccessPattern.objects.create(
        evidence=item,
        query_name=query_name.strip(),
        actor=actor_name.strip(),
        frequency=frequency.strip(),
        freshness=freshness,
        predicate=predicate,
        sort=sort,
        pagination=pagination,
        expected_p95_ms=expected_p95_ms,
        index=index,
        plan_evidence=plan_evidence,
    )
    return item


@transaction.atomic
def add_derived_store(
    *,
    review: Review,
    actor,
    store: str,
    source: str,
    freshness: str,
    rebuild: str,
    owner: str,
    failure_action: str,
    url: str = "",
) -> Evidence:
    """A store derived from the system of record (seed §16.1): evidence for integration & derived data."""
    review = _locked_review(review, actor)
    category = _typed_category(review, EvidenceKind.DERIVED_STORE)
    title = f"Derived store: {store.strip()}"[:200]
    errors = _check_common(review, category, title, None)
    _check_required(
        errors,
        EvidenceKind.DERIVED_STORE,
        store=store,
        source=source,
        freshness=freshness,
        rebuild=rebuild,
        owner=owner,
        failure_action=failure_action,
    )
    _check_url(errors, url)
    if errors:
        raise ServiceError(errors)
    item = _create(review, actor, category=category, kind=EvidenceKind.DERIVED_STORE, title=title, url=url)
    DerivedStore.objects.create(
        evidence=item,
        store=store.strip(),
        source=source.strip(),
        freshness=freshness.strip(),
        rebuild=rebuild,
        owner=owner.strip(),
        failure_action=failure_action,
    )
    return item


@transaction.atomic
def add_capacity_envelope(
    *,
    review: Review,
    actor,
    current_data_size: str,
    projected_data_size: str,
    current_peak_tps: float | None,
    projected_peak_tps: float | None,
    current_p95_ms: float | None,
    target_p95_ms: float | None,
    saturation_trigger: str,
    planned_mitigation: str,
    owner: str,
    review_date: date | None,
    known_bottleneck: str = "",
    url: str = "",
) -> Evidence:
    """The capacity envelope (seed §17.3): evidence for capacity, performance & cost, as old as its
    review date."""
    review = _locked_review(review, actor)
    category = _typed_category(review, EvidenceKind.CAPACITY_ENVELOPE)
    errors = _check_common(review, category, "Capacity envelope", None)
    _check_required(
        errors,
        EvidenceKind.CAPACITY_ENVELOPE,
        current_data_size=current_data_size,
        projected_data_size=projected_data_size,
        saturation_trigger=saturation_trigger,
        planned_mitigation=planned_mitigation,
        owner=owner,
    )
    for name, value in (
        ("current_peak_tps", current_peak_tps),
        ("projected_peak_tps", projected_peak_tps),
        ("current_p95_ms", current_p95_ms),
        ("target_p95_ms", target_p95_ms),
    ):
        _check_measurement(errors, name, value)
    if "target_p95_ms" not in errors and not target_p95_ms:
        errors["target_p95_ms"] = "Give the target p95, more than 0 ms."
    if review_date is None:
        errors["review_date"] = f"Required ({guide_text('capacity_envelope')})."
    elif review_date > timezone.localdate():
        errors["review_date"] = "The review date cannot be in the future."
    _check_url(errors, url)
    if errors:
        raise ServiceError(errors)
    item = _create(
        review,
        actor,
        category=category,
        kind=EvidenceKind.CAPACITY_ENVELOPE,
        title=f"Capacity envelope of {review_date:%Y-%m-%d}",
        url=url,
        observed_at=timezone.make_aware(datetime.combine(review_date, datetime.min.time())),
    )
    CapacityEnvelope.objects.create(
        evidence=item,
        current_data_size=current_data_size.strip(),
        projected_data_size=projected_data_size.strip(),
        current_peak_tps=current_peak_tps,
        projected_peak_tps=projected_peak_tps,
        current_p95_ms=current_p95_ms,
        target_p95_ms=target_p95_ms,
        known_bottleneck=known_bottleneck,
        saturation_trigger=saturation_trigger,
        planned_mitigation=planned_mitigation,
        owner=owner.strip(),
        review_date=review_date,
    )
    return item


# The finding a record that does not support readiness opens, by kind: the level the guide gives.
# A failed restore drill is "no tested restore path" (seed §3, P0) unless another drill of the review
# passed; then it is a serious finding (a missed RTO is a longer outage). A failed rehearsal or a load
# test over its target is serious (seed §3 P1: outage, performance collapse). An untested runbook, or
# one whose test failed, is moderate (P2, owned by whoever attached it, due in 30 days).
FAILED_LEVELS = {
    EvidenceKind.RESTORE_DRILL: "P0",
    EvidenceKind.MIGRATION_REHEARSAL: "P1",
    EvidenceKind.LOAD_TEST: "P1",
    EvidenceKind.RUNBOOK: "P2",
    EvidenceKind.RUNBOOK_TEST: "P2",
}


def judge_record(item: Evidence, *, actor):
    """Open the finding of a typed record that does not support readiness (once per record)."""
    judged = verdict.of(item)
    level = FAILED_LEVELS.get(item.kind)
    if level is None and (spec := kinds.get(item.kind)) is not None:
        level = spec.failing_level
    if judged.supports or judged.incomplete or level is None:
        return None
    title = f"{item.get_kind_display()} “{item.title}” {judged.why}"
    if item.kind == EvidenceKind.RESTORE_DRILL:
        drills = Evidence.objects.filter(review_id=item.review_id, kind=EvidenceKind.RESTORE_DRILL).exclude(
            pk=item.pk
        )
        if any(verdict.of(d).supports for d in drills.select_related("restore_drill")):
            level = "P1"
        else:
            title = f"No tested restore path: the restore drill “{item.title}” {judged.why}"
    return opened.for_failed_evidence(
        review=item.review,
        evidence=item,
        category=item.category,
        level=level,
        title=title if len(title) <= 200 else title[:199] + "…",
        why=judged.why,
        actor=actor,
    )


def _check_url(errors: dict, url: str) -> None:
    if url:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except Exception:
            errors["url"] = "Give a full http:// or https:// address."
        if len(url) > 500:
            errors["url"] = "The address is longer than 500 characters."


# --- Evidence that goes stale, recorded by a schedule (evidence.tasks.record_stale_evidence).


def newly_stale(*, since: datetime | None, now: datetime) -> list[Evidence]:
    """Evidence of undecided reviews that went stale in (since, now]: one query. `since` None means
    from the beginning (the first run records everything already stale)."""
    went_stale = Q(pk__in=[])
    for kind, days in sorted(freshness.max_age_table().items()):
        if days is None:
            continue
        window = Q(kind=kind, observed_at__lt=now - timedelta(days=days))
        if since is not None:
            window &= Q(observed_at__gte=since - timedelta(days=days))
        went_stale |= window
    return list(
        Evidence.objects.filter(went_stale)
        .exclude(review__state=ReviewState.DECIDED)
        .select_related("review", "category")
        .order_by("observed_at", "pk")
    )


@transaction.atomic
def record_stale(items: list[Evidence]) -> list[Evidence]:
    """One `evidence.stale` audit event per item, in its review's trail, written once per item whatever
    the number of runs. Returns the items recorded now."""
    already = set(
        AuditEvent.objects.filter(
            action="evidence.stale", object_type="evidence.evidence", object_id__in=[str(e.pk) for e in items]
        ).values_list("object_id", flat=True)
    )
    recorded = []
    for item in items:
        if str(item.pk) in already:
            continue
        audit.record(
            actor=None,
            action="evidence.stale",
            obj=item,
            review=item.review,
            after={
                "kind": item.kind,
                "category": item.category.code,
                "observed_at": item.observed_at.isoformat(),
                "max_age_days": freshness.max_age_days(item.kind),
                "stale_at": freshness.stale_at(item.kind, item.observed_at).isoformat(),
            },
        )
        recorded.append(item)
    return recorded
