"""Four eyes on every loosening: lowering a P0/P1, or closing one as accepted or not an issue, is proposed
with a reason and takes effect only when an architect or lead of the team other than the proposer
confirms it. Resolving a P0/P1 as fixed needs a note and evidence of the fix. Owners are people who
may act on the team's reviews."""

from __future__ import annotations

from datetime import datetime, time

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from evidence import kinds
from evidence import verdict as evidence_verdict
from evidence.models import TYPED_RECORDS, Evidence

from . import audit, policy
from .models import (
    ExceptionState,
    Finding,
    FindingStatus,
    Level,
    Loosening,
    LooseningKind,
    LooseningState,
    Resolution,
    Review,
    ReviewState,
    RiskException,
)

# The statuses a person may choose for a finding. "Not an issue" is stored as resolved with the
# resolution NOT_AN_ISSUE, so the gate and every list treat it as closed.
NOT_AN_ISSUE = Resolution.NOT_AN_ISSUE.value
STATUS_CHOICES = [
    (FindingStatus.OPEN.value, "Open"),
    (FindingStatus.RESOLVED.value, "Resolved (fixed)"),
    (NOT_AN_ISSUE, "Not an issue"),
    (FindingStatus.ACCEPTED.value, "Accepted"),
]
STATUS_VALUES = [value for value, _ in STATUS_CHOICES]
GUARDED_LEVELS = (Level.P0, Level.P1)
LEVEL_RANK = {Level.P0: 0, Level.P1: 1, Level.P2: 2, Level.P3: 3}

LOOSENING_FIELDS = (
    "kind",
    "from_level",
    "from_status",
    "to_level",
    "to_status",
    "to_resolution",
    "reason",
    "proposed_by",
    "state",
    "decided_by",
    "decision_note",
)


def _error(message, **kwargs):
    from .services import ServiceError  # services imports this module

    return ServiceError(message, **kwargs)


def status_of(finding: Finding) -> str:
    """The finding's status as a person chooses it (STATUS_CHOICES)."""
    if finding.status == FindingStatus.RESOLVED and finding.resolution == Resolution.NOT_AN_ISSUE:
        return NOT_AN_ISSUE
    return finding.status


def stored(status: str) -> tuple[str, str]:
    """A chosen status as (Finding.status, Finding.resolution)."""
    if status == NOT_AN_ISSUE:
        return FindingStatus.RESOLVED, Resolution.NOT_AN_ISSUE
    if status == FindingStatus.RESOLVED:
        return FindingStatus.RESOLVED, Resolution.FIXED
    return status, ""


def loosening_kind(finding: Finding, *, level: str, status: str) -> str | None:
    """Which loosening changing `finding` to (level, status) is, or None when it loosens nothing that
    needs four eyes: only a P0/P1 is guarded."""
    if finding.level not in GUARDED_LEVELS:
        return None
    current = status_of(finding)
    if status == NOT_AN_ISSUE and current != NOT_AN_ISSUE:
        return LooseningKind.NOT_AN_ISSUE
    if status == FindingStatus.ACCEPTED and current != FindingStatus.ACCEPTED:
        return LooseningKind.ACCEPT
    if level in LEVEL_RANK and LEVEL_RANK[level] > LEVEL_RANK[finding.level]:
        return LooseningKind.LOWER_LEVEL
    return None


def has_fix_evidence(finding: Finding) -> bool:
    """Evidence of the fix: an item of the finding's category in its review, observed after the finding
    was opened, whose own verdict supports readiness (not a failing probe result, nor a drill, test,
    rehearsal or runbook that failed). A finding opened by a failed record is fixed only by a record of
    the same kind that passes: a link does not show that a restore now works. Evidence links to a
    review's category, not to a finding; what was observed before the finding existed cannot show that it
    was fixed."""
    opened = finding.created_at
    # A record observed on a day (a concurrency test's "ran on") is observed at that day's midnight: one
    # added after the finding opened and dated its day or later shows the fix, though midnight came first.
    dated = [kind for kind, spec in kinds.KINDS.items() if spec.observed]
    that_day = timezone.make_aware(datetime.combine(timezone.localtime(opened).date(), time.min))
    after = Q(observed_at__gte=opened) | Q(kind__in=dated, observed_at__gte=that_day, added_at__gte=opened)
    candidates = (
        Evidence.objects.filter(after, review_id=finding.review_id, category_id=finding.category_id)
        .exclude(probe_result__status="fail")
        .select_related(*TYPED_RECORDS)
        .order_by("-observed_at", "-id")
    )
    failed = _failed_record(finding)
    if failed is not None:
        candidates = candidates.exclude(pk=failed.pk).filter(kind=failed.kind)
    return any(evidence_verdict.of(e).supports for e in candidates[:FIX_CANDIDATES])


