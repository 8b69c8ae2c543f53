"""The attacks of the outside security test on probe connections, replayed on the real PostgreSQL: each is
refused with a clear message, nothing runs on the target, and no secret reaches a page, the API, the
audit trail, its CSV, a run's error or the log.

The test server is local and trusts every login, so the suite's settings allow 127.0.0.1:5432 and turn
require_auth off (readiness/settings_test.py); these tests put the production defaults back where they
show a refusal.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from urllib.parse import quote

import psycopg
import pytest
from django.urls import reverse
from psycopg import sql

from api import services as api_services
from probes import engine, services
from probes.engine import ProbeRefused, server_info
from probes.models import ProbeRun, ProbeTarget, RunState
from reviews.models import AuditEvent
from reviews.services import ServiceError

from .conftest import PROBE_PASSWORD, PROBE_USER, connect, dsn
from .test_targets import PASSWORD, dsn_for

APP_DB = "readiness_conn"  # any database name: the point is the host and the login


# --- 1. Any host: unix sockets, loopback, the app's own server, unlisted hosts, names resolving there


@pytest.mark.parametrize(
    "attack",
    [
        f"host=/var/run/postgresql dbname={APP_DB} user=postgres",
        f"postgresql://postgres@%2Fvar%2Frun%2Fpostgresql/{APP_DB}",
        f"host=@abstract dbname={APP_DB} user=postgres",
    ],
)
@pytest.mark.django_db
def test_a_unix_socket_target_is_refused_at_registration_and_at_connect(attack, system, architect):
    with pytest.raises(ServiceError) as refused:
        services.create_target(system=system, name="sock", dsn=attack, actor=architect)
    assert "unix socket" in " ".join(refused.value.messages)
    assert "PROBE_ALLOWED_HOSTS" in " ".join(refused.value.messages)
    with pytest.raises(ProbeRefused, match="unix socket"):
        server_info(attack)
    assert not ProbeTarget.objects.exists()


@pytest.mark.django_db
def test_loopback_and_the_apps_own_server_need_an_explicit_address_entry(settings, system, architect):
    settings.PROBE_ALLOWED_HOSTS = ["localhost", "127.0.0.1.nip.invalid", "10.0.0.0/8"]
    with pytest.raises(ProbeRefused) as own:
        server_info(dsn(APP_DB, "postgres"))  # 127.0.0.1:5432 is where Readiness keeps its data
    assert "the Readiness database server itself" in own.value.headline
    assert "PROBE_ALLOWED_HOSTS" in own.value.hint
    with pytest.raises(ProbeRefused) as loopback:
        server_info(f"host=localhost port=5432 dbname={APP_DB} user=postgres")
    assert "not allowed" in loopback.value.headline  # a name entry never allows a loopback address
    with pytest.raises(ServiceError):
        services.create_target(system=system, name="own", dsn=dsn(APP_DB, "postgres"), actor=architect)


@pytest.mark.django_db
def test_nothing_is_allowed_by_default_and_an_unlisted_host_is_refused(settings, system, architect):
    settings.PROBE_ALLOWED_HOSTS = []
    with pytest.raises(ProbeRefused, match="not an allowed probe host"):
        server_info(dsn_for("postgres"))
    settings.PROBE_ALLOWED_HOSTS = ["10.0.0.0/8", "db.internal:5432"]
    with pytest.raises(ServiceError) as refused:
        services.create_target(
            system=system, name="scan", dsn="postgresql://x:y@192.0.2.10:22/db", actor=architect
        )
    assert "192.0.2.10:22 is not allowed" in " ".join(refused.value.messages)


@pytest.mark.django_db
def test_a_port_not_listed_is_refused_before_any_connection(settings):
    settings.PROBE_ALLOWED_HOSTS = ["127.0.0.1:5432"]
    with pytest.raises(ProbeRefused, match="not an allowed probe host"):
        server_info(dsn("postgres", port=22))  # no "refused vs timeout vs banner" for a port scan


@pytest.mark.django_db
def test_a_name_resolving_to_a_refused_address_is_refused_at_every_connect(
    settings, monkeypatch, system, architect
):
    """Registered while db.internal resolved to an allowed address; at run time it resolves to loopback
    (DNS rebinding): the engine resolves again, refuses, and never connects."""
    settings.PROBE_ALLOWED_HOSTS = ["db.internal:5432"]
    real = socket.getaddrinfo
    answer = {"db.internal": "192.0.2.10"}

    def fake(host, port, *args, **kwargs):
        if host in answer:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    target = services.create_target(
        system=system,
        name="rebind",
        dsn=f"postgresql://{PROBE_USER}:{PASSWORD}@db.internal/x",
        actor=architect,
    )
    answer["db.internal"] = "127.0.0.1"
    result = services.test_connection(target=target, actor=architect)
    assert result["ok"] is False and "not allowed" in result["error"] and "127.0.0.1" in result["error"]
    assert PASSWORD not in json.dumps(result)


def test_the_checked_address_is_the_one_connected_to(settings):
    params = engine.libpq_params(dsn_for("postgres"), 5)
    assert params["host"] == "127.0.0.1" and params["hostaddr"] == "127.0.0.1"


@pytest.mark.parametrize(
    "attack", ["host=a,b port=5432 dbname=x user=y", "postgresql://y@127.0.0.1:5432,127.0.0.1:5433/x"]
)
def test_several_hosts_are_refused(attack):
    with pytest.raises(ProbeRefused, match="several hosts"):
        server_info(attack)


# --- 2. Never the worker's own credentials


@pytest.mark.parametrize(
    ("attack", "key"),
    [
        ("options='-c default_transaction_read_only=off'", "options"),
        ("service=readiness", "service"),
        ("passfile=/root/.pgpass", "passfile"),
        ("sslpassword=x", "sslpassword"),
        ("hostaddr=127.0.0.1", "hostaddr"),
        ("target_session_attrs=read-write", "target_session_attrs"),
        ("krbsrvname=postgres", "krbsrvname"),
    ],
)
@pytest.mark.django_db
def test_parameters_outside_the_allow_list_are_refused_by_name(attack, key, system, architect):
    typed = f"host=127.0.0.1 port=5432 dbname=postgres user={PROBE_USER} password={PASSWORD} {attack}"
    with pytest.raises(ServiceError) as refused:
        services.create_target(system=system, name="opts", dsn=typed, actor=architect)
    message = " ".join(refused.value.messages)
    assert f"Connection parameter not allowed: {key}." in message and PASSWORD not in message
    with pytest.raises(ProbeRefused, match=key):
        server_info(typed)
    name, value = attack.split("=", 1)
    url = f"postgresql://{PROBE_USER}:{PASSWORD}@127.0.0.1:5432/postgres?{name}={quote(value.strip(chr(39)))}"
    with pytest.raises(ProbeRefused, match=key):
        server_info(url)


def test_ssl_files_outside_the_admins_directory_are_refused(settings, tmp_path):
    settings.PROBE_SSL_DIR = ""
    with pytest.raises(ProbeRefused, match="sslkey"):
        engine.libpq_params(dsn_for("postgres") + "?sslkey=/home/worker/.postgresql/postgresql.key", 5)
    settings.PROBE_SSL_DIR = str(tmp_path)
    with pytest.raises(ProbeRefused, match="sslcert"):
        engine.libpq_params(dsn_for("postgres") + "?sslcert=../../etc/passwd", 5)
    params = engine.libpq_params(dsn_for("postgres") + "?sslrootcert=team/ca.crt", 5)
    assert params["sslrootcert"] == str(tmp_path / "team" / "ca.crt")
    assert params["sslcert"] == params["sslkey"] == params["sslcrl"] == engine.NO_FILE


def test_the_workers_pg_variables_pgpass_and_service_files_are_never_used(monkeypatch, tmp_path, env):
    """PG* variables, ~/.pgpass, PGPASSFILE and a service file of the worker, all set: the engine's
    connection uses none of them (the trust server lets any password in, so what libpq sent is read back
    from the connection itself)."""
    pgpass = tmp_path / ".pgpass"
    pgpass.write_text("*:*:*:*:pgpass-secret-from-the-worker\n")
    pgpass.chmod(0o600)
    (tmp_path / ".pg_service.conf").write_text("[readiness]\nhost=/var/run/postgresql\nuser=postgres\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    for name, value in {
        "PGPASSWORD": "env-secret-from-the-worker",
        "PGPASSFILE": str(pgpass),
        "PGOPTIONS": "-c default_transaction_read_only=off",
        "PGSERVICE": "readiness",
        "PGSERVICEFILE": str(tmp_path / ".pg_service.conf"),
        "PGUSER": "postgres",
        "PGSSLMODE": "disable",
    }.items():
        monkeypatch.setenv(name, value)
    conn = engine._connect(f"host=127.0.0.1 port=5432 dbname={env.clean} user={PROBE_USER}", 5)
    try:
        assert conn.info.user == PROBE_USER
        assert conn.info.password == ""  # neither PGPASSWORD nor ~/.pgpass
        sent = conn.info.get_parameters()
        assert "options" in sent and "read_only=on" in sent["options"]
        assert conn.execute("show default_transaction_read_only").fetchone()[0] == "on"
        assert conn.pgconn.info  # every parameter libpq used, with its value
        used = {i.keyword.decode(): (i.val or b"").decode() for i in conn.pgconn.info}
        assert used["passfile"] == engine.NO_FILE and used["gssencmode"] == "disable"
        assert used["sslcert"] == used["sslkey"] == used["sslrootcert"] == engine.NO_FILE
        assert used["service"] == "" and used["password"] == ""
    finally:
        conn.close()
    assert not [n for n in os.environ if n.startswith("PG")]


def test_the_app_process_starts_without_pg_variables():
    # readiness/settings.py removed them when the test settings were loaded.
    assert not [n for n in os.environ if n.startswith("PG")]


@pytest.mark.skipif(psycopg.pq.version() < 160000, reason="require_auth needs libpq 16")
def test_a_trust_or_peer_login_is_refused_by_the_client(settings, env):
    settings.PROBE_REQUIRE_AUTH = "scram-sha-256,md5,password"  # the production default
    with pytest.raises(engine.ProbeConnectionError) as refused:
        server_info(env.dsn(env.clean))
    assert "authentication method requirement" in str(refused.value)
    assert PROBE_PASSWORD not in str(refused.value)


# --- 3. A least-privilege role, checked before anything runs


def _make_role(env, name: str, grant: str = "") -> str:
    role = f"{name}_{env.suffix}"
    with connect() as admin:
        admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))
        admin.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
        if grant:
            admin.execute(sql.SQL(grant).format(role=sql.Identifier(role)))
    return role


def _drop_role(role: str) -> None:
    with connect() as admin:
        admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


def test_a_superuser_is_refused_with_the_statements_for_a_right_role(env):
    with pytest.raises(ProbeRefused) as refused:
        server_info(env.dsn(env.clean, "postgres"))
    assert "superuser" in refused.value.headline and "Nothing was run" in refused.value.headline
    assert "CREATE ROLE readiness_probe LOGIN" in refused.value.hint
    assert "GRANT pg_monitor TO readiness_probe" in refused.value.hint
    assert "GRANT pg_read_all_data TO readiness_probe" in refused.value.hint
    with pytest.raises(ProbeRefused, match="superuser"):
        engine.run_probes(env.dsn(env.planted, env.su), only=["schema"])


def test_a_role_that_owns_or_may_write_tables_is_refused(env):
    with pytest.raises(ProbeRefused) as owner:
        server_info(env.dsn(env.planted, env.app))
    assert "app.accounts" in owner.value.headline and "public.audit_log" in owner.value.headline
    with pytest.raises(ProbeRefused) as writer:  # INSERT on audit_log, UPDATE on orders: owns nothing
        server_info(env.dsn(env.clean, env.clean_app))
    assert "public.audit_log" in writer.value.headline and "public.orders" in writer.value.headline


@pytest.mark.parametrize(
    "power",
    ["pg_signal_backend", "pg_read_server_files", "pg_write_server_files", "pg_execute_server_program"],
)
def test_a_member_of_a_powerful_role_is_refused(env, power):
    role = _make_role(env, "rp_power", f"grant pg_monitor, {power} to {{role}}")
    try:
        with pytest.raises(ProbeRefused) as refused:
            server_info(env.dsn(env.clean, role))
        assert f"member of {power}" in refused.value.headline
    finally:
        _drop_role(role)


def test_a_role_owning_the_database_is_refused(env):
    role = _make_role(env, "rp_dbowner")
    try:
        with connect() as admin:
            admin.execute(
                sql.SQL("alter database {} owner to {}").format(
                    sql.Identifier(env.clean), sql.Identifier(role)
                )
            )
        with pytest.raises(ProbeRefused, match="owns the database"):
            server_info(env.dsn(env.clean, role))
    finally:
        with connect() as admin:
            admin.execute(sql.SQL("alter database {} owner to postgres").format(sql.Identifier(env.clean)))
        _drop_role(role)


def test_the_least_privilege_role_passes(env):
    conn = engine._connect(env.dsn(env.planted), 5)
    try:
        assert engine.role_problems(conn) == []
    finally:
        conn.close()


@pytest.mark.django_db
def test_a_run_as_a_refused_role_fails_with_the_reason_and_runs_nothing(
    env, system, architect, member, django_capture_on_commit_callbacks
):
    target = services.create_target(
        system=system,
        name="su",
        dsn=f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/{env.clean}",
        actor=architect,
    )
    services.add_invariant_check(
        target=target, name="sessions", sql="select 1 as x from pg_stat_activity", actor=architect
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = services.start_probe_run(target=target, actor=member)
    run.refresh_from_db()
    assert run.state == RunState.FAILED and not run.results.exists()
    assert "superuser" in run.error and "CREATE ROLE readiness_probe" in run.error
    assert PASSWORD not in run.error


# --- Who may point the worker at a database


@pytest.mark.django_db
def test_a_member_may_not_register_or_edit_a_target_but_runs_probes(
    client, member, system, architect, django_capture_on_commit_callbacks
):
    target = services.create_target(system=system, name="t", dsn=dsn_for("postgres"), actor=architect)
    client.force_login(member)
    created = client.post(
        reverse("probe_target_create", args=[system.slug]),
        {"name": "mine", "environment": "production", "dsn": f"host=/var/run/postgresql dbname={APP_DB}"},
    )
    assert created.status_code == 403
    edited = client.post(
        reverse("probe_target_edit", args=[target.pk]),
        {"name": "t", "environment": "production", "dsn": f"host=/var/run/postgresql dbname={APP_DB}"},
    )
    assert edited.status_code == 403
    with django_capture_on_commit_callbacks(execute=False):
        started = client.post(reverse("probe_run_start", args=[target.pk]))
    assert started.status_code == 302 and ProbeRun.objects.filter(target=target).count() == 1
    assert ProbeTarget.objects.count() == 1


# --- 5. Secrets never leave the vault


@pytest.mark.django_db
def test_the_password_is_nowhere_but_the_vault(
    client, env, system, team, architect, member, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    secret = "Vault-Only-pw-93@x"
    typed = f"host=127.0.0.1 port=5432 dbname={env.clean} user=postgres password='{secret}'"
    with django_capture_on_commit_callbacks(execute=True):  # the registration test runs on the worker
        target = services.create_target(system=system, name="leaky", dsn=typed, actor=architect)
    with django_capture_on_commit_callbacks(execute=True):
        services.update_target(
            target=target,
            name="leaky",
            environment="staging",
            actor=architect,
            dsn=typed.replace("5432", "1"),
        )
    target.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        run = services.start_probe_run(target=target, actor=member)
    run.refresh_from_db()
    assert run.state == RunState.FAILED

    client.force_login(architect)
    seen = [run.error, json.dumps(target.last_test_result), caplog.text]
    for url in (
        reverse("probe_target_detail", args=[target.pk]),
        reverse("probe_target_edit", args=[target.pk]),
        reverse("probe_targets", args=[system.slug]),
        reverse("probe_run_detail", args=[run.pk]),
        reverse("probe_target_test_status", args=[target.pk]),
        reverse("audit_trail_csv"),
    ):
        response = client.get(url)
        assert response.status_code in (200, 286), url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        seen.append(body.decode())
    seen.append(json.dumps(list(AuditEvent.objects.values("before", "after", "object_repr"))))
    _token, bearer = api_services.create_token(
        team=team, actor=architect, name="attack", scopes=["read", "run:probes"]
    )
    seen.append(
        client.get("/api/probe-targets", headers={"Authorization": f"Bearer {bearer}"}).content.decode()
    )
    everything = "\n".join(seen)
    assert secret not in everything
    assert "Vault-Only-pw-93" not in everything and "Vault-Only-pw-93%40x" not in everything
    assert f"postgres@127.0.0.1:1/{env.clean}" in everything  # what may be shown is shown
