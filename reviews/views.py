"""Pages of the review domain. Thin: fetch with access checks, call one service or selector, render."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from evidence.models import Evidence

from . import policy, selectors, services
from .forms import (
    AnswerForm,
    ClaimForm,
    DecisionForm,
    ExceptionRequestForm,
    FindingEditForm,
    FindingForm,
    ReviewForm,
    ScoreForm,
    SystemForm,
)
from .models import (
    AuditEvent,
    Category,
    CategoryScore,
    ChecklistAnswer,
    ChecklistItem,
    Decision,
    ExceptionState,
    Finding,
    Level,
    Review,
    ReviewState,
    RiskException,
    System,
    Team,
)

# --- Access: one helper per object kind. 404 for what the user may not see, 403 for what they may not change.


def _get_system_for_user(request: HttpRequest, slug: str) -> System:
    system = get_object_or_404(System.objects.select_related("team"), slug=slug)
    if not policy.can_view_system(request.user, system):
        raise Http404
    return system


def _get_review_for_user(request: HttpRequest, review_id: int, *, write: bool = False) -> Review:
    review = get_object_or_404(
        Review.objects.select_related("system__team", "catalogue", "chair"), pk=review_id
    )
    if not policy.can_view_system(request.user, review.system):
        raise Http404
    if write and not policy.can_edit_review(request.user, review):
        raise PermissionDenied
    return review


def _get_finding_for_user(request: HttpRequest, finding_id: int, *, write: bool = False) -> Finding:
    finding = get_object_or_404(
        Finding.objects.select_related("review__system__team", "category"), pk=finding_id
    )
    if not policy.can_view_system(request.user, finding.review.system):
        raise Http404
    if write and not policy.can_edit_review(request.user, finding.review):
        raise PermissionDenied
    return finding


def _get_exception_for_user(request: HttpRequest, exception_id: int) -> RiskException:
    exc = get_object_or_404(
        RiskException.objects.select_related("finding__review__system__team", "requested_by"), pk=exception_id
    )
    if not policy.can_view_system(request.user, exc.finding.review.system):
        raise Http404
    return exc


def _apply(form, change: Callable[[], object]):
    """Run a service; put what it refuses onto the form. Returns the service's result or None."""
    try:
        return change()
    except services.ConflictError as err:
        form.add_error(None, err.messages[0])
        _show_current(form, err.current)
        return None
    except ValidationError as err:
        if hasattr(err, "error_dict"):
            for field, errors in err.error_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form.add_error(None, err)
        return None


def _show_current(form, current) -> None:
    """After a conflict, show what the other person saved, with its version, as the message promises:
    a form that kept the stale version would refuse every resubmit."""
    if current is None:
        return
    data = form.data.copy()
    for name in form.fields:
        if not hasattr(current, name):
            continue
        value = getattr(current, name)
        if isinstance(value, bool):
            if value:
                data[name] = "on"
            else:
                data.pop(name, None)  # an unchecked box is absent from a POST
        else:
            value = getattr(value, "pk", value)
            data[name] = "" if value is None else str(value)
    form.data = data


def _page(request: HttpRequest, items, per_page: int | None = None):
    return Paginator(items, per_page or settings.PAGE_SIZE).get_page(request.GET.get("page"))


# --- Health and dashboard


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    systems = selectors.systems_overview(policy.visible_systems(request.user).order_by("team__name", "name"))
    page = _page(request, systems)
    current_ids = [s.current_review_id for s in page if s.current_review_id]
    reviews = {r.pk: r for r in Review.objects.filter(pk__in=current_ids)}
    gates = selectors.review_gates(list(reviews.values()))
    latest = selectors.latest_decisions_by_system(page)
    today = timezone.localdate()
    rows = [
        {
            "system": s,
            "review": reviews.get(s.current_review_id),
            "gate": gates.get(s.current_review_id),
            "decision": latest.get(s.pk),
            "overdue": bool(latest.get(s.pk) and latest[s.pk].next_review < today),
        }
        for s in page
    ]
    teams = [t for t in policy.visible_teams(request.user) if policy.can_create_system(request.user, t)]
    return render(request, "reviews/dashboard.html", {
        "page": page, "rows": rows, "can_add_system": bool(teams),
    })


# --- Systems


@login_required
@require_http_methods(["GET", "POST"])
def system_create(request: HttpRequest) -> HttpResponse:
    teams = Team.objects.filter(pk__in=[t.pk for t in policy.visible_teams(request.user)
                                        if policy.can_create_system(request.user, t)])
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
    initial = {"name": system.name, "description": system.description,
               "source_of_truth": system.source_of_truth}
    form = SystemForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid() and _apply(
        form, lambda: services.update_system(system=system, actor=request.user, **form.cleaned_data)
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
        d.review_id: d for d in Decision.objects.filter(review__in=list(page)).select_related("approver")
    }
    rows = [{"review": r, "gate": gates[r.pk], "decision": decisions.get(r.pk)} for r in page]
    history = Decision.objects.filter(system=system).select_related("approver", "review")[:20]
    return render(request, "reviews/system_detail.html", {
        "system": system, "page": page, "rows": rows, "history": history,
        "can_edit": policy.can_edit_system(request.user, system),
        "can_start": policy.role_in(request.user, system.team_id) in policy.CHAIR_ROLES,
    })


