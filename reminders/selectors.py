"""Open actions of a person: what they must do before something lapses. The count is one query."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import F, Func, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from reviews.models import (
    Decision,
    ExceptionState,
    Finding,
    FindingStatus,
    Level,
    ReviewState,
    RiskException,
    Role,
    System,
)
from reviews.policy import CHAIR_ROLES


def expiry_window_days() -> int:
    return max(settings.REMINDER_EXCEPTION_DAYS or [14])


def awaiting_signature(user) -> QuerySet[RiskException]:
    """Requested exceptions of the teams the user leads, that four eyes lets them sign, and that can
    still be signed: not lapsed, on a review not yet decided (as the menu and the queue count them)."""
    return (
        RiskException.objects.filter(
            state=ExceptionState.REQUESTED,
            finding__review__system__team__memberships__user=user,
            finding__review__system__team__memberships__role=Role.LEAD,
            expires_at__gt=timezone.now(),
        )
        .exclude(requested_by=user)
        .exclude(edited_by=user)
        .exclude(finding__review__state=ReviewState.DECIDED)
        .select_related("finding__review__system")
        .order_by("requested_at", "pk")
    )


def expiring_exceptions(user, *, now: datetime) -> QuerySet[RiskException]:
    """Signed exceptions the user requested or signed that lapse within the reminder window."""
    return (
        RiskException.objects.filter(
            Q(requested_by=user) | Q(signer=user),
            state=ExceptionState.SIGNED,
            expires_at__gt=now,
            expires_at__lte=now + timedelta(days=expiry_window_days()),
        )
        .select_related("finding__review__system")
        .order_by("expires_at", "pk")
    )


def overdue_p2(user, *, today: date) -> QuerySet[Finding]:
    return (
        Finding.objects.filter(owner=user, level=Level.P2, status=FindingStatus.OPEN, due_date__lt=today)
        .select_related("review__system")
        .order_by("due_date", "pk")
    )


def overdue_reviews(user, *, today: date) -> QuerySet[System]:
    """Systems of teams the user may chair reviews for, whose last decision's next review has passed."""
    newest = Decision.objects.filter(system=OuterRef("pk")).order_by("-recorded_at", "-id")
    return (
        System.objects.filter(team__memberships__user=user, team__memberships__role__in=list(CHAIR_ROLES))
        .annotate(next_review=Subquery(newest.values("next_review")[:1]))
        .filter(next_review__lt=today)
        .select_related("team")
        .order_by("next_review", "name")
    )


def open_actions(user, *, now: datetime, today: date) -> dict[str, list]:
    return {
        "awaiting_signature": list(awaiting_signature(user)),
        "expiring": list(expiring_exceptions(user, now=now)),
        "overdue_p2": list(overdue_p2(user, today=today)),
        "overdue_reviews": list(overdue_reviews(user, today=today)),
    }


def _count(qs: QuerySet):
    return Coalesce(
        Subquery(qs.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")[:1]),
        0,
        output_field=IntegerField(),
    )


def open_action_count(user, *, now: datetime, today: date) -> int:
    """How many open actions the user has: one query, four scalar subqueries."""
    row = (
        get_user_model()
        .objects.filter(pk=user.pk)
        .annotate(
            a=_count(awaiting_signature(user).select_related(None)),
            b=_count(expiring_exceptions(user, now=now).select_related(None)),
            c=_count(overdue_p2(user, today=today).select_related(None)),
            d=_count(overdue_reviews(user, today=today).select_related(None)),
        )
        .values_list("a", "b", "c", "d")
        .first()
    )
    return sum(row) if row else 0
