"""Passwords already written into the audit trail (a key=value DSN's `password=` was left in `dsn_masked`
of probe_target.* events) are redacted through the audited path (docs/audit-redaction.md): every `dsn` and
`dsn_masked` value of those events becomes user@host:port/dbname, and one `audit.redact` event records
which events and keys changed, and why. Not reversible: the secrets are gone for good.
"""

import psycopg
from django.db import migrations

KEYS = ("dsn", "dsn_masked")
REASON = (
    "Probe target connection strings in these events could hold a password; replaced by "
    "user@host:port/dbname (probe isolation)."
)


def _shown(value) -> str:
    if "=" not in str(value) and "://" not in str(value):
        return value  # already user@host:port/dbname
    try:
        parts = psycopg.conninfo.conninfo_to_dict(str(value or ""))
    except psycopg.Error:
        return "(redacted)"
    p = {k: str(v) for k, v in parts.items() if v not in (None, "")}
    user = f"{p['user']}@" if p.get("user") else ""
    return f"{user}{p.get('host', '')}:{p.get('port', '5432')}/{p.get('dbname', '')}"


def _clean(data):
    """(data with every dsn/dsn_masked value replaced, whether anything changed)."""
    if isinstance(data, dict):
        changed, out = False, {}
        for key, value in data.items():
            if key in KEYS and isinstance(value, str):
                out[key] = _shown(value)
                changed = changed or out[key] != value
            else:
                out[key], sub = _clean(value)
                changed = changed or sub
        return out, changed
    if isinstance(data, list):
        pairs = [_clean(v) for v in data]
        return [v for v, _ in pairs], any(c for _, c in pairs)
    return data, False


def redact(apps, schema_editor):
    from reviews.audit import redact_events

    AuditEvent = apps.get_model("reviews", "AuditEvent")
    changes = {}
    events = AuditEvent.objects.filter(action__startswith="probe_target.").values_list(
        "id", "before", "after"
    )
    for event_id, before, after in events.iterator():
        new_before, before_changed = _clean(before)
        new_after, after_changed = _clean(after)
        if before_changed or after_changed:
            changes[event_id] = (new_before, new_after)
    if changes:
        with schema_editor.connection.cursor() as cursor:
            redact_events(
                cursor, changes=changes, keys=KEYS, reason=REASON, vendor=schema_editor.connection.vendor
            )


class Migration(migrations.Migration):
    dependencies = [
        ("probes", "0003_probe_target_connection_fields"),
        ("reviews", "0007_audit_redaction_path"),
    ]
    operations = [migrations.RunPython(redact, migrations.RunPython.noop)]
