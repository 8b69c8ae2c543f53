"""Reminders by email: what each person was reminded of (once per item and threshold), the daily
digests that carried them, and each person's choice to receive the optional ones."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ReminderKind(models.TextChoices):
    SIGNATURE_AWAITED = "signature_awaited", "Exception awaits your signature"
    EXCEPTION_EXPIRING = "exception_expiring", "Exception expires soon"
    EXCEPTION_EXPIRED = "exception_expired", "Exception expired"
    REVIEW_OVERDUE = "review_overdue", "Review past its next-review date"
    P2_OVERDUE = "p2_overdue", "P2 finding past its due date"


class ReminderPreference(models.Model):
    """A person's reminder choice. Without a row, every reminder is sent."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminder_pref"
    )
    # Reminders not about the person's own signature (expiry of exceptions they requested, overdue
    # reviews and P2 findings of their team). Those about their signature cannot be switched off.
    others = models.BooleanField(
        default=True, help_text="Also send reminders that are not about my own signature."
    )
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user}: {'all reminders' if self.others else 'own signature only'}"


class Digest(models.Model):
    """One email to one person on one day. The unique day is what makes two runs at once send one."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    email = models.CharField(max_length=254)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-sent_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["recipient", "day"], name="digest_one_per_person_per_day")
        ]

    def __str__(self) -> str:
        return f"{self.day} to {self.recipient}: {self.subject}"


class Reminder(models.Model):
    """One reminder sent to one person about one item at one threshold; never twice."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=24, choices=ReminderKind.choices)
    item = models.CharField(
        max_length=80, help_text='What it is about: "exception:12", "system:3:decision:9".'
    )
    threshold = models.CharField(
        max_length=40, help_text='Which threshold: "14d", "3d", "expired", "overdue".'
    )
    text = models.CharField(max_length=300)
    url = models.CharField(max_length=300, blank=True)
    digest = models.ForeignKey(Digest, on_delete=models.PROTECT, related_name="reminders")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "kind", "item", "threshold"], name="reminder_once_per_item_and_threshold"
            ),
            models.CheckConstraint(condition=Q(kind__in=ReminderKind.values), name="reminder_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.item} · {self.threshold} → {self.recipient}"
