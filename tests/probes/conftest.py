"""Target databases for the probe tests: one with planted problems, a clean twin, the roles they need, and
real concurrent sessions (a deadlock, a long idle transaction, a session blocked behind it).

Everything is created on the real PostgreSQL at 127.0.0.1:5432 (trust auth, superuser postgres) under
unique names and dropped at the end of the session. These tests do not use Django's test database.

Probes connect as PROBE_USER, a least-privilege role (login, password, pg_monitor, pg_read_all_data),
as the engine requires; the superuser and the planted application roles are refused as probe roles.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from dataclasses import dataclass, field

import psycopg
import pytest
from psycopg import sql

from probes.engine import run_probes
from probes.registry import Result

HOST = os.environ.get("PROBE_TEST_HOST", "127.0.0.1")
PORT = int(os.environ.get("PROBE_TEST_PORT", "5432"))
ADMIN_USER = os.environ.get("PROBE_TEST_ADMIN", "postgres")
# One per test process: helpers and CI jobs share the server.
PROBE_USER = f"rp_probe_{os.getpid()}"
PROBE_PASSWORD = "Probe-Pw-5512-not-a-real-secret"

# Time thresholds are lowered for the planted sessions, which are seconds old, not minutes; the clean
# twin is probed with the same low thresholds to show it still passes.
ACTIVITY_PARAMS = {
    "transaction.long-transactions": {"warn_seconds": 1},
    "transaction.idle-in-transaction": {"warn_seconds": 1},
    "transaction.blocked-sessions": {"warn_seconds": 0.5},
}


def dsn(db: str, user: str = ADMIN_USER, password: str | None = None, port: int = PORT) -> str:
    secret = f":{password}" if password else ""
    return f"postgres://{user}{secret}@{HOST}:{port}/{db}"


def connect(db: str = "postgres", user: str = ADMIN_USER, autocommit: bool = True) -> psycopg.Connection:
    return psycopg.connect(dsn(db, user), autocommit=autocommit)


@dataclass
class Env:
    suffix: str
    planted: str
    clean: str
    app: str  # planted: LOGIN BYPASSRLS CONNECTION LIMIT 2, owns schema app, may rewrite audit_log
    su: str  # planted: LOGIN SUPERUSER, named as an application role
    clean_app: str  # clean: LOGIN, owns nothing, INSERT/SELECT on audit_log
    monitor: str  # LOGIN, member of pg_monitor, nothing else
    nologin: str  # NOLOGIN, to be refused at login
    probe: str = PROBE_USER  # LOGIN, pg_monitor + pg_read_all_data: what the probes connect as
    pids: dict[str, int] = field(default_factory=dict)

    def dsn(self, db: str, user: str = PROBE_USER) -> str:
        return dsn(db, user, PROBE_PASSWORD if user == PROBE_USER else None)

    @property
    def planted_params(self) -> dict[str, dict]:
        return {
            "*": {"app_roles": [self.app, self.su]},
            **ACTIVITY_PARAMS,
            # Wraparound cannot be planted (it takes 10^9 transactions): the threshold is lowered instead.
            "capacity.xid-wraparound": {"warn_age": 1},
        }

    @property
    def clean_params(self) -> dict[str, dict]:
        return {"*": {"app_roles": [self.clean_app]}, **ACTIVITY_PARAMS}


def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(name)


PLANTED_SQL = """
grant create on schema public to public;
create schema app authorization {app};
create table app.accounts (id int primary key, tenant_id int not null, balance numeric(12, 2) not null);
alter table app.accounts owner to {app};
insert into app.accounts values (1, 1, 10), (2, 1, 20);

create table no_pk_table (name text, created_at timestamptz);
insert into no_pk_table values ('a', now());
create table customers (id bigint primary key, email text, phone text);
insert into customers values (1, 'a@example.org', '1'), (2, 'b@example.org', '2');
create table orders (id bigint primary key, customer_id bigint references customers (id), status varchar(50),
                     created_at timestamp, total numeric(12, 2));
create index orders_created_a on orders (created_at);
create index orders_created_b on orders (created_at);
alter table orders add constraint orders_total_positive check (total >= 0) not valid;
create table payments (id bigint primary key, order_id bigint, amount double precision, fee real,
                       idempotency_key text);
