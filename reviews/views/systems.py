"""Health, the dashboard and the system pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from .. import needs_you, policy, selectors, services, standing
from ..forms import SystemForm
from ..models import Decision, Review, Team
from .access import _apply, _get_system_for_user, _page

# --- Dashboard

ATTENTION_LIMIT = 50  # rows per "needs attention" list on the dashboard


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    systems = selectors.systems_overview(policy.visible_systems(request.user).order_by("team__name", "name"))
    page = _page(request, systems)
    current_ids = [s.current_review_id for s in page if s.current_review_id]
    latest = selectors.latest_decisions_by_system(page)
    # Every open review counts, not only the newest (reviews.standing).
    states, reviews = standing.system_states(list(page), latest=latest, also=current_ids)
    today = timezone.localdate()
    rows = [
        {
            "system": s,
            "review": reviews.get(s.current_review_id),
            "state": states[s.pk],
            "worst": states[s.pk].worst,
            "open": sum(1 for c in states[s.pk].reviews if not c.decided),
            "decision": latest.get(s.pk),
            "overdue": bool(latest.get(s.pk) and latest[s.pk].next_review < today),
        }
        for s in page
    ]
    teams = [t for t in policy.visible_teams(request.user) if policy.can_create_system(request.user, t)]
    # Needs attention, across every visible system (not only this page): two queries.
    visible = policy.visible_systems(request.user)
    now = timezone.now()
    overdue = [
        {"system": s, "days": (today - s.next_review).days}
        for s in selectors.overdue_systems(visible, today=today)[:ATTENTION_LIMIT]
    ]
    expiring = [
        {"exception": e, "days": (timezone.localdate(e.expires_at) - today).days}
        for e in selectors.expiring_exceptions(visible, now=now)[:ATTENTION_LIMIT]
    ]
    user = request.user
    context = {
        "page": page,
        "rows": rows,
        "can_add_system": bool(teams),
        "overdue": overdue,
        "expiring": expiring,
        "expiring_days": selectors.EXPIRING_SOON_DAYS,
        "needs_you": needs_you.needs_you(user, now=now, today=today),
        "has_team": policy.has_team(user),
    }
    # First run: an administrator with nothing to show learns how to set the installation up; a person
    # without a role learns who gives one; a team without systems learns who adds them.
    if user.is_staff and not rows:
        context["setup"] = needs_you.setup(user)
    if not context["has_team"]:
        context["admins"] = needs_you.who_to_ask(user)
    elif not rows and not teams:
        context["chairs"] = needs_you.team_chairs(user)
    return render(request, "reviews/dashboard.html", context)


# --- Systems


@login_required
@require_http_methods(["GET", "POST"])
def system_create(request: HttpRequest) -> HttpResponse:
    teams = Team.objects.filter(
        pk__in=[t.pk for t in policy.visible_teams(request.user) if policy.can_create_system(request.user, t)]
    )
    if not teams:
        raise PermissionDenied
    form = SystemForm(request.POST or None, teams=teams)
    if request.method == "POST" and form.is_valid():
        system = _apply(form, lambda: services.create_system(actor=request.user, **form.cleaned_data))
        if system:
            messages.success(request, f"System {system.name} added.")
            return redirect(system)
    return render(request, "reviews/system_form.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def system_edit(request: HttpRequest, slug: str) -> HttpResponse:
    system = _get_system_for_user(request, slug)
    if not policy.can_edit_system(request.user, system):
        raise PermissionDenied
    initial = {
        "name": system.name,
        "description": system.description,
        "source_of_truth": system.source_of_truth,
    }
    form = SystemForm(request.POST or None, initial=initial, editing=True)
    if (
        request.method == "POST"
        and form.is_valid()
        and _apply(
            form, lambda: services.update_system(system=system, actor=request.user, **form.cleaned_data)
        )
    ):
        messages.success(request, "System saved.")
        return redirect(system)
    return render(request, "reviews/system_form.html", {"form": form, "system": system})


@login_required
@require_GET
def system_detail(request: HttpRequest, slug: str) -> HttpResponse:
    system = _get_system_for_user(request, slug)
    page = _page(request, Review.objects.filter(system=system).select_related("chair", "catalogue"))
    gates = selectors.review_gates(list(page))
    decisions = {
        d.review_id: d
        for d in Decision.objects.filter(review__in=list(page))
        .select_related("approver")
        .defer(*Decision.RECORD_FIELDS)
    }
    rows = [{"review": r, "gate": gates[r.pk], "decision": decisions.get(r.pk)} for r in page]
    history = (
        Decision.objects.filter(system=system)
        .select_related("approver", "review")
        .defer(*Decision.RECORD_FIELDS)[:20]
    )
    return render(
        request,
        "reviews/system_detail.html",
        {
            "system": system,
            "page": page,
            "rows": rows,
            "history": history,
            "can_edit": policy.can_edit_system(request.user, system),
            "can_start": policy.role_in(request.user, system.team_id) in policy.CHAIR_ROLES,
        },
    )
