"""The probe engine: safe sessions, errors that stay results, connection failures, invariant checks."""

from __future__ import annotations

import datetime as dt
import decimal
import ipaddress
import json
import threading
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql

from probes.engine import (
    APPLICATION_NAME,
    ProbeConnectionError,
    iter_probes,
    json_safe,
    mask_dsn,
    run_invariant,
    run_probes,
    server_info,
)
from probes.registry import REGISTRY, Probe, Status, Verdict, all_probes

from .conftest import connect, dsn

# --- DSNs ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_dsn", "masked"),
    [
        ("postgres://app:s3cret@db.example:5432/shop", "app@db.example:5432/shop"),
        ("postgresql://app:p%40ss@h1:5432,h2:5433/shop?sslmode=require", "app@h1,h2:5432,5433/shop"),
        ("postgres://app@db/shop", "app@db:5432/shop"),
        ("postgres://app:pw@db/shop?password=again&sslmode=require", "app@db:5432/shop"),
        ("postgres://app@db/shop?pass%77ord=again", "app@db:5432/shop"),
        ("postgres://app@db/shop?application_name=a@b&password=again", "app@db:5432/shop"),
        ("host=db user=app password=s3cret dbname=shop", "app@db:5432/shop"),
        ("host=db password = 'with space' dbname=shop", "db:5432/shop"),
        ("host=db dbname=shop", "db:5432/shop"),
        ("host=db password=abc = = nonsense", "(unreadable connection string)"),
    ],
)
def test_mask_dsn_shows_user_host_port_and_database_only(given_dsn, masked):
    assert mask_dsn(given_dsn) == masked


@given(st.text(max_size=80), st.text(alphabet=st.characters(min_codepoint=48, max_codepoint=122), min_size=6))
def test_mask_dsn_never_shows_a_url_password(prefix, password):
    masked = mask_dsn(f"postgres://user:{password}@host/db{prefix}")
    assert f":{password}@" not in masked and password not in masked.split("@", 1)[-1].split("/", 1)[0]


def test_json_safe_values():
    assert json_safe(decimal.Decimal("12")) == 12
    assert json_safe(decimal.Decimal("1.5")) == 1.5
    assert json_safe(decimal.Decimal("NaN")) == "NaN"
    assert json_safe(dt.timedelta(minutes=2)) == 120.0
    assert json_safe(dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)) == "2026-01-02T03:04:00+00:00"
    assert json_safe(b"\x00\xff") == "00ff"
    assert json_safe(float("inf")) == "inf"
    assert json_safe([decimal.Decimal("1"), {"a": uuid.UUID(int=1)}]) == [1, {"a": str(uuid.UUID(int=1))}]
    assert json_safe(ipaddress.ip_address("10.0.0.1")) == "10.0.0.1"


# --- connection failures ---------------------------------------------------------------------------------


def test_unreachable_host_is_one_clear_error_without_the_password():
    with pytest.raises(ProbeConnectionError) as caught:
        run_probes(dsn("postgres", password="Hunter2-secret", port=1), connect_timeout_s=2)
    message = str(caught.value)
    assert "Hunter2-secret" not in message
    assert "postgres@127.0.0.1:1/postgres" in message
    assert "Connection refused" in message


def test_wrong_login_is_one_clear_error(env):
    # The test cluster trusts every TCP connection from 127.0.0.1 and ignores passwords, so a wrong
    # password cannot fail here; a role that does not exist and a NOLOGIN role are refused the same way.
    with pytest.raises(ProbeConnectionError) as missing:
        run_probes(dsn(env.clean, f"nobody_{env.suffix}", password="Hunter2-secret"))
    assert "Hunter2-secret" not in str(missing.value)
    assert f'role "nobody_{env.suffix}" does not exist' in str(missing.value)
    with pytest.raises(ProbeConnectionError) as refused:
        server_info(dsn(env.clean, env.nologin, password="not-a-secret-Hunter2"))
    assert "not-a-secret-Hunter2" not in str(refused.value)
    assert "not permitted to log in" in str(refused.value)