# --- Reviews


@login_required
@require_http_methods(["GET", "POST"])
def review_create(request: HttpRequest, slug: str) -> HttpResponse:
    system = _get_system_for_user(request, slug)
    if policy.role_in(request.user, system.team_id) not in policy.CHAIR_ROLES:
        raise PermissionDenied
    form = ReviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "version"}
        review = _apply(form, lambda: services.start_review(system=system, actor=request.user, **data))
        if review:
            messages.success(request, "Review started.")
            return redirect(review)
    return render(request, "reviews/review_form.html", {"form": form, "system": system})


@login_required
@require_http_methods(["GET", "POST"])
def review_edit(request: HttpRequest, review_id: int) -> HttpResponse:
    review = _get_review_for_user(request, review_id)
    if not policy.can_chair(request.user, review):
        raise PermissionDenied
    initial = {f: getattr(review, f) for f in ("release_scope", "scope_notes", "schema_changing",
                                                 "production_traffic", "next_review_date", "version")}
    form = ReviewForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid() and _apply(
        form, lambda: services.update_review(review=review, actor=request.user, **form.cleaned_data)
    ):
        messages.success(request, "Scope saved.")
        return redirect(review)
    return render(request, "reviews/review_form.html", {
        "form": form, "system": review.system, "review": review,
    })


def _review_context(request: HttpRequest, review: Review) -> dict:
    rows = selectors.scorecard(review)
    findings = list(selectors.findings_with_exceptions(review))
    gate = selectors.review_gate(review, rows=rows, findings=findings)
    by_level = {level: [f for f in findings if f.level == level] for level in Level.values}
    return {
        "review": review,
        "system": review.system,
        "rows": rows,
        "gate": gate,
        "findings_by_level": [(Level(level), items) for level, items in by_level.items()],
        "open_counts": {
            lvl: sum(1 for f in items if f.status != "resolved") for lvl, items in by_level.items()
        },
        "can_edit": policy.can_edit_review(request.user, review) and not review.is_frozen,
        "can_chair": policy.can_chair(request.user, review) and not review.is_frozen,
        "can_sign": policy.can_sign_exceptions(request.user, review.system) and not review.is_frozen,
        "now": timezone.now(),
    }


@login_required
@require_GET
def review_detail(request: HttpRequest, review_id: int) -> HttpResponse:
    review = _get_review_for_user(request, review_id)
    context = _review_context(request, review)
    context["claims"] = review.claims.select_related("category", "evidence")
    context["evidence"] = _page(
        request,
        Evidence.objects.filter(review=review).select_related(
            "category", "added_by", "restore_drill", "runbook"
        ),
    )
    context["decision"] = Decision.objects.filter(review=review).select_related("approver").first()
    return render(request, "reviews/review_detail.html", context)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def review_checklist(request: HttpRequest, review_id: int, code: str) -> HttpResponse:
    review = _get_review_for_user(request, review_id)
    category = get_object_or_404(Category, version_id=review.catalogue_id, code=code)
    items = ChecklistItem.objects.filter(category=category).order_by("position")
    answers = {a.item_id: a for a in ChecklistAnswer.objects.filter(review=review, item__category=category)}
    context = {
        "review": review, "system": review.system, "category": category,
        "items": [(item, answers.get(item.pk)) for item in items],
        "can_edit": policy.can_edit_review(request.user, review) and not review.is_frozen,
        "answer_choices": AnswerForm.base_fields["answer"].choices,
        "categories": Category.objects.filter(version_id=review.catalogue_id).order_by("number"),
    }
    return render(request, "reviews/checklist.html", context)


@login_required
@require_POST
def checklist_answer(request: HttpRequest, review_id: int, item_id: int) -> HttpResponse:
    review = _get_review_for_user(request, review_id, write=True)
    item = get_object_or_404(ChecklistItem.objects.select_related("category"), pk=item_id,
                             category__version_id=review.catalogue_id)
    form = AnswerForm(request.POST)
    error = None
    answer = None
    if form.is_valid():
        answer = _apply(form, lambda: services.answer_item(
            review=review, item=item, answer=form.cleaned_data["answer"], note=form.cleaned_data["note"],
            version=form.cleaned_data["version"], actor=request.user))
    if answer is None:
        error = "; ".join(m for errs in form.errors.values() for m in errs) or "The answer was not saved."
        answer = ChecklistAnswer.objects.filter(review=review, item=item).first()
    if request.htmx:
        gate = selectors.review_gate(review)
        return render(request, "reviews/_checklist_row.html", {
            "review": review, "item": item, "answer": answer, "error": error,
            "can_edit": not review.is_frozen,
            "answer_choices": AnswerForm.base_fields["answer"].choices, "gate": gate, "oob_gate": True,
        }, status=200 if error is None else 422)
    if error:
        messages.error(request, f"{item.code}: {error}")
    return redirect("review_checklist", review_id=review.pk, code=item.category.code)


