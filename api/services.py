"""Every state change of the API app: tokens created and revoked (audited), tokens recognised on each
request, and POSTs made idempotent by a key row inserted before the work, in the same transaction."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from reviews import audit, policy
from reviews.models import System, Team
from reviews.services import ServiceError, _require

from .models import ApiToken, IdempotencyRecord, Scope

TOKEN_PREFIX = "rdy_"
TOKEN_BYTES = 32  # 256 bits of randomness: a SHA-256 of it needs no salt and no slow hash
PREFIX_LENGTH = len(TOKEN_PREFIX) + 8
MAX_EXPIRY_DAYS = 3650
TOKEN_FIELDS = (
    "team",
    "system",
    "name",
    "prefix",
    "scope_read",
    "scope_write_evidence",
    "scope_run_probes",
    "expires_at",
    "revoked_at",
)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()


def can_manage_tokens(user, team: Team | int) -> bool:
    """Create and revoke a team's tokens: its architects and leads."""
    return policy.role_in(user, team) in policy.CHAIR_ROLES


def can_view_tokens(user, team: Team | int) -> bool:
    """See a team's tokens (names, scopes, last use; never a secret): any member, auditors included."""
    return policy.role_in(user, team) is not None


# --- Tokens


@transaction.atomic
def create_token(
    *,
    team: Team,
    actor,
    name: str,
    scopes: list[str],
    system: System | None = None,
    expires_in_days: int | None = None,
) -> tuple[ApiToken, str]:
    """A new token and its secret. The secret is returned once and never stored; only its hash is."""
    _require(
        can_manage_tokens(actor, team), "Only an architect or lead of the team may create its API tokens."
    )
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = "Name the token after what uses it, e.g. “deploy pipeline”."
    elif len(name) > 80:
        errors["name"] = "Keep the name to 80 characters."
    elif ApiToken.objects.filter(team=team, name__iexact=name, revoked_at__isnull=True).exists():
        errors["name"] = (
            f"{team} already has an active token called {name!r}; revoke it or pick another name."
        )
    unknown = set(scopes) - set(Scope.values)
    if unknown or not scopes:
        errors["scopes"] = "Choose at least one of: " + ", ".join(Scope.values) + "."
    if system is not None and system.team_id != team.pk:
        errors["system"] = "That system belongs to another team."
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
        errors["expires_in_days"] = f"Give 1 to {MAX_EXPIRY_DAYS} days, or leave it empty for no expiry."
    if errors:
        raise ServiceError(errors)
    raw = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                team=team,
                system=system,
                name=name,
                prefix=raw[:PREFIX_LENGTH],
                token_hash=hash_token(raw),
                scope_read=Scope.READ in scopes,
                scope_write_evidence=Scope.WRITE_EVIDENCE in scopes,
                scope_run_probes=Scope.RUN_PROBES in scopes,
                created_by=actor,
                created_at=now,
                expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
            )
    except IntegrityError:  # api_token_name_unique_active: a concurrent create of the same name
        raise ServiceError({"name": f"{team} already has an active token called {name!r}."})
    audit.record(actor=actor, action="api_token.create", obj=token, after=audit.snapshot(token, TOKEN_FIELDS))
    return token, raw


@transaction.atomic
def revoke_token(*, token: ApiToken, actor) -> ApiToken:
    """Revoke at once; revoking a revoked token changes nothing."""
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    _require(
        can_manage_tokens(actor, token.team_id),
        "Only an architect or lead of the team may revoke its tokens.",
    )
    if token.revoked_at is not None:
        return token
    before = audit.snapshot(token, TOKEN_FIELDS)
    token.revoked_at, token.revoked_by = timezone.now(), actor
    token.save(update_fields=["revoked_at", "revoked_by"])
    audit.record(
        actor=actor,
        action="api_token.revoke",
        obj=token,
        before=before,
        after=audit.snapshot(token, TOKEN_FIELDS),
    )
    return token


