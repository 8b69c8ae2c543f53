"""What needs the signed-in person: the "Needs you" panel of the dashboard and the counts in the menu.

Each list is one query whatever its length, and a list is read only for a role that could have something
in it (a member has no signatures to give, an auditor owns no findings), so the panel costs at most six
queries and the menu's count one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, F, Func, IntegerField, Min, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from evidence.freshness import stale_q
from evidence.models import Evidence

from . import loosening, policy, score_raise
from .models import (
    Decision,
    ExceptionState,
    Finding,
    FindingStatus,
    Review,
    ReviewState,
    RiskException,
    Role,
)

LIMIT = 8  # items per list on the dashboard; the full lists are a link away
RECENT_DECISION_DAYS = 30  # what an auditor sees as "recently recorded"


def signatures_awaiting(user, *, now: datetime) -> QuerySet[RiskException]:
    """Requested exceptions the user may sign now: their teams as lead, never their own request or their
    own edit of the terms (four eyes), not lapsed, on reviews not yet decided."""
    return (
        RiskException.objects.filter(
            state=ExceptionState.REQUESTED,
            finding__review__system__team_id__in=policy.team_ids_with_role(user, {Role.LEAD}),
            expires_at__gt=now,  # a lapsed request can no longer be signed
        )
        .exclude(requested_by=user)
        .exclude(edited_by=user)
        .exclude(finding__review__state=ReviewState.DECIDED)  # frozen: can no longer be signed
        .select_related("finding__review__system", "requested_by", "edited_by")
        .order_by("expires_at", "pk")
    )


def _count(qs: QuerySet):
    return Coalesce(
        Subquery(qs.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")[:1]),
        0,
        output_field=IntegerField(),
    )


@dataclass(frozen=True)
class Waiting:
    """What waits for the user's signature or confirmation, for the menu."""

    signatures: int = 0
    loosenings: int = 0
    raises: int = 0  # raises of scores below a minimum (reviews.score_raise)

    @property
    def total(self) -> int:
        return self.signatures + self.loosenings + self.raises


def waiting(user, *, now: datetime) -> Waiting:
    """Signatures and confirmations waiting for the user: one query, none for who may give neither."""
    if not policy.team_ids_with_role(user, policy.CHAIR_ROLES):
        return Waiting()
    row = (
        get_user_model()
        .objects.filter(pk=user.pk)
        .annotate(
            signatures=_count(signatures_awaiting(user, now=now).select_related(None)),
            loosenings=_count(loosening.awaiting(user).select_related(None)),
            raises=_count(score_raise.awaiting(user).select_related(None)),
        )
        .values_list("signatures", "loosenings", "raises")
        .first()
    )
    return Waiting(*row) if row else Waiting()


def findings_owned(user, team_ids: list[int]) -> QuerySet[Finding]:
    """Open findings the user owns on their teams' reviews, dated ones first by due date (so the overdue
    lead), then the undated by level. A follow-up a decision left open and a later review carried forward
    is shown once: as the copy in the later review, where it is worked on."""
    carried = Finding.objects.filter(carried_from=OuterRef("pk"))
    return (
        Finding.objects.filter(owner=user, status=FindingStatus.OPEN, review__system__team_id__in=team_ids)
        .exclude(Exists(carried))
        .select_related("review__system")
        .order_by(F("due_date").asc(nulls_last=True), "level", "pk")
    )


def reviews_chaired(user, team_ids: list[int]) -> QuerySet[Review]:
    return (
        Review.objects.filter(chair=user, system__team_id__in=team_ids)
        .exclude(state=ReviewState.DECIDED)
        .select_related("system")
        .order_by("created_at", "pk")
    )


def stale_evidence(team_ids: list[int], *, now: datetime) -> QuerySet:
    """Per open review of these teams, how much of its evidence is stale and since when: one query."""
    return (
        Evidence.objects.filter(stale_q(now), review__system__team_id__in=team_ids)
        .exclude(review__state=ReviewState.DECIDED)
        .order_by()
        .values("review_id", "review__release_scope", "review__system__name")
        .annotate(n=Count("id"), oldest=Min("observed_at"))
        .order_by("-n", "review__system__name", "review_id")
    )


def recent_decisions(user, *, now: datetime) -> QuerySet[Decision]:
    return (
        Decision.objects.filter(
            system__in=policy.visible_systems(user),
            recorded_at__gte=now - timedelta(days=RECENT_DECISION_DAYS),
        )
        .defer(*Decision.RECORD_FIELDS)
        .select_related("system", "review", "approver")
        .order_by("-recorded_at", "-id")
    )