create index payments_order on payments (order_id);
create index payments_order_amount on payments (order_id, amount);
create table invoices (id bigint primary key, tenant_id int not null, amount numeric(12, 2));
create table documents (id bigint primary key, org_id int not null, body text);
alter table documents enable row level security;
create policy documents_tenant on documents using (org_id = current_setting('app.org_id', true)::int);
create table audit_log (id bigint primary key, actor text, action text, at timestamptz);
grant select, insert, update, delete on audit_log to {app};
create table dup_values (v int);
insert into dup_values values (1), (1);
create sequence small_seq as smallint;
select setval('small_seq', 32000);
create table int_ids (id int generated by default as identity primary key, note text);
select setval(pg_get_serial_sequence('int_ids', 'id'), 2000000000);
create unlogged table cache_entries (key text primary key, value text);
create function bump() returns int language sql security definer as 'select 1';
create table churn (id int primary key, payload text) with (autovacuum_enabled = false);
insert into churn select g, 'x' from generate_series(1, 20000) g;
delete from churn where id <= 15000;
create table big_scan (id int primary key, v int, tag int);
insert into big_scan select g, g % 1000, g % 7 from generate_series(1, 120000) g;
create index big_scan_tag_idx on big_scan (tag, id);
create publication planted_pub for table no_pk_table, customers;
analyze;
"""

CLEAN_SQL = """
create extension pg_stat_statements;
create table customers (id bigint primary key, email text, phone text);
comment on column customers.email is 'pii: contact; classification: restricted';
comment on column customers.phone is 'pii: contact; classification: restricted';
insert into customers values (1, 'a@example.org', '1'), (2, 'b@example.org', '2');
create table orders (id bigint primary key, customer_id bigint references customers (id),
                     status text not null check (status in ('new', 'paid')), created_at timestamptz,
                     total numeric(12, 2) check (total >= 0));
create index orders_customer_id_idx on orders (customer_id);
create table payments (id bigint primary key, order_id bigint, amount numeric(19, 4), fee_cents bigint,
                       idempotency_key text unique);
create table invoices (id bigint primary key, tenant_id int not null, amount numeric(12, 2));
alter table invoices enable row level security;
alter table invoices force row level security;
create policy invoices_tenant on invoices using (tenant_id = current_setting('app.tenant_id', true)::int);
create table audit_log (id bigint primary key, actor text, action text, at timestamptz);
grant select, insert on audit_log to {clean_app};
grant select, insert, update on orders, payments to {clean_app};
create sequence normal_seq;
select nextval('normal_seq');
create function bump() returns int language sql security definer set search_path = pg_catalog, public
  as 'select 1';