def _failed_record(finding: Finding) -> Evidence | None:
    """The record whose failure opened the finding, or opened the finding it was carried from: a carried
    copy names no record (reviews.carryover), and still needs a record of that kind that passes."""
    seen = set()
    while finding is not None and finding.evidence_id is None and finding.pk not in seen:
        seen.add(finding.pk)
        origin = finding.carried_from_id
        finding = (
            Finding.objects.only("evidence_id", "carried_from_id").filter(pk=origin).first()
            if origin
            else None
        )
    if finding is None or finding.evidence_id is None:
        return None
    return Evidence.objects.filter(pk=finding.evidence_id).first()


def fix_evidence_needed(finding: Finding, what: str) -> str:
    """The refusal when `has_fix_evidence` finds none, naming what would do."""
    failed = _failed_record(finding)
    if failed is not None:
        return (
            f"Attach a {failed.get_kind_display().lower()} that passes to {finding.category.name} before "
            f"resolving {what} as fixed: “{failed.title}” failed, and only a record of the same kind "
            "that passes shows the fix."
        )
    return (
        f"Attach evidence of the fix to {finding.category.name} (observed after the finding was opened, "
        f"and not itself failing) before resolving {what} as fixed."
    )


FIX_CANDIDATES = 50  # the newest items judged; a category rarely holds more after a finding opened


def check_direct_change(*, finding: Finding, level: str, status: str, note: str) -> tuple[str, str, str]:
    """What `services.update_finding` may write directly: refuses a loosening of a P0/P1 (it needs a
    proposal and a second person) and a P0/P1 resolved as fixed without a note and evidence of the fix.
    Returns (status, resolution, resolution note) to store."""
    kind = loosening_kind(finding, level=level, status=status)
    if kind is not None:
        field = "level" if kind == LooseningKind.LOWER_LEVEL else "status"
        raise _error(
            {
                field: f"{LooseningKind(kind).label} of a {finding.level} needs a reason and a second "
                "person: propose it, and an architect or lead of the team confirms it."
            }
        )
    new_status, resolution = stored(status)
    if new_status != FindingStatus.RESOLVED:
        return new_status, "", ""
    if finding.status == FindingStatus.RESOLVED and (
        finding.resolution == resolution or (finding.resolution == "" and resolution == Resolution.FIXED)
    ):
        # Already closed this way: the closing stands as it was; a note given now replaces the old one.
        return new_status, finding.resolution, note.strip() or finding.resolution_note
    guarded = finding.level in GUARDED_LEVELS or level in GUARDED_LEVELS
    if resolution == Resolution.FIXED and guarded:
        errors = {}
        if not note.strip():
            errors["note"] = f"Say how the {min(finding.level, level)} was fixed."
        if not has_fix_evidence(finding):
            errors["status"] = fix_evidence_needed(finding, f"a {min(finding.level, level)}")
        if errors:
            raise _error(errors)
    return new_status, resolution, note.strip()


def can_decide(user, loosening: Loosening) -> bool:
    """Confirm or reject: an architect or lead of the system's team who did not propose it."""
    system = loosening.finding.review.system
    return policy.role_in(user, system.team_id) in policy.CHAIR_ROLES and loosening.proposed_by_id != user.pk


# --- Owners: only people who may act on the team's reviews


def owner_candidates(team_id: int) -> QuerySet:
    """Who an owner picker offers: architects, leads and members of the team (never its auditors)."""
    return (
        get_user_model()
        .objects.filter(memberships__team_id=team_id, memberships__role__in=policy.EDITOR_ROLES)
        .order_by("username")
    )


def can_own(user, team_id: int) -> bool:
    return policy.role_in(user, team_id) in policy.EDITOR_ROLES


OWNER_ERROR = (
    "The owner must be an architect, lead or member of the system's team: an auditor changes nothing."
)


# --- Proposals


