"""Every state change of the review domain. Each validates, writes and audits in one transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from guide.links import text as guide_text
from readiness import dispatch

from . import audit, carryover, loosening, opened, policy, score_raise
from .gate import EVIDENCE_REQUIRED_FROM, GateOutcome
from .models import (
    AGENDA_STEPS,
    Answer,
    AuditEvent,
    CatalogueVersion,
    Category,
    CategoryScore,
    ChecklistAnswer,
    ChecklistItem,
    Claim,
    Decision,
    ExceptionState,
    Finding,
    FindingSource,
    FindingStatus,
    Level,
    Review,
    ReviewState,
    RiskException,
    System,
    Team,
)
from .selectors import EXPIRING_SOON_DAYS


class ServiceError(ValidationError):
    """A change refused for a reason the user can act on. Carries field errors like a form."""


class ConflictError(ServiceError):
    """Somebody else changed the object since it was loaded; `current` is what they saved."""

    def __init__(self, message: str, current=None):
        super().__init__(message)
        self.current = current


SYSTEM_FIELDS = ("team", "name", "slug", "description", "source_of_truth")
REVIEW_FIELDS = (
    "release_scope",
    "scope_notes",
    "schema_changing",
    "production_traffic",
    "state",
    "chair",
    "current_step",
    "next_review_date",
)
SCORE_FIELDS = ("score", "owner", "notes")
FINDING_FIELDS = (
    "title",
    "description",
    "level",
    "status",
    "resolution",
    "resolution_note",
    "owner",
    "due_date",
    "category",
)
EXCEPTION_FIELDS = ("justification", "compensating_control", "expires_at", "state", "signer", "signed_at")


def _require(allowed: bool, message: str = "You may not make this change.") -> None:
    if not allowed:
        raise PermissionDenied(message)


def _require_open(review: Review) -> None:
    if review.is_frozen:
        raise ServiceError("This review is decided and frozen; start a new review to change anything.")


def _check_version(obj, version: int | None) -> None:
    if version is not None and obj.version != version:
        raise ConflictError(
            f"Someone else changed this {obj._meta.verbose_name} since you loaded it. "
            "Their version is shown; apply your change again if it still holds.",
            current=obj,
        )


# --- Systems


def _unique_slug(name: str) -> str:
    base = slugify(name)[:100] or "system"
    slug, n = base, 2
    while System.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def create_system(
    *, team: Team, name: str, description: str = "", source_of_truth: str = "", actor
) -> System:
    _require(
        policy.can_create_system(actor, team), "Only an architect or lead of the team may add its systems."
    )
    name = name.strip()
    if not name:
        raise ServiceError({"name": "Give the system a name."})
    if System.objects.filter(team=team, name__iexact=name).exists():
        raise ServiceError({"name": f"{team} already has a system called {name!r}."})
    system = System.objects.create(
        team=team,
        name=name,
        slug=_unique_slug(name),
        description=description,
        source_of_truth=source_of_truth,
    )
    audit.record(actor=actor, action="system.create", obj=system, after=audit.snapshot(system, SYSTEM_FIELDS))
    return system


@transaction.atomic
def update_system(*, system: System, name: str, description: str, source_of_truth: str, actor) -> System:
    system = System.objects.select_for_update().get(pk=system.pk)
    _require(
        policy.can_edit_system(actor, system), "Only an architect or lead of the team may edit the system."
    )
    name = name.strip()
    if not name:
        raise ServiceError({"name": "Give the system a name."})
    if System.objects.filter(team_id=system.team_id, name__iexact=name).exclude(pk=system.pk).exists():
        raise ServiceError({"name": f"{system.team} already has a system called {name!r}."})
    before = audit.snapshot(system, SYSTEM_FIELDS)
    system.name, system.description, system.source_of_truth = name, description, source_of_truth
    system.save()
    audit.record(
        actor=actor,
        action="system.update",
        obj=system,
        before=before,
        after=audit.snapshot(system, SYSTEM_FIELDS),
    )
    return system


# --- Reviews


def current_catalogue() -> CatalogueVersion:
    version = CatalogueVersion.objects.filter(published=True).order_by("-number").first()
    if version is None:
        raise ServiceError("No published checklist catalogue: run `python manage.py migrate`.")
    return version


@transaction.atomic
def start_review(
    *,
    system: System,
    release_scope: str,
    actor,
    scope_notes: str = "",
    schema_changing: bool | None = None,
    production_traffic: bool | None = None,
    chair=None,
    next_review_date: date | None = None,
) -> Review:
    _require(
        policy.role_in(actor, system.team_id) in policy.CHAIR_ROLES,
        "Only an architect or lead of the team may start a review.",
    )
    if not release_scope.strip():
        raise ServiceError(
            {"release_scope": f"State the release scope: what this release changes ({guide_text('step-1')})."}
        )
    chair = chair or actor
    if policy.role_in(chair, system.team_id) not in policy.CHAIR_ROLES:
        raise ServiceError({"chair": "The chair must be an architect or lead of the system's team."})
    # Serialised with decisions and other starts of the system: the carry-over reads its last decision.
    System.objects.select_for_update().filter(pk=system.pk).first()
    _refuse_second_open_review(system=system, release_scope=release_scope)
    try:
        with transaction.atomic():
            review = Review.objects.create(
                system=system,
                catalogue=current_catalogue(),
                release_scope=release_scope.strip(),
                scope_notes=scope_notes,
                schema_changing=schema_changing,
                production_traffic=production_traffic,
                chair=chair,
                next_review_date=next_review_date,
                created_by=actor,
            )
    except IntegrityError:
        _refuse_second_open_review(system=system, release_scope=release_scope)
        raise
    carried = carryover.carry_over(review=review, actor=actor)
    audit.record(
        actor=actor,
        action="review.start",
        obj=review,
        review=review,
        after={**audit.snapshot(review, REVIEW_FIELDS), "carried": carried},
    )
    return review


def _refuse_second_open_review(*, system: System, release_scope: str, exclude: int | None = None) -> None:
    """Two open reviews of one release would each answer for it (and a pipeline asks by release)."""
    scope = release_scope.strip()
    other = (
        Review.objects.filter(system=system, release_scope__iexact=scope)
        .exclude(state=ReviewState.DECIDED)
        .exclude(pk=exclude)
        .first()
    )
    if other is not None:
        raise ServiceError(
            {
                "release_scope": f"Review {other.pk} of {other.release_scope!r} is still open for this "
                "system: continue it, or decide it before starting another of the same release."
            }
        )


@transaction.atomic
def update_review(
    *,
    review: Review,
    actor,
    version: int | None,
    release_scope: str,
    scope_notes: str,
    schema_changing: bool | None,
    production_traffic: bool | None,
    next_review_date: date | None,
) -> Review:
    review = Review.objects.select_for_update().select_related("system").get(pk=review.pk)
    _require(policy.can_chair(actor, review), "Only an architect or lead of the team may change the scope.")
    _require_open(review)
    _check_version(review, version)
    if not release_scope.strip():
        raise ServiceError(
            {"release_scope": f"State the release scope: what this release changes ({guide_text('step-1')})."}
        )
    _refuse_second_open_review(system=review.system, release_scope=release_scope, exclude=review.pk)
    if release_scope.strip() != review.release_scope and (review.scores.exists() or review.findings.exists()):
        # Renaming a reviewed release would let a fresh review take its name (and the pipeline's
        # ?release= answer) while the blocked one lives on under another.
        raise ServiceError(
            {
                "release_scope": "The release scope names what was reviewed: once the review has scores or "
                "findings it keeps its name. Start a new review for another release."
            }
        )
    before = audit.snapshot(review, REVIEW_FIELDS)
    review.release_scope = release_scope.strip()
    review.scope_notes = scope_notes
    review.schema_changing = schema_changing
    review.production_traffic = production_traffic
    review.next_review_date = next_review_date
    review.version += 1
    review.save()
    audit.record(
        actor=actor,
        action="review.update",
        obj=review,
        review=review,
        before=before,
        after=audit.snapshot(review, REVIEW_FIELDS),
    )
    return review


def _category_of(review: Review, category: Category) -> Category:
    if category.version_id != review.catalogue_id:
        raise ServiceError({"category": "That category is not in this review's catalogue version."})
    return category


@transaction.atomic
def set_score(
    *,
    review: Review,
    category: Category,
    score: int,
    actor,
    version: int | None = None,
    owner=None,
    notes: str = "",
) -> CategoryScore:
    """Score a category 0–3. `version` is the score's version as loaded (0 when it was unscored)."""
    review = Review.objects.select_for_update().select_related("system").get(pk=review.pk)
    _require(policy.can_edit_review(actor, review))
    _require_open(review)
    _category_of(review, category)
    if score not in (0, 1, 2, 3):
        raise ServiceError({"score": f"A score is 0, 1, 2 or 3 ({guide_text('scorecard')})."})
    if score >= EVIDENCE_REQUIRED_FROM and not review.evidence.filter(category=category).exists():
        raise ServiceError(
            {
                "score": f"Attach evidence to {category.name} before scoring it {score}: "
                "no evidence, no readiness."
            }
        )
    if owner is not None and not loosening.can_own(owner, review.system.team_id):
        raise ServiceError({"owner": loosening.OWNER_ERROR})
    existing = CategoryScore.objects.select_for_update().filter(review=review, category=category).first()
    score_raise.check_direct(
        review=review, category=category, current=existing.score if existing else None, new=score
    )
    if existing is None:
        if version:
            raise ConflictError("Someone else removed this score since you loaded it.")
        row = CategoryScore(
            review=review, category=category, score=score, owner=owner, notes=notes, updated_by=actor
        )
        row.save()
        audit.record(
            actor=actor, action="score.set", obj=row, review=review, after=audit.snapshot(row, SCORE_FIELDS)
        )
        return row
    if version == 0:
        raise ConflictError(f"{category.name} was scored by someone else meanwhile.", current=existing)
    _check_version(existing, version)
    before = audit.snapshot(existing, SCORE_FIELDS)
    existing.score, existing.owner, existing.notes = score, owner, notes
    existing.updated_by, existing.updated_at = actor, timezone.now()
    existing.version += 1
    existing.save()
    audit.record(
        actor=actor,
        action="score.set",
        obj=existing,
        review=review,
        before=before,
        after=audit.snapshot(existing, SCORE_FIELDS),
    )
    return existing


