"""Every state change of outgoing notifications: an event becomes one Delivery per matching subscription
(in the transaction of the change it tells of), a worker sends it signed, retries with backoff, and the
admin replays it. Each step is idempotent: a delivery is claimed before it is sent, so a repeated message
sends nothing twice."""

from __future__ import annotations

import http.client
import logging
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from probes import crypto
from readiness import dispatch, metrics
from reviews import audit
from reviews.models import Team
from reviews.services import ServiceError

from . import bodies, signing
from .models import Delivery, DeliveryAttempt, DeliveryState, Subscription

log = logging.getLogger(__name__)

USER_AGENT = "Readiness-Webhooks/1"
EXCERPT_CHARS = 500
SUBSCRIPTION_FIELDS = ("name", "url", "format", "events", "active")


# --- Subscriptions


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def secret_of(subscription: Subscription) -> str:
    return crypto.decrypt(subscription.secret_encrypted)


def set_new_secret(subscription: Subscription) -> None:
    """A fresh signing secret, encrypted at rest (not saved here)."""
    subscription.secret_encrypted = crypto.encrypt(new_secret())


@transaction.atomic
def rotate_secret(*, subscription: Subscription, actor) -> Subscription:
    """A new signing secret: from now on only it verifies (receivers need the new one)."""
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    set_new_secret(subscription)
    subscription.save(update_fields=["secret_encrypted"])
    audit.record(actor=actor, action="subscription.rotate_secret", obj=subscription)
    return subscription


def subscriptions_for(event: str) -> list[Subscription]:
    """The active subscriptions to an event, with their teams (two queries; one when there are none)."""
    return [
        s for s in Subscription.objects.filter(active=True).prefetch_related("teams") if event in s.events
    ]


def hears(subscription: Subscription, team_id: int | None) -> bool:
    """A subscription with no teams chosen hears every team's events."""
    team_ids = {t.pk for t in subscription.teams.all()}
    return not team_ids or team_id in team_ids


# --- Emitting


def envelope(
    *,
    event: str,
    key: str,
    team: Team | None,
    summary: str,
    url: str,
    data: dict,
    facts: list,
    occurred_at: datetime,
) -> dict:
    """What every format is rendered from; the generic format sends it as it is."""
    return {
        "id": key,
        "event": event,
        "occurred_at": occurred_at.isoformat(),
        "team": {"id": team.pk, "name": team.name} if team else None,
        "summary": summary,
        "url": url,
        "facts": [{"name": name, "value": str(value)} for name, value in facts],
        "data": data,
    }


def absolute(path: str) -> str:
    return settings.WEBHOOK_BASE_URL + path


def emit(
    *, payload: dict, team: Team | None, subscriptions: list[Subscription] | None = None
) -> list[Delivery]:
    """One Delivery per active subscription that hears of this event and team, in the caller's transaction;
    each is sent once that transaction commits. An event already delivered to a subscription (its
    `id`, the event key) is not added again."""
    event, key = payload["event"], payload["id"]
    subs = subscriptions_for(event) if subscriptions is None else subscriptions
    created = []
    for sub in subs:
        if not hears(sub, team.pk if team else None):
            continue
        try:
            with transaction.atomic():
                delivery = Delivery.objects.create(
                    subscription=sub,
                    event=event,
                    event_key=key,
                    team=team,
                    payload=payload,
                    max_attempts=settings.WEBHOOK_MAX_ATTEMPTS,
                    next_attempt_at=timezone.now(),
                )
        except IntegrityError:
            continue  # this subscription already has this event
        created.append(delivery)
        _enqueue_on_commit(delivery.pk)
    return created


def _enqueue_on_commit(delivery_id: int) -> None:
    from .tasks import deliver

    dispatch.send_on_commit(deliver, delivery_id)


# --- Sending


