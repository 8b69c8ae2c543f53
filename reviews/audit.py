"""Writing the audit trail: one AuditEvent per state change, inside the change's transaction; and the one
audited path by which an event may be redacted (docs/audit-redaction.md)."""

import json
from collections.abc import Iterable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from .models import AuditEvent, Review


def snapshot(obj: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The named fields of obj as JSON-safe values (foreign keys by id)."""
    data = {}
    for name in fields:
        field = obj._meta.get_field(name)
        value = getattr(obj, field.attname)
        if isinstance(value, FieldFile):
            value = value.name or ""
        data[name] = value
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def record(
    *,
    actor,
    action: str,
    obj: models.Model,
    review: Review | None = None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        review=review,
        before=before,
        after=after,
    )


def redact_events(
    cursor,
    *,
    changes: dict[int, tuple[Any, Any]],
    keys: Iterable[str],
    reason: str,
    actor_id: int | None = None,
    vendor: str = "postgresql",
) -> int | None:
    """The one documented path that changes audit events (docs/audit-redaction.md): replace the
    before/after of the events in `changes` ({id: (before, after)}), on a raw cursor, after recording an
    `audit.redact` event that names them, the keys redacted and why (never the secret). The database
    allows the UPDATEs only in the transaction that inserted that event and named it in
    `readiness.redaction`. Call inside a transaction; returns the redaction event's id (None: nothing
    to do). Used by `redact` and by data migrations (which have no models of their own to call)."""
    if not changes:
        return None
    ids = sorted(changes)
    after = {"events": ids, "keys": sorted(set(keys)), "reason": reason}
    j = "CAST(%s AS jsonb)" if vendor == "postgresql" else "%s"
    cursor.execute(
        "INSERT INTO reviews_auditevent (actor_id, action, object_type, object_id, object_repr, review_id, "
        f"before, after, at) VALUES (%s, 'audit.redact', 'reviews.auditevent', %s, %s, NULL, NULL, {j}, %s) "
        "RETURNING id",
        [
            actor_id,
            str(ids[0])[:60],
            f"{len(ids)} audit event(s) redacted"[:200],
            json.dumps(after),
            timezone.now(),
        ],
    )
    redaction_id = cursor.fetchone()[0]
    if vendor == "postgresql":
        cursor.execute("SELECT set_config('readiness.redaction', %s, true)", [str(redaction_id)])
    for event_id in ids:
        before, after_value = changes[event_id]
        cursor.execute(
            f"UPDATE reviews_auditevent SET before = {j}, after = {j} WHERE id = %s",
            [
                None if before is None else json.dumps(before, cls=DjangoJSONEncoder),
                None if after_value is None else json.dumps(after_value, cls=DjangoJSONEncoder),
                event_id,
            ],
        )
    if vendor == "postgresql":
        cursor.execute("SELECT set_config('readiness.redaction', '', true)")
    return redaction_id


def redact(
    *, changes: dict[int, tuple[Any, Any]], keys: Iterable[str], reason: str, actor=None
) -> AuditEvent | None:
    """Redact audit events in one transaction with its `audit.redact` event (see redact_events)."""
    with transaction.atomic(), connection.cursor() as cursor:
        redaction_id = redact_events(
            cursor,
            changes=changes,
            keys=keys,
            reason=reason,
            actor_id=actor.pk if actor is not None and actor.is_authenticated else None,
            vendor=connection.vendor,
        )
    return AuditEvent.objects.get(pk=redaction_id) if redaction_id else None