@transaction.atomic
def clear_score(*, review: Review, category: Category, actor, version: int) -> None:
    """Take a category's score away again, as if it had never been scored: what undoing its first score
    restores. `version` is the score's version as loaded; a later change by anyone is a conflict."""
    review = Review.objects.select_for_update().select_related("system").get(pk=review.pk)
    _require(policy.can_edit_review(actor, review))
    _require_open(review)
    _category_of(review, category)
    existing = CategoryScore.objects.select_for_update().filter(review=review, category=category).first()
    if existing is None:
        return
    _check_version(existing, version)
    score_raise.check_clear(review=review, category=category, current=existing.score)
    audit.record(
        actor=actor,
        action="score.clear",
        obj=existing,
        review=review,
        before=audit.snapshot(existing, SCORE_FIELDS),
    )
    existing.delete()


@transaction.atomic
def answer_item(
    *,
    review: Review,
    item: ChecklistItem,
    answer: str,
    actor,
    note: str = "",
    evidence=None,
    version: int | None = None,
) -> ChecklistAnswer:
    review = Review.objects.select_for_update().select_related("system").get(pk=review.pk)
    _require(policy.can_edit_review(actor, review))
    _require_open(review)
    if item.category.version_id != review.catalogue_id:
        raise ServiceError("That checklist item is not in this review's catalogue version.")
    if answer not in Answer.values:
        raise ServiceError({"answer": "Answer yes, no, not applicable or unknown."})
    if evidence is not None and evidence.review_id != review.pk:
        raise ServiceError({"evidence": "That evidence belongs to another review."})
    if answer == Answer.NOT_APPLICABLE and not note.strip():
        raise ServiceError({"note": "Say why this item does not apply: Not applicable needs a reason."})
    row = ChecklistAnswer.objects.select_for_update().filter(review=review, item=item).first()
    fields = ("answer", "note", "evidence")
    if row is None:
        row = ChecklistAnswer.objects.create(
            review=review, item=item, answer=answer, note=note, evidence=evidence, answered_by=actor
        )
        audit.record(
            actor=actor, action="checklist.answer", obj=row, review=review, after=audit.snapshot(row, fields)
        )
        if answer == Answer.NO:
            opened.for_checklist_no(review=review, item=item, actor=actor)
        return row
    _check_version(row, version)
    before = audit.snapshot(row, fields)
    was = row.answer
    row.answer, row.note, row.evidence = answer, note, evidence
    row.answered_by, row.answered_at = actor, timezone.now()
    row.version += 1
    row.save()
    audit.record(
        actor=actor,
        action="checklist.answer",
        obj=row,
        review=review,
        before=before,
        after=audit.snapshot(row, fields),
    )
    if answer == Answer.NO and was != Answer.NO:
        opened.for_checklist_no(review=review, item=item, actor=actor)
    return row


