"""Schema probes (seed §7, §10, §16): keys, column types, unlogged tables, NOT VALID constraints, comments."""

from __future__ import annotations

from typing import Any

from ..registry import Probe, Verdict, register
from .sql import not_extension_member, user_schema
from .verdicts import fail, num, plural, table, verdict, warn

_TABLES = f"c.relkind in ('r', 'p') and not c.relispartition and {user_schema()} and {not_extension_member()}"


def _tables_without_pk(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = [
        fail(
            table(r),
            "no primary key"
            + (
                "; it has a unique index that could become one (ALTER TABLE ... ADD PRIMARY KEY USING INDEX)"
                if r["has_unique"]
                else ""
            )
            + f" (~{int(num(r['est_rows'])):,} rows)",
            rows=r["est_rows"],
        )
        for r in rows
    ]
    return verdict(items, ok="every table has a primary key", found="{n} table{s} without a primary key")


register(
    Probe(
        id="schema.tables-without-primary-key",
        category="schema",
        severity="P1",
        title="Tables without a primary key",
        checks="Tables with no primary key. Rows cannot be addressed reliably, duplicates creep in, and "
        "logical replication or CDC cannot replicate their updates and deletes.",
        fix="ALTER TABLE <schema>.<table> ADD PRIMARY KEY (<columns>); -- on a big table build the unique "
        "index CONCURRENTLY first, then ADD PRIMARY KEY USING INDEX",
        sql=f"""
select n.nspname as schema, c.relname as table, greatest(c.reltuples, 0)::bigint as est_rows,
       exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisunique and i.indisvalid
               and i.indpred is null and i.indexprs is null) as has_unique
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where {_TABLES}
  and not exists (select 1 from pg_constraint k where k.conrelid = c.oid and k.contype = 'p')
order by 1, 2
""",
        evaluate=_tables_without_pk,
        seed="7.3",
    )
)


def _timestamp_without_tz(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = [
        warn(
            table(r),
            f"timestamp without time zone: {', '.join(r['columns'])}; the zone of each value is a convention "
            "nobody enforces",
            columns=r["columns"],
        )
        for r in rows
    ]
    return verdict(
        items,
        ok="no column is timestamp without time zone",
        found="{n} table{s} with timestamp without time zone",
    )


register(
    Probe(
        id="schema.timestamp-without-time-zone",
        category="schema",
        severity="P3",
        title="Timestamps without time zone",
        checks="Columns of type timestamp without time zone. Their meaning depends on the session's zone of "
        "whoever wrote them; DST shifts and servers in other zones silently corrupt event order.",
        fix="ALTER TABLE <schema>.<table> ALTER COLUMN <col> TYPE timestamptz USING <col> AT TIME ZONE "
        "'UTC'; "
        "-- rewrites the table: plan it as a migration",
        sql=f"""
select n.nspname as schema, c.relname as table, array_agg(a.attname::text order by a.attnum) as columns
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
where a.atttypid = 'timestamp'::regtype and a.attnum > 0 and not a.attisdropped and {_TABLES}
group by 1, 2
order by 1, 2
""",
        evaluate=_timestamp_without_tz,
        seed="7.2",
    )
)


def _unlogged_tables(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = [
        warn(
            table(r),
            f"unlogged (~{int(num(r['est_rows'])):,} rows): emptied after a crash, absent from standbys and "
            "from physical backups",
        )
        for r in rows
    ]
    return verdict(items, ok="no unlogged table", found="{n} unlogged table{s}")


register(
    Probe(
        id="backup.unlogged-tables",
        category="backup",
        severity="P2",
        title="Unlogged tables",
        checks="Tables created UNLOGGED. They skip the WAL, so a crash truncates them and neither replicas "
        "nor physical backups or PITR contain their rows: fine for a cache, a data loss for anything else.",
        fix="ALTER TABLE <schema>.<table> SET LOGGED; -- or record in the backup evidence that it is derived",
        sql=f"""
select n.nspname as schema, c.relname as table, greatest(c.reltuples, 0)::bigint as est_rows
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where c.relpersistence = 'u' and {_TABLES}
order by 1, 2
""",
        evaluate=_unlogged_tables,
        seed="11.2",
    )
)


def _unvalidated_constraints(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    kinds = {"c": "check", "f": "foreign key"}
    items = [
        warn(
            f"{table(r)} ({r['constraint']})",
            f"{kinds.get(r['contype'], r['contype'])} constraint {r['constraint']} is NOT VALID: existing "
            "rows "
            f"were never checked ({r['definition']})",
            constraint=r["constraint"],
        )
        for r in rows
    ]
    return verdict(items, ok="every constraint is validated", found="{n} constraint{s} left NOT VALID")


register(
    Probe(
        id="migration.unvalidated-constraints",
        category="migration",
        severity="P3",
        title="Constraints left NOT VALID",
        checks="CHECK and foreign-key constraints added NOT VALID and never validated. That is the right "
        "first half of a safe migration; without the second half old rows may break the invariant.",
        fix="ALTER TABLE <schema>.<table> VALIDATE CONSTRAINT <constraint>; -- takes only a SHARE UPDATE "
        "EXCLUSIVE lock",
        sql=f"""
select n.nspname as schema, c.relname as table, k.conname as constraint, k.contype,
       pg_get_constraintdef(k.oid) as definition
from pg_constraint k
join pg_class c on c.oid = k.conrelid
join pg_namespace n on n.oid = c.relnamespace
where not k.convalidated and {user_schema()}
order by 1, 2, 3
""",
        evaluate=_unvalidated_constraints,
        seed="10.2",
    )
)


def _replica_identity(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    reason = {
        "n": "REPLICA IDENTITY NOTHING",
        "d": "no primary key",
        "i": "its replica identity index is gone",
    }
    items = [
        fail(
            table(r),
            f"published by {', '.join(r['publications'])} but has {reason.get(r['relreplident'], '?')}: "
            "UPDATE and DELETE on it fail",
            publications=r["publications"],
        )
        for r in rows
    ]
    return verdict(
        items,
        ok="every published table has a replica identity",
        found="{n} published table{s} without identity",
    )


register(
    Probe(
        id="integration.replica-identity",
        category="integration",
        severity="P1",
        title="Published tables without replica identity",
        checks="Tables in a publication that publishes updates or deletes but have no usable replica "
        "identity. PostgreSQL then rejects every UPDATE and DELETE on them: CDC breaks the OLTP path.",
        fix="ALTER TABLE <schema>.<table> ADD PRIMARY KEY (...); or ALTER TABLE <schema>.<table> REPLICA "
        "IDENTITY USING INDEX <unique index>;",
        sql=f"""
select n.nspname as schema, c.relname as table, c.relreplident,
       array_agg(distinct p.pubname::text) as publications
from pg_publication p
join pg_publication_tables pt on pt.pubname = p.pubname
join pg_namespace n on n.nspname = pt.schemaname
join pg_class c on c.relnamespace = n.oid and c.relname = pt.tablename
where (p.pubupdate or p.pubdelete) and {user_schema()}
  and (c.relreplident = 'n'
       or (c.relreplident = 'd' and not exists (select 1 from pg_index i where i.indrelid = c.oid
                                                and i.indisprimary))
       or (c.relreplident = 'i' and not exists (select 1 from pg_index i where i.indrelid = c.oid
                                                and i.indisreplident)))
group by 1, 2, 3
order by 1, 2
""",
        evaluate=_replica_identity,
        seed="16.2",
    )
)


def _undocumented_tables(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = [
        warn(
            f"schema {r['schema']}",
            f"{r['undocumented']} of {plural(int(num(r['tables'])), 'table')} have no comment saying what "
            "one "
            f"row is and who owns it: {', '.join(r['examples'])}"
            + (" ..." if num(r["undocumented"]) > len(r["examples"]) else ""),
            undocumented=r["undocumented"],
            tables=r["tables"],
            examples=r["examples"],
        )
        for r in rows
        if num(r["undocumented"]) > 0
    ]
    return verdict(items, ok="every table has a comment", found="{n} schema(s) with tables nobody described")


register(
    Probe(
        id="ownership.undocumented-tables",
        category="ownership",
        severity="P3",
        title="Tables without a description",
        checks="Tables with no COMMENT. A review asks of every table what one row is and which team owns "
        "it; a comment in the catalog is where the next person (and this probe) can find the answer.",
        fix="COMMENT ON TABLE <schema>.<table> IS 'One row = ...; owner: team X; source of truth for ...';",
        sql=f"""
select n.nspname as schema, count(*) as tables, count(*) filter (where d.description is null) as undocumented,
       coalesce((array_agg(c.relname::text order by c.relname)
                 filter (where d.description is null))[1:20], '{{}}') as examples
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
left join pg_description d on d.objoid = c.oid and d.classoid = 'pg_class'::regclass and d.objsubid = 0
where {_TABLES}
group by 1
order by 1
""",
        evaluate=_undocumented_tables,
        seed="7.1",
    )
)