def _lock_finding(finding: Finding) -> Finding:
    return (
        Finding.objects.select_for_update(of=("self",))
        .select_related("review__system", "category", "owner")
        .get(pk=finding.pk)
    )


def _require_open(review: Review) -> None:
    if review.state == ReviewState.DECIDED:
        raise _error("This review is decided and frozen; start a new review to change anything.")


@transaction.atomic
def propose(
    *, finding: Finding, actor, level: str, status: str, reason: str, version: int | None = None
) -> Loosening:
    """Propose lowering a P0/P1 or closing it as accepted or not an issue. The finding keeps its level
    and status until someone else confirms."""
    from .services import ConflictError, _validate_finding

    finding = _lock_finding(finding)
    review = finding.review
    if not policy.can_edit_review(actor, review):
        raise PermissionDenied("You may not change this review's findings.")
    _require_open(review)
    if version is not None and finding.version != version:
        raise ConflictError(
            "Someone else changed this finding since you loaded it. Their version is shown; "
            "propose again if it still holds.",
            current=finding,
        )
    if level not in Level.values or status not in STATUS_VALUES:
        raise _error("Choose a level P0–P3 and a status.")
    kind = loosening_kind(finding, level=level, status=status)
    if kind is None:
        raise _error("This change loosens nothing that needs confirming: save it directly.")
    if not reason.strip():
        raise _error({"note": "Say why: a loosening needs a reason the second person can judge."})
    if status == FindingStatus.ACCEPTED and level == Level.P0:
        raise _error({"status": "A P0 blocker cannot be accepted: it must be resolved before release."})
    _validate_finding(
        review=review, level=level, owner=finding.owner, due_date=finding.due_date, title=finding.title
    )
    pending = finding.loosenings.filter(state=LooseningState.PROPOSED).select_related("proposed_by").first()
    if pending is not None:
        raise _error(
            f"{pending.summary} already awaits confirmation (proposed by {_name(pending.proposed_by)}): "
            "it must be confirmed, rejected or withdrawn first."
        )
    to_status, to_resolution = stored(status)
    if to_resolution == Resolution.FIXED and not has_fix_evidence(finding):
        raise _error({"status": fix_evidence_needed(finding, "it")})
    try:
        with transaction.atomic():
            row = Loosening.objects.create(
                finding=finding,
                kind=kind,
                from_level=finding.level,
                from_status=finding.status,
                to_level=level,
                to_status=to_status,
                to_resolution=to_resolution,
                reason=reason.strip(),
                proposed_by=actor,
            )
    except IntegrityError:  # a concurrent proposal won the partial unique index
        raise _error("Another loosening of this finding was just proposed; reload the page.") from None
    audit.record(
        actor=actor,
        action="loosening.propose",
        obj=row,
        review=review,
        after={**audit.snapshot(row, LOOSENING_FIELDS), "finding": finding.pk},
    )
    return row


@transaction.atomic
def update_or_propose(
    *,
    finding: Finding,
    actor,
    version: int | None,
    title: str,
    description: str,
    level: str,
    status: str,
    owner=None,
    due_date=None,
    note: str = "",
) -> tuple[Finding, Loosening | None]:
    """What the finding forms call: a change that loosens a P0/P1 saves its other edits (text, owner,
    date) and proposes the loosening with `note` as its reason; any other change is saved directly."""
    from .services import update_finding

    current = _lock_finding(finding)
    if status == FindingStatus.ACCEPTED and level == Level.P0:
        raise _error({"status": "A P0 blocker cannot be accepted: it must be resolved before release."})
    if loosening_kind(current, level=level, status=status) is None:
        saved = update_finding(
            finding=current,
            actor=actor,
            version=version,
            title=title,
            description=description,
            level=level,
            status=status,
            owner=owner,
            due_date=due_date,
            note=note,
        )
        return saved, None
    if not note.strip():
        raise _error(
            {
                "note": f"Say why: lowering or closing a {current.level} needs a reason "
                "the second person can judge."
            }
        )
    unchanged = (title.strip(), description, getattr(owner, "pk", None), due_date) == (
        current.title,
        current.description,
        current.owner_id,
        current.due_date,
    )
    if not unchanged:
        current = update_finding(
            finding=current,
            actor=actor,
            version=version,
            title=title,
            description=description,
            level=current.level,
            status=status_of(current),
            owner=owner,
            due_date=due_date,
            note=current.resolution_note,
        )
        version = current.version
    return current, propose(
        finding=current, actor=actor, level=level, status=status, reason=note, version=version
    )