create table big_scan (id int primary key, v int);
insert into big_scan select g, g % 1000 from generate_series(1, 120000) g;
create index big_scan_v_idx on big_scan (v);
create publication clean_pub for table customers, orders;
analyze;
"""

CLEAN_COMMENTS = """
comment on table customers is 'One row = a customer; owner: payments team';
comment on table orders is 'One row = an order; owner: payments team';
comment on table payments is 'One row = a payment attempt; owner: payments team';
comment on table invoices is 'One row = an invoice of a tenant; owner: billing team';
comment on table audit_log is 'One row = an audited action; append-only';
comment on table big_scan is 'One row = a measurement; owner: data team';
"""


def _run_script(conn: psycopg.Connection, script: str, **names: str) -> None:
    formatted = sql.SQL(script).format(**{k: _ident(v) for k, v in names.items()})
    conn.execute(formatted)


def _plant_invalid_index(db: str) -> None:
    with connect(db) as conn:
        try:
            conn.execute("create unique index concurrently dup_values_v_key on dup_values (v)")
        except psycopg.errors.UniqueViolation:
            pass  # the point: CONCURRENTLY leaves the index behind, invalid
        else:  # pragma: no cover
            raise AssertionError("the unique index should have failed on duplicate rows")


def _scan(db: str, statement: str, times: int) -> None:
    # The connection closes after the scans, which flushes its statistics to the shared stats.
    with connect(db) as conn:
        for _ in range(times):
            conn.execute(statement).fetchall()


def _plant_deadlock(db: str) -> None:
    """Two sessions lock customers 1 and 2 in opposite orders: PostgreSQL kills one with a deadlock."""
    a, b = connect(db, autocommit=False), connect(db, autocommit=False)
    outcome: list[BaseException | None] = []
    try:
        a.execute("update customers set phone = phone where id = 1")
        b.execute("update customers set phone = phone where id = 2")

        def a_waits() -> None:
            try:
                a.execute("update customers set phone = phone where id = 2")
                outcome.append(None)
            except psycopg.errors.DeadlockDetected as exc:
                outcome.append(exc)

        thread = threading.Thread(target=a_waits)
        thread.start()
        _wait_for(lambda: _waiting_on_lock(db, a.info.backend_pid), "session A to wait")
        try:
            b.execute("update customers set phone = phone where id = 1")
        except psycopg.errors.DeadlockDetected as exc:
            outcome.append(exc)
        b.rollback()
        thread.join(10)
        a.rollback()
    finally:
        a.close()
        b.close()
    assert any(isinstance(o, psycopg.errors.DeadlockDetected) for o in outcome), outcome


def _waiting_on_lock(db: str, pid: int) -> bool:
    with connect(db) as conn:
        row = conn.execute("select wait_event_type from pg_stat_activity where pid = %s", [pid]).fetchone()
    return bool(row and row[0] == "Lock")


def _wait_for(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# How many session fixtures hold the role: modules outside tests/probes import `probe_role`, which makes
# pytest set it up once more in the same process, while the first one's databases still depend on it.
_role_holders = 0


@pytest.fixture(scope="session", autouse=True)
def probe_role():
    """The least-privilege role every probe test connects as (created once per test process)."""
    global _role_holders
    if _role_holders == 0:
        with connect() as admin:
            admin.execute(sql.SQL("drop role if exists {}").format(_ident(PROBE_USER)))
            create = sql.SQL("create role {} login password {}")
            admin.execute(create.format(_ident(PROBE_USER), sql.Literal(PROBE_PASSWORD)))
            admin.execute(sql.SQL("grant pg_monitor, pg_read_all_data to {}").format(_ident(PROBE_USER)))
    _role_holders += 1
    try:
        yield PROBE_USER
    finally:
        _role_holders -= 1
        if _role_holders == 0:
            with connect() as admin:
                admin.execute(sql.SQL("drop role if exists {}").format(_ident(PROBE_USER)))


@pytest.fixture(scope="session")
def env(probe_role):
    suffix = f"{os.getpid()}_{secrets.token_hex(3)}"
    e = Env(
        suffix=suffix,
        planted=f"rp_planted_{suffix}",
        clean=f"rp_clean_{suffix}",
        app=f"rp_app_{suffix}",
        su=f"rp_su_{suffix}",
        clean_app=f"rp_clean_app_{suffix}",
        monitor=f"rp_monitor_{suffix}",
        nologin=f"rp_nologin_{suffix}",
    )
    admin = connect()
    try:
        _run_script(
            admin,
            """
            create role {app} login bypassrls connection limit 2;
            create role {su} login superuser;
            create role {clean_app} login;
            create role {monitor} login;
            grant pg_monitor to {monitor};
            create role {nologin} nologin password 'not-a-secret-Hunter2';
            """,
            app=e.app,
            su=e.su,
            clean_app=e.clean_app,
            monitor=e.monitor,
            nologin=e.nologin,
        )
        for db in (e.planted, e.clean):
            admin.execute(sql.SQL("create database {}").format(_ident(db)))
        # Set explicitly so the test does not depend on the server's own defaults.
        for setting, value in (
            ("password_encryption", "md5"),
            ("statement_timeout", "0"),
            ("lock_timeout", "0"),
            ("idle_in_transaction_session_timeout", "0"),
            ("log_min_duration_statement", "-1"),
            ("log_lock_waits", "off"),
        ):
            admin.execute(
                sql.SQL("alter database {} set {} = {}").format(
                    _ident(e.planted), _ident(setting), sql.Literal(value)
                )
            )
        for setting, value in (
            ("password_encryption", "scram-sha-256"),
            ("statement_timeout", "30s"),
            ("lock_timeout", "5s"),
            ("idle_in_transaction_session_timeout", "60s"),
            ("log_min_duration_statement", "1s"),
            ("log_lock_waits", "on"),
        ):
            admin.execute(
                sql.SQL("alter database {} set {} = {}").format(
                    _ident(e.clean), _ident(setting), sql.Literal(value)
                )
            )
        for db in (e.planted, e.clean):  # what the README suggests for the pg_hba.conf probe
            with connect(db) as conn:
                _run_script(
                    conn,
                    "grant select on pg_hba_file_rules to {probe}; "
                    "grant execute on function pg_hba_file_rules() to {probe}",
                    probe=e.probe,
                )
        with connect(e.planted) as conn:
            _run_script(conn, PLANTED_SQL, app=e.app)
        _plant_invalid_index(e.planted)
        _scan(e.planted, "select count(*) from big_scan where v = -1", 25)
        _plant_deadlock(e.planted)
        with connect(e.clean) as conn:
            _run_script(conn, CLEAN_SQL, clean_app=e.clean_app)
            _run_script(conn, CLEAN_COMMENTS)
        _scan(e.clean, "select * from big_scan where v = 5", 30)
        yield e
    finally:
        for db in (e.planted, e.clean):
            admin.execute(sql.SQL("drop database if exists {} with (force)").format(_ident(db)))
        for role in (e.app, e.su, e.clean_app, e.monitor, e.nologin):
            admin.execute(sql.SQL("drop role if exists {}").format(_ident(role)))
        admin.close()


@pytest.fixture(scope="session")
def activity(env):
    """A transaction holding a row lock and then idle, and a second session blocked behind it (both as
    the planted application role, filling its connection limit of 2). Lives for the whole session."""
    holder = connect(env.planted, env.app, autocommit=False)
    waiter = connect(env.planted, env.app, autocommit=False)
    errors: list[BaseException] = []

    def wait_for_lock() -> None:
        try:
            waiter.execute("update app.accounts set balance = balance + 1 where id = 1")
            waiter.rollback()
        except BaseException as exc:  # reported by the fixture, never as a thread warning
            errors.append(exc)

    thread = threading.Thread(target=wait_for_lock, daemon=True)
    try:
        # The literal stands for personal data in a statement's text: the probes must not keep it.
        holder.execute(
            "update app.accounts set balance = balance + 1 where id = 1 and 'alice@example.com' is not null"
        )
        thread.start()
        _wait_for(lambda: _waiting_on_lock(env.planted, waiter.info.backend_pid), "the waiter to block")
        time.sleep(1.2)  # older than the lowered thresholds of ACTIVITY_PARAMS
        env.pids.update(holder=holder.info.backend_pid, waiter=waiter.info.backend_pid)
        yield env.pids
    finally:
        holder.rollback()
        thread.join(10)
        holder.close()
        waiter.close()
    assert not errors, errors


def _by_id(results: list[Result]) -> dict[str, Result]:
    return {r.probe_id: r for r in results}


@pytest.fixture(scope="session")
def planted_results(env, activity) -> dict[str, Result]:
    return _by_id(run_probes(env.dsn(env.planted), params=env.planted_params))


@pytest.fixture(scope="session")
def clean_results(env) -> dict[str, Result]:
    return _by_id(run_probes(env.dsn(env.clean), params=env.clean_params))


@pytest.fixture(scope="session")
def monitor_results(env, activity) -> dict[str, Result]:
    return _by_id(run_probes(env.dsn(env.planted, env.monitor), params=env.planted_params))


@pytest.fixture(scope="session")
def cluster_settings() -> dict[str, str]:
    with connect() as conn:
        rows = conn.execute(
            "select name, setting from pg_settings where name in ('data_checksums', 'ssl', 'archive_mode', "
            "'shared_preload_libraries', 'autovacuum', 'track_counts')"
        ).fetchall()
        hba = conn.execute("select auth_method, type, address from pg_hba_file_rules").fetchall()
    settings = dict(rows)
    settings["hba_methods"] = ",".join(sorted({r[0] for r in hba}))
    return settings
