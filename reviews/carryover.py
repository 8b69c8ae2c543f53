"""Carry-over: a new review of a system starts with what its last decision left open.

When a review starts (services.start_review, same transaction), the system's latest decided review gives:
- every finding it left unresolved (open, or accepted), copied with its level, category, owner, due date,
  probe key and `carried_from` = the origin finding;
- every exception of those findings that is still signed and unexpired, copied with its terms, signer,
  signature and expiry unchanged and `carried_from` = the origin exception (an expired, revoked,
  rejected or unsigned one stays behind: the new review's gate must not lean on it);
- every evidence item still fresh, copied with its observed_at (so it keeps ageing) and typed record,
  `carried_from` = the origin item. Stale evidence stays behind;
- every score of a category with a gate minimum that it left below the minimum (a first score in the
  new review would otherwise lift it with nobody confirming).

The decided review stays frozen. Its follow-ups are closed later through the copies: resolving a carried
finding records `finding.resolve_later` on the origin (audited, under the origin's review), and the old
review page shows "resolved later in <review>" from the copy (`resolved_later`). Each carried row is
audited as `finding.carry`, `exception.carry` or `evidence.carry` under the new review.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import F, Prefetch
from django.utils import timezone

from evidence import kinds
from evidence.freshness import fresh_q
from evidence.models import TYPED_RECORDS, Evidence

from . import audit
from .models import (
    Category,
    CategoryScore,
    Decision,
    ExceptionState,
    Finding,
    FindingStatus,
    Review,
    RiskException,
)

EXCEPTION_COPY = (
    "justification",
    "compensating_control",
    "expires_at",
    "state",
    "requested_by_id",
    "requested_at",
    "signer_id",
    "signed_at",
    "signed_digest",
    "edited_by_id",
    "edited_at",
)
EVIDENCE_COPY = ("kind", "title", "url", "file", "notes", "observed_at", "added_by_id", "added_at")


def last_decided_review(system_id: int) -> Review | None:
    """The review of the system's newest decision: the one whose follow-ups are still owed."""
    decision = (
        Decision.objects.filter(system_id=system_id)
        .order_by("-recorded_at", "-id")
        .select_related("review")
        .only("review")
        .first()
    )
    return decision.review if decision else None


def carry_over(*, review: Review, actor, now: datetime | None = None) -> dict[str, int]:
    """Copy into the new `review` what the system's last decision left open (see the module). Runs inside
    the caller's transaction; returns how many findings, exceptions and evidence items were carried."""
    now = now or timezone.now()
    origin = last_decided_review(review.system_id)
    counts = {"findings": 0, "exceptions": 0, "evidence": 0}
    if origin is None:
        return counts
    # The new review may use a newer catalogue: categories are matched by code.
    categories = {c.code: c for c in Category.objects.filter(version_id=review.catalogue_id)}
    findings = (
        Finding.objects.filter(review=origin)
        .exclude(status=FindingStatus.RESOLVED)
        .select_related("category")
        .prefetch_related(
            Prefetch(
                "exceptions",
                queryset=RiskException.objects.filter(
                    state=ExceptionState.SIGNED, expires_at__gt=now
                ).order_by("requested_at", "id"),
            )
        )
        .order_by("level", "created_at", "id")
    )
    for f in findings:
        category = categories.get(f.category.code)
        if category is None:  # a category the newer catalogue dropped: nothing to file it under
            continue
        copy = Finding.objects.create(
            review=review,
            category=category,
            title=f.title,
            description=f.description,
            level=f.level,
            status=f.status,
            owner_id=f.owner_id,
            due_date=f.due_date,
            source=f.source,
            probe_key=f.probe_key,
            created_by=actor,
            carried_from=f,
        )
        counts["findings"] += 1
        audit.record(
            actor=actor,
            action="finding.carry",
            obj=copy,
            review=review,
            after={"from_finding": f.pk, "from_review": origin.pk, "level": f.level, "status": f.status},
        )
        for exc in f.exceptions.all():
            carried = RiskException.objects.create(
                finding=copy, carried_from=exc, **{name: getattr(exc, name) for name in EXCEPTION_COPY}
            )
            counts["exceptions"] += 1
            audit.record(
                actor=actor,
                action="exception.carry",
                obj=carried,
                review=review,
                after={
                    "from_exception": exc.pk,
                    "from_review": origin.pk,
                    "expires_at": exc.expires_at.isoformat(),
                    "signer": exc.signer_id,
                },
            )
    counts["evidence"] = _carry_evidence(
        origin=origin, review=review, categories=categories, actor=actor, now=now
    )
    counts["scores"] = _carry_low_scores(origin=origin, review=review, categories=categories, actor=actor)
    return counts


# The categories with a gate minimum (Category.minimum_score): a score the last decision left below it is
# carried, so that lifting it in the next review is a raise a second person confirms (reviews.score_raise),
# not a first score anyone may give. Carried whatever the new review's release flags say: a flag can change.