def _lock(loosening: Loosening) -> Loosening:
    return (
        Loosening.objects.select_for_update(of=("self",))
        .select_related("finding__review__system", "proposed_by")
        .get(pk=loosening.pk)
    )


def _name(user) -> str:
    return user.get_full_name() or user.username


# --- Deciding a four-eyes proposal: a Loosening here, a ScoreRaise in reviews.score_raise. Both rows have
# state, proposed_by, decided_by, decided_at and decision_note.


def require_decider(row, actor, *, review: Review, what: str, noun: str) -> None:
    """Confirm or reject: an architect or lead of the review's team who did not propose it, while the
    proposal is open and the review is not decided."""
    if policy.role_in(actor, review.system.team_id) not in policy.CHAIR_ROLES:
        raise PermissionDenied(f"Only an architect or lead of the team may {what} {noun}.")
    if row.proposed_by_id == actor.pk:
        raise _error(f"Four eyes: you proposed this, so another architect or lead must {what} it.")
    if row.state != LooseningState.PROPOSED:
        raise _error(f"This proposal is already {row.get_state_display().lower()}.")
    _require_open(review)


def require_proposer(row, actor, *, noun: str) -> None:
    """Withdraw: the proposer's own act, while the proposal is open."""
    if row.proposed_by_id != actor.pk:
        raise PermissionDenied(f"Only the person who proposed it may withdraw {noun}.")
    if row.state != LooseningState.PROPOSED:
        raise _error(f"This proposal is already {row.get_state_display().lower()}.")


VERBS = {
    LooseningState.CONFIRMED: "confirm",
    LooseningState.REJECTED: "reject",
    LooseningState.WITHDRAWN: "withdraw",
}


def settle(row, *, actor, to_state: str, note: str, review: Review, group: str, fields, extra: dict) -> None:
    """Record the decision on the row and its audit event (`<group>.confirm|reject|withdraw`)."""
    before = audit.snapshot(row, fields)
    row.state, row.decided_by, row.decided_at = to_state, actor, timezone.now()
    row.decision_note = note.strip()
    row.save()
    audit.record(
        actor=actor,
        action=f"{group}.{VERBS[to_state]}",
        obj=row,
        review=review,
        before=before,
        after={**audit.snapshot(row, fields), **extra},
    )


def _decide(row: Loosening, *, actor, to_state: str, note: str) -> None:
    settle(
        row,
        actor=actor,
        to_state=to_state,
        note=note,
        review=row.finding.review,
        group="loosening",
        fields=LOOSENING_FIELDS,
        extra={"finding": row.finding_id},
    )


def _require_decider(row: Loosening, actor, what: str) -> None:
    require_decider(row, actor, review=row.finding.review, what=what, noun="a loosening")


@transaction.atomic
def confirm(*, loosening: Loosening, actor, note: str = "") -> Finding:
    """Apply a proposed loosening, with its audit events, in one transaction."""
    from .services import FINDING_FIELDS, _validate_finding, _void_signature

    row = _lock(loosening)
    _require_decider(row, actor, "confirm")
    finding = _lock_finding(row.finding)
    review = finding.review
    if (finding.level, finding.status) != (row.from_level, row.from_status):
        raise _error(
            f"The finding changed since this was proposed (it is now {finding.level} "
            f"{finding.get_status_display().lower()}): reject it, or let the proposer withdraw it and "
            "propose again."
        )
    _validate_finding(
        review=review, level=row.to_level, owner=finding.owner, due_date=finding.due_date, title=finding.title
    )
    before = audit.snapshot(finding, FINDING_FIELDS)
    level_changed = finding.level != row.to_level
    finding.level, finding.status, finding.resolution = row.to_level, row.to_status, row.to_resolution
    if row.to_status == FindingStatus.RESOLVED:
        finding.resolved_at = timezone.now()
        finding.resolution_note = row.reason
    else:
        finding.resolved_at, finding.resolution_note = None, ""
    finding.version += 1
    finding.save()
    if level_changed:
        # A signature covers the finding's level (exception_digest): it no longer holds.
        for exc in RiskException.objects.select_for_update().filter(
            finding=finding, state=ExceptionState.SIGNED
        ):
            exc.finding = finding
            _void_signature(exc, actor=actor, review=review, why="finding regraded after signing")
            exc.version += 1
            exc.save()
    row.finding = finding
    _decide(row, actor=actor, to_state=LooseningState.CONFIRMED, note=note)
    chain = {
        "loosening": row.pk,
        "proposed_by": row.proposed_by_id,
        "confirmed_by": actor.pk,
        "reason": row.reason,
    }
    audit.record(
        actor=actor,
        action="finding.regrade" if level_changed else "finding.update",
        obj=finding,
        review=review,
        before=before,
        after={**audit.snapshot(finding, FINDING_FIELDS), **chain},
    )
    return finding


