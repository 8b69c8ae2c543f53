"""Pages of the probe engine: targets, connection tests, invariant checks, runs and their live progress.
Thin: fetch with access checks, call one service or selector, render."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from readiness import dispatch
from reviews import policy
from reviews.models import Review, ReviewState
from reviews.views import _apply, _get_review_for_user, _get_system_for_user

from . import registry, selectors, services
from .forms import InvariantCheckForm, TargetForm
from .models import InvariantCheck, ProbeRun, ProbeTarget, RunState

# htmx stops polling when a response has this status (https://htmx.org/docs/#polling).
HTMX_STOP_POLLING = 286


def _get_target_for_user(request: HttpRequest, target_id: int, *, need: str = "") -> ProbeTarget:
    """`need`: "manage" (edit it, its checks: architects and leads) or "run" (runs and connection tests:
    any non-auditor member)."""
    target = get_object_or_404(ProbeTarget.objects.select_related("system__team"), pk=target_id)
    if not policy.can_view_system(request.user, target.system):
        raise Http404
    if need == "manage" and not services.can_manage_targets(request.user, target.system):
        raise PermissionDenied
    if need == "run" and not services.can_run_probes(request.user, target.system):
        raise PermissionDenied
    return target


def _get_check_for_user(request: HttpRequest, check_id: int) -> InvariantCheck:
    check = get_object_or_404(InvariantCheck.objects.select_related("target__system__team"), pk=check_id)
    if not policy.can_view_system(request.user, check.target.system):
        raise Http404
    if not services.can_manage_targets(request.user, check.target.system):
        raise PermissionDenied
    return check


def _get_run_for_user(request: HttpRequest, run_id: int) -> ProbeRun:
    run = get_object_or_404(
        ProbeRun.objects.select_related("target__system__team", "review", "started_by"), pk=run_id
    )
    if not policy.can_view_system(request.user, run.target.system):
        raise Http404
    return run


def _back(request: HttpRequest, default: str) -> HttpResponse:
    return HttpResponseClientRedirect(default) if request.htmx else redirect(default)


# --- Targets


@login_required
@require_GET
def target_list(request: HttpRequest, slug: str) -> HttpResponse:
    system = _get_system_for_user(request, slug)
    return render(
        request,
        "probes/targets.html",
        {
            "system": system,
            "targets": selectors.targets_with_latest_run(system),
            "can_manage": services.can_manage_targets(request.user, system),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def target_create(request: HttpRequest, slug: str) -> HttpResponse:
    system = _get_system_for_user(request, slug)
    if not services.can_manage_targets(request.user, system):
        raise PermissionDenied
    form = TargetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        target = _apply(
            form, lambda: services.create_target(system=system, actor=request.user, **form.cleaned_data)
        )
        if target:
            messages.success(request, f"Probe target {target.name} added. Test its connection next.")
            return redirect(target)
    return render(
        request, "probes/target_form.html", {"form": form, "system": system, "probes": registry.all_probes()}
    )


@login_required
@require_http_methods(["GET", "POST"])
def target_edit(request: HttpRequest, target_id: int) -> HttpResponse:
    target = _get_target_for_user(request, target_id, need="manage")
    initial = {
        "name": target.name,
        "environment": target.environment,
        "params": json.dumps(target.params, indent=2) if target.params else "",
        "schedule_hours": target.schedule_hours,
    }
    form = TargetForm(request.POST or None, initial=initial, editing=True, saved_connection=target.connection)
    if request.method == "POST" and form.is_valid():
        saved = _apply(
            form, lambda: services.update_target(target=target, actor=request.user, **form.cleaned_data)
        )
        if saved:
            messages.success(request, "Probe target saved.")
            return redirect(target)
    return render(
        request,
        "probes/target_form.html",
        {"form": form, "system": target.system, "target": target, "probes": registry.all_probes()},
    )


@login_required
@require_GET
def target_detail(request: HttpRequest, target_id: int) -> HttpResponse:
    target = _get_target_for_user(request, target_id)
    can_manage = services.can_manage_targets(request.user, target.system)
    can_run = services.can_run_probes(request.user, target.system)
    open_reviews = Review.objects.filter(system=target.system).exclude(state=ReviewState.DECIDED)
    return render(
        request,
        "probes/target_detail.html",
        {
            "target": target,
            "system": target.system,
            "checks": target.invariant_checks.all(),
            "runs": selectors.recent_runs(target),
            "open_reviews": open_reviews if can_run else [],
            "can_manage": can_manage,
            "can_run": can_run,
            "test": target.last_test_result if target.last_test_at else None,
        },
    )


@login_required
@require_POST
def target_test(request: HttpRequest, target_id: int) -> HttpResponse:
    """Ask a worker to test the connection; the page shows it pending and polls until the result is in."""
    target = _get_target_for_user(request, target_id, need="run")
    target = services.request_connection_test(target=target, actor=request.user)
    if request.htmx:
        return _connection_test(request, target)
    messages.info(request, "Testing the connection; the result appears here when the worker has it.")
    return redirect(target)


def _connection_test(request: HttpRequest, target: ProbeTarget) -> HttpResponse:
    return render(
        request,
        "probes/_connection_test.html",
        {"target": target, "test": target.last_test_result if target.last_test_at else None},
        status=200 if target.test_pending else HTMX_STOP_POLLING,
    )


@login_required
@require_GET
@vary_on_headers("HX-Request")
def target_test_status(request: HttpRequest, target_id: int) -> HttpResponse:
    """The connection box of a target, polled by htmx while a test is pending."""
    target = _get_target_for_user(request, target_id)
    return _connection_test(request, target)


@login_required
@require_GET
def review_panel(request: HttpRequest, review_id: int) -> HttpResponse:
    """The probes panel of a review page, loaded by htmx after the page: the meeting view pays nothing."""
    review = _get_review_for_user(request, review_id)
    return render(request, "probes/_panel.html", selectors.panel_context(request.user, review.system, review))


# --- Invariant checks


@login_required
@require_http_methods(["GET", "POST"])
def invariant_create(request: HttpRequest, target_id: int) -> HttpResponse:
    target = _get_target_for_user(request, target_id, need="manage")
    form = InvariantCheckForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = _apply(
            form, lambda: services.add_invariant_check(target=target, actor=request.user, **form.cleaned_data)
        )
        if check:
            messages.success(request, f"Invariant check {check.name!r} added; it runs with every probe run.")
            return redirect(target)
    return render(
        request, "probes/invariant_form.html", {"form": form, "target": target, "system": target.system}
    )


@login_required
@require_POST
def invariant_delete(request: HttpRequest, check_id: int) -> HttpResponse:
    check = _get_check_for_user(request, check_id)
    target = check.target
    services.delete_invariant_check(check=check, actor=request.user)
    messages.success(request, f"Invariant check {check.name!r} deleted.")
    return _back(request, target.get_absolute_url())


# --- Runs


@login_required
@require_POST
def run_start(request: HttpRequest, target_id: int) -> HttpResponse:
    target = _get_target_for_user(request, target_id, need="run")
    review = None
    if review_id := request.POST.get("review"):
        if not str(review_id).isdigit():
            raise Http404
        review = _get_review_for_user(request, int(review_id), write=True)
    try:
        run = services.start_probe_run(target=target, review=review, actor=request.user)
    except ValidationError as err:
        messages.error(request, " ".join(err.messages))
        return _back(request, review.get_absolute_url() if review else target.get_absolute_url())
    if run.dispatch.waiting_for_workers:
        messages.warning(request, f"Probe run #{run.pk} of {target.name}: {dispatch.QUEUED_MESSAGE}")
    else:
        messages.success(request, f"Probe run #{run.pk} of {target.name} started.")
    return _back(request, run.get_absolute_url())


def _run_context(run: ProbeRun) -> dict:
    current = run.current_probe
    if current.startswith("invariant.") and current[10:].isdigit():
        check = InvariantCheck.objects.filter(pk=int(current[10:])).first()
        current_title = f"invariant check “{check.name}”" if check else current
    else:
        current_title = selectors.probe_title(current)
    return {
        "run": run,
        "target": run.target,
        "system": run.target.system,
        "groups": selectors.results_by_category(run),
        "counts": selectors.status_counts(run),
        "current_title": current_title,
    }


@login_required
@require_GET
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _get_run_for_user(request, run_id)
    return render(request, "probes/run_detail.html", _run_context(run))


@login_required
@require_GET
@vary_on_headers("HX-Request")
def run_progress(request: HttpRequest, run_id: int) -> HttpResponse:
    """The live part of the run page, polled every second by htmx until the run is finished."""
    run = _get_run_for_user(request, run_id)
    status = HTMX_STOP_POLLING if run.is_finished else 200
    return render(request, "probes/_run_live.html", _run_context(run), status=status)


# --- The meeting's probes box: start a run for the review and watch it until it ends


def _meeting_panel(
    request: HttpRequest, review: Review, run: ProbeRun | None, *, waiting_for_workers: bool = False
) -> HttpResponse:
    context = selectors.panel_context(request.user, review.system, review)
    context["run"] = run
    context["queued_message"] = dispatch.QUEUED_MESSAGE if waiting_for_workers else ""
    if run is not None:
        context.update(_run_context(run))
    response = render(request, "probes/_meeting_panel.html", context)
    if run is not None and run.is_finished:
        # The run's results became evidence and findings: let the meeting page refresh its step.
        response["HX-Trigger"] = json.dumps({"readiness:changed": {"by": "probes"}})
    return response


@login_required
@require_GET
def meeting_panel(request: HttpRequest, review_id: int) -> HttpResponse:
    review = _get_review_for_user(request, review_id)
    run = None
    if (run_id := request.GET.get("run", "")).isdigit():
        run = get_object_or_404(ProbeRun.objects.select_related("target"), pk=int(run_id), review=review)
    # Said while the run waits for a worker, after its start could not reach the broker.
    waiting = request.GET.get("waiting") == "1" and run is not None and run.state == RunState.QUEUED
    return _meeting_panel(request, review, run, waiting_for_workers=waiting)


@login_required
@require_POST
def meeting_run(request: HttpRequest, review_id: int, target_id: int) -> HttpResponse:
    review = _get_review_for_user(request, review_id, write=True)
    target = _get_target_for_user(request, target_id, need="run")
    if target.system_id != review.system_id:
        raise Http404
    try:
        run = services.start_probe_run(target=target, review=review, actor=request.user)
    except ValidationError as err:
        messages.error(request, " ".join(err.messages))
        return _back(request, reverse("meeting", args=[review.pk]))
    if not request.htmx:
        if run.dispatch.waiting_for_workers:
            messages.warning(request, f"Probe run #{run.pk} of {target.name}: {dispatch.QUEUED_MESSAGE}")
        return redirect(run.get_absolute_url())
    waiting = run.dispatch.waiting_for_workers
    run.refresh_from_db()
    return _meeting_panel(request, review, run, waiting_for_workers=waiting)
