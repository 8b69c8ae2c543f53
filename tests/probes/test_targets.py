"""Probe targets: the connection split into plain fields, the password encrypted at rest and never shown
again, key rotation, test connection.

Also home of the fixtures the other probe test modules import: a real target database on the test
server (created with psycopg, dropped at the end) and a registered target pointing at it.
"""

import json
import uuid

import psycopg
import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse
from psycopg import sql

from probes import crypto, services
from probes.models import ProbeTarget
from reviews.models import AuditEvent
from reviews.services import ServiceError

from .conftest import PROBE_USER

PASSWORD = "Sup3r-S3cret-pw-7731"


def server() -> dict:
    db = settings.DATABASES["default"]
    return {
        "host": db["HOST"] or "127.0.0.1",
        "port": db["PORT"] or "5432",
        "user": db["USER"] or "postgres",
        "password": db["PASSWORD"],
    }


def admin_connect(dbname: str = "postgres") -> psycopg.Connection:
    s = server()
    return psycopg.connect(
        host=s["host"], port=s["port"], user=s["user"], password=s["password"], dbname=dbname, autocommit=True
    )


def dsn_for(dbname: str, *, password: str = PASSWORD, port: str | None = None) -> str:
    """A URL with a password, as the least-privilege probe role; the test server trusts local
    connections, so any password connects."""
    s = server()
    return f"postgresql://{PROBE_USER}:{password}@{s['host']}:{port or s['port']}/{dbname}"


@pytest.fixture(scope="session")
def target_db():
    """A small database to probe, with a planted table without a primary key."""
    name = f"readiness_probe_target_{uuid.uuid4().hex[:10]}"
    with admin_connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with admin_connect(name) as conn:
            conn.execute("CREATE TABLE planted_no_pk (id integer, note text)")
            conn.execute("CREATE TABLE ledger_entry (id bigint PRIMARY KEY, amount_minor bigint NOT NULL)")
            conn.execute("INSERT INTO ledger_entry VALUES (1, 100), (2, -100)")
        yield name
    finally:
        with admin_connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def make_target(system, architect):
    def make(name: str = "production primary", dsn: str | None = None, db: str | None = None, **kwargs):
        return services.create_target(
            system=system, name=name, dsn=dsn or dsn_for(db or "postgres"), actor=architect, **kwargs
        )

    return make


@pytest.fixture
def target(make_target, target_db):
    return make_target(db=target_db)


# --- Encryption at rest


