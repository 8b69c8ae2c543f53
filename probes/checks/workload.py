"""Probes on the live workload (seed §8.3, §19.1, §19.2): statements, scans, transactions, locks, backends."""

from __future__ import annotations

from typing import Any

from ..registry import Probe, Status, Verdict, register
from .sql import APP_ROLES
from .verdicts import duration, fail, num, plural, table, verdict, warn

PG_STAT_STATEMENTS_FIX = (
    "CREATE EXTENSION pg_stat_statements; -- and add pg_stat_statements to shared_preload_libraries "
    "(ALTER SYSTEM SET shared_preload_libraries = '...,pg_stat_statements'; then restart)"
)


def _top_statements(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    if not rows:
        return Verdict(Status.PASS, "pg_stat_statements has recorded no statement for this database yet")
    slow = [
        warn(
            f"queryid {r['queryid']}",
            f"mean {num(r['mean_exec_ms']):.0f} ms over {int(num(r['calls']))} calls "
            f"(total {duration(num(r['total_exec_ms']) / 1000)}): {r['sample_query']}",
            mean_exec_ms=r["mean_exec_ms"],
            calls=r["calls"],
        )
        for r in rows
        if num(r["mean_exec_ms"]) >= params["slow_mean_ms"] and num(r["calls"]) >= params["min_calls"]
    ]
    top = rows[0]
    ok = (
        f"top {len(rows)} statements by total time; the first took "
        f"{duration(num(top['total_exec_ms']) / 1000)} "
        f"over {int(num(top['calls']))} calls, none averages {params['slow_mean_ms']} ms or more"
    )
    return verdict(
        slow, ok=ok, found=f"{{n}} frequent statement{{s}} average {params['slow_mean_ms']} ms or more"
    )


register(
    Probe(
        id="query-index.top-statements",
        category="query-index",
        severity="P2",
        title="Top statements by total time",
        checks="The 20 statements that spent the most execution time in this database (pg_stat_statements). "
        "They are where latency and capacity go; each needs a named access pattern and an index contract.",
        fix="EXPLAIN (ANALYZE, BUFFERS) the slow statement on production-like data, then add the index its "
        "predicate and order need, or rewrite it (keyset pagination instead of OFFSET).",
        sql="""
select s.queryid, s.calls, round(s.total_exec_time::numeric, 1) as total_exec_ms,
       round(s.mean_exec_time::numeric, 2) as mean_exec_ms, s.rows, r.rolname as role,
       left(s.query, 160) as sample_query
from pg_stat_statements s
left join pg_roles r on r.oid = s.userid
where s.dbid = (select oid from pg_database where datname = current_database())
order by s.total_exec_time desc
limit 20
""",
        evaluate=_top_statements,
        params={"slow_mean_ms": 500, "min_calls": 50},
        requires_extension="pg_stat_statements",
        seed="8.3",
        masked=("sample_query",),
    )
)


def _index_usage(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    never = [r for r in rows if int(num(r["idx_scan"])) == 0]
    if not rows:
        return Verdict(Status.PASS, "no index in the application's schemas")
    return Verdict(
        Status.PASS,
        f"{len(rows)} least-used indexes listed; {plural(len(never), 'index', 'indexes')} among them never "
        "scanned since the statistics were reset (see query-index.unused-indexes)",
    )


register(
    Probe(
        id="query-index.index-usage",
        category="query-index",
        severity="P3",
        title="Index usage",
        checks="How often each index was scanned since the statistics were reset, least used first. "
        "Every index costs writes and storage; the ones nobody reads are candidates to drop.",
        fix="Compare with the access-pattern inventory; drop an index only after checking replicas and rare "
        "jobs also do not use it (DROP INDEX CONCURRENTLY).",
        sql="""
select s.schemaname as schema, s.relname as table, s.indexrelname as index, s.idx_scan, s.idx_tup_read,
       s.idx_tup_fetch, pg_relation_size(s.indexrelid) as index_bytes
from pg_stat_user_indexes s
where s.schemaname <> all(%(exclude_schemas)s::text[])
order by s.idx_scan asc, s.idx_tup_read desc
limit 50
""",
        evaluate=_index_usage,
        seed="8.3",
    )
)


def _seq_scan_suspects(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = [
        warn(
            table(r),
            f"{int(num(r['seq_scan']))} sequential scans read {int(num(r['seq_tup_read'])):,} rows of a "
            f"{int(num(r['n_live_tup'])):,}-row table (index scans: {int(num(r['idx_scan']))})",
            seq_scan=r["seq_scan"],
            seq_tup_read=r["seq_tup_read"],
            idx_scan=r["idx_scan"],
            n_live_tup=r["n_live_tup"],
        )
        for r in rows
        if num(r["n_live_tup"]) >= params["min_live_tup"]
        and num(r["seq_scan"]) >= params["min_seq_scans"]
        and num(r["seq_scan"]) > num(r["idx_scan"])
    ]
    return verdict(
        items,
        ok=f"no table of {params['min_live_tup']:,} rows or more is mostly read by sequential scans",
        found="{n} large table{s} mostly read by sequential scans",
    )


register(
    Probe(
        id="query-index.seq-scan-suspects",
        category="query-index",
        severity="P2",
        title="Sequential-scan suspects",
        checks="Large tables read more often by sequential scans than by index scans. On a big table each "
        "such scan reads everything; under load this is how latency collapses.",
        fix="Find the statements scanning the table (pg_stat_statements), EXPLAIN them and add the index "
        "their predicate needs (CREATE INDEX CONCURRENTLY).",
        sql="""
select schemaname as schema, relname as table, seq_scan, seq_tup_read, coalesce(idx_scan, 0) as idx_scan,
       n_live_tup
from pg_stat_user_tables
where n_live_tup >= %(min_live_tup)s and schemaname <> all(%(exclude_schemas)s::text[])
order by seq_tup_read desc
limit 50
""",
        evaluate=_seq_scan_suspects,
        params={"min_live_tup": 100_000, "min_seq_scans": 20},
        seed="8.3",
    )
)


def _age_items(rows, params, *, age_key: str, what: str):
    for r in rows:
        age = num(r[age_key])
        if age >= params["fail_seconds"]:
            make = fail
        elif age >= params["warn_seconds"]:
            make = warn
        else:
            continue
        yield make(
            f"pid {r['pid']}",
            f"{what} for {duration(age)} (user {r['usename']}, application {r['application_name'] or '-'}, "
            f"state {r['state']}): {r['query']}",
            pid=r["pid"],
            seconds=round(age, 1),
            usename=r["usename"],
        )


def _long_transactions(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = list(_age_items(rows, params, age_key="xact_age_s", what="transaction open"))
    return verdict(
        items,
        ok=f"no transaction open for {duration(params['warn_seconds'])} or more"
        + (f" (oldest: {duration(rows[0]['xact_age_s'])})" if rows else ""),
        found=f"{{n}} transaction{{s}} open for {duration(params['warn_seconds'])} or more",
    )


register(
    Probe(
        id="transaction.long-transactions",
        category="transaction",
        severity="P2",
        title="Long transactions",
        checks="Transactions open in this database for longer than a threshold. They hold locks and keep "
        "vacuum from removing dead rows everywhere, and usually mean a batch job or a leaked connection.",
        fix="Find the owner from application_name; chunk the batch job. To end one now: "
        "SELECT pg_cancel_backend(pid); (or pg_terminate_backend) after identifying what it blocks.",
        sql="""
select pid, usename, application_name, state,
       extract(epoch from now() - xact_start)::float8 as xact_age_s,
       extract(epoch from now() - query_start)::float8 as query_age_s,
       left(query, 160) as query
from pg_stat_activity
where xact_start is not null and pid <> pg_backend_pid() and datname = current_database()
  and backend_type = 'client backend'
order by xact_start
limit 20
""",
        evaluate=_long_transactions,
        params={"warn_seconds": 300, "fail_seconds": 3600},
        seed="19.1",
        masked=("query",),
    )
)


def _idle_in_transaction(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = list(_age_items(rows, params, age_key="idle_s", what="idle inside an open transaction"))
    return verdict(
        items,
        ok=f"no session idle in a transaction for {duration(params['warn_seconds'])} or more",
        found=f"{{n}} session{{s}} idle in a transaction for {duration(params['warn_seconds'])} or more",
    )


register(
    Probe(
        id="transaction.idle-in-transaction",
        category="transaction",
        severity="P2",
        title="Idle-in-transaction sessions",
        checks="Sessions that opened a transaction and then went quiet. They keep their locks and block "
        "vacuum while doing nothing: typically an application that forgot to commit or a hung client.",
        fix="Fix the code path that leaves the transaction open; set a guard rail: "
        "ALTER DATABASE <db> SET idle_in_transaction_session_timeout = '60s';",
        sql="""
select pid, usename, application_name, state,
       extract(epoch from now() - state_change)::float8 as idle_s,
       extract(epoch from now() - xact_start)::float8 as xact_age_s,
       left(query, 160) as query
from pg_stat_activity
where state in ('idle in transaction', 'idle in transaction (aborted)') and datname = current_database()
  and pid <> pg_backend_pid()
order by state_change
limit 50
""",
        evaluate=_idle_in_transaction,
        params={"warn_seconds": 60, "fail_seconds": 600},
        seed="13.1",
        masked=("query",),
    )
)


def _blocked_sessions(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    by_blocked: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        by_blocked.setdefault(r["blocked_pid"], []).append(r)
    items = []
    for pid, blockers in by_blocked.items():
        first = blockers[0]
        waited = num(first["waiting_s"])
        if waited >= params["fail_seconds"]:
            make = fail
        elif waited >= params["warn_seconds"]:
            make = warn
        else:
            continue
        who = ", ".join(
            f"pid {b['blocking_pid']} ({b['blocking_user'] or '?'}, {b['blocking_state'] or '?'})"
            for b in blockers
        )
        items.append(
            make(
                f"pid {pid}",
                f"waiting {duration(waited)} for a lock held by {who}: {first['blocked_query']}",
                blocked_pid=pid,
                blocking_pids=[b["blocking_pid"] for b in blockers],
                seconds=round(waited, 1),
            )
        )
    return verdict(
        items,
        ok=f"no session waiting on a lock for {duration(params['warn_seconds'])} or more",
        found="{n} blocked session{s}: "
        + "; ".join(
            f"{i.object} blocked by " + ", ".join(f"pid {p}" for p in i.data["blocking_pids"])
            for i in items[:3]
        ),
    )


register(
    Probe(
        id="transaction.blocked-sessions",
        category="transaction",
        severity="P2",
        title="Blocked sessions and who blocks them",
        checks="Sessions waiting for a lock, with the pid that holds it (pg_blocking_pids). A lock queue "
        "behind one slow or idle transaction is the usual shape of a lock storm.",
        fix="Identify the blocker tree before acting (Guide: Runbooks and incident response); end the root "
        "blocker only with approval: "
        "SELECT pg_cancel_backend(<blocking pid>); set lock_timeout on migrations.",
        sql="""
select a.pid as blocked_pid, a.usename as blocked_user, left(a.query, 160) as blocked_query,
       extract(epoch from now() - coalesce(a.state_change, a.query_start))::float8 as waiting_s,
       b.pid as blocking_pid, b.usename as blocking_user, b.state as blocking_state,
       left(b.query, 160) as blocking_query,
       extract(epoch from now() - b.xact_start)::float8 as blocking_xact_age_s
from pg_stat_activity a
cross join lateral unnest(pg_blocking_pids(a.pid)) as bp(pid)
left join pg_stat_activity b on b.pid = bp.pid
where a.wait_event_type = 'Lock' and a.datname = current_database()
order by waiting_s desc, a.pid, b.pid
limit 200
""",
        evaluate=_blocked_sessions,
        params={"warn_seconds": 5, "fail_seconds": 60},
        seed="19.2",
        masked=("blocked_query", "blocking_query"),
    )
)


def _deadlocks(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = [
        warn(
            f"database {r['datname']}",
            f"{int(num(r['deadlocks']))} deadlocks since statistics were reset "
            f"({r['stats_reset'] or 'never reset'})",
            deadlocks=r["deadlocks"],
        )
        for r in rows
        if num(r["deadlocks"]) > params["max_deadlocks"]
    ]
    return verdict(items, ok="no deadlock recorded since statistics were reset", found="deadlocks recorded")


register(
    Probe(
        id="transaction.deadlocks",
        category="transaction",
        severity="P3",
        title="Deadlocks recorded",
        checks="Deadlocks counted for this database since its statistics were reset. Each one aborted a "
        "transaction; they point at write paths that lock rows in different orders.",
        fix="Turn on log_lock_waits to see the statements, document and fix the lock order of the write "
        "paths involved, and make the application retry deadlock errors (SQLSTATE 40P01).",
        sql="""
select datname, deadlocks, conflicts, temp_files, temp_bytes, xact_commit, xact_rollback, stats_reset
from pg_stat_database
where datname = current_database()
""",
        evaluate=_deadlocks,
        params={"max_deadlocks": 0},
        seed="9.2",
    )
)


def _connection_saturation(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = []
    cluster = ""
    for r in rows:
        used, limit = int(num(r["used"])), int(num(r["lim"]))
        ratio = used / limit if limit > 0 else 1.0
        if r["scope"] == "cluster":
            cluster = f"{used} of {limit} client connections in use on the server"
        if ratio >= params["fail_ratio"]:
            make = fail
        elif ratio >= params["warn_ratio"]:
            make = warn
        else:
            continue
        obj = {"cluster": "server", "database": f"database {r['name']}", "role": f"role {r['name']}"}[
            r["scope"]
        ]
        items.append(
            make(
                obj,
                f"{used} connections of a limit of {limit} ({ratio:.0%}; {r['name']})",
                used=used,
                limit=limit,
            )
        )
    return verdict(
        items,
        ok=(cluster or "connections counted") + f"; nothing at {params['warn_ratio']:.0%} of its limit",
        found="{n} connection limit{s} nearly reached: "
        + "; ".join(f"{i.object}: {i.message}" for i in items[:3]),
    )


register(
    Probe(
        id="capacity.connection-saturation",
        category="capacity",
        severity="P1",
        title="Connection saturation",
        checks="Client connections against max_connections (less the superuser reserve), against this "
        "database's CONNECTION LIMIT and against each application role's limit. When the limit is hit, "
        "new requests fail outright.",
        fix="Put a pooler (PgBouncer) in front, size the application pools to the envelope, or raise the "
        "limit deliberately: ALTER ROLE <app> CONNECTION LIMIT <n>; (max_connections needs a restart).",
        sql=f"""
with {APP_ROLES},
conns as (select a.datname, a.usename from pg_stat_activity a where a.backend_type = 'client backend')
select 'cluster' as scope, 'max_connections' as name, (select count(*) from conns) as used,
       current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int as lim
union all
select 'database', d.datname::text, (select count(*) from conns c where c.datname = d.datname), d.datconnlimit
from pg_database d
where d.datname = current_database() and d.datconnlimit >= 0
union all
select 'role', r.rolname::text, (select count(*) from conns c where c.usename = r.rolname), r.rolconnlimit
from app_roles r
where r.rolconnlimit >= 0 and not r.rolsuper
""",
        evaluate=_connection_saturation,
        params={"warn_ratio": 0.8, "fail_ratio": 0.95},
        seed="17.1",
    )
)
