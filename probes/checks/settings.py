"""Settings probes (seed §9, §10, §13): timeouts the application runs under, and what the server logs."""

from __future__ import annotations

import re
from typing import Any

from ..registry import Probe, Status, Verdict, register
from .sql import APP_ROLES
from .verdicts import duration, fail, verdict, warn

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}


def to_ms(value: Any) -> float | None:
    """A time setting as written in postgresql.conf or ALTER ... SET ('30s', '5min', '0', '1500') in ms."""
    if value is None:
        return None
    match = re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?", str(value).strip().strip("'\"").lower())
    if not match:
        return None
    return float(match[1]) * _UNITS_MS[match[2] or "ms"]


def _timeout_sql(setting: str) -> str:
    # Where a timeout comes from, most specific first: ALTER ROLE r IN DATABASE d SET, ALTER ROLE r SET,
    # ALTER DATABASE d SET, then the server. The probe applies its own timeouts with SET LOCAL, so the
    # session's reset_val is still the database/server default unless the probe role has its own setting.
    return f"""
with {APP_ROLES},
cfg as (
  select d.setdatabase, d.setrole, substr(s, length('{setting}') + 2) as value
  from pg_db_role_setting d
  cross join lateral unnest(d.setconfig) s
  where starts_with(s, '{setting}=')
    and d.setdatabase in (0, (select oid from pg_database where datname = current_database()))
)
select 'database' as scope, current_database()::text as name,
       (select value from cfg where setdatabase <> 0 and setrole = 0) as value,
       case when not exists (select 1 from cfg
                             where setrole = (select oid from pg_roles where rolname = current_user))
            then (select reset_val from pg_settings where name = '{setting}') end as server_value
union all
select 'role', r.rolname::text,
       coalesce((select value from cfg where setdatabase <> 0 and setrole = r.oid),
                (select value from cfg where setdatabase = 0 and setrole = r.oid)),
       null
from app_roles r
order by 1, 2
"""


