"""Findings, claims and exceptions."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from .. import policy, services
from ..forms import ClaimForm, ExceptionRequestForm, FindingEditForm, FindingForm
from ..models import Category, ExceptionState, ReviewState, RiskException
from .access import _apply, _get_exception_for_user, _get_finding_for_user, _get_review_for_user, _page

# --- Findings and claims


@login_required
@require_http_methods(["GET", "POST"])
def finding_create(request: HttpRequest, review_id: int) -> HttpResponse:
    review = _get_review_for_user(request, review_id, write=True)
    initial = {}
    if code := request.GET.get("category"):
        initial["category"] = Category.objects.filter(version_id=review.catalogue_id, code=code).first()
    form = FindingForm(request.POST or None, review=review, initial=initial)
    if request.method == "POST" and form.is_valid():
        finding = _apply(
            form, lambda: services.add_finding(review=review, actor=request.user, **form.cleaned_data)
        )
        if finding:
            messages.success(request, f"{finding.level} finding recorded.")
            return redirect(f"{review.get_absolute_url()}#findings")
    return render(
        request,
        "reviews/finding_form.html",
        {
            "form": form,
            "review": review,
            "system": review.system,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def finding_edit(request: HttpRequest, finding_id: int) -> HttpResponse:
    finding = _get_finding_for_user(request, finding_id, write=True)
    review = finding.review
    initial = {
        f: getattr(finding, f)
        for f in ("title", "description", "level", "status", "owner", "due_date", "version")
    }
    form = FindingEditForm(request.POST or None, review=review, initial=initial)
    if (
        request.method == "POST"
        and form.is_valid()
        and _apply(
            form, lambda: services.update_finding(finding=finding, actor=request.user, **form.cleaned_data)
        )
    ):
        messages.success(request, "Finding saved.")
        return redirect(f"{review.get_absolute_url()}#findings")
    exceptions = finding.exceptions.select_related("requested_by", "signer")
    return render(
        request,
        "reviews/finding_form.html",
        {
            "form": form,
            "review": review,
            "system": review.system,
            "finding": finding,
            "exceptions": exceptions,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def claim_create(request: HttpRequest, review_id: int) -> HttpResponse:
    review = _get_review_for_user(request, review_id, write=True)
    form = ClaimForm(request.POST or None, review=review)
    if (
        request.method == "POST"
        and form.is_valid()
        and _apply(form, lambda: services.add_claim(review=review, actor=request.user, **form.cleaned_data))
    ):
        messages.success(request, "Claim added.")
        return redirect(f"{review.get_absolute_url()}#claims")
    return render(
        request,
        "reviews/claim_form.html",
        {
            "form": form,
            "review": review,
            "system": review.system,
        },
    )


# --- Exceptions


@login_required
@require_http_methods(["GET", "POST"])
def exception_request(request: HttpRequest, finding_id: int) -> HttpResponse:
    finding = _get_finding_for_user(request, finding_id, write=True)
    form = ExceptionRequestForm(request.POST or None)
    if (
        request.method == "POST"
        and form.is_valid()
        and _apply(
            form, lambda: services.request_exception(finding=finding, actor=request.user, **form.cleaned_data)
        )
    ):
        messages.success(request, "Exception requested; a lead of the team must sign it.")
        return redirect(f"{finding.review.get_absolute_url()}#findings")
    return render(
        request,
        "reviews/exception_form.html",
        {
            "form": form,
            "finding": finding,
            "review": finding.review,
            "system": finding.review.system,
            "max_days": settings.EXCEPTION_MAX_DAYS,
        },
    )


@login_required
@require_POST
def exception_decide(request: HttpRequest, exception_id: int, action: str) -> HttpResponse:
    exc = _get_exception_for_user(request, exception_id)
    change = {
        "sign": services.sign_exception,
        "reject": services.reject_exception,
        "revoke": services.revoke_exception,
    }.get(action)
    if change is None:
        raise Http404
    if not policy.can_sign_exceptions(request.user, exc.finding.review.system):
        raise PermissionDenied
    try:
        # A decided review's exceptions are part of its frozen record, like its findings.
        services._require_open(exc.finding.review)
        change(exception=exc, actor=request.user)
        messages.success(request, f"Exception {exc.finding.title!r}: {action} recorded.")
    except ValidationError as err:
        messages.error(request, " ".join(err.messages))
    target = f"{exc.finding.review.get_absolute_url()}#findings"
    return HttpResponseClientRedirect(target) if request.htmx else redirect(target)


# --- Exceptions awaiting a lead


@login_required
@require_GET
def exception_queue(request: HttpRequest) -> HttpResponse:
    lead_teams = [
        t.pk for t in policy.visible_teams(request.user) if policy.role_in(request.user, t) == "lead"
    ]
    pending = (
        RiskException.objects.filter(
            state=ExceptionState.REQUESTED, finding__review__system__team_id__in=lead_teams
        )
        .exclude(requested_by=request.user)
        .exclude(finding__review__state=ReviewState.DECIDED)  # frozen: can no longer be signed
        .select_related("finding__review__system", "requested_by")
    )
    return render(request, "reviews/exception_queue.html", {"page": _page(request, pending)})