@transaction.atomic
def reject(*, loosening: Loosening, actor, note: str = "") -> Loosening:
    """The finding keeps its level and status."""
    row = _lock(loosening)
    _require_decider(row, actor, "reject")
    _decide(row, actor=actor, to_state=LooseningState.REJECTED, note=note)
    return row


@transaction.atomic
def withdraw(*, loosening: Loosening, actor) -> Loosening:
    row = _lock(loosening)
    require_proposer(row, actor, noun="a loosening")
    _decide(row, actor=actor, to_state=LooseningState.WITHDRAWN, note="")
    return row


# --- Reads


def open_by_finding(finding_ids) -> dict[int, Loosening]:
    """The open proposal of each finding that has one: one query."""
    rows = Loosening.objects.filter(finding_id__in=list(finding_ids), state=LooseningState.PROPOSED)
    return {row.finding_id: row for row in rows.select_related("proposed_by")}


def open_in_review(review: Review) -> dict[int, Loosening]:
    rows = Loosening.objects.filter(finding__review=review, state=LooseningState.PROPOSED)
    return {row.finding_id: row for row in rows.select_related("proposed_by")}


def awaiting(user) -> QuerySet[Loosening]:
    """Proposals this user may confirm or reject: their teams (as architect or lead), never their own,
    on reviews not yet decided."""
    teams = policy.team_ids_with_role(user, policy.CHAIR_ROLES)
    return (
        Loosening.objects.filter(state=LooseningState.PROPOSED, finding__review__system__team_id__in=teams)
        .exclude(proposed_by=user)
        .exclude(finding__review__state=ReviewState.DECIDED)
        .select_related("finding__review__system", "finding__category", "proposed_by")
        .order_by("proposed_at", "pk")
    )


def chain(finding: Finding) -> QuerySet[Loosening]:
    """Every loosening proposed for a finding, newest first, with who proposed and decided it."""
    return finding.loosenings.select_related("proposed_by", "decided_by")


def review_chains(review: Review) -> dict[int, list[Loosening]]:
    """The open and confirmed loosenings of a review's findings, oldest first: one query."""
    rows = (
        Loosening.objects.filter(
            finding__review=review, state__in=(LooseningState.PROPOSED, LooseningState.CONFIRMED)
        )
        .select_related("finding", "proposed_by", "decided_by")
        .order_by("proposed_at", "pk")
    )
    chains: dict[int, list[Loosening]] = {}
    for row in rows:
        chains.setdefault(row.finding_id, []).append(row)
    return chains


def attach(findings, chains: dict[int, list[Loosening]]) -> None:
    """Give each finding `open_loosening` (or None) and `loosening_chain` (the confirmed ones)."""
    for f in findings:
        rows = chains.get(f.pk, [])
        f.open_loosening = next((r for r in rows if r.state == LooseningState.PROPOSED), None)
        f.loosening_chain = [r for r in rows if r.state == LooseningState.CONFIRMED]


def gate_notes(chains: dict[int, list[Loosening]]) -> list[str]:
    """What the gate panel says beside its reasons: a P0/P1 whose loosening awaits confirmation still
    counts at its level; one that left the gate by a confirmed loosening says who let it go and why."""
    notes = []
    for rows in chains.values():
        for row in rows:
            who = _name(row.proposed_by)
            title = row.finding.title
            if row.state == LooseningState.PROPOSED:
                notes.append(
                    f"“{title}” still counts as {row.from_level}: {row.summary}, proposed by {who}, "
                    f"awaits confirmation: {row.reason}"
                )
            else:
                notes.append(
                    f"{row.summary} — “{title}”: proposed by {who}, confirmed by "
                    f"{_name(row.decided_by)}: {row.reason}"
                )
    return notes