def _carry_low_scores(*, origin: Review, review: Review, categories: dict[str, Category], actor) -> int:
    n = 0
    low = CategoryScore.objects.filter(
        review=origin, category__minimum_score__isnull=False, score__lt=F("category__minimum_score")
    ).select_related("category")
    for old in low:
        category = categories.get(old.category.code)
        if category is None:
            continue
        row = CategoryScore.objects.create(
            review=review,
            category=category,
            score=old.score,
            owner_id=old.owner_id,
            notes=f"Carried from {origin.release_scope}, below the minimum at its decision. {old.notes}"[
                :5000
            ],
            updated_by=actor,
        )
        n += 1
        audit.record(
            actor=actor,
            action="score.carry",
            obj=row,
            review=review,
            after={"score": old.score, "from_review": origin.pk, "category": category.code},
        )
    return n


def _carry_evidence(*, origin: Review, review: Review, categories: dict[str, Category], actor, now) -> int:
    items = (
        Evidence.objects.filter(fresh_q(now), review=origin)
        .select_related("category", *TYPED_RECORDS)
        .order_by("observed_at", "id")
    )
    runbooks: dict[int, int] = {}  # origin runbook id -> carried runbook id, for runbook tests
    tests = []
    n = 0
    for e in items:
        category = categories.get(e.category.code)
        if category is None:
            continue
        copy = Evidence.objects.create(
            review=review,
            category=category,
            carried_from=e,
            **{name: getattr(e, name) for name in EVIDENCE_COPY},
        )
        related = "record" if e.kind in kinds.KINDS else e.kind  # the declared kinds share one table
        for name in TYPED_RECORDS:
            typed = getattr(e, name, None) if name == related else None
            if typed is None:
                continue
            old_pk = typed.pk
            typed.pk = typed.id = None
            typed._state.adding = True
            typed.evidence = copy
            typed.save()
            if name == "runbook":
                runbooks[old_pk] = typed.pk
            elif name == "runbook_test":
                tests.append(typed)
        n += 1
        audit.record(
            actor=actor,
            action="evidence.carry",
            obj=copy,
            review=review,
            after={"from_evidence": e.pk, "from_review": origin.pk, "observed_at": e.observed_at.isoformat()},
        )
    for test in tests:  # a carried test names the carried runbook, not the frozen review's
        if test.runbook_id is not None:
            test.runbook_id = runbooks.get(test.runbook_id)
            test.save(update_fields=["runbook"])
    return n


def note_resolved(*, finding: Finding, before_status: str, actor) -> None:
    """After a carried finding is resolved (services.update_finding): say so on its origin, whose review
    stays frozen — an audit event under the origin's review, linking the copy that closed it."""
    if finding.carried_from_id is None or finding.status != FindingStatus.RESOLVED:
        return
    if before_status == FindingStatus.RESOLVED:
        return
    origin = Finding.objects.select_related("review").get(pk=finding.carried_from_id)
    audit.record(
        actor=actor,
        action="finding.resolve_later",
        obj=origin,
        review=origin.review,
        after={
            "resolved_by_finding": finding.pk,
            "resolved_in_review": finding.review_id,
            "resolved_at": finding.resolved_at.isoformat() if finding.resolved_at else None,
        },
    )


def resolved_later(origin_ids: list[int]) -> dict[int, Finding]:
    """{origin finding id: the carried copy that resolved it}, following carries across several reviews
    (P2 carried from 3.0 to 3.1 to 3.2 and resolved in 3.2): a few queries, one per hop."""
    found: dict[int, Finding] = {}
    frontier = {i: i for i in origin_ids}  # current finding id -> the origin it stands for
    while frontier:
        copies = list(
            Finding.objects.filter(carried_from_id__in=list(frontier)).select_related("review").order_by("id")
        )
        nxt = {}
        for c in copies:
            origin = frontier[c.carried_from_id]
            if c.status == FindingStatus.RESOLVED:
                found.setdefault(origin, c)
            else:
                nxt[c.pk] = origin
        frontier = {k: v for k, v in nxt.items() if v not in found}
    return found


def mark_findings(findings: list[Finding], *, frozen: bool) -> None:
    """Set on each finding of a review page `carried_origin` (the review it was carried from, or None)
    and, on a decided review, `resolved_later_by` (the carried copy that resolved it, or None): at most
    one query for the origins and one per carry hop."""
    origins = {f.carried_from_id for f in findings if f.carried_from_id}
    reviews = (
        {
            fid: review
            for fid, review in (
                (o.pk, o.review) for o in Finding.objects.filter(pk__in=origins).select_related("review")
            )
        }
        if origins
        else {}
    )
    later = resolved_later([f.pk for f in findings if f.status != FindingStatus.RESOLVED]) if frozen else {}
    for f in findings:
        f.carried_origin = reviews.get(f.carried_from_id)
        f.resolved_later_by = later.get(f.pk)
