"""Attacks on invariant checks, replayed on a real PostgreSQL: each is refused with a clear message when
the check is added, refused again when the engine is handed the raw text (whatever stored it), and
nothing is written to the target: the victim row keeps its value, no table appears, the idle session
that the attacks try to kill is still alive.

The target database has standard_conforming_strings off (ALTER DATABASE ... SET), as in the reported
COMMIT-smuggling attack (a DSN may no longer set `options`: test_attacks_connection). The probe user is a
superuser and the engine's role check is turned off here: what stops the attacks is the guard and the
engine's transaction, not a lack of privilege (the role check has its own tests).
"""

from __future__ import annotations

import secrets

import psycopg
import pytest
from psycopg import errors, sql

from probes import engine, services
from probes.models import InvariantCheck
from probes.registry import Status
from probes.sql_guard import wrap_invariant_sql
from reviews.services import ServiceError

from . import test_targets as shared
from .conftest import connect, dsn

make_target = shared.make_target

SMUGGLED = r"select 'x\', ' ) as a; commit; begin read write; update victim set v = 0; select ('"


@pytest.fixture(scope="module")
def scratch():
    """A database with a victim row, standard_conforming_strings off, and a helper to check nothing moved."""
    name = f"rp_attacks_{secrets.token_hex(4)}"
    with connect() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        admin.execute(
            sql.SQL("ALTER DATABASE {} SET standard_conforming_strings = off").format(sql.Identifier(name))
        )
    try:
        with connect(name) as conn:
            conn.execute("create table victim (id int primary key, v int not null)")
            conn.execute("insert into victim values (1, 42)")
        yield name
    finally:
        with connect() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def target_dsn(db: str) -> str:
    return dsn(db)


@pytest.fixture(autouse=True)
def _superuser_allowed(monkeypatch):
    """Let the engine connect as the superuser, so that only the guard and the transaction stand."""
    monkeypatch.setattr(engine, "check_role", lambda conn: None)


@pytest.fixture
def idle_session(scratch):
    """A real idle session on the target; its pid is what the attacks try to terminate."""
    with connect(scratch) as conn:
        pid = conn.execute("select pg_backend_pid()").fetchone()[0]
        yield conn, pid
        assert conn.execute("select 1").fetchone() == (1,), "the idle session was killed"


def untouched(db: str) -> None:
    with connect(db) as conn:
        assert conn.execute("select v from victim where id = 1").fetchone() == (42,)
        assert conn.execute("select to_regclass('public.stolen')").fetchone() == (None,)


def test_the_target_really_reads_strings_without_standard_conforming_strings(scratch):
    with psycopg.connect(target_dsn(scratch), autocommit=True) as conn:
        assert conn.execute("show standard_conforming_strings").fetchone() == ("off",)


def attacks(pid: int) -> list[tuple[str, str]]:
    """(check text, what the refusal must say)."""
    kill = f"pg_terminate_backend({pid})"
    return [
        (SMUGGLED, "backslash before a quote"),
        (
            f'select U&"pg\\005fterminate\\005fbackend"({pid})',
            "function pg_terminate_backend() is not allowed",
        ),
        (f"select U&\"pg!005fterminate!005fbackend\" UESCAPE '!' ({pid})", "pg_terminate_backend()"),
        (f'select "pg_terminate_backend"({pid})', "pg_terminate_backend()"),
        (f"select pg_catalog.{kill}", "pg_catalog.pg_terminate_backend()"),
        (f"select 1 from victim where {kill}", "pg_terminate_backend()"),
        (f"select * from (select {kill}) s", "pg_terminate_backend()"),
        (f"select pg_cancel_backend({pid})", "signals server processes"),
        ("select U&\"pg\\005fread\\005ffile\"('/etc/hostname')", "pg_read_file() is not allowed (it reads"),
        ("select pg_read_file('/etc/hostname')", "reads server files"),
        ("select * from pg_ls_dir('.')", "lists server files"),
        (
            f"select query_to_xml_and_xmlschema('select {kill}', true, true, '')",
            "query_to_xml_and_xmlschema() is not allowed (it runs SQL given as text)",
        ),
        (f"select query_to_xml('select {kill}', true, true, '')", "runs SQL given as text"),
        (f"select * from ts_stat('select to_tsvector({kill}::text)')", "ts_stat() is not allowed (it runs"),
        ("select set_config('default_transaction_read_only', 'off', false)", "set_config()"),
        ("select pg_advisory_lock(1)", "takes advisory locks"),
        ("select * into stolen from victim", "SELECT INTO is not allowed"),
        ("with u as (update victim set v = 0 returning *) select * from u", "UPDATE in the WITH query 'u'"),
        ("select * from victim for update", "locking clauses"),
        ("select * from (select * from victim for no key update) s", "locking clauses"),
        ("select 1; update victim set v = 0", "only one statement"),
        ("select 1 -- x\n; commit; update victim set v = 0", "only one statement"),
        ("update victim set v = 0", "not UPDATE"),
        ("commit", "not transaction command"),
        ("explain analyze update victim set v = 0", "not EXPLAIN"),
        ("select * from victim where id = $1", "parameters ($1)"),
    ]


