"""Fetching objects for a user: 404 for what they may not see, 403 for what they may not change.

Every view fetches through these helpers; the form helpers map service refusals onto forms."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.http import url_has_allowed_host_and_scheme

from .. import policy, services
from ..forms import ReleaseFlagField
from ..models import Decision, Finding, Review, RiskException, System

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
        RiskException.objects.select_related(
            "finding__review__system__team", "finding__category", "requested_by", "signer", "edited_by"
        ),
        pk=exception_id,
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
        if isinstance(form.fields[name], ReleaseFlagField):  # yes / no / not answered
            data[name] = form.fields[name].prepare_value(value)
        elif isinstance(value, bool):
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


def _get_decision_for_user(request: HttpRequest, decision_id: int) -> Decision:
    decision = get_object_or_404(
        Decision.objects.select_related("system__team", "approver", "review"), pk=decision_id
    )
    if not policy.can_view_system(request.user, decision.system):
        raise Http404
    return decision


# --- Where to go after a form without JavaScript


def _next_or(request: HttpRequest, default: str) -> str:
    """The form's `next` when it is a page of this site, else `default`: never a redirect elsewhere
    (`//evil.example`, `/\\evil.example`, `javascript:`) nor a header with a line break in it."""
    target = request.POST.get("next", "")
    if (
        target
        and not any(unicodedata.category(ch)[0] == "C" for ch in target)
        and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return target
    return default
