"""Maintenance probes (seed §13.1, §19.3): dead tuples, vacuum, wraparound, sequences, checksums."""

from __future__ import annotations

from typing import Any

from ..registry import Probe, Status, Verdict, register
from .sql import user_schema
from .verdicts import duration, fail, num, skipped, table, verdict, warn


def _dead_tuples(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = []
    for r in rows:
        dead, live = num(r["n_dead_tup"]), num(r["n_live_tup"])
        ratio = dead / (dead + live) if dead + live else 0.0
        if dead >= params["min_dead_tuples"] and ratio >= params["dead_ratio"]:
            items.append(
                warn(
                    table(r),
                    f"{int(dead):,} dead rows ({ratio:.0%} of the table); last vacuum "
                    f"{r['last_vacuum'] or r['last_autovacuum'] or 'never'}",
                    n_dead_tup=int(dead),
                    n_live_tup=int(live),
                )
            )
    return verdict(
        items,
        ok=f"no table has {params['min_dead_tuples']:,}+ dead rows making {params['dead_ratio']:.0%}+ of it"
        + (f" (most: {table(rows[0])} with {int(num(rows[0]['n_dead_tup'])):,})" if rows else ""),
        found="{n} table{s} bloated with dead rows",
    )


register(
    Probe(
        id="capacity.dead-tuples",
        category="capacity",
        severity="P2",
        title="Dead tuples",
        checks="Tables whose dead rows (left by updates and deletes, not yet vacuumed) are many and a large "
        "share of the table. They slow every scan and grow the table on disk.",
        fix="VACUUM (VERBOSE) <schema>.<table>; then tune autovacuum for it: ALTER TABLE <t> SET "
        "(autovacuum_vacuum_scale_factor = 0.02);",
        sql="""
select schemaname as schema, relname as table, n_live_tup, n_dead_tup, last_vacuum, last_autovacuum,
       last_analyze, last_autoanalyze
from pg_stat_user_tables
where schemaname <> all(%(exclude_schemas)s::text[])
order by n_dead_tup desc
limit 50
""",
        evaluate=_dead_tuples,
        params={"min_dead_tuples": 10_000, "dead_ratio": 0.2},
        seed="19.3",
    )
)


def _vacuum_age(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    limit = params["max_days"] * 86400
    items = [
        warn(
            table(r),
            f"{int(num(r['n_dead_tup'])):,} dead rows and "
            + (
                "never vacuumed"
                if r["since_vacuum_s"] is None
                else f"last vacuumed {duration(r['since_vacuum_s'])} ago"
            ),
            n_dead_tup=r["n_dead_tup"],
            since_vacuum_s=r["since_vacuum_s"],
        )
        for r in rows
        if num(r["n_dead_tup"]) >= params["min_dead_tuples"]
        and (r["since_vacuum_s"] is None or num(r["since_vacuum_s"]) >= limit)
    ]
    return verdict(
        items,
        ok=f"every table with {params['min_dead_tuples']:,}+ dead rows was vacuumed in the last "
        f"{params['max_days']} days",
        found="{n} table{s} with dead rows not vacuumed recently",
    )


register(
    Probe(
        id="capacity.vacuum-age",
        category="capacity",
        severity="P3",
        title="Vacuum age",
        checks="Tables holding dead rows that no vacuum (manual or auto) has visited for days, or ever. "
        "Autovacuum is not keeping up with them, or is disabled for them.",
        fix="VACUUM (ANALYZE) <schema>.<table>; check capacity.autovacuum-disabled and long transactions "
        "holding back the xmin horizon.",
        sql="""
select schemaname as schema, relname as table, n_dead_tup, n_mod_since_analyze,
       extract(epoch from now() - greatest(last_vacuum, last_autovacuum))::float8 as since_vacuum_s,
       extract(epoch from now() - greatest(last_analyze, last_autoanalyze))::float8 as since_analyze_s
from pg_stat_user_tables
where n_dead_tup >= %(min_dead_tuples)s and schemaname <> all(%(exclude_schemas)s::text[])
order by n_dead_tup desc
limit 200
""",
        evaluate=_vacuum_age,
        params={"min_dead_tuples": 1000, "max_days": 7},
        seed="19.3",
    )
)


def _autovacuum_disabled(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = []
    for r in rows:
        if r["scope"] in ("autovacuum", "track_counts"):
            if r["setting"] != "on":
                items.append(
                    fail(
                        f"setting {r['scope']}",
                        f"{r['scope']} = {r['setting']}: autovacuum does not "
                        "run, dead rows and transaction-ID age grow until wraparound stops writes",
                    )
                )
        else:
            items.append(warn(table(r), f"autovacuum disabled for the table ({r['setting']})"))
    return verdict(
        items, ok="autovacuum is on for the server and every table", found="autovacuum disabled: {first}"
    )


register(
    Probe(
        id="capacity.autovacuum-disabled",
        category="capacity",
        severity="P2",
        title="Autovacuum disabled",
        checks="Whether autovacuum (and track_counts, which it needs) is on, and tables where a storage "
        "parameter turned it off. Without it dead rows pile up and wraparound protection relies on luck.",
        fix="ALTER TABLE <schema>.<table> RESET (autovacuum_enabled, toast.autovacuum_enabled); "
        "ALTER SYSTEM SET autovacuum = on;",
        sql=f"""
select 'autovacuum' as scope, null as schema, null as table, current_setting('autovacuum') as setting
union all
select 'track_counts', null, null, current_setting('track_counts')
union all
select 'table', n.nspname::text, c.relname::text,
       array_to_string(c.reloptions || coalesce(t.reloptions, '{{}}'), ', ')
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
left join pg_class t on t.oid = c.reltoastrelid
where c.relkind in ('r', 'm', 'p') and {user_schema()}
  and (array_to_string(c.reloptions, ',') ~* 'autovacuum_enabled=(false|off|no|0)'
       or array_to_string(t.reloptions, ',') ~* 'autovacuum_enabled=(false|off|no|0)')
""",
        evaluate=_autovacuum_disabled,
        seed="13.1",
    )
)

_XID_LIMIT = 2**31


def _wraparound(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = []
    db = next((r for r in rows if r["kind"] == "database"), None)
    for r in rows:
        age = max(num(r["xid_age"]), num(r["mxid_age"]))
        if age >= params["fail_age"]:
            make = fail
        elif age >= params["warn_age"]:
            make = warn
        else:
            continue
        obj = f"database {r['name']}" if r["kind"] == "database" else r["name"]
        items.append(
            make(
                obj,
                f"transaction-ID age {int(num(r['xid_age'])):,}, multixact age {int(num(r['mxid_age'])):,} "
                f"({age / _XID_LIMIT:.0%} of the 2^31 limit at which writes stop)",
                xid_age=r["xid_age"],
                mxid_age=r["mxid_age"],
            )
        )
    ok = "no transaction-ID age near wraparound"
    if db:
        ok = (
            f"database {db['name']}: transaction-ID age {int(num(db['xid_age'])):,} "
            f"({num(db['xid_age']) / _XID_LIMIT:.1%} of the limit), under {int(params['warn_age']):,}"
        )
    return verdict(items, ok=ok, found="{n} object(s) approaching transaction-ID wraparound: {first}")


register(
    Probe(
        id="capacity.xid-wraparound",
        category="capacity",
        severity="P1",
        title="Transaction-ID wraparound age",
        checks="The age of the oldest unfrozen transaction ID (and multixact) of this database and of its "
        "oldest tables. At 2^31 the server stops accepting writes to protect data: a total outage.",
        fix="VACUUM (FREEZE, VERBOSE) <schema>.<table>; on the oldest tables; end long transactions and drop "
        "stale replication slots that hold the horizon back.",
        sql="""
select 'database' as kind, datname::text as name, age(datfrozenxid) as xid_age,
       mxid_age(datminmxid) as mxid_age
from pg_database
where datname = current_database()
union all
(select 'table', n.nspname || '.' || c.relname, age(c.relfrozenxid), mxid_age(c.relminmxid)
 from pg_class c
 join pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'm', 't')
 order by age(c.relfrozenxid) desc
 limit 5)
""",
        evaluate=_wraparound,
        params={"warn_age": 500_000_000, "fail_age": 1_200_000_000},
        seed="13.1",
    )
)


def _sequence_usage(r: dict[str, Any]) -> tuple[float, int]:
    """The share of its range a sequence has used, and the limit that applies (its own or its column's)."""
    inc, last = num(r["increment_by"], 1), num(r["last_value"])
    lo, hi = num(r["min_value"]), num(r["max_value"])
    if r.get("column_max"):
        hi = min(hi, num(r["column_max"]))
        lo = max(lo, -num(r["column_max"]) - 1)
    if inc >= 0:
        span = hi - lo
        return ((last - lo) / span if span > 0 else 1.0), int(hi)
    span = hi - lo
    return ((hi - last) / span if span > 0 else 1.0), int(lo)


def _sequences(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    unreadable = [r for r in rows if not r["readable"]]
    readable = [r for r in rows if r["readable"]]
    if rows and not readable:
        role = params.get("probe_role", "<probe role>")
        schemas = sorted({r["schema"] for r in unreadable})
        return skipped(
            f"the probe role cannot read the {len(unreadable)} sequences' current values",
            " ".join(f"GRANT SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {role};" for s in schemas),
        )
    items = []
    for r in readable:
        if r["cycle"] or r["last_value"] is None:
            continue
        used, limit = _sequence_usage(r)
        if used >= params["fail_ratio"]:
            make = fail
        elif used >= params["warn_ratio"]:
            make = warn
        else:
            continue
        feeds = (
            f"; feeds {r['schema']}.{r['table']}.{r['column']} ({r['column_type']})" if r["column"] else ""
        )
        items.append(
            make(
                f"sequence {r['schema']}.{r['sequence']}",
                f"at {int(num(r['last_value'])):,}: {used:.1%} of its limit {limit:,} "
                f"({r['data_type']}){feeds}",
                last_value=r["last_value"],
                limit=limit,
                used=round(used, 4),
            )
        )
    note = f" ({len(unreadable)} not readable by the probe role)" if unreadable else ""
    return verdict(
        items,
        ok=f"{len(readable)} sequence(s), none past {params['warn_ratio']:.0%} of its range{note}",
        found="{n} sequence(s) near exhaustion: {first}" + note,
    )


register(
    Probe(
        id="capacity.sequence-exhaustion",
        category="capacity",
        severity="P1",
        title="Sequences near exhaustion",
        checks="How much of its range each sequence has used, bounded by the type of the column it feeds (a "
        "bigint sequence behind an integer id fails at 2^31). When it runs out, every insert fails.",
        fix="ALTER TABLE <t> ALTER COLUMN <id> TYPE bigint; ALTER SEQUENCE <s> AS bigint; -- plan the "
        "rewrite "
        "long before the limit",
        sql=f"""
select n.nspname as schema, c.relname as sequence, format_type(s.seqtypid, null) as data_type,
       s.seqincrement as increment_by, s.seqmin as min_value, s.seqmax as max_value, s.seqcycle as cycle,
       has_sequence_privilege(c.oid, 'SELECT,USAGE') as readable,
       case when has_sequence_privilege(c.oid, 'SELECT,USAGE') then pg_sequence_last_value(c.oid) end
         as last_value,
       col.table, col.column, col.column_type, col.column_max
from pg_sequence s
join pg_class c on c.oid = s.seqrelid
join pg_namespace n on n.oid = c.relnamespace
left join lateral (
  select t.relname as table, a.attname as column, format_type(a.atttypid, a.atttypmod) as column_type,
         case a.atttypid when 'int2'::regtype then 32767 when 'int4'::regtype then 2147483647 end
           as column_max
  from pg_depend d
  join pg_class t on t.oid = d.refobjid
  join pg_attribute a on a.attrelid = t.oid and a.attnum = d.refobjsubid
  where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.refclassid = 'pg_class'::regclass
    and d.deptype in ('a', 'i') and d.refobjsubid > 0
  limit 1) col on true
where {user_schema()}
order by 1, 2
""",
        evaluate=_sequences,
        params={"warn_ratio": 0.75, "fail_ratio": 0.9},
        seed="17.1",
    )
)


def _checksums(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    r = rows[0]
    items = []
    if r["data_checksums"] != "on":
        items.append(
            fail(
                "setting data_checksums",
                "data checksums are off: a corrupted page is read, "
                "replicated and backed up without anyone noticing",
            )
        )
    failures = int(num(r["checksum_failures"]))
    if failures:
        items.append(
            fail(
                f"database {r['datname']}",
                f"{failures} checksum failures (last "
                f"{r['checksum_last_failure']}): storage is corrupting pages",
                failures=failures,
            )
        )
    if not items:
        return Verdict(Status.PASS, "data checksums are on and no failure was recorded")
    return verdict(items, ok="", found="; ".join(i.message.split(":")[0] for i in items))


register(
    Probe(
        id="backup.data-checksums",
        category="backup",
        severity="P2",
        title="Data checksums",
        checks="Whether the cluster was initialised with data checksums, and checksum failures counted for "
        "this database. Without them, silent storage corruption spreads into replicas and backups.",
        fix="Enable offline with pg_checksums --enable (server stopped), or initdb --data-checksums and "
        "migrate; managed services enable them for you.",
        sql="""
select current_setting('data_checksums') as data_checksums, d.datname, d.checksum_failures,
       d.checksum_last_failure
from pg_stat_database d
where d.datname = current_database()
""",
        evaluate=_checksums,
        seed="11.2",
    )
)