@dataclass
class Section:
    """One list of the panel: at most LIMIT items, and whether there are more than it shows."""

    items: list
    more: bool = False

    @classmethod
    def of(cls, qs) -> Section:
        rows = list(qs[: LIMIT + 1])
        return cls(rows[:LIMIT], len(rows) > LIMIT)

    def __bool__(self) -> bool:
        return bool(self.items)


@dataclass
class NeedsYou:
    """The panel's lists; None for a list the user's roles cannot have (the panel leaves it out)."""

    signatures: Section | None = None
    loosenings: Section | None = None
    raises: Section | None = None
    findings: Section | None = None
    chaired: Section | None = None
    stale: Section | None = None
    decisions: Section | None = None
    today: date | None = None
    sections: list[str] = field(default_factory=list)

    @property
    def anything(self) -> bool:
        return any(getattr(self, name) for name in self.sections)


def where(system_name: str, release_scope: str) -> str:
    """A review as a list names it: its release scope, after the system's name unless the scope says it."""
    if release_scope.casefold().startswith(system_name.casefold()):
        return release_scope
    return f"{system_name} · {release_scope}"


def needs_you(user, *, now: datetime, today: date) -> NeedsYou:
    """The dashboard's "Needs you" panel for this user: at most seven queries, whatever the lists hold."""
    leads = policy.team_ids_with_role(user, {Role.LEAD})
    chairs = policy.team_ids_with_role(user, policy.CHAIR_ROLES)
    edits = policy.team_ids_with_role(user, policy.EDITOR_ROLES)
    audits = policy.reads_everything(user) or bool(policy.team_ids_with_role(user, {Role.AUDITOR}))
    panel = NeedsYou(today=today)
    if leads:
        panel.signatures = Section.of(signatures_awaiting(user, now=now))
    if chairs:
        panel.loosenings = Section.of(loosening.awaiting(user))
        panel.raises = Section.of(score_raise.awaiting(user))
    if edits:
        panel.findings = Section.of(findings_owned(user, edits))
        for f in panel.findings.items:
            f.overdue_days = (today - f.due_date).days if f.due_date and f.due_date < today else 0
    if chairs:
        panel.chaired = Section.of(reviews_chaired(user, chairs))
    if edits:
        panel.stale = Section.of(stale_evidence(edits, now=now))
    if audits:
        panel.decisions = Section.of(recent_decisions(user, now=now))
    for e in panel.signatures.items if panel.signatures else ():
        e.where = where(e.finding.review.system.name, e.finding.review.release_scope)
    for lo in panel.loosenings.items if panel.loosenings else ():
        lo.where = where(lo.finding.review.system.name, lo.finding.review.release_scope)
    for sr in panel.raises.items if panel.raises else ():
        sr.where = where(sr.review.system.name, sr.review.release_scope)
    for f in panel.findings.items if panel.findings else ():
        f.where = where(f.review.system.name, f.review.release_scope)
    for r in panel.chaired.items if panel.chaired else ():
        r.where = where(r.system.name, r.release_scope)
    for row in panel.stale.items if panel.stale else ():
        row["where"] = where(row["review__system__name"], row["review__release_scope"])
    for d in panel.decisions.items if panel.decisions else ():
        d.where = where(d.system.name, d.review.release_scope)
    panel.sections = [
        name
        for name in ("signatures", "loosenings", "raises", "findings", "chaired", "stale", "decisions")
        if getattr(panel, name) is not None
    ]
    return panel


@dataclass(frozen=True)
class Setup:
    """How far the installation is set up, for an administrator's first run."""

    teams: int
    people: int  # memberships: people with a role in a team
    systems: int

    @property
    def done(self) -> bool:
        return bool(self.teams and self.people and self.systems)


def setup(user) -> Setup:
    """Teams, roles given and systems in the installation: one query (counted beside the user's row)."""
    from .models import Membership, System, Team

    row = (
        get_user_model()
        .objects.filter(pk=user.pk)
        .annotate(
            teams=_count(Team.objects.all()),
            people=_count(Membership.objects.all()),
            systems=_count(System.objects.all()),
        )
        .values_list("teams", "people", "systems")
        .first()
    )
    return Setup(*row) if row else Setup(0, 0, 0)


def who_to_ask(user) -> list:
    """For a person with no role anywhere: the installation's administrators, who give roles. One query."""
    return list(
        get_user_model()
        .objects.filter(is_active=True, is_superuser=True)
        .exclude(pk=user.pk)
        .order_by("last_name", "first_name", "username")[:5]
    )


def team_chairs(user) -> list:
    """The architects and leads of the user's teams, who add systems: one query."""
    from .models import Membership

    return list(
        Membership.objects.filter(
            team_id__in=policy.team_ids_with_role(user, set(Role)), role__in=list(policy.CHAIR_ROLES)
        )
        .exclude(user=user)
        .select_related("user", "team")
        .order_by("team__name", "role", "user__username")[:6]
    )
