"""Evidence goes stale: the maximum age of each kind of evidence and whether an item has passed it.

The rules are pure functions of (kind, observed_at, now) and a table of maximum ages in days
(settings.EVIDENCE_MAX_AGE_DAYS, from the environment). `fresh_counts` is the one read the gate's
selectors need: how many fresh items support each (review, category), in one query.

Defaults and why: each typed record's kind declares its own (evidence.kinds: Spec.max_age_days, with the
reasons in evidence.kinds.measured and .declared); besides them:
- probe result 7 days: probes read live state (locks, bloat, lag) that changes within days; scheduled
  probe runs (ProbeTarget.schedule_hours) keep it fresh.
- link and file: no expiry unless configured; what they show is not known to the application.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from . import kinds

DEFAULT_MAX_AGE_DAYS: dict[str, int | None] = {
    "probe_result": 7,
    "link": None,
    "file": None,
    **{kind: spec.max_age_days for kind, spec in kinds.ALL.items()},
}


def default_max_ages() -> dict[str, int | None]:
    """The defaults above: those of the kinds declared in evidence.kinds included."""
    return dict(DEFAULT_MAX_AGE_DAYS)


def max_age_table() -> dict[str, int | None]:
    """The configured maximum ages in days, over the defaults (kinds not configured keep theirs)."""
    from django.conf import settings

    return {**default_max_ages(), **getattr(settings, "EVIDENCE_MAX_AGE_DAYS", {})}


def max_age_days(kind: str, table: Mapping[str, int | None] | None = None) -> int | None:
    """Days after which evidence of this kind is stale; None when it never is."""
    table = max_age_table() if table is None else table
    return table.get(kind)


def max_age(kind: str, table: Mapping[str, int | None] | None = None) -> timedelta | None:
    days = max_age_days(kind, table)
    return timedelta(days=days) if days is not None else None


def stale_at(
    kind: str, observed_at: datetime, table: Mapping[str, int | None] | None = None
) -> datetime | None:
    """The moment the evidence goes (or went) stale; None when it never does."""
    limit = max_age(kind, table)
    return observed_at + limit if limit is not None else None


def is_stale(
    kind: str, observed_at: datetime, now: datetime, table: Mapping[str, int | None] | None = None
) -> bool:
    """Stale once strictly older than its kind's maximum age: a 90-day drill is fresh on day 90."""
    limit = max_age(kind, table)
    return limit is not None and now - observed_at > limit


def age_days(observed_at: datetime, now: datetime) -> int:
    """Whole days since the evidence was observed (0 for evidence observed in the future)."""
    return max((now - observed_at).days, 0)


def fresh_q(now: datetime, table: Mapping[str, int | None] | None = None):
    """A Q over Evidence that keeps fresh items only: kinds without expiry, and the others within age."""
    from django.db.models import Q

    table = max_age_table() if table is None else table
    expiring = {kind: days for kind, days in table.items() if days is not None}
    q = ~Q(kind__in=list(expiring))
    for kind, days in sorted(expiring.items()):
        q |= Q(kind=kind, observed_at__gte=now - timedelta(days=days))
    return q


def stale_q(now: datetime, table: Mapping[str, int | None] | None = None):
    """A Q over Evidence that keeps stale items only (the complement of `fresh_q`)."""
    return ~fresh_q(now, table)


def fresh_counts(
    review_ids: Iterable[int], *, now: datetime | None = None, table: Mapping[str, int | None] | None = None
) -> dict[tuple[int, int], int]:
    """{(review_id, category_id): number of fresh evidence items}, in one query. Pairs with no fresh
    evidence are absent (read them as 0)."""
    from django.db.models import Count
    from django.utils import timezone

    from .models import Evidence

    ids = list(review_ids)
    if not ids:
        return {}
    now = now or timezone.now()
    rows = (
        Evidence.objects.filter(fresh_q(now, table), review_id__in=ids)
        .order_by()
        .values_list("review_id", "category_id")
        .annotate(n=Count("id"))
        .values_list("review_id", "category_id", "n")
    )
    return {(review_id, category_id): n for review_id, category_id, n in rows}