@transaction.atomic
def clear_answer(*, review: Review, item: ChecklistItem, actor, version: int) -> None:
    """Take a checklist answer away again, as if the item had never been answered: what undoing its first
    answer restores. A finding its No opened stays open (resolve it when the control is in place)."""
    review = Review.objects.select_for_update().select_related("system").get(pk=review.pk)
    _require(policy.can_edit_review(actor, review))
    _require_open(review)
    if item.category.version_id != review.catalogue_id:
        raise ServiceError("That checklist item is not in this review's catalogue version.")
    row = ChecklistAnswer.objects.select_for_update().filter(review=review, item=item).first()
    if row is None:
        return
    _check_version(row, version)
    audit.record(
        actor=actor,
        action="checklist.clear",
        obj=row,
        review=review,
        before=audit.snapshot(row, ("answer", "note", "evidence")),
    )
    row.delete()


# --- Findings


def _validate_finding(*, review: Review, level: str, owner, due_date: date | None, title: str) -> None:
    errors = {}
    if not title.strip():
        errors["title"] = "Say what the finding is."
    if level not in Level.values:
        errors["level"] = f"A finding is P0, P1, P2 or P3 ({guide_text('severity-levels')})."
    if level == Level.P2:
        dated_owner = f"its follow-up has an owner and a date ({guide_text('severity-levels')})"
        if owner is None:
            errors["owner"] = f"A P2 needs an owner: {dated_owner}."
        if due_date is None:
            errors["due_date"] = f"A P2 needs a due date: {dated_owner}."
    if owner is not None and not loosening.can_own(owner, review.system.team_id):
        errors["owner"] = loosening.OWNER_ERROR
    if errors:
        raise ServiceError(errors)