def test_a_malformed_dsn_is_a_connection_error():
    with pytest.raises(ProbeConnectionError, match="not a PostgreSQL connection string"):
        run_probes("host=db password=abc = = nonsense")


def test_unknown_probe_ids_are_refused_before_connecting():
    with pytest.raises(ValueError, match="unknown probe id"):
        run_probes(dsn("postgres", port=1), only=["no.such-probe"])


# --- sessions --------------------------------------------------------------------------------------------


@pytest.fixture
def temp_probe(monkeypatch):
    """Register throwaway probes for one test (the registry is restored afterwards)."""
    all_probes()

    def add(probe_id: str, query: str, evaluate=None, **kw) -> Probe:
        probe = Probe(
            id=probe_id,
            category="observability",
            severity="P3",
            title=probe_id,
            checks="test",
            fix="test",
            sql=query,
            evaluate=evaluate or (lambda rows, params: Verdict(Status.PASS, f"{len(rows)} rows")),
            **kw,
        )
        monkeypatch.setitem(REGISTRY, probe_id, probe)
        return probe

    return add


def test_each_probe_runs_read_only_with_timeouts_and_its_name(env, temp_probe):
    temp_probe(
        "observability.zz-session",
        "select current_setting('application_name') as app, current_setting('transaction_read_only') as ro, "
        "current_setting('statement_timeout') as st, current_setting('lock_timeout') as lt",
    )
    (result,) = run_probes(
        env.dsn(env.clean), only=["observability.zz-session"], statement_timeout_ms=1234, lock_timeout_ms=321
    )
    assert result.rows == ({"app": APPLICATION_NAME, "ro": "on", "st": "1234ms", "lt": "321ms"},)


def test_failures_in_one_probe_never_stop_the_others(env, temp_probe):
    with connect(env.clean) as admin:  # a privilege to write, which the read-only transaction still refuses
        admin.execute(f"grant usage on sequence normal_seq to {env.probe}")
    temp_probe("observability.zz-1-slow", "select pg_sleep(2)")
    temp_probe("observability.zz-2-broken-sql", "select * from no_such_table")
    temp_probe("observability.zz-3-writes", "select nextval('normal_seq')")
    temp_probe("observability.zz-4-bad-evaluate", "select 1 as x", evaluate=lambda rows, params: 1 / 0)
    temp_probe("observability.zz-5-fine", "select 1 as x")
    results = run_probes(
        env.dsn(env.clean),
        only=[
            f"observability.zz-{n}"
            for n in ("1-slow", "2-broken-sql", "3-writes", "4-bad-evaluate", "5-fine")
        ],
        statement_timeout_ms=100,
    )
    by_id = {r.probe_id: r for r in results}
    assert [r.status for r in results] == [Status.ERROR] * 4 + [Status.PASS]
    assert "statement_timeout after 100 ms" in by_id["observability.zz-1-slow"].summary
    assert "no_such_table" in by_id["observability.zz-2-broken-sql"].summary
    assert "read-only transaction" in by_id["observability.zz-3-writes"].summary
    assert "evaluation failed: ZeroDivisionError" in by_id["observability.zz-4-bad-evaluate"].summary


def test_lock_timeout_gives_an_error_result(env, temp_probe):
    temp_probe("observability.zz-locked", "select count(*) from customers")
    with connect(env.clean, autocommit=False) as holder:
        holder.execute("lock table customers in access exclusive mode")
        (result,) = run_probes(env.dsn(env.clean), only=["observability.zz-locked"], lock_timeout_ms=100)
        holder.rollback()
    assert result.status is Status.ERROR
    assert "lock_timeout 100 ms" in result.summary


def test_missing_privilege_skips_with_the_grant(env, temp_probe):
    temp_probe("observability.zz-private", "select count(*) from customers")
    (result,) = run_probes(env.dsn(env.clean, env.monitor), only=["observability.zz-private"])
    assert result.status is Status.SKIPPED
    assert result.fix == f"GRANT pg_monitor TO {env.monitor};"