@login_required
@require_http_methods(["GET", "POST"])
def score_edit(request: HttpRequest, review_id: int, code: str) -> HttpResponse:
    review = _get_review_for_user(request, review_id, write=True)
    category = get_object_or_404(Category, version_id=review.catalogue_id, code=code)
    current = CategoryScore.objects.filter(review=review, category=category).select_related("owner").first()
    initial = {"version": current.version if current else 0}
    if current:
        initial.update(score=current.score, owner=current.owner, notes=current.notes)
    form = ScoreForm(request.POST or None, initial=initial, review=review)
    if request.method == "POST" and form.is_valid():
        saved = _apply(form, lambda: services.set_score(review=review, category=category, actor=request.user,
                                                        **form.cleaned_data))
        if saved:
            messages.success(request, f"{category.name}: scored {saved.score}.")
            return redirect(f"{review.get_absolute_url()}#scorecard")
    evidence = Evidence.objects.filter(review=review, category=category)
    return render(request, "reviews/score_form.html", {
        "form": form, "review": review, "system": review.system, "category": category, "current": current,
        "evidence": evidence,
    })


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
    return render(request, "reviews/finding_form.html", {
        "form": form, "review": review, "system": review.system,
    })


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
    if request.method == "POST" and form.is_valid() and _apply(
        form, lambda: services.update_finding(finding=finding, actor=request.user, **form.cleaned_data)
    ):
        messages.success(request, "Finding saved.")
        return redirect(f"{review.get_absolute_url()}#findings")
    exceptions = finding.exceptions.select_related("requested_by", "signer")
    return render(request, "reviews/finding_form.html", {
        "form": form, "review": review, "system": review.system, "finding": finding, "exceptions": exceptions,
    })


@login_required
@require_http_methods(["GET", "POST"])
def claim_create(request: HttpRequest, review_id: int) -> HttpResponse:
    review = _get_review_for_user(request, review_id, write=True)
    form = ClaimForm(request.POST or None, review=review)
    if request.method == "POST" and form.is_valid() and _apply(
        form, lambda: services.add_claim(review=review, actor=request.user, **form.cleaned_data)
    ):
        messages.success(request, "Claim added.")
        return redirect(f"{review.get_absolute_url()}#claims")
    return render(request, "reviews/claim_form.html", {
        "form": form, "review": review, "system": review.system,
    })


# --- Exceptions


@login_required
@require_http_methods(["GET", "POST"])
def exception_request(request: HttpRequest, finding_id: int) -> HttpResponse:
    finding = _get_finding_for_user(request, finding_id, write=True)
    form = ExceptionRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and _apply(
        form, lambda: services.request_exception(finding=finding, actor=request.user, **form.cleaned_data)
    ):
        messages.success(request, "Exception requested; a lead of the team must sign it.")
        return redirect(f"{finding.review.get_absolute_url()}#findings")
    return render(request, "reviews/exception_form.html", {
        "form": form, "finding": finding, "review": finding.review, "system": finding.review.system,
        "max_days": settings.EXCEPTION_MAX_DAYS,
    })


@login_required
@require_POST
def exception_decide(request: HttpRequest, exception_id: int, action: str) -> HttpResponse:
    exc = _get_exception_for_user(request, exception_id)
    change = {"sign": services.sign_exception, "reject": services.reject_exception,
              "revoke": services.revoke_exception}.get(action)
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
        decision = _apply(form, lambda: services.record_decision(review=review, actor=request.user,
                                                                 **form.cleaned_data))
        if decision:
            messages.success(request, f"Decision recorded: {decision.get_outcome_display()}.")
            return redirect("decision_detail", decision_id=decision.pk)
    context = _review_context(request, review)
    context["form"] = form
    return render(request, "reviews/decision_form.html", context)


def _get_decision_for_user(request: HttpRequest, decision_id: int) -> Decision:
    decision = get_object_or_404(Decision.objects.select_related("system__team", "approver", "review"),
                                 pk=decision_id)
    if not policy.can_view_system(request.user, decision.system):
        raise Http404
    return decision


@login_required
@require_GET
def decision_detail(request: HttpRequest, decision_id: int) -> HttpResponse:
    decision = _get_decision_for_user(request, decision_id)
    verified = services.record_digest(decision.record) == decision.digest
    return render(request, "reviews/decision_detail.html", {
        "decision": decision, "system": decision.system, "review": decision.review, "verified": verified,
        "record": decision.record,
    })


@login_required
@require_GET
def decision_json(request: HttpRequest, decision_id: int) -> HttpResponse:
    decision = _get_decision_for_user(request, decision_id)
    body = json.dumps({"digest": decision.digest, "record": decision.record}, sort_keys=True, indent=2,
                      ensure_ascii=False)
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
