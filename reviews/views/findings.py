"""Findings, claims and exceptions."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from .. import loosening, needs_you, policy, score_raise, selectors, services
from ..forms import (
    ClaimForm,
    ExceptionDecisionForm,
    ExceptionEditForm,
    ExceptionRequestForm,
    FindingEditForm,
    FindingForm,
)
from ..models import AuditEvent, Category, ExceptionState, RiskException, Role, System
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
        f: getattr(finding, f) for f in ("title", "description", "level", "owner", "due_date", "version")
    }
    initial["status"] = loosening.status_of(finding)
    form = FindingEditForm(request.POST or None, review=review, initial=initial)
    if request.method == "POST" and form.is_valid():
        saved = _apply(
            form,
            lambda: loosening.update_or_propose(finding=finding, actor=request.user, **form.cleaned_data),
        )
        if saved:
            _, proposal = saved
            if proposal is not None:
                messages.success(
                    request,
                    f"Proposed: {proposal.summary}. Until an architect or lead other than you confirms it, "
                    "the finding keeps its level and status.",
                )
            else:
                messages.success(request, "Finding saved.")
            return redirect(f"{review.get_absolute_url()}#findings")
    exceptions = finding.exceptions.select_related("requested_by", "signer")
    chain = list(loosening.chain(finding))
    finding.open_loosening = next((row for row in chain if row.is_open), None)
    finding.loosening_chain = []  # the page lists the whole chain itself
    return render(
        request,
        "reviews/finding_form.html",
        {
            "form": form,
            "review": review,
            "system": review.system,
            "finding": finding,
            "exceptions": exceptions,
            "loosenings": chain,
            "open_loosening": finding.open_loosening,
            "can_decide_loosening": policy.can_chair(request.user, review) and not review.is_frozen,
            "can_edit": policy.can_edit_review(request.user, review) and not review.is_frozen,
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
    exceptions = list(finding.exceptions.order_by("-requested_at", "-id"))
    # Say why before anyone fills the form in: the service would refuse it for the same reason.
    refusal = services.exception_request_refusal(
        level=finding.level, status=finding.status, exceptions=exceptions, now=timezone.now()
    )
    return render(
        request,
        "reviews/exception_form.html",
        {
            "form": form,
            "finding": finding,
            "review": finding.review,
            "system": finding.review.system,
            "max_days": settings.EXCEPTION_MAX_DAYS,
            "refusal": refusal if request.method == "GET" else None,
            "current_exception": exceptions[0] if refusal and exceptions else None,
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
    target = f"{exc.finding.review.get_absolute_url()}#findings"
    try:
        # A decided review's exceptions are part of its frozen record, like its findings.
        services._require_open(exc.finding.review)
        if action == "revoke":
            change(exception=exc, actor=request.user)
        else:
            # A signature covers exactly the terms shown: the form carries their version and digest.
            seen = ExceptionDecisionForm(request.POST)
            if not seen.is_valid():
                raise services.ConflictError(
                    "Which terms did you see? Nothing was recorded: read the terms below and decide again."
                )
            change(exception=exc, actor=request.user, **seen.cleaned_data)
        messages.success(request, f"Exception {exc.finding.title!r}: {action} recorded.")
    except services.ConflictError as err:
        messages.error(request, " ".join(err.messages))
        target = exc.get_absolute_url()  # the current terms, to read before deciding again
    except ValidationError as err:
        messages.error(request, " ".join(err.messages))
    return HttpResponseClientRedirect(target) if request.htmx else redirect(target)


@login_required
@require_http_methods(["GET", "POST"])
def exception_edit(request: HttpRequest, exception_id: int) -> HttpResponse:
    """Change the terms of a requested or signed exception; a signed one goes back to awaiting a signature."""
    exc = _get_exception_for_user(request, exception_id)
    review = exc.finding.review
    if not policy.can_edit_review(request.user, review):
        raise PermissionDenied
    initial = {
        "justification": exc.justification,
        "compensating_control": exc.compensating_control,
        "expires_at": timezone.localtime(exc.expires_at).replace(second=0, microsecond=0),
        "version": exc.version,
    }
    form = ExceptionEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["expires_at"] == initial["expires_at"]:
            # The form shows minutes: an expiry left as it was keeps its seconds, so that saving an
            # unchanged form changes nothing (and voids no signature).
            form.cleaned_data["expires_at"] = exc.expires_at
        was_signed, loaded_version = exc.state == ExceptionState.SIGNED, exc.version
        saved = _apply(
            form, lambda: services.edit_exception(exception=exc, actor=request.user, **form.cleaned_data)
        )
        if saved:
            if saved.version == loaded_version:
                messages.info(request, "Nothing changed.")
            elif was_signed and saved.state == ExceptionState.REQUESTED:
                messages.warning(
                    request, "Exception changed. Its signature is void: another lead must sign it again."
                )
            else:
                messages.success(request, "Exception changed.")
            return redirect(saved)
    return render(
        request,
        "reviews/exception_form.html",
        {
            "form": form,
            "exception": exc,
            "finding": exc.finding,
            "review": review,
            "system": review.system,
            "max_days": settings.EXCEPTION_MAX_DAYS,
        },
    )


@login_required
@require_GET
def exception_detail(request: HttpRequest, exception_id: int) -> HttpResponse:
    """One exception: its terms, its signature (who, when, the digest of what was signed) and history."""
    exc = _get_exception_for_user(request, exception_id)
    review = exc.finding.review
    history = AuditEvent.objects.filter(
        object_type=RiskException._meta.label_lower, object_id=str(exc.pk)
    ).select_related("actor")
    now = timezone.now()
    return render(
        request,
        "reviews/exception_detail.html",
        {
            "exception": exc,
            "e": exc,
            "finding": exc.finding,
            "review": review,
            "system": review.system,
            "history": history,
            "signature_matches": services.signature_matches(exc),
            "current_digest": services.exception_digest(exc),
            "now": now,
            "active": exc.is_active(now),
            "can_edit": policy.can_edit_review(request.user, review)
            and not review.is_frozen
            and exc.state in (ExceptionState.REQUESTED, ExceptionState.SIGNED),
            "can_sign": policy.can_sign_exceptions(request.user, review.system) and not review.is_frozen,
        },
    )


# --- Exceptions awaiting a lead


@login_required
@require_GET
def exception_queue(request: HttpRequest) -> HttpResponse:
    """What awaits the lead's signature (never their own request or edit), and, for their teams, the
    signed exceptions that lapse soon and will need a new request or a fix."""
    lead_teams = policy.team_ids_with_role(request.user, {Role.LEAD})
    now = timezone.now()
    pending = needs_you.signatures_awaiting(request.user, now=now)
    expiring = selectors.expiring_exceptions(
        System.objects.filter(team_id__in=lead_teams), now=now
    ).select_related("requested_by")
    return render(
        request,
        "reviews/exception_queue.html",
        {
            "loosenings": loosening.awaiting(request.user)[:100],
            "score_raises": score_raise.awaiting(request.user)[:100],
            "page": _page(request, pending),
            "expiring": expiring,
            "expiring_days": selectors.EXPIRING_SOON_DAYS,
            "now": now,
            # The page says what the person may do: leads sign, architects and leads confirm loosenings.
            "signs": bool(lead_teams),
            "confirms": bool(policy.team_ids_with_role(request.user, policy.CHAIR_ROLES)),
        },
    )