def test_rows_are_json_safe_and_capped(env, temp_probe):
    temp_probe(
        "observability.zz-many",
        "select g, now() - interval '1 minute' * g as at, interval '90 seconds' as took, 1.50::numeric as n, "
        "'\\x00ff'::bytea as b from generate_series(1, 500) g",
    )
    (result,) = run_probes(env.dsn(env.clean), only=["observability.zz-many"])
    assert result.summary == "500 rows"  # the evaluation sees every row
    assert len(result.rows) == 200  # the evidence keeps the first 200
    assert result.rows[0]["took"] == 90.0 and result.rows[0]["n"] == 1.5 and result.rows[0]["b"] == "00ff"
    (capped,) = run_probes(
        env.dsn(env.clean), only=["observability.zz-many"], params={"observability.zz-many": {"row_cap": 3}}
    )
    assert len(capped.rows) == 3
    json.dumps([r.as_json() for r in results_for(env)] + [list(result.rows)])


def results_for(env):
    return run_probes(env.dsn(env.clean), only=["schema", "capacity"], params=env.clean_params)


def test_results_come_in_registry_order(env):
    ids = [r.probe_id for r in results_for(env)]
    expected = [p.id for p in all_probes() if p.category in ("schema", "capacity")]
    assert ids == expected


def _terminate_probe_session(db: str) -> int:
    with connect() as admin:
        rows = admin.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where application_name = %s and datname "
            "= %s",
            [APPLICATION_NAME, db],
        ).fetchall()
    return len(rows)


def test_a_lost_connection_is_reopened_once_for_the_remaining_probes(env):
    only = [
        "schema.tables-without-primary-key",
        "schema.timestamp-without-time-zone",
        "backup.unlogged-tables",
    ]
    results = []
    for result in iter_probes(env.dsn(env.clean), only=only):
        results.append(result)
        if len(results) == 1:
            assert _terminate_probe_session(env.clean) == 1
    assert [r.status for r in results] == [Status.PASS] * 3


def test_when_reopening_fails_the_remaining_probes_are_errors_not_exceptions(env):
    role = f"rp_flaky_{env.suffix}"
    with connect() as admin:
        admin.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
        try:
            results = []
            for result in iter_probes(env.dsn(env.clean, role), only=["schema", "backup.unlogged-tables"]):
                results.append(result)
                if len(results) == 1:
                    admin.execute(sql.SQL("alter role {} nologin").format(sql.Identifier(role)))
                    _terminate_probe_session(env.clean)
        finally:
            admin.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))
    assert results[0].status is Status.PASS
    assert len(results) == 3
    for lost in results[1:]:
        assert lost.status is Status.ERROR
        assert "connection to the target lost" in lost.summary and "not permitted to log in" in lost.summary


def test_server_info_reports_the_probe_roles_powers(env):
    probe = server_info(env.dsn(env.clean))
    assert probe["is_superuser"] is False and probe["database"] == env.clean
    assert probe["current_user"] == env.probe and probe["pg_monitor"] is True
    assert probe["server_version_num"] >= 130000
    assert {e["name"] for e in probe["extensions"]} == {"pg_stat_statements", "plpgsql"}
    assert all(e["version"] for e in probe["extensions"])
    monitor = server_info(env.dsn(env.clean, env.monitor))
    assert monitor["current_user"] == env.monitor
    assert monitor["is_superuser"] is False
    assert monitor["pg_monitor"] and monitor["pg_read_all_stats"] and monitor["pg_read_all_settings"]


def test_probes_take_no_lock_a_writer_would_wait_for(env):
    """While the whole suite runs, another session can still write: the probes only take ACCESS SHARE."""
    done = threading.Event()
    writes: list[int] = []
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with connect(env.clean) as conn:
                conn.execute("set lock_timeout = '2s'")
                while not done.is_set():
                    conn.execute("update customers set phone = phone where id = 1")
                    writes.append(1)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        run_probes(env.dsn(env.clean), params=env.clean_params)
    finally:
        done.set()
        thread.join(10)
    assert not errors and writes


