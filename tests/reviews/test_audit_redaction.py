"""The append-only audit trail has one documented, audited path for redaction (docs/audit-redaction.md):
`reviews.audit.redact` records an `audit.redact` event and changes only the events it names, only their
before/after, only in its own transaction. Everything else is still refused by the database."""

import importlib

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.db.utils import ProgrammingError

from reviews import audit
from reviews.models import AuditEvent

SECRET = "pw-in-the-trail-4411"


def _event(action="probe_target.create", **after) -> AuditEvent:
    return AuditEvent.objects.create(
        action=action, object_type="probes.probetarget", object_id="1", object_repr="t", after=after
    )


def _raw_update(event_id: int, sql: str = "after = '{}'::jsonb") -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE reviews_auditevent SET {sql} WHERE id = %s", [event_id])


@pytest.mark.django_db
def test_without_a_redaction_an_update_or_delete_is_still_refused():
    event = _event(dsn_masked=f"host=db password={SECRET}")
    with pytest.raises(ProgrammingError, match="append-only"):
        _raw_update(event.pk)
    with (
        pytest.raises(ProgrammingError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL readiness.redaction = %s", [str(event.pk)])
        cursor.execute("UPDATE reviews_auditevent SET after = '{}'::jsonb WHERE id = %s", [event.pk])


@pytest.mark.django_db
def test_redact_changes_only_the_named_events_and_records_why(architect):
    leaky, other = _event(dsn_masked=f"host=db password={SECRET}"), _event(name="x")
    redaction = audit.redact(
        changes={leaky.pk: (None, {"dsn_masked": "db:5432/"})},
        keys=["dsn_masked"],
        reason="a password was in the masked DSN",
        actor=architect,
    )
    leaky.refresh_from_db()
    assert leaky.after == {"dsn_masked": "db:5432/"}
    assert redaction.action == "audit.redact" and redaction.actor == architect
    assert redaction.after == {
        "events": [leaky.pk],
        "keys": ["dsn_masked"],
        "reason": "a password was in the masked DSN",
    }
    assert SECRET not in str(list(AuditEvent.objects.values("before", "after")))
    # The setting is cleared after the redaction, and never covered the event it did not name.
    with pytest.raises(ProgrammingError, match="append-only"):
        _raw_update(other.pk)


@pytest.mark.django_db
def test_a_redaction_may_not_touch_other_columns_or_events_it_does_not_name():
    leaky, other = _event(dsn_masked=SECRET), _event(name="x")
    with transaction.atomic(), connection.cursor() as cursor:
        redaction_id = audit.redact_events(
            cursor, changes={leaky.pk: (None, {})}, keys=["dsn_masked"], reason="test"
        )
        cursor.execute("SELECT set_config('readiness.redaction', %s, true)", [str(redaction_id)])
        for sql, event_id in (
            ("action = 'probe_target.delete'", leaky.pk),
            ("object_repr = 'rewritten'", leaky.pk),
            ("after = '{}'::jsonb", other.pk),
            ("after = '{}'::jsonb", redaction_id),
        ):
            with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
                cursor.execute(f"UPDATE reviews_auditevent SET {sql} WHERE id = %s", [event_id])
        with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
            cursor.execute("DELETE FROM reviews_auditevent WHERE id = %s", [leaky.pk])


@pytest.mark.django_db(transaction=True)
def test_an_old_redaction_event_cannot_be_replayed_in_a_later_transaction():
    leaky = _event(dsn_masked=SECRET)
    redaction = audit.redact(changes={leaky.pk: (None, {"dsn_masked": "x"})}, keys=["dsn_masked"], reason="t")
    with (
        pytest.raises(ProgrammingError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL readiness.redaction = %s", [str(redaction.pk)])
        cursor.execute("UPDATE reviews_auditevent SET after = '{}'::jsonb WHERE id = %s", [leaky.pk])
    leaky.refresh_from_db()
    assert leaky.after == {"dsn_masked": "x"}


@pytest.mark.django_db
def test_the_migration_redacts_passwords_already_in_probe_target_events():
    migration = importlib.import_module("probes.migrations.0004_redact_passwords_in_audit_events")
    kv = _event(dsn_masked=f"host=db.internal port=5433 user=app password={SECRET} dbname=shop", name="t")
    url = _event(
        "probe_target.update",
        dsn_masked=f"postgresql://app@db/shop?pass%77ord={SECRET}",
    )
    untouched = _event(dsn_masked="app@db:5432/shop")
    migration.redact(apps, connection.schema_editor())
    kv.refresh_from_db()
    url.refresh_from_db()
    assert kv.after == {"dsn_masked": "app@db.internal:5433/shop", "name": "t"}
    assert url.after == {"dsn_masked": "app@db:5432/shop"}
    redaction = AuditEvent.objects.get(action="audit.redact")
    assert redaction.after["events"] == [kv.pk, url.pk] and redaction.after["keys"] == ["dsn", "dsn_masked"]
    assert SECRET not in str(list(AuditEvent.objects.values("before", "after", "object_repr")))
    untouched.refresh_from_db()
    assert untouched.after == {"dsn_masked": "app@db:5432/shop"}
