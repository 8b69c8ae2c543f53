"""Auditor pages (open to everyone who may read; they change nothing): decisions across systems, the
installation's audit trail with its CSV export, and verification of decision records."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime, time

from django.apps import apps
from django.contrib.auth.decorators import login_required
from django.db.models import CharField, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Cast
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from .. import audit_text, csv_export, policy, records, services
from ..forms import AuditFilterForm, DecisionFilterForm, VerifyForm
from ..models import AuditEvent, Decision, DecisionDocument, System
from .access import _page

# --- What a user may see


def visible_decisions(user) -> QuerySet[Decision]:
    return Decision.objects.filter(system__in=policy.visible_systems(user))


def _system_objects(systems: QuerySet[System]) -> Q:
    """Audit events about these systems: their reviews' events, and events of objects that belong to a
    system without a review (the system itself; probe targets, runs and invariant checks)."""
    as_text = Cast("pk", CharField())
    scope = Q(review__system__in=systems) | Q(
        object_type="reviews.system", object_id__in=systems.annotate(t=as_text).values("t")
    )
    belongs = {
        "probes.probetarget": ("ProbeTarget", "system__in"),
        "probes.proberun": ("ProbeRun", "target__system__in"),
        "probes.invariantcheck": ("InvariantCheck", "target__system__in"),
    }
    for object_type, (model_name, lookup) in belongs.items():
        try:
            model = apps.get_model("probes", model_name)
        except LookupError:
            continue
        ids = model.objects.filter(**{lookup: systems}).annotate(t=as_text).values("t")
        scope |= Q(object_type=object_type, object_id__in=ids)
    return scope


def visible_events(user) -> QuerySet[AuditEvent]:
    """Installation-wide auditors see the whole trail (admin changes to teams and
    memberships too); everyone else the events of their teams' systems."""
    if policy.reads_everything(user):
        return AuditEvent.objects.all()
    return AuditEvent.objects.filter(_system_objects(policy.visible_systems(user)))


def _day_start(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _day_end(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.max))


def filter_events(events: QuerySet[AuditEvent], form: AuditFilterForm) -> QuerySet[AuditEvent]:
    """Apply the filters that are valid; an invalid one is shown on the form and ignored."""
    if not form.is_bound:
        return events
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    if actor := (data.get("actor") or "").strip():
        by_hand = actor != "system"
        events = events.filter(actor__username=actor) if by_hand else events.filter(actor__isnull=True)
    if action := (data.get("action") or "").strip():
        lookup = "action__startswith" if action.endswith(".") else "action"
        events = events.filter(**{lookup: action})
    if system := data.get("system"):
        events = events.filter(_system_objects(System.objects.filter(pk=system.pk)))
    if data.get("since"):
        events = events.filter(at__gte=_day_start(data["since"]))
    if data.get("until"):
        events = events.filter(at__lte=_day_end(data["until"]))
    return events


# --- CSV, streamed: the trail of a large installation never sits in memory


class _Echo:
    def write(self, value: str) -> str:
        return value


CSV_HEADER = [
    "at",
    "actor",
    "action",
    "object_type",
    "object_id",
    "object",
    "review",
    "system",
    "before",
    "after",
    "actor_name",
    "summary",
]
CSV_CHUNK = 500  # events put into words together: their names are read in one query per kind


def _json(value) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _chunks(events: Iterable[AuditEvent], size: int) -> Iterator[list[AuditEvent]]:
    chunk: list[AuditEvent] = []
    for ev in events:
        chunk.append(ev)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def event_rows(events: Iterable[AuditEvent]) -> Iterator[list[str]]:
    """The machine columns (usernames, action codes, before/after as JSON), then the person who acted by
    name and the event in words (reviews.audit_text)."""
    yield CSV_HEADER
    for chunk in _chunks(events, CSV_CHUNK):
        for entry in audit_text.describe(chunk):
            ev = entry.event
            yield [
                ev.at.isoformat(),
                ev.actor.get_username() if ev.actor else "system",
                ev.action,
                ev.object_type,
                ev.object_id,
                ev.object_repr,
                str(ev.review_id or ""),
                ev.review.system.slug if ev.review else "",
                _json(ev.before),
                _json(ev.after),
                entry.who,
                entry.text,
            ]


