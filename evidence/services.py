"""Attaching evidence to a review's category: links, files and typed records, each audited.

The pages and the API for pipelines call the same functions; each validates, writes and audits in one
transaction and refuses with a ServiceError that carries field errors."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import PurePath

from django.conf import settings
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from reviews import audit, opened, policy
from reviews.models import AuditEvent, Category, Review, ReviewState
from reviews.services import ServiceError, _require, _require_open

from . import freshness, kinds, verdict
from .models import (
    Evidence,
    EvidenceKind,
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


# --- Typed records: each kind is declared once (evidence.kinds) and added by evidence.typed.add_record.
# The services below are that one service for each kind that pages, pipelines and the demo name by kind;
# they take the kind's fields as keyword arguments (and `url`, and `title` where a title may be given).


def _typed_service(kind: str):
    def add(*, review: Review, actor, **values) -> Evidence:
        from . import typed  # typed builds on this module's helpers

        return typed.add_record(review=review, actor=actor, kind=kind, **values)

    spec = kinds.lookup(kind)
    add.__name__ = add.__qualname__ = f"add_{kind}"
    add.__doc__ = f"{spec.add_title}: evidence of the {spec.category} category (evidence.kinds.measured)."
    return add


add_restore_drill = _typed_service("restore_drill")
add_runbook = _typed_service("runbook")
add_runbook_test = _typed_service("runbook_test")
add_migration_rehearsal = _typed_service("migration_rehearsal")
add_load_test = _typed_service("load_test")
add_access_pattern = _typed_service("access_pattern")
add_derived_store = _typed_service("derived_store")
add_capacity_envelope = _typed_service("capacity_envelope")


def judge_record(item: Evidence, *, actor):
    """Open the finding of a typed record that does not support readiness (once per record)."""
    judged = verdict.of(item)
    spec = kinds.lookup(item.kind)
    level = spec.failing_level if spec is not None else None  # the level the guide gives a failing one
    if judged.supports or judged.incomplete or level is None:
        return None
    label = item.get_kind_display()
    # A declared record's title already names its kind ("Concurrency test: Deadlock"), or says what it is.
    named = item.title.startswith(f"{label}:") or item.kind in kinds.KINDS
    title = f"{item.title} {judged.why}" if named else f"{label} “{item.title}” {judged.why}"
    # A failed restore drill is "no tested restore path" (P0) unless another drill of the review passed;
    # then it is a serious finding (a missed RTO is a longer outage).
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