@transaction.atomic
def add_finding(
    *,
    review: Review,
    category: Category,
    title: str,
    level: str,
    actor,
    description: str = "",
    owner=None,
    due_date: date | None = None,
) -> Finding:
    review = Review.objects.select_for_update().select_related("system").get(pk=review.pk)
    _require(policy.can_edit_review(actor, review))
    _require_open(review)
    _category_of(review, category)
    _validate_finding(review=review, level=level, owner=owner, due_date=due_date, title=title)
    finding = Finding.objects.create(
        review=review,
        category=category,
        title=title.strip(),
        description=description,
        level=level,
        owner=owner,
        due_date=due_date,
        source=FindingSource.MANUAL,
        created_by=actor,
    )
    audit.record(
        actor=actor,
        action="finding.add",
        obj=finding,
        review=review,
        after=audit.snapshot(finding, FINDING_FIELDS),
    )
    return finding


@transaction.atomic
def update_finding(
    *,
    finding: Finding,
    actor,
    version: int | None,
    title: str,
    description: str,
    level: str,
    status: str,
    owner=None,
    due_date: date | None = None,
    note: str = "",
) -> Finding:
    """Change a finding. A loosening of a P0/P1 is refused here: it goes through `loosening.propose`.
    `status` is one of loosening.STATUS_VALUES ("not_an_issue" is stored as resolved); `note` says how
    a finding was fixed, which a P0/P1 resolved as fixed needs, with evidence of the fix."""
    finding = (
        Finding.objects.select_for_update(of=("self",))
        .select_related("review__system", "category")
        .get(pk=finding.pk)
    )
    review = finding.review
    _require(policy.can_edit_review(actor, review))
    _require_open(review)
    _check_version(finding, version)
    _validate_finding(review=review, level=level, owner=owner, due_date=due_date, title=title)
    if status not in loosening.STATUS_VALUES:
        raise ServiceError({"status": "A finding is open, resolved, not an issue or accepted."})
    if status == FindingStatus.ACCEPTED and level == Level.P0:
        raise ServiceError(
            {
                "status": "A P0 blocker cannot be accepted: it must be resolved before release "
                f"({guide_text('severity-levels')})."
            }
        )
    status, resolution, resolution_note = loosening.check_direct_change(
        finding=finding, level=level, status=status, note=note
    )
    before = audit.snapshot(finding, FINDING_FIELDS)
    if status == FindingStatus.RESOLVED and finding.status != FindingStatus.RESOLVED:
        finding.resolved_at = timezone.now()
    elif status != FindingStatus.RESOLVED:
        finding.resolved_at = None
    finding.title, finding.description, finding.level = title.strip(), description, level
    finding.status, finding.owner, finding.due_date = status, owner, due_date
    finding.resolution, finding.resolution_note = resolution, resolution_note
    finding.version += 1
    finding.save()
    carryover.note_resolved(finding=finding, before_status=before["status"], actor=actor)
    if before["title"] != finding.title or before["level"] != level or before["description"] != description:
        # A signature covers the finding's title and level too (exception_digest), and the risk it was
        # given for is what the finding describes: changed, the signature no longer holds.
        signed = RiskException.objects.select_for_update().filter(
            finding=finding, state=ExceptionState.SIGNED
        )
        for exc in signed:
            exc.finding = finding
            _void_signature(exc, actor=actor, review=review, why="finding changed after signing")
            exc.version += 1
            exc.save()
    action = "finding.regrade" if before["level"] != level else "finding.update"
    audit.record(
        actor=actor,
        action=action,
        obj=finding,
        review=review,
        before=before,
        after=audit.snapshot(finding, FINDING_FIELDS),
    )
    return finding


# --- Claims (seed §1)


@transaction.atomic
def add_claim(
    *,
    review: Review,
    claim: str,
    risk: str,
    control: str,
    actor,
    category: Category | None = None,
    evidence=None,
    evidence_note: str = "",
) -> Claim:
    review = Review.objects.select_for_update().select_related("system").get(pk=review.pk)
    _require(policy.can_edit_review(actor, review))
    _require_open(review)
    errors = {}
    for name, value in (("claim", claim), ("risk", risk), ("control", control)):
        if not value.strip():
            errors[name] = f"Say the {name}."
    if errors:
        raise ServiceError(errors)
    if category is not None:
        _category_of(review, category)
    if evidence is not None and evidence.review_id != review.pk:
        raise ServiceError({"evidence": "That evidence belongs to another review."})
    row = Claim.objects.create(
        review=review,
        category=category,
        claim=claim.strip(),
        risk=risk.strip(),
        control=control.strip(),
        evidence=evidence,
        evidence_note=evidence_note,
        created_by=actor,
    )
    audit.record(
        actor=actor,
        action="claim.add",
        obj=row,
        review=review,
        after=audit.snapshot(row, ("claim", "risk", "control", "evidence", "evidence_note")),
    )
    return row