@pytest.mark.django_db
def test_the_password_is_encrypted_at_rest_apart_from_the_plain_connection_fields(target, target_db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(t)::text FROM probes_probetarget t WHERE id = %s", [target.pk])
        (raw_row,) = cursor.fetchone()
    assert PASSWORD not in raw_row
    fields = (target.host, target.port, target.dbname, target.db_user)
    assert fields == ("127.0.0.1", 5432, target_db, PROBE_USER)
    assert target.connection == f"{PROBE_USER}@127.0.0.1:5432/{target_db}"
    assert crypto.decrypt(target.password_encrypted) == PASSWORD
    # Not in the audit trail either.
    trail = json.dumps(list(AuditEvent.objects.values("before", "after", "object_repr")))
    assert PASSWORD not in trail


@pytest.mark.django_db
def test_pages_show_the_connection_never_the_password(client, architect, target):
    client.force_login(architect)
    for url in (
        reverse("probe_target_detail", args=[target.pk]),
        reverse("probe_target_edit", args=[target.pk]),
        reverse("probe_targets", args=[target.system.slug]),
        target.system.get_absolute_url(),
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        assert PASSWORD not in page.content.decode(), url
    edit = client.get(reverse("probe_target_edit", args=[target.pk])).content.decode()
    assert target.connection in edit
    assert 'name="dsn" ' in edit and 'type="password"' in edit


@pytest.mark.django_db
def test_editing_without_a_new_dsn_keeps_the_saved_one_and_a_new_one_replaces_it(
    target, architect, target_db
):
    services.update_target(target=target, name="primary", environment="staging", actor=architect, dsn="")
    target.refresh_from_db()
    assert (target.name, target.environment, crypto.decrypt(target.password_encrypted)) == (
        "primary",
        "staging",
        PASSWORD,
    )
    services.update_target(
        target=target,
        name="primary",
        environment="staging",
        actor=architect,
        dsn=f"host=127.0.0.1 port=5432 dbname=postgres user={PROBE_USER} password=other",
    )
    target.refresh_from_db()
    assert crypto.decrypt(target.password_encrypted) == "other"
    assert target.dbname == "postgres"
    assert target.last_test_at is None and target.test_pending


@pytest.mark.django_db
@pytest.mark.parametrize(
    "dsn", ["", "   ", "not a dsn", "postgresql://u:p@h:port/db", "postgresql://u:p@127.0.0.1:5432"]
)
def test_a_malformed_dsn_is_refused_without_echoing_it(make_target, dsn):
    with pytest.raises(ServiceError) as err:
        make_target(dsn=dsn or " ")
    assert "dsn" in err.value.error_dict
    assert all("u:p" not in m for m in err.value.messages)


@pytest.mark.django_db
def test_unknown_probe_settings_are_refused(make_target):
    with pytest.raises(ServiceError) as err:
        make_target(params={"no.such-probe": {"x": 1}})
    assert "no.such-probe" in " ".join(err.value.messages)


# --- Key rotation


@pytest.mark.django_db
def test_rotation_re_encrypts_with_the_new_first_key_and_old_tokens_decrypt_until_then(settings, make_target):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.PROBE_ENCRYPTION_KEYS = [old]
    target = make_target(dsn=dsn_for("postgres"))
    token_before = target.password_encrypted
    Fernet(old.encode()).decrypt(token_before.encode())  # encrypted with the first key

    settings.PROBE_ENCRYPTION_KEYS = [new, old]
    assert PASSWORD in crypto.decrypt(token_before)  # the old ciphertext still decrypts before rotation
    call_command("rotate_probe_secrets")
    target.refresh_from_db()
    assert target.password_encrypted != token_before
    assert PASSWORD in Fernet(new.encode()).decrypt(target.password_encrypted.encode()).decode()
    with pytest.raises(InvalidToken):
        Fernet(old.encode()).decrypt(target.password_encrypted.encode())

    settings.PROBE_ENCRYPTION_KEYS = [new]  # the old key can go now
    assert PASSWORD in crypto.decrypt(target.password_encrypted)


@pytest.mark.django_db
def test_rotation_moves_quick_start_secrets_from_the_derived_key_to_a_real_key(settings, make_target):
    settings.PROBE_ENCRYPTION_KEYS = []
    target = make_target()
    key = Fernet.generate_key().decode()
    settings.PROBE_ENCRYPTION_KEYS = [key]
    call_command("rotate_probe_secrets")
    target.refresh_from_db()
    assert PASSWORD in Fernet(key.encode()).decrypt(target.password_encrypted.encode()).decode()


@pytest.mark.django_db
def test_rotation_names_targets_no_key_opens_and_prints_no_secret(settings, make_target, capsys):
    settings.PROBE_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    target = make_target()
    settings.PROBE_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError) as err:
        call_command("rotate_probe_secrets")
    assert f"#{target.pk}" in str(err.value)
    assert PASSWORD not in str(err.value) + capsys.readouterr().out


def test_the_rotation_command_documents_how_to_rotate():
    from probes.management.commands.rotate_probe_secrets import Command

    assert "first" in Command.help.lower() and "PROBE_ENCRYPTION_KEYS" in Command.help


def test_a_malformed_key_is_a_configuration_error_that_does_not_echo_it(settings):
    settings.PROBE_ENCRYPTION_KEYS = ["not-a-fernet-key-but-a-secret"]
    with pytest.raises(ImproperlyConfigured) as err:
        crypto.encrypt("x")
    assert "not-a-fernet-key-but-a-secret" not in str(err.value)


# --- Test connection


@pytest.mark.django_db
def test_test_connection_reports_version_privileges_and_extensions(target, member):
    result = services.test_connection(target=target, actor=member)
    assert result["ok"] is True, result
    assert result["server_version"]
    assert result["current_user"] == PROBE_USER and result["is_superuser"] is False
    assert "is_superuser" in result
    assert isinstance(result["extensions"], list)
    target.refresh_from_db()
    assert target.last_test_ok is True and target.last_test_result["server_version"]
    assert PASSWORD not in json.dumps(target.last_test_result)


@pytest.mark.django_db
def test_test_connection_says_the_host_is_unreachable(make_target, member):
    target = make_target(dsn=dsn_for("postgres", port="1"))
    result = services.test_connection(target=target, actor=member)
    assert result["ok"] is False
    assert result["error"].startswith("Unreachable host")
    assert PASSWORD not in json.dumps(result)


@pytest.mark.django_db
def test_test_connection_says_the_credentials_are_bad(make_target, member, target_db):
    s = server()
    target = make_target(dsn=f"postgresql://no_such_role_x:{PASSWORD}@{s['host']}:{s['port']}/{target_db}")
    target.refresh_from_db()
    result = services.test_connection(target=target, actor=member)
    assert result["ok"] is False
    assert result["error"].startswith("Bad credentials")
    assert PASSWORD not in json.dumps(result)


@pytest.mark.django_db
def test_an_auditor_cannot_add_or_test_targets(system, auditor, target):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.create_target(system=system, name="x", dsn=dsn_for("postgres"), actor=auditor)
    with pytest.raises(PermissionDenied):
        services.test_connection(target=target, actor=auditor)
    with pytest.raises(PermissionDenied):
        services.request_connection_test(target=target, actor=auditor)
    assert ProbeTarget.objects.count() == 1


@pytest.mark.django_db
def test_a_member_runs_and_tests_but_cannot_register_or_edit_targets_or_checks(system, member, target):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.create_target(system=system, name="x", dsn=dsn_for("postgres"), actor=member)
    with pytest.raises(PermissionDenied):
        services.update_target(target=target, name="x", environment="staging", actor=member)
    with pytest.raises(PermissionDenied):
        services.add_invariant_check(target=target, name="n", sql="select 1 where false", actor=member)
    services.request_connection_test(target=target, actor=member)
    assert services.start_probe_run(target=target, actor=member).pk


@pytest.mark.django_db
def test_asking_for_a_connection_test_queues_it_on_the_worker_and_the_page_polls_until_it_is_in(
    client, member, target, django_capture_on_commit_callbacks
):
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        pending = client.post(reverse("probe_target_test", args=[target.pk]), headers={"HX-Request": "true"})
    assert pending.status_code == 200 and len(callbacks) == 1
    assert "Testing" in pending.content.decode()
    assert reverse("probe_target_test_status", args=[target.pk]) in pending.content.decode()
    target.refresh_from_db()
    assert target.test_pending and target.last_test_at is None
    status = client.get(reverse("probe_target_test_status", args=[target.pk]), headers={"HX-Request": "true"})
    assert status.status_code == 200  # still pending: htmx keeps polling
    callbacks[0]()  # the worker's turn (in-process here, as in the quick start)
    done = client.get(reverse("probe_target_test_status", args=[target.pk]), headers={"HX-Request": "true"})
    assert done.status_code == 286 and "Connected" in done.content.decode()
    assert PASSWORD not in done.content.decode()


def test_the_migration_splits_each_saved_dsn_and_keeps_the_password_apart():
    import importlib
    from types import SimpleNamespace

    migration = importlib.import_module("probes.migrations.0003_probe_target_connection_fields")
    saved = []

    class Row(SimpleNamespace):
        def save(self, update_fields):
            saved.append(self)

    rows = [
        Row(
            dsn_encrypted=crypto.encrypt(
                f"host=db.internal port=5433 dbname=shop user=app password={PASSWORD}"
            )
        ),
        Row(dsn_encrypted=crypto.encrypt("postgresql://app@db/shop?options=-c%20x%3Dy&sslmode=require")),
        Row(dsn_encrypted="not-a-token"),
    ]
    model = SimpleNamespace(objects=SimpleNamespace(all=lambda: rows))
    migration.split_dsns(SimpleNamespace(get_model=lambda app, name: model), None)
    kv, url, unreadable = saved
    assert (kv.host, kv.port, kv.dbname, kv.db_user, kv.sslmode) == (
        "db.internal",
        5433,
        "shop",
        "app",
        "prefer",
    )
    assert crypto.decrypt(kv.password_encrypted) == PASSWORD
    assert (url.host, url.port, url.sslmode, url.password_encrypted) == ("db", 5432, "require", "")
    assert "options" not in vars(url) and url.ssl_files == {}
    assert (unreadable.host, unreadable.password_encrypted) == ("", "")


def test_a_target_with_runs_stays_on_its_database(target, architect):
    """Pointed at another (clean) database, its runs would resolve what the first one still has."""
    from probes.models import ProbeRun, RunState

    ProbeRun.objects.create(target=target, started_by=architect, state=RunState.DONE)
    with pytest.raises(ServiceError, match="stays on its database"):
        services.update_target(
            target=target,
            name=target.name,
            environment=target.environment,
            actor=architect,
            dsn=f"postgresql://probe:pw@{target.host}:{target.port}/another_db",
        )
    target.refresh_from_db()
    assert target.dbname != "another_db"
    # the same database with another password is fine
    services.update_target(
        target=target,
        name=target.name,
        environment=target.environment,
        actor=architect,
        dsn=f"postgresql://{target.db_user}:new-pw@{target.host}:{target.port}/{target.dbname}",
    )