# --- invariant checks ------------------------------------------------------------------------------------

# What the guard accepts and refuses: test_sql_guard.py; attacks on a real target: test_attacks_sql.py.


def test_invariant_with_no_rows_passes_and_rows_fail_naming_them(env):
    ok = run_invariant(
        env.dsn(env.clean), "select id from orders where status not in ('new', 'paid')", name="states"
    )
    assert ok.status is Status.PASS and ok.probe_id == "invariant:states"
    broken = run_invariant(
        env.dsn(env.clean), "select id, email from customers order by id;", name="no-customers", row_cap=1
    )
    assert broken.status is Status.FAIL and broken.severity == "P1" and broken.category == "data-model"
    assert broken.summary == "more than 1 row(s) break the invariant"
    assert [i.object for i in broken.items] == ["id=1, email=a@example.org"]
    assert broken.rows == ({"id": 1, "email": "a@example.org"},)


def test_invariant_statement_timeout_is_an_error_result(env):
    result = run_invariant(env.dsn(env.clean), "select pg_sleep(5)", name="slow", statement_timeout_ms=100)
    assert result.status is Status.ERROR
    assert result.summary == "cancelled by statement_timeout after 100 ms"
    assert result.duration_ms < 3000


def test_invariant_refused_or_broken_sql_is_an_error_result(env):
    refused = run_invariant(env.dsn(env.clean), "delete from orders", name="bad")
    assert refused.status is Status.ERROR and refused.summary.startswith("refused: only a SELECT")
    broken = run_invariant(env.dsn(env.clean), "select * from missing_table", name="typo")
    assert broken.status is Status.ERROR and "missing_table" in broken.summary


def test_invariant_runs_read_only_even_if_a_write_slips_through(env):
    result = run_invariant(
        env.dsn(env.clean), "select setval_alias from (select 1 as setval_alias) s where false", name="ok"
    )
    assert result.status is Status.PASS
    # The guard sees only the check's text: a view may call anything. The transaction still refuses writes.
    with connect(env.clean) as conn:
        conn.execute(
            "create function sneaky() returns int language sql as 'insert into audit_log values (99) "
            "returning 1'"
        )
        conn.execute("create view sneaky_view as select sneaky() as s")
        try:
            sneaky = run_invariant(env.dsn(env.clean), "select s from sneaky_view", name="sneaky")
            called = run_invariant(env.dsn(env.clean), "select sneaky()", name="called")
        finally:
            conn.execute("drop view sneaky_view")
            conn.execute("drop function sneaky()")
        assert conn.execute("select count(*) from audit_log where id = 99").fetchone() == (0,)
    assert sneaky.status is Status.ERROR and "read-only transaction" in sneaky.summary
    assert called.status is Status.ERROR and called.summary.startswith("refused: function sneaky()")


def test_invariant_unreachable_target_raises_the_connection_error():
    with pytest.raises(ProbeConnectionError):
        run_invariant(dsn("postgres", port=1), "select 1", name="x", connect_timeout_s=2)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            "select * from users where email = 'a@b.c' and id = 42",
            "select * from users where email = ? and id = ?",
        ),
        ("select name from t1 where x = $1 limit 20", "select name from t1 where x = $1 limit ?"),
        ("insert into people values (E'O\\'Brien', 'it''s', 1.5e3)", "insert into people values (?, ?, ?)"),
        ("select $$secret body$$, $fn$other$fn$ from x", "select ?, ? from x"),
        ("update t set note = 'cut short by left(query, 160", "update t set note = ?"),
        (
            "select schema1.table2.col3, count(*) from schema1.table2",
            "select schema1.table2.col3, count(*) from schema1.table2",
        ),
        (None, None),
    ],
)
def test_mask_literals_keeps_the_shape_and_drops_the_values(text, masked):
    from probes.engine import mask_literals

    assert mask_literals(text) == masked