# --- Exceptions (seed §3–§4: a P1 ships only with a signed exception)


def exception_digest(exc: RiskException) -> str:
    """What a signature covers: the finding and the exact terms. Editing any of them voids it."""
    terms = {
        # A carried exception keeps the signature given for the finding it was signed on.
        "finding": exc.carried_from.finding_id if exc.carried_from_id else exc.finding_id,
        "finding_title": exc.finding.title,
        "level": exc.finding.level,
        "justification": exc.justification,
        "compensating_control": exc.compensating_control,
        "expires_at": exc.expires_at.isoformat(),
        "requested_by": exc.requested_by_id,
    }
    return hashlib.sha256(canonical_json(terms)).hexdigest()


def signature_matches(exc: RiskException) -> bool | None:
    """Whether the signed digest still covers the exception's current terms (None: never signed)."""
    if not exc.signed_digest:
        return None
    return exception_digest(exc) == exc.signed_digest


def _validate_terms(*, justification: str, compensating_control: str, expires_at: datetime) -> dict:
    errors = {}
    if not justification.strip():
        errors["justification"] = "Say why the release may ship with this risk."
    if not compensating_control.strip():
        errors["compensating_control"] = "Name the compensating control."
    now = timezone.now()
    limit = now + timedelta(days=settings.EXCEPTION_MAX_DAYS)
    if expires_at <= now:
        errors["expires_at"] = "The expiry must be in the future."
    elif expires_at > limit:
        errors["expires_at"] = f"An exception lasts at most {settings.EXCEPTION_MAX_DAYS} days."
    return errors


# A signed exception may be followed by a new request in its last days, so that a P1 still open when it
# lapses is covered again without a gap (the dashboard warns of exceptions expiring this soon).
RENEWAL_DAYS = EXPIRING_SOON_DAYS


def exception_request_refusal(
    *, level: str, status: str, exceptions: Iterable[RiskException], now: datetime
) -> str | None:
    """Why a new exception may not be requested for a finding, or None when it may: a P1 that is not
    resolved, with no request awaiting a signature and no signed exception that still has more than
    RENEWAL_DAYS to run. A pure function of the finding and its exceptions: the service refuses with it
    and the pages hide "Request an exception" with it."""
    if level != Level.P1:
        return "Exceptions are for P1 findings only: a P0 must be fixed, a P2 needs a dated owner."
    if status == FindingStatus.RESOLVED:
        return "The finding is resolved; it needs no exception."
    for e in exceptions:
        if e.state == ExceptionState.REQUESTED and e.expires_at > now:
            return (
                "This finding already has an exception awaiting a signature: change its terms or ask a "
                "lead to sign or reject it, rather than requesting a second one."
            )
        if e.state == ExceptionState.SIGNED and e.expires_at > now + timedelta(days=RENEWAL_DAYS):
            until = timezone.localdate(e.expires_at)
            return (
                f"This finding already has a signed exception until {until:%Y-%m-%d}; a new one may be "
                f"requested in the {RENEWAL_DAYS} days before it lapses."
            )
    return None


@transaction.atomic
def request_exception(
    *, finding: Finding, justification: str, compensating_control: str, expires_at: datetime, actor
) -> RiskException:
    # The finding's row lock also serialises two requests for it: the second sees the first.
    finding = Finding.objects.select_for_update().select_related("review__system").get(pk=finding.pk)
    _require(policy.can_edit_review(actor, finding.review))
    _require_open(finding.review)
    errors = {}
    refusal = exception_request_refusal(
        level=finding.level,
        status=finding.status,
        exceptions=RiskException.objects.filter(finding=finding),
        now=timezone.now(),
    )
    if refusal:
        errors["finding"] = refusal
    errors.update(
        _validate_terms(
            justification=justification, compensating_control=compensating_control, expires_at=expires_at
        )
    )
    if errors:
        raise ServiceError(errors)
    exc = RiskException.objects.create(
        finding=finding,
        justification=justification.strip(),
        compensating_control=compensating_control.strip(),
        expires_at=expires_at,
        requested_by=actor,
    )
    audit.record(
        actor=actor,
        action="exception.request",
        obj=exc,
        review=finding.review,
        after=audit.snapshot(exc, EXCEPTION_FIELDS),
    )
    return exc