ATTACK_COUNT = len(attacks(0))


@pytest.mark.parametrize("index", range(ATTACK_COUNT))
def test_each_attack_is_refused_at_validation_and_at_run_time(scratch, idle_session, index):
    _, pid = idle_session
    text, reason = attacks(pid)[index]
    with pytest.raises(ValueError, match=_escape(reason)):
        engine.validate_invariant_sql(text)
    result = engine.run_invariant(target_dsn(scratch), text, name="attack")
    assert result.status is Status.ERROR
    assert result.summary.startswith("refused: ") and reason in result.summary
    untouched(scratch)


def _escape(text: str) -> str:
    import re

    return re.escape(text)


@pytest.mark.django_db
def test_attacks_are_not_stored(scratch, idle_session, make_target, architect):
    _, pid = idle_session
    target = make_target(dsn=target_dsn(scratch))
    for index, (text, _) in enumerate(attacks(pid)):
        with pytest.raises(ServiceError) as err:
            services.add_invariant_check(target=target, name=f"attack {index}", sql=text, actor=architect)
        assert err.value.error_dict["sql"]
        assert "seed" not in str(err.value.error_dict["sql"]).lower()
    assert not InvariantCheck.objects.exists()


# --- the engine's own walls, with the guard out of the way ----------------------------------------------


def _engine_conn(db: str) -> psycopg.Connection:
    return engine._connect(target_dsn(db), 5)


def test_the_engine_reads_strings_with_standard_conforming_strings_on(scratch):
    conn = _engine_conn(scratch)
    try:
        rows = engine._select(
            conn, "select current_setting('standard_conforming_strings') as s", None, 1000, 500
        )
        assert rows == [{"s": "on"}]
        # The smuggled text is then two harmless strings, even sent without the guard.
        wrapped = f"select count(*) as n from (\n{SMUGGLED}\n) as invariant"
        assert engine._select(conn, wrapped, None, 1000, 500) == [{"n": 1}]
        assert engine._select(conn, r"select length('x\') as n", None, 1000, 500) == [{"n": 2}]
    finally:
        conn.close()
    untouched(scratch)


@pytest.mark.parametrize(
    "text",
    [
        "select 1; update victim set v = 0",
        "select 1; commit; begin read write; update victim set v = 0",
        "select 'x\\'; update victim set v = 0; --'",
    ],
)
def test_the_server_refuses_more_than_one_statement_per_execute(scratch, text):
    conn = _engine_conn(scratch)
    try:
        with pytest.raises(errors.SyntaxError, match="cannot insert multiple commands"):
            engine._select(conn, text, None, 1000, 500)
        assert engine._select(conn, "select 1 as one", None, 1000, 500) == [{"one": 1}]
    finally:
        conn.close()
    untouched(scratch)


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("select * into stolen from victim", "SELECT INTO"),
        ("with u as (update victim set v = 0 returning *) select * from u", "read-only transaction"),
        ("select * from victim for update", "SELECT FOR UPDATE"),
        ("select * from victim for share", "SELECT FOR SHARE"),
    ],
)
def test_the_read_only_transaction_refuses_writes_the_guard_would_have_stopped(scratch, text, refusal):
    conn = _engine_conn(scratch)
    try:
        with pytest.raises(errors.ReadOnlySqlTransaction, match=refusal):
            engine._select(conn, text, None, 1000, 500)
    finally:
        conn.close()
    untouched(scratch)