class TokenRefused(Exception):
    """The bearer token is unknown, revoked, expired, or its creator may no longer act for the team."""


def authenticate(raw: str, *, now: datetime | None = None) -> ApiToken:
    now = now or timezone.now()
    raw = (raw or "").strip()
    if not raw.startswith(TOKEN_PREFIX):
        raise TokenRefused(f"Send an API token: Authorization: Bearer {TOKEN_PREFIX}…")
    token = (
        ApiToken.objects.select_related("team", "system", "created_by")
        .filter(token_hash=hash_token(raw))
        .first()
    )
    if token is None:
        raise TokenRefused("This API token is not known. Create one on the API tokens page.")
    if token.revoked_at is not None:
        raise TokenRefused(f"This API token ({token.prefix}…) was revoked on {token.revoked_at:%Y-%m-%d}.")
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenRefused(f"This API token ({token.prefix}…) expired on {token.expires_at:%Y-%m-%d}.")
    if not token.created_by.is_active or not can_manage_tokens(token.created_by, token.team_id):
        raise TokenRefused(
            f"This API token ({token.prefix}…) acts for {token.created_by.get_username()}, who is no longer "
            f"an architect or lead of {token.team}; create a new token."
        )
    _touch(token, now)
    return token


def _touch(token: ApiToken, now: datetime) -> None:
    """Record the last use, at most once per API_TOKEN_LAST_USED_EVERY_S (one cheap conditional UPDATE)."""
    every = timedelta(seconds=settings.API_TOKEN_LAST_USED_EVERY_S)
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - every)
    ).update(last_used_at=now)


# --- Idempotency (seed §9.2–9.3: the same command retried 10 times gives one effect, the same response)


@dataclass(frozen=True)
class ApiResult:
    status: int
    body: Any  # JSON-safe
    replayed: bool = False

    @property
    def content(self) -> str:
        """The response's JSON text: what is sent, stored, and sent again to a retry."""
        return self.body if isinstance(self.body, str) else json.dumps(self.body, ensure_ascii=False)


class IdempotencyKeyReused(Exception):
    """The key was used before with another method, path or body."""

    def __init__(self, record: IdempotencyRecord):
        self.record = record
        super().__init__(
            "This Idempotency-Key was already used for a different request "
            f"({record.method} {record.path} at {record.created_at:%Y-%m-%d %H:%M:%S} UTC). "
            "Use a new key for a new request."
        )


def canonical_body(body: bytes) -> bytes:
    """JSON bodies compare by content, not by key order or spacing; anything else byte for byte."""
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        return body
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def request_hash(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode("utf-8", "replace"), canonical_body(body)):
        digest.update(part)
        digest.update(b"\n")
    return digest.hexdigest()


def run_idempotent(
    *, token: ApiToken, key: str | None, method: str, path: str, body: bytes, work: Callable[[], ApiResult]
) -> ApiResult:
    """Run `work` once per (token, key). Without a key, just run it.

    The key row is inserted before the work, in the same transaction, so the unique constraint decides:
    a second request with the same key blocks on the index until the first commits, then replays its
    stored response; if the first rolled back (it was refused), the second inserts the key and runs.
    Only successful responses are stored: a refused request changed nothing, so its retry runs again."""
    if not key:
        with transaction.atomic():
            return work()
    digest = request_hash(method, path, body)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    token=token, key=key, request_hash=digest, method=method.upper(), path=path[:500]
                )
        except IntegrityError:
            record = None
        if record is not None:
            result = work()
            record.response_status, record.response_body = result.status, result.content
            record.save(update_fields=["response_status", "response_body"])
            return result
    # Another request with this key committed first (the insert waited for it): replay its response.
    first = IdempotencyRecord.objects.get(token=token, key=key)
    if first.request_hash != digest:
        raise IdempotencyKeyReused(first)
    return ApiResult(first.response_status, first.response_body, replayed=True)


def prune_idempotency_records(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.API_IDEMPOTENCY_KEEP_DAYS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