def _void_signature(exc: RiskException, *, actor, review: Review, why: str) -> None:
    """Back to awaiting a signature: the terms someone signed are no longer the terms. Audited."""
    before = {**audit.snapshot(exc, EXCEPTION_FIELDS), "signed_digest": exc.signed_digest}
    exc.state = ExceptionState.REQUESTED
    exc.signer, exc.signed_at, exc.signed_digest = None, None, ""
    audit.record(
        actor=actor,
        action="exception.void",
        obj=exc,
        review=review,
        before=before,
        after={**audit.snapshot(exc, EXCEPTION_FIELDS), "signed_digest": "", "why": why},
    )


@transaction.atomic
def edit_exception(
    *,
    exception: RiskException,
    actor,
    justification: str,
    compensating_control: str,
    expires_at: datetime,
    version: int | None = None,
) -> RiskException:
    """Change the terms of a requested or signed exception. A signature covers exact terms, so editing a
    signed exception voids it: it awaits a signature again, and whoever edited it may not sign it."""
    exc = (
        RiskException.objects.select_for_update(of=("self",))
        .select_related("finding__review__system")
        .get(pk=exception.pk)
    )
    review = exc.finding.review
    _require(policy.can_edit_review(actor, review))
    _require_open(review)
    _check_version(exc, version)
    if exc.state not in (ExceptionState.REQUESTED, ExceptionState.SIGNED):
        raise ServiceError(
            f"This exception is {exc.get_state_display().lower()}; request a new one instead of editing it."
        )
    errors = _validate_terms(
        justification=justification, compensating_control=compensating_control, expires_at=expires_at
    )
    if errors:
        raise ServiceError(errors)
    justification, compensating_control = justification.strip(), compensating_control.strip()
    unchanged = (
        exc.justification == justification
        and exc.compensating_control == compensating_control
        and exc.expires_at == expires_at
    )
    if unchanged:
        return exc
    before = audit.snapshot(exc, EXCEPTION_FIELDS)
    exc.justification, exc.compensating_control = justification, compensating_control
    exc.expires_at = expires_at
    exc.edited_by, exc.edited_at = actor, timezone.now()
    if exc.state == ExceptionState.SIGNED:
        _void_signature(exc, actor=actor, review=review, why="terms edited after signing")
    exc.version += 1
    exc.save()
    audit.record(
        actor=actor,
        action="exception.edit",
        obj=exc,
        review=review,
        before=before,
        after=audit.snapshot(exc, EXCEPTION_FIELDS),
    )
    return exc


def _decide_exception(
    *, exception: RiskException, actor, to_state: str, version: int | None, digest: str | None = None
) -> RiskException:
    exc = (
        RiskException.objects.select_for_update(of=("self",))
        .select_related("finding__review__system")
        .get(pk=exception.pk)
    )
    review = exc.finding.review
    _require(
        policy.can_sign_exceptions(actor, review.system),
        "Only a lead of the system's team may sign exceptions.",
    )
    _require_open(review)
    if exc.requested_by_id == actor.pk:
        raise ServiceError("Four eyes: you cannot sign or reject your own request; another lead must.")
    if exc.edited_by_id == actor.pk:
        raise ServiceError("Four eyes: you edited these terms, so another lead must sign or reject them.")
    if (version is not None and exc.version != version) or (
        digest is not None and digest != exception_digest(exc)
    ):
        # A signature covers exactly the terms the signer saw: other terms are not signed on their behalf.
        raise ConflictError(
            "These terms changed since you opened them: nothing was "
            f"{'signed' if to_state == ExceptionState.SIGNED else 'rejected'}. "
            "Read the current terms and decide again.",
            current=exc,
        )
    if exc.state != ExceptionState.REQUESTED:
        raise ServiceError(f"This exception is {exc.get_state_display().lower()}, not awaiting a signature.")
    if to_state == ExceptionState.SIGNED and exc.expires_at <= timezone.now():
        raise ServiceError("This exception has already passed its expiry; ask for a new one.")
    before = audit.snapshot(exc, EXCEPTION_FIELDS)
    exc.state = to_state
    exc.signer, exc.signed_at = actor, timezone.now()
    if to_state == ExceptionState.SIGNED:
        exc.signed_digest = exception_digest(exc)
    exc.version += 1
    exc.save()
    audit.record(
        actor=actor,
        action=f"exception.{'sign' if to_state == ExceptionState.SIGNED else 'reject'}",
        obj=exc,
        review=review,
        before=before,
        after={**audit.snapshot(exc, EXCEPTION_FIELDS), "signed_digest": exc.signed_digest},
    )
    return exc


@transaction.atomic
def sign_exception(
    *, exception: RiskException, actor, version: int | None = None, digest: str | None = None
) -> RiskException:
    """Sign the terms of `version` (and `digest`, exception_digest) as the signer saw them. Pages and the
    API always pass both; a mismatch refuses and signs nothing."""
    return _decide_exception(
        exception=exception, actor=actor, to_state=ExceptionState.SIGNED, version=version, digest=digest
    )