def stream_events_csv(events: QuerySet[AuditEvent], *, filename: str) -> StreamingHttpResponse:
    writer = csv_export.writer(_Echo())
    rows = event_rows(events.select_related("actor", "review__system").order_by("at", "id").iterator(2000))
    lines = (writer.writerow(row) for row in rows)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _query(request: HttpRequest) -> str:
    """The filters of the page as "&a=b…", for the pagination links and the CSV link."""
    query = request.GET.copy()
    query.pop("page", None)
    encoded = query.urlencode()
    return f"&{encoded}" if encoded else ""


# --- Decisions


@login_required
@require_GET
def auditor_decisions(request: HttpRequest) -> HttpResponse:
    systems = policy.visible_systems(request.user).order_by("name")
    teams = policy.visible_teams(request.user).order_by("name")
    form = DecisionFilterForm(request.GET or None, systems=systems, teams=teams)
    decisions = visible_decisions(request.user)
    if form.is_bound:
        form.is_valid()
        data = getattr(form, "cleaned_data", {})
        if data.get("system"):
            decisions = decisions.filter(system=data["system"])
        if data.get("team"):
            decisions = decisions.filter(system__team=data["team"])
        if data.get("outcome"):
            decisions = decisions.filter(outcome=data["outcome"])
        if data.get("since"):
            decisions = decisions.filter(recorded_at__gte=_day_start(data["since"]))
        if data.get("until"):
            decisions = decisions.filter(recorded_at__lte=_day_end(data["until"]))
    decisions = (
        decisions.select_related("system__team", "approver", "review")
        .defer(*Decision.RECORD_FIELDS)
        .annotate(has_pdf=Exists(DecisionDocument.objects.filter(decision=OuterRef("pk"))))
        .order_by("-recorded_at", "-id")
    )
    return render(
        request,
        "auditor/decisions.html",
        {"form": form, "page": _page(request, decisions), "query": _query(request)},
    )


# --- The audit trail


@login_required
@require_GET
def audit_trail(request: HttpRequest) -> HttpResponse:
    systems = policy.visible_systems(request.user).order_by("name")
    form = AuditFilterForm(request.GET or None, systems=systems)
    events = filter_events(visible_events(request.user), form).select_related("actor", "review__system")
    return render(
        request,
        "auditor/trail.html",
        {
            "form": form,
            "page": _page(request, events, per_page=50),
            "query": _query(request),
            "reads_everything": policy.reads_everything(request.user),
        },
    )


@login_required
@require_GET
def audit_trail_csv(request: HttpRequest) -> HttpResponse:
    systems = policy.visible_systems(request.user)
    form = AuditFilterForm(request.GET or None, systems=systems)
    events = filter_events(visible_events(request.user), form)
    services.record_export(actor=request.user, filters=dict(request.GET.items()))
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return stream_events_csv(events, filename=f"audit-trail-{stamp}.csv")


# --- Verification


@login_required
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """Recompute a record's digest: of a stored decision, of an uploaded file, or of a file against the
    stored decision it claims to be. Changes nothing, so everyone who may read may use it."""
    initial = {"decision": request.GET.get("decision")} if request.method == "GET" else None
    posted = request.method == "POST"
    form = VerifyForm(request.POST if posted else None, request.FILES if posted else None, initial=initial)
    result = stored_result = None
    error = ""
    if posted and form.is_valid():
        visible = visible_decisions(request.user)
        decision = None
        if form.cleaned_data.get("decision"):
            decision = visible.select_related("system").filter(pk=form.cleaned_data["decision"]).first()
            if decision is None:
                raise Http404  # another team's decision, or none: the same answer
        upload = form.cleaned_data.get("file")
        if upload:
            try:
                record, claimed = records.parse_record_file(upload.read())
            except records.RecordError as err:
                error = str(err)
            else:
                target = decision or records.find_stored(record, claimed, visible.select_related("system"))
                result = records.verify_given(record, claimed=claimed, decision=target)
        if decision is not None:
            stored_result = records.verify_stored(decision)
    return render(
        request,
        "auditor/verify.html",
        {"form": form, "result": result, "stored_result": stored_result, "error": error},
    )
