"""The guard on invariant checks, without a database: PostgreSQL's grammar (pglast) decides what the
text is; only one read-only SELECT calling side-effect-free built-ins passes."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pglast import parse_sql

from probes.engine import validate_invariant_sql
from probes.sql_guard import (
    ALLOWED_FUNCTIONS,
    MAX_INVARIANT_CHARS,
    inspect_invariant_sql,
    wrap_invariant_sql,
)

# Checks people write (the demo's validation queries, the tests' and the README's), and the lexical
# corners a hand lexer got wrong: they pass, and come back as written (blanks and a final ';' trimmed).
ACCEPTED = [
    "select 1",
    "SELECT id FROM orders WHERE status = 'CLOSED' AND closed_at IS NULL",
    "with x as (select 1 as a) select * from x",
    "select 'a;b' as semicolon_in_string",
    "select $$ insert; delete $$ as text_in_dollar_quotes",
    "select $tag$ ; $$ update $$ $tag$",
    'select "update" from "insert; t"',
    "select e'it\\'s; fine'",
    r"select name from t where name !~ '^\d+$' and note <> '\\' and n'a\b' <> ''",
    "/* outer /* nested */ still comment; */ select 1",
    "(select 1) union (select 2)",
    "select 1 union all select 2 intersect select 3 except select 4",
    "select substring('abc' from 1 for 2), position('a' in 'abc'), trim(both 'x' from 'xax')",
    "select a$b from t",
    "select cf.id from case_file cf left join case_audit_event ae on ae.entity_id = cf.id "
    "where ae.id is null",
    "select 'account' as table_name, count(*) from account union all select 'posting', count(*) from posting",
    "select journal_entry_id, currency from posting group by journal_entry_id, currency "
    "having sum(amount_minor) <> 0",
    "select je.id from journal_entry je left join ledger_audit_event ae on ae.entity_type = 'journal_entry' "
    "and ae.entity_id = je.id where ae.id is null limit 100",
    "SELECT id FROM ledger_entry WHERE false",
    "SELECT slept FROM (SELECT pg_sleep(3)::text AS slept) AS s WHERE slept = 'never'",
    "WITH totals AS (SELECT sum(amount_minor) AS s FROM ledger_entry) SELECT s FROM totals WHERE s <> 0",
    "with recursive r(n) as (select 1 union all select n + 1 from r where n < 3) select * from r",
    "select id from orders where created_at > now() - interval '1 day' "
    "and extract(year from created_at) > 2000",
    "select id, row_number() over (partition by customer_id order by id) from orders",
    "select percentile_cont(0.5) within group (order by amount) filter (where amount > 0) from orders",
    "select coalesce(a, b), nullif(a, 0), greatest(a, b), least(a, b), case when a then 1 else 2 end from t",
    "select doc->>'id' from events where (doc #>> '{a,b}') is null and doc ? 'k' and doc @> '{}'::jsonb",
    "select jsonb_path_query(doc, '$.a[*]') from events",
    "select id from t where name ~* '^x' and name similar to 'a%' and name ilike 'b%' and id between 1 and 9",
    "select id from t where id = any(array[1, 2]) and id <> all('{3}'::int[]) and id in (select 4)",
    "select id from t where exists (select 1 from u where u.t_id = t.id)",
    "select pg_catalog.lower(name) from t order by 1 using operator(pg_catalog.<)",
    "select 1 operator(pg_catalog.+) 2",
    'select U&"\\0069d" from t',
    "select current_user, current_date, current_timestamp, session_user",
    "select count(*) from pg_stat_activity where state = 'idle in transaction'",
    "select * from t tablesample bernoulli (10) repeatable (1)",
    "select * from generate_series(1, 3) as g(n) where n > 5",
    "select * from xmltable('/a' passing '<a/>' columns x int)",
    "select (t).id, t.* from t",
    "values (1), (2)",
    "table orders",
    "select id from orders;",
    "  select 1  ;  ",
    "select 1 -- a trailing comment",
    "select 'é' as accented, 'ü' as umlaut from t",
]


@pytest.mark.parametrize("query", ACCEPTED)
def test_accepted_checks_come_back_as_written(query):
    assert validate_invariant_sql(query) == query.strip().removesuffix(";").strip()


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("  -- why\nselect 1 -- trailing\n;", "-- why\nselect 1 -- trailing"),
        ("select 1; -- after the end", "select 1"),
        ("select 1;;", "select 1"),
        ("select 1 /* ; */ ; ", "select 1 /* ; */"),
        ("select 'é€😀' as wide ; -- offsets count characters", "select 'é€😀' as wide"),
    ],
)
def test_the_final_semicolon_and_what_follows_it_are_dropped(query, kept):
    assert validate_invariant_sql(query) == kept


# (query, words the message must contain)
REFUSED = [
    ("", "empty"),
    ("  -- only a comment", "empty"),
    (";", "empty"),
    ("select 1; select 2", "one statement"),
    ("select 1; drop table t", "one statement"),
    ("select 1 -- ok\n; delete from t", "one statement"),
    ("delete from orders", "only a SELECT or WITH … SELECT query is allowed, not DELETE"),
    ("insert into t values (1)", "not INSERT"),
    ("update t set a = 1", "not UPDATE"),
    ("merge into t using u on true when matched then do nothing", "not MERGE"),
    ("with m as (select 1) merge into t using m on true when matched then do nothing", "not MERGE"),
    ("with m as (select 1) update t set a = 1", "not UPDATE"),
    ("with d as (delete from t returning *) select * from d", "DELETE in the WITH query 'd'"),
    ("with u as (update t set a = 1 returning *) select 1", "UPDATE in the WITH query 'u'"),
    ("with i as (insert into t values (1) returning *) select 1", "INSERT in the WITH query"),
    (
        "with a as (select 1), b as (select * from a) select * from (with c as (delete from t returning 1) "
        "select * from c) s",
        "DELETE in the WITH query 'c'",
    ),
    ("select * into new_table from t", "SELECT INTO is not allowed"),
    ("select 1 as a into temp t", "SELECT INTO"),
    ("create table x as select 1", "not CREATE TABLE AS"),
    ("select * from t for update", "locking clauses"),
    ("select * from t for share", "locking clauses"),
    ("select * from t for no key update", "locking clauses"),
    ("select * from t for key share skip locked", "locking clauses"),
    ("select * from (select * from t for update) s", "locking clauses"),
    ("select * from t where id in (select id from u for share)", "locking clauses"),
    ("with l as (select * from t for update) select * from l", "locking clauses"),
    ("select 1 union (select 1 from t for update)", "locking clauses"),
    ("copy t to stdout", "not COPY"),
    ("call p()", "not CALL"),
    ("do $$ begin end $$", "not DO block"),
    ("set statement_timeout = 0", "not SET"),
    ("show search_path", "not SHOW"),
    ("lock table t", "not LOCK"),
    ("explain analyze select 1", "not EXPLAIN"),
    ("explain select 1", "not EXPLAIN"),
    ("commit", "not transaction command"),
    ("begin read write", "not transaction command"),
    ("declare c cursor for select 1", "not DECLARE CURSOR"),
    ("prepare p as select 1", "not PREPARE"),
    ("execute p", "not EXECUTE"),
    ("listen x", "not"),
    ("vacuum t", "not"),
    ("select 'unterminated", "PostgreSQL cannot parse it: unterminated quoted string"),
    ("select $$ unterminated", "cannot parse it: unterminated dollar-quoted string"),
    ('select "unterminated', "cannot parse it: unterminated quoted identifier"),
    ("select 1 /* unterminated", "cannot parse it: unterminated /* comment"),
    ("selec 1", 'cannot parse it: syntax error at or near "selec" (at character 1)'),
    ("select * from t where id = $1", "parameters ($1) are not allowed"),
    ("\\copy t to 'x'", "cannot parse it"),
    ("select 1\x00", "NUL"),
    ("select pg_terminate_backend(pid) from pg_stat_activity", "pg_terminate_backend() is not allowed"),
    ('select U&"pg\\005fterminate\\005fbackend"(pid) from pg_stat_activity', "pg_terminate_backend()"),
    ("select U&\"pg!005fterminate!005fbackend\" UESCAPE '!' (1)", "pg_terminate_backend() is not allowed"),
    ('select "pg_terminate_backend"(1)', "pg_terminate_backend() is not allowed (it signals"),
    ("select pg_catalog.pg_terminate_backend(1)", "pg_catalog.pg_terminate_backend() is not allowed"),
    ("select pg_cancel_backend(1)", "signals server processes"),
    ("select pg_reload_conf()", "signals server processes"),
    (
        "select U&\"pg\\005fread\\005ffile\"('/etc/hostname')",
        "pg_read_file() is not allowed (it reads server",
    ),
    ("select pg_read_binary_file('/etc/hostname')", "reads server files"),
    ("select * from pg_ls_dir('.')", "lists server files"),
    ("select * from pg_stat_file('postgresql.conf')", "reads server files"),
    ("select lo_import('/etc/hostname')", "large objects"),
    ("select lo_export(1, '/tmp/x')", "large objects"),
    ("select query_to_xml_and_xmlschema('select 1', true, true, '')", "runs SQL given as text"),
    ("select query_to_xml('delete from t', false, false, '')", "query_to_xml() is not allowed (it runs SQL"),
    ("select cursor_to_xml('c', 1, false, false, '')", "runs SQL given as text"),
    ("select table_to_xml('t', false, false, '')", "runs SQL given as text"),
    ("select schema_to_xml('public', false, false, '')", "runs SQL given as text"),
    ("select database_to_xml(false, false, '')", "runs SQL given as text"),
    ("select * from ts_stat('select to_tsvector(''x'')')", "ts_stat() is not allowed (it runs SQL"),
    ("select ts_rewrite('a'::tsquery, 'select 1')", "ts_rewrite() is not allowed"),
    ("select pg_catalog.set_config('default_transaction_read_only', 'off', false)", "set_config"),
    ("select nextval('s')", "nextval() is not allowed (it uses sequences)"),
    ("select setval('s', 1)", "uses sequences"),
    ("select pg_advisory_lock(1)", "pg_advisory_lock() is not allowed (it takes advisory locks)"),
    ("select pg_try_advisory_xact_lock(1)", "takes advisory locks"),
    ("select dblink_exec('x', 'drop table t')", "dblink_exec() is not allowed (it connects"),
    ("select * from dblink('x', 'select 1') as t(a int)", "dblink()"),
    ("select pg_notify('c', 'x')", "sends notifications"),
    ("select txid_current()", "assigns a transaction id"),
    ("select pg_current_xact_id()", "assigns a transaction id"),
    ("select sneaky()", "function sneaky() is not allowed: a check may call built-in functions"),
    ("select public.lower('A')", "function public.lower() is not allowed: only built-in functions"),
    ("select db.pg_catalog.lower('A')", "only built-in functions"),
    ('select "LOWER"(name) from t', "function LOWER() is not allowed"),
    ("select * from rows from (generate_series(1, 2), pg_ls_dir('.')) as x", "pg_ls_dir()"),
    ("select * from t where id in (select pg_terminate_backend(1))", "pg_terminate_backend()"),
    ("select count(*) filter (where pg_terminate_backend(1)) from t", "pg_terminate_backend()"),
    ("select sum(x) over (order by pg_terminate_backend(1)) from t", "pg_terminate_backend()"),
    ("select 1 from t order by pg_terminate_backend(1)", "pg_terminate_backend()"),
    ("select 1 from t group by pg_terminate_backend(1)", "pg_terminate_backend()"),
    ("select 1 from t join u on pg_terminate_backend(1)", "pg_terminate_backend()"),
    ("select (array[1])[pg_terminate_backend(1)::int]", "pg_terminate_backend()"),
    ("select xmlelement(name a, pg_terminate_backend(1))", "pg_terminate_backend()"),
    ("select json_object('a': pg_terminate_backend(1))", "pg_terminate_backend()"),
    ("select 1 operator(public.+) 2", "OPERATOR(public.+) is not allowed"),
    ("select 1 from t order by id using operator(public.<)", "OPERATOR(public.<) is not allowed"),
    ("select 1 from t where id operator(app.=) any(select 1)", "OPERATOR(app.=) is not allowed"),
    ("select * from t tablesample system_rows(10)", "TABLESAMPLE system_rows is not allowed"),
]


@pytest.mark.parametrize(("query", "reason"), REFUSED)
def test_refused_checks_say_why(query, reason):
    with pytest.raises(ValueError, match=re.escape(reason)):
        validate_invariant_sql(query)


def test_a_refused_function_message_says_what_is_allowed():
    with pytest.raises(ValueError) as err:
        validate_invariant_sql("select pg_terminate_backend(1)")
    assert "built-in functions without side effects only" in str(err.value)
    assert "seed" not in str(err.value).lower()


@pytest.mark.parametrize(
    "query",
    [
        "select " + "(" * 9990 + "1" + ")" * 9990,
        "select " + "lower(" * 2800 + "'a'" + ")" * 2800,
        "select " + "(select " * 2200 + "1" + ")" * 2200,
        "select " + "-" * 19000 + "1",
    ],
)
def test_deeply_nested_queries_get_an_answer_not_a_crash(query):
    try:
        assert validate_invariant_sql(query).startswith("select")
    except ValueError as exc:
        assert "nested too deeply" in str(exc) or "cannot parse" in str(exc)


def test_overlong_queries_are_refused():
    with pytest.raises(ValueError, match=f"longer than {MAX_INVARIANT_CHARS}"):
        validate_invariant_sql("select 1" + " " * MAX_INVARIANT_CHARS)


SMUGGLED = r"select 'x\', ' ) as a; commit; begin read write; update victim set v = 0; select ('"


def test_a_backslash_before_a_quote_is_refused_as_ambiguous():
    # With standard_conforming_strings off the server would end the first string later and read a COMMIT
    # and an UPDATE after it. PostgreSQL's grammar with the setting on (as the engine runs it) sees two
    # strings; the guard refuses the text rather than depend on the setting alone.
    (raw,) = parse_sql(SMUGGLED)
    assert len(raw.stmt.targetList) == 2
    with pytest.raises(ValueError, match="backslash before a quote.*standard_conforming_strings is off"):
        validate_invariant_sql(SMUGGLED)


@pytest.mark.parametrize("literal", [r"'x\'", r"'a\'''", r"'\\\'", r"n'\'", r"'it''s \' || 'y'"])
def test_every_string_with_an_escaped_looking_quote_is_refused(literal):
    with pytest.raises(ValueError, match="backslash before a quote"):
        validate_invariant_sql(f"select {literal} as s")


def test_the_names_looked_up_on_the_target_are_the_unqualified_ones():
    checked = inspect_invariant_sql(
        "select lower(o.name), pg_catalog.upper(o.name), (o).total from orders o "
        "where o.id operator(pg_catalog.<) 3 and o.x % 2 = 0"
    )
    assert checked.functions == {"lower"}
    assert {"name", "total", "id", "x"} <= checked.attributes
    assert checked.operators == {"%", "="}
    implicit = inspect_invariant_sql(
        "select case a when 1 then 2 end from t join u using (id) where b between 1 and 2 and c like 'x%'"
    )
    assert implicit.operators == {"=", "<", ">", "<=", ">=", "~~"}


def test_the_wrapper_is_one_select_over_the_check():
    wrapped = wrap_invariant_sql("select id from t -- no newline at the end", 9).sql
    assert wrapped == "select * from (\nselect id from t -- no newline at the end\n) as invariant limit 10"
    assert len(parse_sql(wrapped)) == 1


def test_every_allowed_function_is_a_plain_lower_case_name():
    assert all(re.fullmatch(r"[a-z_][a-z0-9_]*", name) for name in ALLOWED_FUNCTIONS)
    dangerous = {"pg_terminate_backend", "set_config", "nextval", "query_to_xml", "ts_stat", "pg_read_file"}
    assert not dangerous & ALLOWED_FUNCTIONS


def _unicode_escaped(name: str) -> str:
    return 'U&"' + "".join(f"\\{ord(c):04x}" for c in name) + '"'


REFUSED_NAMES = [
    "pg_terminate_backend",
    "pg_read_file",
    "query_to_xml_and_xmlschema",
    "ts_stat",
    "set_config",
]


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(REFUSED_NAMES),
    spelling=st.sampled_from(["plain", "quoted", "unicode", "catalog", "upper"]),
    where=st.sampled_from(
        [
            "select {}(1)",
            "select * from {}(1)",
            "select 1 where {}(1) is null",
            "with a as (select {}(1)) select * from a",
            "select (select {}(1))",
        ]
    ),
)
def test_refused_functions_are_refused_however_they_are_spelt(name, spelling, where):
    spelt = {
        "plain": name,
        "quoted": f'"{name}"',
        "unicode": _unicode_escaped(name),
        "catalog": f"pg_catalog.{_unicode_escaped(name)}",
        "upper": name.upper(),  # folded to lower case by the server, as by the guard
    }[spelling]
    with pytest.raises(ValueError, match=re.escape(f"{name}()")):
        validate_invariant_sql(where.format(spelt))


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=200) | st.from_regex(r"(?i)(select|with)[ \w'\";$()*/\-=.,\\&]*", fullmatch=True))
def test_validation_raises_nothing_but_value_error_and_what_passes_wraps_to_one_statement(text):
    try:
        checked = wrap_invariant_sql(text, 5)
    except ValueError:
        return
    assert len(parse_sql(checked.sql)) == 1
