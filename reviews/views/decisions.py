"""Recording and reading decisions, their PDF and JSON downloads; the review's audit trail."""

from __future__ import annotations

import contextlib
import json

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods

from readiness import dispatch

from .. import charts, labels, policy, record_depth, records, selectors, services
from ..forms import AuditFilterForm, DecisionForm
from ..models import AuditEvent, Decision, DecisionDocument
from .access import _apply, _get_decision_for_user, _get_review_for_user, _page
from .auditor import _query, filter_events, stream_events_csv
from .review import review_context

# A PDF not stored this long after its decision is enqueued again (its message may have been lost).
PDF_RETRY_AFTER_SECONDS = 60

# --- Decisions


def _people(record: dict) -> dict[str, str]:
    """{username: name} of everyone the record names: its participants, and in one query the others (an
    owner who never acted in the review)."""
    names = records.people(record)
    missing = records.usernames(record) - set(names)
    if missing:
        for username, first, last in (
            get_user_model()
            .objects.filter(username__in=missing)
            .values_list("username", "first_name", "last_name")
        ):
            names[username] = labels.full_name(first, last, username)
    return names


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
    form = DecisionForm(request.POST or None, initial=initial, unscored=selectors.unscored_categories(review))
    if request.method == "POST" and form.is_valid():
        kwargs = form.decision_kwargs()
        decision = _apply(form, lambda: services.record_decision(review=review, actor=request.user, **kwargs))
        if decision:
            messages.success(request, f"Decision recorded: {decision.get_outcome_display()}.")
            if decision.pdf_dispatch.waiting_for_workers:
                messages.warning(request, f"The decision's PDF: {dispatch.QUEUED_MESSAGE}")
            return redirect("decision_detail", decision_id=decision.pk)
    context = review_context(request, review)
    context["form"] = form
    return render(request, "reviews/decision_form.html", context)


def _document_meta(decision: Decision) -> DecisionDocument | None:
    """The stored PDF's facts, without loading its bytes."""
    return DecisionDocument.objects.filter(decision=decision).defer("pdf").first()


@login_required
@require_GET
def decision_detail(request: HttpRequest, decision_id: int) -> HttpResponse:
    decision = _get_decision_for_user(request, decision_id)
    check = records.verify_stored(decision, sources=False)  # the verify page compares all three
    record = decision.record
    chart = charts.score_chart_svg(
        record.get("scorecard", []),
        minimums=charts.minimums_from_reasons(record.get("reasons", [])),
        colours=records.score_colours(),
        **charts.PAGE_SCORES,
    )
    return render(
        request,
        "reviews/decision_detail.html",
        {
            "decision": decision,
            "system": decision.system,
            "review": decision.review,
            "verified": check.computed_digest == decision.digest,
            "check": check,
            "record": record,
            "people": _people(record),
            "category_names": records.category_names(record),
            "chart": mark_safe(chart),  # noqa: S308  (charts escapes every text it draws)
            "history_chart": mark_safe(records.record_history_chart(record, **charts.PAGE_HISTORY)),  # noqa: S308
            "document": _document_meta(decision),
            "superseded_by": Decision.objects.filter(
                system_id=decision.system_id, previous_digest=decision.digest
            ).first(),
            "evidence_count": sum(len(row.get("evidence", [])) for row in record.get("scorecard", [])),
            "depth": record_depth.view(record),  # None before schema /7
        },
    )


@login_required
@require_GET
def decision_json(request: HttpRequest, decision_id: int) -> HttpResponse:
    decision = _get_decision_for_user(request, decision_id)
    body = json.dumps(
        {"digest": decision.digest, "record": decision.record}, sort_keys=True, indent=2, ensure_ascii=False
    )
    services.record_download(actor=request.user, decision=decision, fmt="json")
    response = HttpResponse(body, content_type="application/json")
    filename = f"decision-{decision.system.slug}-{decision.pk}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _ask_again_for_pdf(decision: Decision) -> bool:
    """Enqueue the rendering again, at most once a minute per decision (idempotent: a late first message
    does nothing). True while the last try found the broker unreachable. The cache may live on the
    same Redis as the broker: when it is down too, every look asks again."""
    key = f"decision-pdf-enqueued-{decision.pk}"
    try:
        if not cache.add(key, "sent", 60):
            return cache.get(key) == "waiting"
    except dispatch.BROKER_ERRORS:
        return services.enqueue_decision_pdf(decision.pk).waiting_for_workers
    sent = services.enqueue_decision_pdf(decision.pk)
    if sent.waiting_for_workers:
        with contextlib.suppress(dispatch.BROKER_ERRORS):
            cache.set(key, "waiting", 60)
    return sent.waiting_for_workers


@login_required
@require_GET
def decision_pdf(request: HttpRequest, decision_id: int) -> HttpResponse:
    """The stored PDF, as rendered once by the worker; a page that refreshes while it is being rendered."""
    decision = _get_decision_for_user(request, decision_id)
    document = DecisionDocument.objects.filter(decision=decision).first()
    if document is None:
        waited = (timezone.now() - decision.recorded_at).total_seconds()
        waiting_for_workers = _ask_again_for_pdf(decision) if waited > PDF_RETRY_AFTER_SECONDS else False
        response = render(
            request,
            "reviews/decision_pdf_pending.html",
            {
                "decision": decision,
                "system": decision.system,
                "review": decision.review,
                "waited": waited,
                "queued_message": dispatch.QUEUED_MESSAGE if waiting_for_workers else "",
            },
            status=202,
        )
        response["Retry-After"] = "3"
        response["Refresh"] = "3"  # and a <meta> refresh in the page, for clients that ignore the header
        response["Cache-Control"] = "no-store"
        return response
    services.record_download(actor=request.user, decision=decision, fmt="pdf")
    response = HttpResponse(bytes(document.pdf), content_type="application/pdf")
    filename = f"decision-{decision.system.slug}-{decision.pk}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Content-Length"] = str(document.size)
    response["X-Content-SHA256"] = document.sha256
    return response


# --- Audit trail of one review


@login_required
@require_GET
def review_audit(request: HttpRequest, review_id: int) -> HttpResponse:
    review = _get_review_for_user(request, review_id)
    form = AuditFilterForm(request.GET or None)
    events = AuditEvent.objects.filter(review=review)
    events = filter_events(events, form)
    page = _page(request, events.select_related("actor"), per_page=50)
    return render(
        request,
        "reviews/audit.html",
        {
            "review": review,
            "system": review.system,
            "page": page,
            "form": form,
            "query": _query(request),
        },
    )


@login_required
@require_GET
def review_audit_csv(request: HttpRequest, review_id: int) -> HttpResponse:
    review = _get_review_for_user(request, review_id)
    form = AuditFilterForm(request.GET or None)
    events = filter_events(AuditEvent.objects.filter(review=review), form)
    services.record_export(actor=request.user, review=review, filters=dict(request.GET.items()))
    return stream_events_csv(events, filename=f"audit-review-{review.pk}.csv")