def _timeout_evaluate(setting: str, why: str):
    def evaluate(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
        db = next(
            (r for r in rows if r["scope"] == "database"), {"name": "?", "value": None, "server_value": None}
        )
        db_ms = to_ms(db["value"]) if db["value"] is not None else to_ms(db["server_value"])
        db_source = "database" if db["value"] is not None else "server"
        targets = [
            (f"role {r['name']}", to_ms(r["value"]), "role")
            if r["value"] is not None
            else (f"role {r['name']}", db_ms, db_source)
            for r in rows
            if r["scope"] == "role"
        ] or [(f"database {db['name']}", db_ms, db_source)]
        items = []
        for obj, ms, source in targets:
            if ms is None:
                items.append(
                    warn(
                        obj,
                        f"cannot tell the {setting} in force: the probe role has its own setting "
                        "that hides the server default",
                    )
                )
            elif ms <= 0:
                items.append(
                    fail(obj, f"{setting} is 0 (unset, from the {source} level): {why}", source=source)
                )
            elif params["max_ms"] and ms > params["max_ms"]:
                items.append(
                    warn(
                        obj,
                        f"{setting} is {duration(ms / 1000)} (from the {source} level), above "
                        f"{duration(params['max_ms'] / 1000)}",
                        ms=ms,
                        source=source,
                    )
                )
        ok = ", ".join(f"{obj}: {duration((ms or 0) / 1000)} ({source})" for obj, ms, source in targets[:5])
        return verdict(
            items,
            ok=f"{setting} set — {ok}",
            found=f"{setting} unset or too long for {{n}} of {len(targets)}: {{first}}",
        )

    return evaluate


for _id, _setting, _category, _why, _max_ms, _fix, _seed in (
    (
        "transaction.statement-timeout-unset",
        "statement_timeout",
        "transaction",
        "one runaway query can run for hours, holding locks and connections",
        300_000,
        "ALTER ROLE <app role> IN DATABASE <db> SET statement_timeout = '30s'; -- or ALTER DATABASE <db> SET "
        "...",
        "9.2",
    ),
    (
        "transaction.idle-in-transaction-timeout-unset",
        "idle_in_transaction_session_timeout",
        "transaction",
        "a client that forgets to commit holds its locks and blocks vacuum forever",
        600_000,
        "ALTER ROLE <app role> IN DATABASE <db> SET idle_in_transaction_session_timeout = '60s';",
        "9.2",
    ),
    (
        "migration.lock-timeout-unset",
        "lock_timeout",
        "migration",
        "a DDL statement waiting for its lock makes every later query on the table queue behind it",
        60_000,
        "ALTER ROLE <app/migration role> IN DATABASE <db> SET lock_timeout = '5s'; -- and SET lock_timeout "
        "in "
        "each migration",
        "10.3",
    ),
):
    register(
        Probe(
            id=_id,
            category=_category,
            severity="P2",
            title=f"{_setting} unset",
            checks=f"The {_setting} each application role gets in this database (role-in-database, role, "
            f"database and server settings, most specific first). Unset (0): {_why}.",
            fix=_fix,
            sql=_timeout_sql(_setting),
            evaluate=_timeout_evaluate(_setting, _why),
            params={"max_ms": _max_ms},
            seed=_seed,
        )
    )


def _slow_query_log(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    value = rows[0]["log_min_duration_statement"]
    if str(value).strip() == "-1":
        return verdict(
            [
                warn(
                    "setting log_min_duration_statement",
                    "-1: slow statements are never logged, so the slow-query runbook starts without evidence",
                )
            ],
            ok="",
            found="slow statements are not logged",
        )
    return Verdict(Status.PASS, f"statements slower than {value} are logged")


register(
    Probe(
        id="observability.slow-query-log",
        category="observability",
        severity="P3",
        title="Slow-query log",
        checks="Whether log_min_duration_statement logs slow statements for this database (the slow "
        "query log is one of the query signals on-call needs).",
        fix="ALTER DATABASE <db> SET log_min_duration_statement = '500ms'; -- or ALTER SYSTEM and reload",
        sql="select current_setting('log_min_duration_statement') as log_min_duration_statement",
        evaluate=_slow_query_log,
        seed="13.1",
    )
)


def _lock_wait_logging(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    r = rows[0]
    if r["log_lock_waits"] != "on":
        return verdict(
            [
                warn(
                    "setting log_lock_waits",
                    f"off: waits longer than deadlock_timeout ({r['deadlock_timeout']}) "
                    "leave no trace in the log",
                )
            ],
            ok="",
            found="lock waits are not logged",
        )
    return Verdict(Status.PASS, f"lock waits longer than {r['deadlock_timeout']} are logged")


register(
    Probe(
        id="observability.lock-wait-logging",
        category="observability",
        severity="P3",
        title="Lock-wait logging",
        checks="Whether log_lock_waits is on, so lock waits longer than deadlock_timeout are logged with "
        "the blocking pid: the first evidence a lock-storm runbook needs.",
        fix="ALTER DATABASE <db> SET log_lock_waits = on; -- or ALTER SYSTEM SET log_lock_waits = on; "
        "SELECT pg_reload_conf();",
        sql="select current_setting('log_lock_waits') as log_lock_waits, "
        "current_setting('deadlock_timeout') as deadlock_timeout",
        evaluate=_lock_wait_logging,
        seed="13.1",
    )
)


def _pg_stat_statements(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    r = rows[0]
    preloaded = "pg_stat_statements" in [s.strip() for s in (r["shared_preload_libraries"] or "").split(",")]
    items = []
    if not preloaded:
        items.append(
            warn(
                "setting shared_preload_libraries",
                "pg_stat_statements is not preloaded: no per-statement latency, calls or rows are recorded",
            )
        )
    if not r["installed"]:
        items.append(
            warn("extension pg_stat_statements", "not created in this database: its view cannot be read")
        )
    return verdict(
        items,
        ok="pg_stat_statements is loaded and installed",
        found="statement statistics are not collected: " + "; ".join(i.object for i in items),
    )


register(
    Probe(
        id="observability.pg-stat-statements",
        category="observability",
        severity="P2",
        title="Statement statistics collected",
        checks="Whether pg_stat_statements is preloaded and created in this database. Without it nobody can "
        "say which queries spend the time.",
        fix="ALTER SYSTEM SET shared_preload_libraries = '...,pg_stat_statements'; -- restart, then: "
        "CREATE EXTENSION pg_stat_statements;",
        sql="""
select current_setting('shared_preload_libraries') as shared_preload_libraries,
       exists (select 1 from pg_extension where extname = 'pg_stat_statements') as installed
""",
        evaluate=_pg_stat_statements,
        seed="13.1",
    )
)
