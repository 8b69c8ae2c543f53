"""API tokens of a team (or of one of its systems) and the idempotency records of their POSTs."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Scope(models.TextChoices):
    READ = "read", "Read systems, reviews, evidence, gates and probe runs"
    WRITE_EVIDENCE = "write:evidence", "Post evidence"
    RUN_PROBES = "run:probes", "Start probe runs"


class ApiTokenQuerySet(models.QuerySet):
    def active(self, now=None):
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))


class ApiToken(models.Model):
    """A bearer token for pipelines. Only its SHA-256 is stored; the token itself is shown once.

    It belongs to a team and, when `system` is set, reaches only that system. It acts for the person who
    created it, within its scopes: the services see that person as the actor, and the token stops
    working when they are no longer an architect or lead of the team."""

    team = models.ForeignKey("reviews.Team", on_delete=models.CASCADE, related_name="api_tokens")
    system = models.ForeignKey(
        "reviews.System", on_delete=models.CASCADE, null=True, blank=True, related_name="api_tokens"
    )
    name = models.CharField(max_length=80, help_text="What uses it, e.g. “deploy pipeline”.")
    # "rdy_" and the token's next 8 characters: enough to recognise it in a list or a log, useless to use.
    prefix = models.CharField(max_length=16)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    scope_read = models.BooleanField(default=True)
    scope_write_evidence = models.BooleanField(default=False)
    scope_run_probes = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["team__name", "-created_at", "-id"]
        verbose_name = "API token"
        constraints = [
            models.CheckConstraint(
                condition=Q(scope_read=True) | Q(scope_write_evidence=True) | Q(scope_run_probes=True),
                name="api_token_has_a_scope",
            ),
            models.CheckConstraint(condition=~Q(name=""), name="api_token_name_required"),
            models.CheckConstraint(condition=Q(prefix__startswith="rdy_"), name="api_token_prefix_rdy"),
            models.UniqueConstraint(
                fields=["team", "name"],
                condition=Q(revoked_at__isnull=True),
                name="api_token_name_unique_active",
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | Q(revoked_by__isnull=False),
                name="api_token_revoked_by_someone",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def scopes(self) -> list[str]:
        return [
            scope
            for scope, granted in (
                (Scope.READ, self.scope_read),
                (Scope.WRITE_EVIDENCE, self.scope_write_evidence),
                (Scope.RUN_PROBES, self.scope_run_probes),
            )
            if granted
        ]

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"


class IdempotencyRecord(models.Model):
    """The first response to a POST with an Idempotency-Key, replayed to every retry of it.

    The row is inserted first, inside the request's transaction: a concurrent request with the same key
    waits on the unique index and then replays what the first one committed; if the first one failed,
    its row was rolled back with everything else and the retry runs afresh."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=255)
    # SHA-256 of method, path and the canonical JSON body: the same key with another request is refused.
    request_hash = models.CharField(max_length=64)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    response_status = models.PositiveSmallIntegerField(null=True)
    # The exact bytes of the first response's JSON (text, not jsonb, which would reorder its keys).
    response_body = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["token", "key"], name="idempotency_key_once_per_token"),
            models.CheckConstraint(condition=~Q(key=""), name="idempotency_key_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"
