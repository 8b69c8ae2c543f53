"""The one path by which an audit event may change: a recorded redaction (docs/audit-redaction.md).

reviews_auditevent keeps refusing DELETE, and UPDATE too, except an UPDATE of `before`/`after` only (every
other column unchanged) of an event listed in an `audit.redact` event that was inserted in the current
transaction and named by `SET LOCAL readiness.redaction = '<its id>'`. `reviews.audit.redact` does all
three in one transaction. Decisions stay strictly append-only.
"""

from django.db import migrations

GUARD = """
CREATE OR REPLACE FUNCTION readiness_auditevent_guard() RETURNS trigger AS $$
DECLARE
    redaction_id bigint;
    redaction_xmin bigint;
    redaction_events jsonb;
    current_xid bigint;
    full_xid bigint;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        BEGIN
            redaction_id := nullif(current_setting('readiness.redaction', true), '')::bigint;
        EXCEPTION WHEN invalid_text_representation THEN
            redaction_id := NULL;
        END;
        IF redaction_id IS NOT NULL AND redaction_id <> OLD.id
           AND NEW.id = OLD.id AND NEW.action = OLD.action AND NEW.at = OLD.at
           AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
           AND NEW.review_id IS NOT DISTINCT FROM OLD.review_id
           AND NEW.object_type = OLD.object_type AND NEW.object_id = OLD.object_id
           AND NEW.object_repr = OLD.object_repr THEN
            SELECT xmin::text::bigint, after -> 'events' INTO redaction_xmin, redaction_events
              FROM reviews_auditevent WHERE id = redaction_id AND action = 'audit.redact';
            IF FOUND AND redaction_events @> to_jsonb(OLD.id) THEN
                -- The redaction event must have been inserted by this very transaction: its xmin, widened
                -- to a full transaction id with the current epoch, is still "in progress" for us.
                -- (A subtransaction's xid is near the top-level one, before or after it: modulo 2^32.)
                current_xid := pg_current_xact_id()::text::bigint;
                full_xid := ((current_xid >> 32) << 32) | redaction_xmin;
                IF full_xid > current_xid + 2147483648 THEN
                    full_xid := full_xid - 4294967296;
                ELSIF full_xid < current_xid - 2147483648 THEN
                    full_xid := full_xid + 4294967296;
                END IF;
                IF full_xid < 0 THEN
                    RAISE EXCEPTION USING MESSAGE = 'audit redaction: no transaction id', ERRCODE = 'insufficient_privilege';
                END IF;
                IF pg_xact_status(full_xid::text::xid8) = 'in progress' THEN
                    RETURN NEW;
                END IF;
            END IF;
        END IF;
    END IF;
    RAISE EXCEPTION USING
        MESSAGE = 'rows of ' || TG_TABLE_NAME || ' are append-only: ' || TG_OP || ' refused',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(GUARD)
    schema_editor.execute("DROP TRIGGER IF EXISTS reviews_auditevent_append_only ON reviews_auditevent")
    schema_editor.execute(
        "CREATE TRIGGER reviews_auditevent_append_only BEFORE UPDATE OR DELETE ON reviews_auditevent "
        "FOR EACH ROW EXECUTE FUNCTION readiness_auditevent_guard()"
    )


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP TRIGGER IF EXISTS reviews_auditevent_append_only ON reviews_auditevent")
    schema_editor.execute(
        "CREATE TRIGGER reviews_auditevent_append_only BEFORE UPDATE OR DELETE ON reviews_auditevent "
        "FOR EACH ROW EXECUTE FUNCTION readiness_refuse_change()"
    )
    schema_editor.execute("DROP FUNCTION IF EXISTS readiness_auditevent_guard()")


class Migration(migrations.Migration):
    dependencies = [("reviews", "0006_installation_auditor")]
    operations = [migrations.RunPython(forward, backward)]
