"""Reminders by email: find what is due, then send each person at most one digest a day.

Each (person, kind, item, threshold) is inserted before the mail goes out, inside the transaction
that also inserts the person's digest of the day; both are unique, so two runs at once send one
digest, and a reminder is never sent twice. A mail that fails rolls its rows back for the next run.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, Subquery
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from reviews.models import (
    Decision,
    ExceptionState,
    Finding,
    FindingStatus,
    Level,
    Membership,
    Review,
    RiskException,
    Role,
    System,
)
from reviews.policy import EDITOR_ROLES

from .models import Digest, Reminder, ReminderKind, ReminderPreference

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Due:
    recipient_id: int
    kind: str
    item: str
    threshold: str
    text: str
    url: str
    own_signature: bool = False  # about the recipient's own signature: never switched off

    @property
    def key(self) -> tuple:
        return (self.recipient_id, self.kind, self.item, self.threshold)


def _url(name: str, *args) -> str:
    return settings.REMINDER_BASE_URL + reverse(name, args=args)


def _team_members(team_ids) -> dict[int, list[int]]:
    members: dict[int, list[int]] = {}
    for team_id, user_id in Membership.objects.filter(
        team_id__in=set(team_ids), role__in=list(EDITOR_ROLES)
    ).values_list("team_id", "user_id"):
        members.setdefault(team_id, []).append(user_id)
    return members


def due_reminders(*, now: datetime) -> list[Due]:
    """Everything that deserves a reminder now, for everyone, before opt-outs and what was sent."""
    today = timezone.localdate(now)
    lookback = timedelta(days=settings.REMINDER_LOOKBACK_DAYS)
    thresholds = sorted(settings.REMINDER_EXCEPTION_DAYS)  # smallest first
    due: list[Due] = []

    # A lead of the team when an exception awaits their signature (never its requester or editor).
    requested = list(
        RiskException.objects.filter(state=ExceptionState.REQUESTED).select_related("finding__review__system")
    )
    leads: dict[int, list[int]] = {}
    for team_id, user_id in Membership.objects.filter(
        team_id__in={e.finding.review.system.team_id for e in requested}, role=Role.LEAD
    ).values_list("team_id", "user_id"):
        leads.setdefault(team_id, []).append(user_id)
    for e in requested:
        system = e.finding.review.system
        for user_id in leads.get(system.team_id, []):
            if user_id in (e.requested_by_id, e.edited_by_id):
                continue
            due.append(
                Due(
                    user_id,
                    ReminderKind.SIGNATURE_AWAITED,
                    f"exception:{e.pk}",
                    f"requested:v{e.version}",
                    f"{system.name}: an exception for “{e.finding.title}” awaits your signature",
                    _url("exception_detail", e.pk),
                    own_signature=True,
                )
            )

    # Requester and signer, some days before a signed exception expires, and once it has expired.
    window = now + timedelta(days=max(thresholds)) if thresholds else now
    ending = RiskException.objects.filter(
        Q(state=ExceptionState.SIGNED, expires_at__lte=window) | Q(state=ExceptionState.EXPIRED),
        expires_at__gt=now - lookback,
    ).select_related("finding__review__system")
    for e in ending:
        system = e.finding.review.system
        if e.expires_at <= now:
            kind, threshold = ReminderKind.EXCEPTION_EXPIRED, "expired"
            text = f"{system.name}: the exception for “{e.finding.title}” expired on {e.expires_at:%Y-%m-%d}"
        else:
            days = next(d for d in thresholds if e.expires_at <= now + timedelta(days=d))
            kind, threshold = ReminderKind.EXCEPTION_EXPIRING, f"{days}d"
            text = (
                f"{system.name}: the exception for “{e.finding.title}” expires on "
                f"{e.expires_at:%Y-%m-%d %H:%M} (within {days} days)"
            )
        for user_id, own in ((e.requested_by_id, False), (e.signer_id, True)):
            if user_id:
                due.append(
                    Due(
                        user_id,
                        kind,
                        f"exception:{e.pk}",
                        threshold,
                        text,
                        _url("exception_detail", e.pk),
                        own,
                    )
                )

    # The system's team when a review passes its next-review date.
    newest = Decision.objects.filter(system=OuterRef("pk")).order_by("-recorded_at", "-id")
    overdue = list(
        System.objects.annotate(
            next_review=Subquery(newest.values("next_review")[:1]),
            decision_id=Subquery(newest.values("pk")[:1]),
        ).filter(next_review__lt=today, next_review__gte=today - lookback)
    )
    # ... or when a P2 of the system's current review passes its due date.
    current = (
        Review.objects.filter(system=OuterRef("review__system"))
        .order_by("-created_at", "-id")
        .values("pk")[:1]
    )
    late_p2 = list(
        Finding.objects.filter(
            level=Level.P2, status=FindingStatus.OPEN, due_date__lt=today, due_date__gte=today - lookback
        )
        .annotate(current_review=Subquery(current))
        .select_related("review__system")
    )
    late_p2 = [f for f in late_p2 if f.review_id == f.current_review]
    members = _team_members([s.team_id for s in overdue] + [f.review.system.team_id for f in late_p2])
    for s in overdue:
        for user_id in members.get(s.team_id, []):
            due.append(
                Due(
                    user_id,
                    ReminderKind.REVIEW_OVERDUE,
                    f"system:{s.pk}:decision:{s.decision_id}",
                    "overdue",
                    f"{s.name}: the next review was due on {s.next_review:%Y-%m-%d}",
                    _url("system_detail", s.slug),
                )
            )
    for f in late_p2:
        system = f.review.system
        for user_id in members.get(system.team_id, []):
            due.append(
                Due(
                    user_id,
                    ReminderKind.P2_OVERDUE,
                    f"finding:{f.pk}",
                    f"due:{f.due_date:%Y-%m-%d}",
                    f"{system.name}: the P2 “{f.title}” was due on {f.due_date:%Y-%m-%d}",
                    _url("review_detail", f.review_id) + "#findings",
                )
            )
    return due


def _pending(due: list[Due], *, today: date) -> dict[int, list[Due]]:
    """Drop what was sent before, what the person opted out of, and people without an address or
    with a digest today already. Four queries."""
    if not due:
        return {}
    recipients = {d.recipient_id for d in due}
    sent = set(
        Reminder.objects.filter(recipient_id__in=recipients, item__in={d.item for d in due}).values_list(
            "recipient_id", "kind", "item", "threshold"
        )
    )
    opted_out = set(
        ReminderPreference.objects.filter(user_id__in=recipients, others=False).values_list(
            "user_id", flat=True
        )
    )
    done_today = set(
        Digest.objects.filter(recipient_id__in=recipients, day=today).values_list("recipient_id", flat=True)
    )
    with_email = set(
        get_user_model()
        .objects.filter(pk__in=recipients, is_active=True)
        .exclude(email="")
        .values_list("pk", flat=True)
    )
    by_person: dict[int, list[Due]] = {}
    seen = set()
    for d in due:
        if d.key in sent or d.key in seen or d.recipient_id in done_today or d.recipient_id not in with_email:
            continue
        if d.recipient_id in opted_out and not d.own_signature:
            continue
        seen.add(d.key)
        by_person.setdefault(d.recipient_id, []).append(d)
    return by_person


def _deliver(user, items: list[Due], *, now: datetime, today: date) -> int:
    """Send the person's digest of the day with the reminders not yet claimed: how many it held."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                # Inserted first: a second run at the same moment waits here on the unique index, then
                # finds the day taken once this transaction commits.
                digest = Digest.objects.create(
                    recipient=user, day=today, email=user.email, subject="-", body="", sent_at=now
                )
        except IntegrityError:
            return 0
        claimed = []
        for d in items:
            try:
                with transaction.atomic():
                    Reminder.objects.create(
                        recipient=user,
                        kind=d.kind,
                        item=d.item,
                        threshold=d.threshold,
                        text=d.text[:300],
                        url=d.url[:300],
                        digest=digest,
                        created_at=now,
                    )
            except IntegrityError:
                continue
            claimed.append(d)
        if not claimed:
            transaction.set_rollback(True)
            return 0
        context = {
            "user": user,
            "items": claimed,
            "own": [d for d in claimed if d.own_signature],
            "others": [d for d in claimed if not d.own_signature],
            "actions_url": _url("open_actions"),
        }
        digest.subject = f"Readiness: {len(claimed)} reminder{'s' if len(claimed) != 1 else ''}"
        digest.body = render_to_string("reminders/digest.txt", context)
        digest.save(update_fields=["subject", "body"])
        # Sent inside the transaction: if the mail fails, nothing is recorded and the next run retries.
        EmailMessage(digest.subject, digest.body, settings.DEFAULT_FROM_EMAIL, [user.email]).send()
    return len(claimed)


def send_reminders(*, now: datetime | None = None) -> dict[str, int]:
    """Send today's digests. Returns how many digests and reminders went out."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    by_person = _pending(due_reminders(now=now), today=today)
    users = get_user_model().objects.in_bulk(list(by_person))
    digests = reminders = 0
    for user_id, items in by_person.items():
        try:
            sent = _deliver(users[user_id], items, now=now, today=today)
        except (OSError, smtplib.SMTPException) as err:  # the rows rolled back: the next run retries
            log.warning("reminder digest to user %s not sent: %s", user_id, err)
            continue
        if sent:
            digests += 1
            reminders += sent
    return {"digests": digests, "reminders": reminders}


@transaction.atomic
def set_preference(*, user, others: bool) -> ReminderPreference:
    pref, _ = ReminderPreference.objects.update_or_create(
        user=user, defaults={"others": others, "updated_at": timezone.now()}
    )
    return pref
