"""Outgoing notifications: who is told of what (Subscription), and each event's delivery to each of them
(Delivery) with every attempt to send it (DeliveryAttempt), which the admin reads and replays."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from reviews.models import Team


class Event(models.TextChoices):
    DECISION_RECORDED = "decision.recorded", "A decision recorded"
    EXCEPTION_AWAITING_SIGNATURE = "exception.awaiting_signature", "An exception awaiting signature"
    EXCEPTION_EXPIRING = "exception.expiring", "An exception expiring soon"
    REVIEW_OVERDUE = "review.overdue", "A review overdue"
    PROBE_RUN_FAILED = "probe_run.failed", "A probe run failed"
    PROBE_RUN_P0 = "probe_run.p0", "A probe run raised a P0"


class Format(models.TextChoices):
    GENERIC = "generic", "Generic JSON"
    SLACK = "slack", "Slack-compatible"
    TEAMS = "teams", "Microsoft Teams-compatible"


class Subscription(models.Model):
    """A receiver: its URL, the body it understands, the events and teams it hears of. The signing secret
    is generated here and kept encrypted at rest (probes.crypto)."""

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=2000, help_text="Where the POST goes (http or https).")
    format = models.CharField(max_length=10, choices=Format.choices, default=Format.GENERIC)
    events = models.JSONField(default=list, help_text="The events this receiver hears of.")
    teams = models.ManyToManyField(
        Team, blank=True, related_name="+", help_text="Only these teams' events; none chosen: every team's."
    )
    active = models.BooleanField(default=True)
    secret_encrypted = models.TextField(editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(format__in=Format.values), name="webhook_subscription_format_valid"
            ),
            models.CheckConstraint(condition=~Q(name=""), name="webhook_subscription_name_required"),
        ]

    def __str__(self) -> str:
        return self.name


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """One event for one subscription. `event_key` names the event (the same for every subscription) and
    is unique per subscription: an event is delivered to a receiver once. `uuid` is sent as the
    Readiness-Delivery header, the same on every attempt, so a receiver can drop a repeat."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40, choices=Event.choices)
    event_key = models.CharField(max_length=200)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    payload = models.JSONField()  # the event's envelope (webhooks.events); each format renders it
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField()  # it fails after this many attempts (a replay adds one)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)  # while SENDING: the sweeper waits until then
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event_key"], name="webhook_delivery_once_per_event"
            ),
            models.CheckConstraint(
                condition=Q(state__in=DeliveryState.values), name="webhook_delivery_state_valid"
            ),
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="webhook_delivery_due")]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription}"


class DeliveryAttempt(models.Model):
    """One POST: what the receiver answered, or why there was no answer."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    response_excerpt = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
