"""Attaching evidence to a review's category: links, files and typed records, each audited."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import PurePath

from django.conf import settings
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from reviews import audit, policy
from reviews.models import Category, Review
from reviews.services import ServiceError, _require, _require_open

from .models import Evidence, EvidenceKind, RestoreDrill, Runbook

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
EVIDENCE_FIELDS = ("category", "kind", "title", "url", "file", "notes", "observed_at")


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
) -> Evidence:
    review = _locked_review(review, actor)
    errors = _check_common(review, category, title, observed_at)
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
    )


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
) -> Evidence:
    review = _locked_review(review, actor)
    errors = _check_common(review, category, title, observed_at)
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
            errors[name] = "Required for a restore drill (seed §11.3)."
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
) -> Evidence:
    """A runbook (seed §18.2) is evidence for the runbooks & incident response category."""
    review = _locked_review(review, actor)
    category = Category.objects.get(version_id=review.catalogue_id, code="runbooks")
    errors = _check_common(review, category, name, None)
    if not owner.strip():
        errors["owner"] = "A runbook needs an owner (seed §18.2)."
    if last_tested and last_tested > timezone.localdate():
        errors["last_tested"] = "The last test cannot be in the future."
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
    )
    return item
