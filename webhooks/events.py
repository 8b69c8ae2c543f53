"""Which changes are notified, and what each notification says.

Every change worth a notification is already written to the audit trail in its own transaction
(reviews.audit): a decision recorded, an exception requested (or its signature voided by an edit), a review
marked overdue (schedules.tasks), a probe run failed or finished. A post_save receiver on AuditEvent turns
those into deliveries in that same transaction, so a change that rolls back notifies nobody and one that
commits is never missed. Exceptions about to expire have no audit event: a beat job finds them
(notify_expiring_exceptions), once per exception and expiry date.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_save
from django.urls import reverse
from django.utils import timezone

from reviews.models import AuditEvent, Decision, ExceptionState, Level, RiskException

from . import services
from .models import Delivery, Event


def _person(user) -> str:
    return (user.get_full_name() or user.get_username()) if user else "—"


def _system(system) -> dict:
    return {"slug": system.slug, "name": system.name}


def decision_recorded(decision: Decision, *, at: datetime) -> tuple[dict, object]:
    system = decision.system
    payload = services.envelope(
        event=Event.DECISION_RECORDED,
        key=f"decision.recorded:{decision.pk}",
        team=system.team,
        summary=f"{system.name}: {decision.get_outcome_display()}",
        url=services.absolute(reverse("decision_detail", args=[decision.pk])),
        data={
            "decision_id": decision.pk,
            "review_id": decision.review_id,
            "system": _system(system),
            "outcome": decision.outcome,
            "next_review": decision.next_review.isoformat(),
            "approver": _person(decision.approver),
            "digest": decision.digest,
        },
        facts=[
            ("System", system.name),
            ("Outcome", decision.get_outcome_display()),
            ("Decided by", _person(decision.approver)),
            ("Next review", decision.next_review.isoformat()),
        ],
        occurred_at=at,
    )
    return payload, system.team


def _exception_parts(exc: RiskException) -> tuple:
    finding = exc.finding
    system = finding.review.system
    data = {
        "exception_id": exc.pk,
        "finding": {"id": finding.pk, "title": finding.title, "level": finding.level},
        "system": _system(system),
        "expires_at": exc.expires_at.isoformat(),
        "requested_by": _person(exc.requested_by),
    }
    facts = [
        ("System", system.name),
        ("Finding", f"{finding.level} {finding.title}"),
        ("Expires", f"{timezone.localtime(exc.expires_at):%Y-%m-%d %H:%M}"),
        ("Requested by", _person(exc.requested_by)),
    ]
    return system, data, facts


def exception_awaiting_signature(exc: RiskException, *, key: str, at: datetime) -> tuple[dict, object]:
    system, data, facts = _exception_parts(exc)
    payload = services.envelope(
        event=Event.EXCEPTION_AWAITING_SIGNATURE,
        key=key,
        team=system.team,
        summary=f"{system.name}: an exception for “{exc.finding.title}” awaits a lead's signature",
        url=services.absolute(exc.get_absolute_url()),
        data=data,
        facts=facts,
        occurred_at=at,
    )
    return payload, system.team


def exception_expiring(exc: RiskException, *, now: datetime) -> tuple[dict, object]:
    system, data, facts = _exception_parts(exc)
    days = max(0, (timezone.localdate(exc.expires_at) - timezone.localdate(now)).days)
    data["days_left"] = days
    when = "today" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
    payload = services.envelope(
        event=Event.EXCEPTION_EXPIRING,
        key=f"exception.expiring:{exc.pk}:{exc.expires_at.isoformat()}",
        team=system.team,
        summary=f"{system.name}: the exception for “{exc.finding.title}” expires {when}",
        url=services.absolute(exc.get_absolute_url()),
        data=data,
        facts=facts,
        occurred_at=now,
    )
    return payload, system.team


def review_overdue(decision: Decision, *, after: dict, at: datetime) -> tuple[dict, object]:
    system = decision.system
    days = int(after.get("days_overdue", 0))
    payload = services.envelope(
        event=Event.REVIEW_OVERDUE,
        key=f"review.overdue:{decision.pk}",
        team=system.team,
        summary=f"{system.name}: its review was due on {decision.next_review.isoformat()}",
        url=services.absolute(system.get_absolute_url()),
        data={
            "system": _system(system),
            "decision_id": decision.pk,
            "next_review": decision.next_review.isoformat(),
            "days_overdue": days,
        },
        facts=[("System", system.name), ("Due", decision.next_review.isoformat()), ("Days overdue", days)],
        occurred_at=at,
    )
    return payload, system.team


def probe_run_failed(run, *, at: datetime) -> tuple[dict, object]:
    system = run.target.system
    error = run.error[:500]
    payload = services.envelope(
        event=Event.PROBE_RUN_FAILED,
        key=f"probe_run.failed:{run.pk}",
        team=system.team,
        summary=f"{system.name}: the probe run on {run.target.name} failed",
        url=services.absolute(run.get_absolute_url()),
        data={"run_id": run.pk, "target": run.target.name, "system": _system(system), "error": error},
        facts=[("System", system.name), ("Target", run.target.name), ("Error", error or "—")],
        occurred_at=at,
    )
    return payload, system.team


def probe_run_p0(run, p0: list[dict], *, at: datetime) -> tuple[dict, object]:
    system = run.target.system
    payload = services.envelope(
        event=Event.PROBE_RUN_P0,
        key=f"probe_run.p0:{run.pk}",
        team=system.team,
        summary=f"{system.name}: the probe run on {run.target.name} found {len(p0)} P0 blocker"
        + ("s" if len(p0) != 1 else ""),
        url=services.absolute(run.get_absolute_url()),
        data={"run_id": run.pk, "target": run.target.name, "system": _system(system), "p0": p0},
        facts=[("System", system.name), ("Target", run.target.name)] + [("P0", p["title"]) for p in p0[:8]],
        occurred_at=at,
    )
    return payload, system.team


# --- From the audit trail


def _from_audit(event: AuditEvent) -> list[tuple[str, callable]]:
    """The notifications an audit event may give: (event name, a function building payload and team)."""
    action, pk = event.action, event.object_id
    if action == "decision.record":
        return [
            (
                Event.DECISION_RECORDED,
                lambda: decision_recorded(
                    Decision.objects.defer(*Decision.RECORD_FIELDS)
                    .select_related("system__team", "approver")
                    .get(pk=pk),
                    at=event.at,
                ),
            )
        ]
    if action in ("exception.request", "exception.void"):
        return [
            (
                Event.EXCEPTION_AWAITING_SIGNATURE,
                lambda: exception_awaiting_signature(
                    _exception(pk), key=f"exception.awaiting_signature:{event.pk}", at=event.at
                ),
            )
        ]
    if action == "review.overdue":
        return [
            (
                Event.REVIEW_OVERDUE,
                lambda: review_overdue(
                    Decision.objects.defer(*Decision.RECORD_FIELDS).select_related("system__team").get(pk=pk),
                    after=event.after or {},
                    at=event.at,
                ),
            )
        ]
    if action == "probe_run.fail":
        return [(Event.PROBE_RUN_FAILED, lambda: probe_run_failed(_run(pk), at=event.at))]
    if action == "probe_run.finish":
        return [(Event.PROBE_RUN_P0, lambda: _p0_of(pk, at=event.at))]
    return []


def _exception(pk) -> RiskException:
    return RiskException.objects.select_related("finding__review__system__team", "requested_by").get(pk=pk)


def _run(pk):
    from probes.models import ProbeRun

    return ProbeRun.objects.select_related("target__system__team").get(pk=pk)


def _p0_of(pk, *, at: datetime):
    from probes.models import ResultStatus

    run = _run(pk)
    p0 = [
        {"probe_id": r.probe_id, "title": r.title, "summary": r.summary}
        for r in run.results.filter(severity=Level.P0, status=ResultStatus.FAIL).order_by("probe_id")
    ]
    return probe_run_p0(run, p0, at=at) if p0 else (None, None)


def _audited(sender, instance: AuditEvent, created: bool, raw: bool = False, **kwargs) -> None:
    if raw or not created:
        return
    for event, build in _from_audit(instance):
        subscriptions = services.subscriptions_for(event)
        if not subscriptions:
            continue  # one query when nobody listens
        payload, team = build()
        if payload is not None:
            services.emit(payload=payload, team=team, subscriptions=subscriptions)


def connect_signals() -> None:
    post_save.connect(_audited, sender=AuditEvent, dispatch_uid="webhooks.events.audited")


# --- Exceptions about to expire (beat)


def notify_expiring_exceptions(*, now: datetime | None = None) -> int:
    """Signed exceptions expiring within WEBHOOK_EXPIRING_WITHIN_DAYS, each notified once per expiry
    date (a renewed exception is notified again before its new date). Returns the deliveries added."""
    now = now or timezone.now()
    subscriptions = services.subscriptions_for(Event.EXCEPTION_EXPIRING)
    if not subscriptions:
        return 0
    soon = RiskException.objects.filter(
        state=ExceptionState.SIGNED,
        expires_at__gt=now,
        expires_at__lte=now + timedelta(days=settings.WEBHOOK_EXPIRING_WITHIN_DAYS),
    ).select_related("finding__review__system__team", "requested_by")
    added = 0
    for exc in soon:
        payload, team = exception_expiring(exc, now=now)
        known = set(
            Delivery.objects.filter(event_key=payload["id"]).values_list("subscription_id", flat=True)
        )
        todo = [s for s in subscriptions if s.pk not in known]
        if todo:
            with transaction.atomic():
                added += len(services.emit(payload=payload, team=team, subscriptions=todo))
    return added
