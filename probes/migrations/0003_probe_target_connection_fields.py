"""Probe targets keep their connection as plain fields and the password apart (encrypted): each saved DSN
is decrypted, parsed with libpq's parser and split. Parameters outside the allow-list (options, service,
passfile, ...) are dropped; a DSN no key opens leaves the fields empty (the target must be entered again).
"""

import psycopg
from django.db import migrations, models
from django.db.models import Q

KEPT = ("host", "port", "dbname", "user", "sslmode")
SSL_FILES = ("sslcert", "sslkey", "sslrootcert", "sslcrl", "sslcrldir")


def split_dsns(apps, schema_editor):
    from probes import crypto

    ProbeTarget = apps.get_model("probes", "ProbeTarget")
    for target in ProbeTarget.objects.all():
        try:
            parts = psycopg.conninfo.conninfo_to_dict(crypto.decrypt(target.dsn_encrypted))
        except (crypto.InvalidToken, psycopg.Error, ValueError):
            parts = {}
        parts = {k: str(v) for k, v in parts.items() if v not in (None, "")}
        port = parts.get("port", "5432")
        target.host = parts.get("host", "")[:255]
        target.port = int(port) if port.isdigit() and 1 <= int(port) <= 65535 else 5432
        target.dbname = parts.get("dbname", "")[:63]
        target.db_user = parts.get("user", "")[:63]
        target.sslmode = parts.get("sslmode", "prefer")[:12]
        target.ssl_files = {k: parts[k] for k in SSL_FILES if k in parts}
        target.password_encrypted = crypto.encrypt(parts["password"]) if parts.get("password") else ""
        target.save(
            update_fields=["host", "port", "dbname", "db_user", "sslmode", "ssl_files", "password_encrypted"]
        )


def join_dsns(apps, schema_editor):
    from probes import crypto

    ProbeTarget = apps.get_model("probes", "ProbeTarget")
    for target in ProbeTarget.objects.all():
        parts = {
            "host": target.host,
            "port": target.port,
            "dbname": target.dbname,
            "user": target.db_user,
            "sslmode": target.sslmode,
            **target.ssl_files,
        }
        if target.password_encrypted:
            try:
                parts["password"] = crypto.decrypt(target.password_encrypted)
            except crypto.InvalidToken:
                pass
        dsn = psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in parts.items() if v})
        target.dsn_encrypted = crypto.encrypt(dsn)
        target.dsn_masked = f"{target.db_user}@{target.host}:{target.port}/{target.dbname}"
        target.save(update_fields=["dsn_encrypted", "dsn_masked"])


class Migration(migrations.Migration):
    dependencies = [("probes", "0002_probe_target_schedule")]

    operations = [
        migrations.AddField("probetarget", "host", models.CharField(blank=True, max_length=255)),
        migrations.AddField("probetarget", "port", models.PositiveIntegerField(default=5432)),
        migrations.AddField("probetarget", "dbname", models.CharField(blank=True, max_length=63)),
        migrations.AddField(
            "probetarget", "db_user", models.CharField(blank=True, max_length=63, verbose_name="user")
        ),
        migrations.AddField("probetarget", "sslmode", models.CharField(default="prefer", max_length=12)),
        migrations.AddField("probetarget", "ssl_files", models.JSONField(blank=True, default=dict)),
        migrations.AddField(
            "probetarget", "password_encrypted", models.TextField(blank=True, default="", editable=False)
        ),
        migrations.AddField("probetarget", "test_requested_at", models.DateTimeField(blank=True, null=True)),
        # The old columns may be empty while the reverse step fills them.
        migrations.AlterField("probetarget", "dsn_encrypted", models.TextField(blank=True, editable=False)),
        migrations.AlterField(
            "probetarget", "dsn_masked", models.CharField(blank=True, editable=False, max_length=500)
        ),
        migrations.RemoveConstraint("probetarget", "probe_target_dsn_required"),
        migrations.RunPython(split_dsns, join_dsns),
        migrations.RemoveField("probetarget", "dsn_encrypted"),
        migrations.RemoveField("probetarget", "dsn_masked"),
        migrations.AddConstraint(
            "probetarget",
            models.CheckConstraint(
                condition=Q(port__gte=1) & Q(port__lte=65535), name="probe_target_port_valid"
            ),
        ),
    ]