@dataclass
class Answer:
    status_code: int | None = None
    error: str = ""
    excerpt: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer that is not 2xx: the body is not POSTed to wherever it points."""

    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Answer:
    """POST once; every way it can go wrong becomes an Answer with the reason, never an exception."""
    # Only http(s): the admin form refuses other schemes, and a stored one is refused here too.
    if not url.lower().startswith(("http://", "https://")):
        return Answer(error="the URL is not http or https")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with _opener.open(request, timeout=timeout) as response:
            return Answer(response.status, excerpt=_excerpt(response))
    except urllib.error.HTTPError as exc:
        with exc:
            return Answer(exc.code, error=f"the receiver answered {exc.code}", excerpt=_excerpt(exc))
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            return Answer(error=f"no answer within {timeout:g} s")
        return Answer(error=f"could not connect: {reason}")
    except TimeoutError:
        return Answer(error=f"no answer within {timeout:g} s")
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Answer(error=f"{type(exc).__name__}: {exc}")


def _excerpt(response) -> str:
    try:
        return response.read(EXCERPT_CHARS).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return ""


def backoff_s(attempt: int) -> float:
    """The wait after the attempt-th failed attempt: doubling from WEBHOOK_RETRY_BASE_S, capped."""
    return min(settings.WEBHOOK_RETRY_BASE_S * 2 ** (attempt - 1), settings.WEBHOOK_RETRY_MAX_S)


def headers_for(delivery: Delivery, secret: str, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Readiness-Event": delivery.event,
        "Readiness-Delivery": str(delivery.uuid),
        signing.HEADER: signing.header_value(secret, body),
    }


def attempt(delivery_id: int) -> str:
    """One attempt at a delivery that is due: claimed first (a repeated message finds nothing to do),
    POSTed signed, then settled: delivered, retried after a backoff, or failed after its last attempt."""
    now = timezone.now()
    lease = timedelta(seconds=settings.WEBHOOK_TIMEOUT_S + settings.WEBHOOK_LEASE_GRACE_S)
    claimed = Delivery.objects.filter(
        pk=delivery_id, state=DeliveryState.PENDING, next_attempt_at__lte=now
    ).update(state=DeliveryState.SENDING, attempts=F("attempts") + 1, lease_until=now + lease)
    if not claimed:
        return "not claimed"
    delivery = Delivery.objects.select_related("subscription").get(pk=delivery_id)
    subscription = delivery.subscription
    if not subscription.active:
        answer = Answer(error="the subscription is turned off")
        return _settle(delivery, answer, started=now, duration_ms=0, final=True)
    try:
        secret = secret_of(subscription)
    except crypto.InvalidToken:
        answer = Answer(error="its signing secret no longer decrypts (were PROBE_ENCRYPTION_KEYS changed?)")
        return _settle(delivery, answer, started=now, duration_ms=0, final=True)
    body = bodies.render(subscription.format, delivery.payload)
    started = time.monotonic()
    answer = post(
        subscription.url, body, headers_for(delivery, secret, body), timeout=settings.WEBHOOK_TIMEOUT_S
    )
    return _settle(delivery, answer, started=now, duration_ms=int((time.monotonic() - started) * 1000))


def _settle(
    delivery: Delivery, answer: Answer, *, started: datetime, duration_ms: int, final: bool = False
) -> str:
    number = delivery.attempts
    now = timezone.now()
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=number,
            started_at=started,
            duration_ms=duration_ms,
            status_code=answer.status_code,
            error=answer.error,
            response_excerpt=answer.excerpt,
        )
        mine = Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.SENDING, attempts=number)
        common = {"last_status_code": answer.status_code, "last_error": answer.error, "lease_until": None}
        if answer.ok:
            outcome = "delivered"
            settled = mine.update(
                state=DeliveryState.DELIVERED, delivered_at=now, next_attempt_at=None, **common
            )
        elif final or number >= delivery.max_attempts:
            outcome = "failed"
            settled = mine.update(state=DeliveryState.FAILED, next_attempt_at=None, **common)
        else:
            outcome = "retry"
            wait = backoff_s(number)
            settled = mine.update(
                state=DeliveryState.PENDING, next_attempt_at=now + timedelta(seconds=wait), **common
            )
            if settled:
                transaction.on_commit(lambda: _enqueue_retry(delivery.pk, wait))
    if not settled:
        return "lost claim"  # the sweeper took it back after its lease: that attempt settles it
    metrics.observe_webhook_attempt(event=delivery.event, delivered=answer.ok, gave_up=outcome == "failed")
    if not answer.ok:
        log.warning(
            "webhook delivery %s (%s to %s) attempt %s: %s; %s",
            delivery.pk,
            delivery.event,
            delivery.subscription.name,
            number,
            answer.error,
            "giving up" if outcome == "failed" else "will retry",
        )
    return outcome


def _enqueue_retry(delivery_id: int, countdown: float) -> None:
    """The next attempt after `countdown`. In-process tasks (the quick start) do not wait: the delivery
    stays pending for the sweeper or a replay. A broker that is down: the sweeper sends it later."""
    from readiness.celery import app

    from .tasks import deliver

    if app.conf.task_always_eager:
        return
    try:
        deliver.apply_async((delivery_id,), countdown=countdown)
    except dispatch.BROKER_ERRORS as exc:
        log.warning("broker unreachable; webhook delivery %s waits for the sweeper: %s", delivery_id, exc)


# --- The admin's replay and the sweeper


@transaction.atomic
def replay(*, delivery: Delivery, actor) -> Delivery:
    """Send a delivered or failed delivery once more, now, as a new attempt (same Readiness-Delivery id,
    fresh signature). Audited."""
    delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.state not in (DeliveryState.DELIVERED, DeliveryState.FAILED):
        raise ServiceError("Only a delivered or failed delivery is replayed; this one is still being sent.")
    before = audit.snapshot(delivery, ("state", "attempts", "max_attempts"))
    delivery.state = DeliveryState.PENDING
    delivery.max_attempts = delivery.attempts + 1
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["state", "max_attempts", "next_attempt_at"])
    audit.record(
        actor=actor,
        action="webhook_delivery.replay",
        obj=delivery,
        before=before,
        after=audit.snapshot(delivery, ("state", "attempts", "max_attempts")),
    )
    _enqueue_on_commit(delivery.pk)
    return delivery


def sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Beat: a delivery whose worker died mid-send (lease passed) is due again, or failed when that was
    its last attempt; a due delivery whose message was lost (a broker down) is sent again."""
    now = now or timezone.now()
    counts = {"released": 0, "failed": 0, "resent": 0}
    stuck = Delivery.objects.filter(state=DeliveryState.SENDING, lease_until__lt=now)
    lost = "its worker stopped before the receiver answered"
    counts["failed"] = stuck.filter(attempts__gte=F("max_attempts")).update(
        state=DeliveryState.FAILED, lease_until=None, next_attempt_at=None, last_error=lost
    )
    released = list(stuck.values_list("pk", flat=True))
    counts["released"] = Delivery.objects.filter(pk__in=released, state=DeliveryState.SENDING).update(
        state=DeliveryState.PENDING, lease_until=None, next_attempt_at=now, last_error=lost
    )
    waited = now - timedelta(seconds=settings.WEBHOOK_REQUEUE_AFTER_S)
    from .tasks import deliver

    due = Delivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=waited)
    for delivery_id in released + list(due.values_list("pk", flat=True)[:500]):
        if dispatch.send(deliver, delivery_id).sent:
            counts["resent"] += 1
    return counts


def prune(*, now: datetime | None = None) -> int:
    """Beat, daily: delivered and failed deliveries older than WEBHOOK_KEEP_DAYS go, with their attempts.
    Their events are not emitted again (each is emitted when it happens, or within days of an expiry)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WEBHOOK_KEEP_DAYS)
    old = Delivery.objects.filter(
        state__in=[DeliveryState.DELIVERED, DeliveryState.FAILED], created_at__lt=cutoff
    )
    return old.delete()[1].get(Delivery._meta.label, 0)
