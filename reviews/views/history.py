"""The history of a system: a timeline of its reviews and decisions, and a chart of its scores and
outcome over time drawn from the frozen records of its decisions (charts.history_chart_svg)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from .. import changes, charts, labels, selectors
from ..models import Category, Decision, Review
from .access import _get_review_for_user, _get_system_for_user

CHART_DECISIONS = 40  # the newest decisions drawn; older ones stay in the timeline


def chart_points(decisions) -> list[dict]:
    """Chart input from decisions (oldest first): only what their frozen records say."""
    return [
        {
            "label": f"{d.recorded_at:%Y-%m-%d}",
            "outcome": d.record.get("outcome", d.outcome),
            "scorecard": d.record.get("scorecard", []),
        }
        for d in decisions
    ]


def system_chart_points(system, *, limit: int = CHART_DECISIONS) -> list[dict]:
    """Chart input for a system's newest decisions. The newest record carries the history before it
    (schema /4), so one record is read; a system whose newest record is older reads up to `limit`."""
    newest = Decision.objects.filter(system=system).order_by("-recorded_at", "-id").first()
    if newest is None:
        return []
    if not isinstance((newest.record or {}).get("history"), list):
        older = Decision.objects.filter(system=system).order_by("-recorded_at", "-id")[:limit]
        return chart_points(reversed(list(older)))
    return charts.record_points(newest.record)[-limit:]


def history_chart(system, *, limit: int = CHART_DECISIONS) -> str:
    """The SVG chart of a system's newest decisions."""
    points = system_chart_points(system, limit=limit)
    return mark_safe(charts.history_chart_svg(points, **charts.PAGE_HISTORY))  # noqa: S308 — escaped in charts


@login_required
@require_GET
def system_history(request: HttpRequest, slug: str) -> HttpResponse:
    system = _get_system_for_user(request, slug)
    decisions = list(
        Decision.objects.filter(system=system)
        .select_related("approver")
        .defer(*Decision.RECORD_FIELDS)  # the timeline needs none of the record
        .order_by("-recorded_at", "-id")
    )
    reviews = list(Review.objects.filter(system=system).select_related("chair", "created_by"))
    by_review = {d.review_id: d for d in decisions}
    events = sorted(
        [
            {"at": r.created_at, "kind": "review", "review": r, "decision": by_review.get(r.pk)}
            for r in reviews
        ]
        + [{"at": d.recorded_at, "kind": "decision", "decision": d} for d in decisions],
        key=lambda e: e["at"],
        reverse=True,
    )
    chart = history_chart(system)
    return render(
        request,
        "reviews/history.html",
        {"system": system, "events": events, "chart": chart, "decision_count": len(decisions)},
    )


@login_required
@require_GET
@vary_on_headers("HX-Request")
def review_changes(request: HttpRequest, review_id: int) -> HttpResponse:
    """What changed since the system's last decision: the counts with the details folded, as the partial
    the review page and the meeting's first step load after themselves (it builds a record of the current
    state, a dozen queries); a page of its own, details open, for a browser without JavaScript."""
    review = _get_review_for_user(request, review_id)
    found = selectors.review_changes(review)
    context = {
        "changes": found,
        "summary": changes.summary(found),
        "review": review,
        "system": review.system,
        "expanded": not request.htmx,
        **_names_of_changes(review, found),
    }
    return render(request, "reviews/_changes.html" if request.htmx else "reviews/changes.html", context)


def _names_of_changes(review: Review, changes: dict | None) -> dict[str, dict[str, str]]:
    """The changes name categories by code and people by username (record data): their names, in two
    queries."""
    if not changes:
        return {"category_names": {}, "people": {}}
    usernames = {x.get("signer") for x in changes.get("exceptions", {}).get("added", [])}
    usernames |= {x.get("owner") for x in changes.get("findings", {}).get("carried", [])}
    usernames.discard(None)
    people = {
        username: labels.full_name(first, last, username)
        for username, first, last in get_user_model()
        .objects.filter(username__in=usernames)
        .values_list("username", "first_name", "last_name")
    }
    categories = dict(Category.objects.filter(version_id=review.catalogue_id).values_list("code", "name"))
    return {"category_names": categories, "people": people}