@transaction.atomic
def reject_exception(
    *, exception: RiskException, actor, version: int | None = None, digest: str | None = None
) -> RiskException:
    return _decide_exception(
        exception=exception, actor=actor, to_state=ExceptionState.REJECTED, version=version, digest=digest
    )


@transaction.atomic
def revoke_exception(*, exception: RiskException, actor) -> RiskException:
    exc = (
        RiskException.objects.select_for_update(of=("self",))
        .select_related("finding__review__system")
        .get(pk=exception.pk)
    )
    review = exc.finding.review
    _require(
        policy.can_sign_exceptions(actor, review.system),
        "Only a lead of the system's team may revoke exceptions.",
    )
    _require_open(review)
    if exc.state != ExceptionState.SIGNED:
        raise ServiceError("Only a signed exception can be revoked.")
    before = audit.snapshot(exc, EXCEPTION_FIELDS)
    exc.state = ExceptionState.REVOKED
    exc.version += 1
    exc.save()
    audit.record(
        actor=actor,
        action="exception.revoke",
        obj=exc,
        review=review,
        before=before,
        after=audit.snapshot(exc, EXCEPTION_FIELDS),
    )
    return exc


EXPIRY_BATCH = 500


def expire_exceptions(*, now: datetime | None = None) -> int:
    """Signed exceptions whose expiry has passed become expired, with nobody acting (Celery beat).

    Idempotent: a second call, or a concurrent one, finds nothing left to do. Runs on decided reviews too:
    expiry is time passing, not a change to the frozen review. Returns how many expired."""
    now = now or timezone.now()
    expired = 0
    while True:
        with transaction.atomic():
            due = list(
                RiskException.objects.select_for_update(of=("self",), skip_locked=True)
                .filter(state=ExceptionState.SIGNED, expires_at__lte=now)
                .select_related("finding__review")
                .order_by("expires_at", "pk")[:EXPIRY_BATCH]
            )
            for exc in due:
                before = audit.snapshot(exc, EXCEPTION_FIELDS)
                exc.state = ExceptionState.EXPIRED
                exc.version += 1
                exc.save(update_fields=["state", "version"])
                audit.record(
                    actor=None,
                    action="exception.expire",
                    obj=exc,
                    review=exc.finding.review,
                    before=before,
                    after=audit.snapshot(exc, EXCEPTION_FIELDS),
                )
        expired += len(due)
        if len(due) < EXPIRY_BATCH:
            return expired


# --- Decisions (seed §21)


def canonical_json(data) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_digest(record: dict) -> str:
    return hashlib.sha256(canonical_json(record)).hexdigest()


@transaction.atomic
def record_decision(
    *,
    review: Review,
    actor,
    next_review: date,
    notes: str = "",
    final_answers: dict[str, tuple[str, str]] | None = None,
    outcome: str | None = None,
    reason: str = "",
) -> Decision:
    """Record the review's decision: the gate's outcome, or a stricter one the chair gives a reason for
    (reviews.judgement), with the chair's answers to the final questions ({code: (answer, note)}). The
    pages always ask the final questions; None records that they were not asked."""
    return _decide(
        review=review,
        actor=actor,
        next_review=next_review,
        notes=notes,
        now=None,
        final_answers=final_answers,
        outcome=outcome,
        reason=reason,
    )


@transaction.atomic
def import_decision(
    *, review: Review, actor, next_review: date, recorded_at: datetime, notes: str = ""
) -> Decision:
    """Record a decision taken before this installation existed (the demo's history; a move from
    spreadsheets): judged and recorded as of `recorded_at`, which must be in the past and after the
    system's newest decision, so the chain stays in time order. Not offered by any page or the API."""
    if recorded_at >= timezone.now():
        raise ServiceError({"recorded_at": "An imported decision was taken in the past."})
    return _decide(review=review, actor=actor, next_review=next_review, notes=notes, now=recorded_at)


