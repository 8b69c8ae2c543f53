"""The admin's side of outgoing notifications: subscriptions (edited here, audited), and the delivery log
with every attempt, from which a delivery is replayed (audited)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.validators import URLValidator
from django.db import transaction
from django.utils.html import format_html

from reviews import audit
from reviews.admin import AuditedAdmin
from reviews.services import ServiceError

from . import services
from .models import Delivery, DeliveryAttempt, DeliveryState, Event, Subscription


class SubscriptionForm(forms.ModelForm):
    url = forms.URLField(
        max_length=2000,
        validators=[URLValidator(schemes=["http", "https"])],
        assume_scheme="https",
        help_text="Where the POST goes (http or https).",
    )
    events = forms.MultipleChoiceField(
        choices=Event.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="The events this receiver hears of.",
    )

    class Meta:
        model = Subscription
        fields = ("name", "url", "format", "events", "teams", "active")

    def clean_events(self) -> list[str]:
        return [e for e in Event.values if e in self.cleaned_data["events"]]  # a stable order


@admin.register(Subscription)
class SubscriptionAdmin(AuditedAdmin):
    form = SubscriptionForm
    audit_fields = services.SUBSCRIPTION_FIELDS
    list_display = ("name", "url", "format", "event_list", "team_list", "active")
    list_filter = ("active", "format")
    filter_horizontal = ("teams",)
    readonly_fields = ("signing_secret", "created_at")
    actions = ("rotate_secrets",)

    def get_fields(self, request, obj=None):
        fields = ["name", "url", "format", "events", "teams", "active"]
        return fields + ["signing_secret", "created_at"] if obj else fields

    @admin.display(description="Events")
    def event_list(self, obj: Subscription) -> str:
        return ", ".join(obj.events)

    @admin.display(description="Teams")
    def team_list(self, obj: Subscription) -> str:
        return ", ".join(t.name for t in obj.teams.all()) or "every team"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("teams")

    @admin.display(description="Signing secret")
    def signing_secret(self, obj: Subscription) -> str:
        return format_html(
            "<code>{}</code><br>The receiver checks each request's Readiness-Signature with it "
            "(the user guide: “Notifications to other tools”).",
            services.secret_of(obj),
        )

    def save_model(self, request, obj, form, change):
        if not change:
            services.set_new_secret(obj)
        super().save_model(request, obj, form, change)

    @transaction.atomic
    def save_related(self, request, form, formsets, change):
        obj = form.instance
        before = sorted(obj.teams.values_list("name", flat=True)) if change else []
        super().save_related(request, form, formsets, change)
        after = sorted(obj.teams.values_list("name", flat=True))
        if before != after:
            audit.record(
                actor=request.user,
                action="subscription.teams",
                obj=obj,
                before={"teams": before},
                after={"teams": after},
            )

    @admin.action(description="Give the selected subscriptions a new signing secret", permissions=["change"])
    def rotate_secrets(self, request, queryset):
        for subscription in queryset:
            services.rotate_secret(subscription=subscription, actor=request.user)
        self.message_user(
            request, f"{queryset.count()} signing secret(s) replaced: give receivers the new one."
        )


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("number", "started_at", "duration_ms", "status_code", "error", "response_excerpt")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """The delivery log: read-only; "Replay" sends a delivered or failed delivery once more."""

    list_display = ("created_at", "event", "subscription", "team", "state", "attempts", "last_status_code")
    list_filter = ("state", "event", "subscription")
    list_select_related = ("subscription", "team")
    search_fields = ("event_key", "uuid")
    inlines = (AttemptInline,)
    actions = ("replay",)
    fields = (
        "uuid",
        "subscription",
        "event",
        "event_key",
        "team",
        "state",
        "attempts",
        "max_attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "created_at",
        "delivered_at",
        "payload_json",
    )
    readonly_fields = fields

    @admin.display(description="Payload")
    def payload_json(self, obj: Delivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, ensure_ascii=False))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm("webhooks.change_delivery")

    @admin.action(description="Replay the selected deliveries (send once more, now)", permissions=["replay"])
    def replay(self, request, queryset):
        done, refused = 0, 0
        for delivery in queryset:
            try:
                services.replay(delivery=delivery, actor=request.user)
                done += 1
            except ServiceError:
                refused += 1
        if done:
            self.message_user(
                request, f"{done} deliver{'y' if done == 1 else 'ies'} queued to be sent again."
            )
        if refused:
            self.message_user(
                request,
                f"{refused} still being sent were left alone (only delivered or failed ones are replayed).",
                level=messages.WARNING,
            )


__all__ = ["DeliveryState"]