def test_checks_run_with_a_fixed_search_path(scratch):
    result = engine.run_invariant(
        target_dsn(scratch),
        "select current_setting('search_path') as p where current_setting('search_path') <> "
        f"'{engine.INVARIANT_SEARCH_PATH}'",
        name="path",
    )
    assert result.status is Status.PASS, result.summary


# --- the target's own objects cannot stand in for a built-in ---------------------------------------------


@pytest.fixture
def shadows(scratch, idle_session):
    """Functions and an operator in public, named like built-ins, that would kill the idle session."""
    _, pid = idle_session
    body = f"begin perform pg_terminate_backend({pid}); return 1; end"
    statements = [
        f"create function public.lower(integer) returns int language plpgsql as $${body}$$",
        f"create function public.total(victim) returns int language plpgsql as $${body}$$",
        f"create function public.evil_eq(int, bigint) returns boolean language plpgsql as "
        f"$$begin perform pg_terminate_backend({pid}); return true; end$$",
        "create operator public.= (leftarg = int, rightarg = bigint, function = public.evil_eq)",
        "create function public.evil_check(int) returns boolean language plpgsql immutable as "
        f"$$begin perform pg_terminate_backend({pid}); return true; end$$",
        "create domain public.evil_d as int check (public.evil_check(value))",
        "create domain public.plain_d as int not null",
        "create type public.mood as enum ('ok', 'sad')",
    ]
    with connect(scratch) as conn:
        for statement in statements:
            conn.execute(statement)
    yield
    with connect(scratch) as conn:
        conn.execute("drop operator public.= (int, bigint)")
        conn.execute("drop domain public.evil_d, public.plain_d")
        conn.execute("drop type public.mood")
        conn.execute(
            "drop function public.evil_eq(int, bigint), public.total(victim), public.lower(integer), "
            "public.evil_check(int)"
        )


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("select lower(1)", "a function lower() also exists in schema public"),
        ("select v.total from victim v", "'.total' can call the function public.total()"),
        ("select id from victim where id = 1::bigint", "operator = also exists in schema public"),
        ("select 1::evil_d as d", "the type public.evil_d on the target runs code of its own"),
        ("select 1::public.evil_d as d", "the type public.evil_d"),
        ("select * from jsonb_to_record('{\"a\": 1}') as r(a evil_d)", "the type public.evil_d"),
    ],
)
def test_a_shadowing_function_or_operator_refuses_the_check(scratch, shadows, text, refusal):
    result = engine.run_invariant(target_dsn(scratch), text, name="shadowed")
    assert result.status is Status.ERROR and result.summary.startswith("refused: ")
    assert refusal in result.summary
    untouched(scratch)


def test_qualified_built_ins_still_run_next_to_shadows(scratch, shadows):
    result = engine.run_invariant(
        target_dsn(scratch),
        "select pg_catalog.lower('A') as l, 1::plain_d as p, 'ok'::mood as m, '1'::text as t from victim "
        "where id operator(pg_catalog.=) 2",
        name="qualified",
    )
    assert result.status is Status.PASS, result.summary


def test_the_wrapped_check_is_what_the_engine_sends(scratch):
    assert wrap_invariant_sql("select v from victim", 3).sql.endswith(") as invariant limit 4")
    result = engine.run_invariant(target_dsn(scratch), "select v from victim where v <> 42", name="ok")
    assert result.status is Status.PASS
    result = engine.run_invariant(target_dsn(scratch), "select v from victim", name="fails", row_cap=1)
    assert result.status is Status.FAIL and result.rows == ({"v": 42},)
