"""Recording and reading decisions; the review's audit trail."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from .. import policy, services
from ..forms import DecisionForm
from ..models import AuditEvent
from .access import _apply, _get_decision_for_user, _get_review_for_user, _page
from .review import review_context

# --- Decisions


@login_required
@require_http_methods(["GET", "POST"])
def decision_create(request: HttpRequest, review_id: int) -> HttpResponse:
    review = _get_review_for_user(request, review_id)
    if not policy.can_chair(request.user, review):
        raise PermissionDenied
    if review.is_frozen:
        messages.info(request, "This review is already decided.")
        return redirect(review)
    initial = {"next_review": review.next_review_date}
    form = DecisionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        decision = _apply(
            form, lambda: services.record_decision(review=review, actor=request.user, **form.cleaned_data)
        )
        if decision:
            messages.success(request, f"Decision recorded: {decision.get_outcome_display()}.")
            return redirect("decision_detail", decision_id=decision.pk)
    context = review_context(request, review)
    context["form"] = form
    return render(request, "reviews/decision_form.html", context)


@login_required
@require_GET
def decision_detail(request: HttpRequest, decision_id: int) -> HttpResponse:
    decision = _get_decision_for_user(request, decision_id)
    verified = services.record_digest(decision.record) == decision.digest
    return render(
        request,
        "reviews/decision_detail.html",
        {
            "decision": decision,
            "system": decision.system,
            "review": decision.review,
            "verified": verified,
            "record": decision.record,
        },
    )


@login_required
@require_GET
def decision_json(request: HttpRequest, decision_id: int) -> HttpResponse:
    decision = _get_decision_for_user(request, decision_id)
    body = json.dumps(
        {"digest": decision.digest, "record": decision.record}, sort_keys=True, indent=2, ensure_ascii=False
    )
    response = HttpResponse(body, content_type="application/json")
    filename = f"decision-{decision.system.slug}-{decision.pk}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- Audit trail


@login_required
@require_GET
def review_audit(request: HttpRequest, review_id: int) -> HttpResponse:
    review = _get_review_for_user(request, review_id)
    page = _page(request, AuditEvent.objects.filter(review=review).select_related("actor"), per_page=50)
    return render(request, "reviews/audit.html", {"review": review, "system": review.system, "page": page})
