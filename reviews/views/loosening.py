"""Confirming, rejecting and withdrawing a proposed loosening of a finding (reviews.loosening) or raise of
a score below a minimum (reviews.score_raise)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from .. import loosening, policy, score_raise
from ..forms import LooseningDecisionForm
from ..models import Loosening, ScoreRaise


def _get_loosening_for_user(request: HttpRequest, loosening_id: int) -> Loosening:
    """404 for another team's proposal; the services answer 403 for a role that may not decide it."""
    row = get_object_or_404(
        Loosening.objects.select_related("finding__review__system__team", "proposed_by"), pk=loosening_id
    )
    if not policy.can_view_system(request.user, row.finding.review.system):
        raise Http404
    return row


@login_required
@require_POST
def loosening_confirm(request: HttpRequest, loosening_id: int) -> HttpResponse:
    """An architect or lead other than the proposer applies the loosening."""
    return _decide(request, loosening_id, "confirm")


@login_required
@require_POST
def loosening_reject(request: HttpRequest, loosening_id: int) -> HttpResponse:
    """An architect or lead other than the proposer turns it down: the finding keeps its level."""
    return _decide(request, loosening_id, "reject")


@login_required
@require_POST
def loosening_withdraw(request: HttpRequest, loosening_id: int) -> HttpResponse:
    """The proposer takes the proposal back."""
    return _decide(request, loosening_id, "withdraw")


def _decide(request: HttpRequest, loosening_id: int, action: str) -> HttpResponse:
    row = _get_loosening_for_user(request, loosening_id)
    form = LooseningDecisionForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        if action == "confirm":
            loosening.confirm(loosening=row, actor=request.user, note=note)
            messages.success(request, f"Confirmed: {row.summary} of {row.finding.title!r}.")
        elif action == "reject":
            loosening.reject(loosening=row, actor=request.user, note=note)
            messages.success(request, f"Rejected: {row.finding.title!r} keeps its level and status.")
        else:
            loosening.withdraw(loosening=row, actor=request.user)
            messages.success(request, f"Withdrawn: {row.summary} of {row.finding.title!r}.")
    except ValidationError as err:
        messages.error(request, " ".join(err.messages))
    return _back(request, f"{row.finding.review.get_absolute_url()}#findings")


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    """Back to the page the buttons were on (for htmx, the page itself, not the fragment that drew them)."""
    target = (request.htmx.current_url_abs_path if request.htmx else None) or request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = fallback
    return HttpResponseClientRedirect(target) if request.htmx else redirect(target)


# --- Raising a score below a minimum (reviews.score_raise)


def _get_raise_for_user(request: HttpRequest, raise_id: int) -> ScoreRaise:
    row = get_object_or_404(
        ScoreRaise.objects.select_related("review__system__team", "category", "proposed_by"), pk=raise_id
    )
    if not policy.can_view_system(request.user, row.review.system):
        raise Http404
    return row


@login_required
@require_POST
def score_raise_confirm(request: HttpRequest, raise_id: int) -> HttpResponse:
    """An architect or lead other than the proposer applies the raise."""
    return _decide_raise(request, raise_id, "confirm")


@login_required
@require_POST
def score_raise_reject(request: HttpRequest, raise_id: int) -> HttpResponse:
    """An architect or lead other than the proposer turns it down: the score keeps its value."""
    return _decide_raise(request, raise_id, "reject")


@login_required
@require_POST
def score_raise_withdraw(request: HttpRequest, raise_id: int) -> HttpResponse:
    """The proposer takes the proposal back."""
    return _decide_raise(request, raise_id, "withdraw")


def _decide_raise(request: HttpRequest, raise_id: int, action: str) -> HttpResponse:
    row = _get_raise_for_user(request, raise_id)
    form = LooseningDecisionForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        if action == "confirm":
            score_raise.confirm(raise_=row, actor=request.user, note=note)
            messages.success(request, f"Confirmed: {row.summary}.")
        elif action == "reject":
            score_raise.reject(raise_=row, actor=request.user, note=note)
            messages.success(request, f"Rejected: {row.category.name} keeps its score of {row.from_score}.")
        else:
            score_raise.withdraw(raise_=row, actor=request.user)
            messages.success(request, f"Withdrawn: {row.summary}.")
    except ValidationError as err:
        messages.error(request, " ".join(err.messages))
    return _back(request, f"{row.review.get_absolute_url()}#scorecard")