def _decide(
    *,
    review: Review,
    actor,
    next_review: date,
    notes: str,
    now: datetime | None,
    final_answers: dict[str, tuple[str, str]] | None = None,
    outcome: str | None = None,
    reason: str = "",
) -> Decision:
    from . import judgement, record_sections
    from .selectors import decision_record, review_gate  # selectors import services' models only

    review = Review.objects.select_for_update().select_related("system__team").get(pk=review.pk)
    _require(
        policy.can_chair(actor, review),
        "Only the chair (an architect or lead of the team) records the decision.",
    )
    _require_open(review)
    # One decision at a time per system, so two reviews decided at once cannot fork the chain.
    System.objects.select_for_update().filter(pk=review.system_id).first()
    imported, now = now is not None, now or timezone.now()
    if next_review <= now.date():
        raise ServiceError({"next_review": "The next review date must be in the future."})
    gate = review_gate(review, now=now)
    if gate.outcome == GateOutcome.INCOMPLETE:
        raise ServiceError("The gate cannot decide yet: " + "; ".join(r.message for r in gate.pending))
    # The chair may be stricter than the gate, never laxer; a "no" to a final question is weighed.
    judged = judgement.judge(
        gate_outcome=gate.outcome.value, outcome=outcome, reason=reason, final_answers=final_answers
    )
    previous = Decision.objects.filter(system=review.system).order_by("-recorded_at", "-id").first()
    if previous is not None and previous.recorded_at >= now:
        raise ServiceError(
            {
                "recorded_at": f"The system's newest decision is of {previous.recorded_at:%Y-%m-%d %H:%M}; "
                "a decision is recorded after it."
            }
        )
    record = decision_record(
        review,
        gate=gate,
        approver=actor,
        recorded_at=now,
        next_review=next_review,
        previous_digest=previous.digest if previous else "",
        notes=notes,
        previous=previous,
    )
    record_sections.add_to(record, review=review, judgement=judged, recorded_at=now)
    try:
        decision = Decision.objects.create(
            review=review,
            system=review.system,
            outcome=record["outcome"],
            blockers=record["blockers"],
            exceptions=record["exceptions"],
            follow_up=record["follow_up"],
            next_review=next_review,
            approver=actor,
            recorded_at=now,
            record=record,
            digest=record_digest(record),
            previous_digest=record["previous_digest"],
        )
    except IntegrityError:
        if Decision.objects.filter(review=review).exists():
            raise ServiceError("This review already has a decision.")
        raise
    before = audit.snapshot(review, REVIEW_FIELDS)
    review.state = ReviewState.DECIDED
    review.next_review_date = next_review
    review.version += 1
    review.save()
    audit.record(
        actor=actor,
        action="decision.import" if imported else "decision.record",
        obj=decision,
        review=review,
        before=before,
        after={
            "outcome": decision.outcome,
            "gate_outcome": judged.gate_outcome,
            "reason": judged.reason,
            "digest": decision.digest,
            "recorded_at": now.isoformat(),
        },
    )
    # The PDF is rendered once, by a worker, after the record is committed (it reads only the record).
    # A broker that is down must not turn a recorded decision into an error page: the decision stands,
    # and the PDF page and a beat job (reviews.tasks.requeue_decision_pdfs) send the message again.
    decision.pdf_dispatch = enqueue_decision_pdf(decision.pk, on_commit=True)
    return decision


def record_download(*, actor, decision: Decision, fmt: str) -> None:
    """An auditable fact: who took a copy of which decision record, in which form."""
    audit.record(
        actor=actor,
        action="decision.download",
        obj=decision,
        review=decision.review,
        after={"format": fmt, "digest": decision.digest},
    )


def record_export(*, actor, filters: dict, review: Review | None = None) -> None:
    """An auditable fact: who exported (part of) the audit trail, with which filters."""
    AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action="audit.export",
        object_type="reviews.review" if review is not None else "reviews.auditevent",
        object_id=str(review.pk) if review is not None else "",
        object_repr=(f"Audit trail of {review}" if review is not None else "Audit trail")[:200],
        review=review,
        after={"format": "csv", "filters": {k: str(v) for k, v in sorted(filters.items())}},
    )


def enqueue_decision_pdf(decision_id: int, *, on_commit: bool = False) -> dispatch.Dispatch:
    """Ask a worker to render the decision's PDF (idempotent). A broker error is logged and reported in
    the returned Dispatch, never raised."""
    from .tasks import render_decision_pdf  # tasks import the renderer, which imports selectors

    send = dispatch.send_on_commit if on_commit else dispatch.send
    return send(render_decision_pdf, decision_id)


# --- The meeting (seed §21): the chair's place in the 13-step agenda


@transaction.atomic
def move_to_step(*, review: Review, step: int, actor) -> Review:
    """Record where the chair is in the agenda; the first move opens the meeting."""
    review = Review.objects.select_for_update().select_related("system").get(pk=review.pk)
    _require(policy.can_chair(actor, review), "Only the chair moves the meeting's agenda.")
    _require_open(review)
    if not 1 <= step <= len(AGENDA_STEPS):
        raise ServiceError(f"The agenda has steps 1 to {len(AGENDA_STEPS)}.")
    if review.current_step == step and review.state == ReviewState.IN_MEETING:
        return review
    before = audit.snapshot(review, ("state", "current_step"))
    review.current_step = step
    review.state = ReviewState.IN_MEETING
    review.save(update_fields=["current_step", "state"])
    audit.record(
        actor=actor,
        action="meeting.step",
        obj=review,
        review=review,
        before=before,
        after=audit.snapshot(review, ("state", "current_step")),
    )
    return review
