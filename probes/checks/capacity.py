"""Size probes (seed §11.4, §19.4, §19.5): database, table and index sizes, row counts for restore checks."""

from __future__ import annotations

from typing import Any

from ..registry import Probe, Status, Verdict, register
from .sql import user_schema
from .verdicts import num, size, table, verdict, warn


def _database_size(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    r = rows[0]
    if params["max_bytes"] and num(r["bytes"]) > params["max_bytes"]:
        return verdict(
            [
                warn(
                    f"database {r['datname']}",
                    f"{size(r['bytes'])}, above the envelope of {size(params['max_bytes'])}",
                    bytes=r["bytes"],
                )
            ],
            ok="",
            found=f"database {r['datname']} is {size(r['bytes'])}, above its envelope",
        )
    return Verdict(Status.PASS, f"database {r['datname']} is {size(r['bytes'])}")


register(
    Probe(
        id="capacity.database-size",
        category="capacity",
        severity="P3",
        title="Database size",
        checks="The size of this database on disk: the input of the capacity envelope, of "
        "backup and restore time, and of storage cost. Warns only above params max_bytes when set.",
        fix="Compare with the capacity envelope (Guide: Capacity envelope); plan archiving, partitioning or "
        "storage growth.",
        sql="select datname, pg_database_size(datname) as bytes from pg_database where datname = "
        "current_database()",
        evaluate=_database_size,
        params={"max_bytes": 0},
        seed="19.4",
    )
)


def _table_sizes(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    if not rows:
        return Verdict(Status.PASS, "no table in the application's schemas")
    r = rows[0]
    return Verdict(
        Status.PASS,
        f"{int(num(r['tables'])):,} tables: {size(r['all_total_bytes'])} in all, of which indexes "
        f"{size(r['all_index_bytes'])}; largest {table(r)} at {size(r['total_bytes'])}",
    )


register(
    Probe(
        id="capacity.table-index-size",
        category="capacity",
        severity="P3",
        title="Table and index sizes",
        checks="The 50 largest tables with their size (heap and TOAST), index size and total, and the totals "
        "Growth per core table and index is a forecast the capacity review asks for.",
        fix="Track these numbers over time; an index larger than its table deserves a look.",
        sql=f"""
with t as (
  select n.nspname as schema, c.relname as table, pg_table_size(c.oid) as table_bytes,
         pg_indexes_size(c.oid) as index_bytes, greatest(c.reltuples, 0)::bigint as est_rows
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r', 'm') and {user_schema()}
)
select t.*, table_bytes + index_bytes as total_bytes,
       sum(table_bytes + index_bytes) over () as all_total_bytes, sum(index_bytes) over () as all_index_bytes,
       count(*) over () as tables
from t
order by table_bytes + index_bytes desc
limit 50
""",
        evaluate=_table_sizes,
        seed="19.5",
    )
)


def _row_counts(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    wanted = list(params["critical_tables"])
    found = {table(r) for r in rows} | {r["table"] for r in rows if r["schema"] == "public"}
    missing = [name for name in wanted if name not in found]
    parts = []
    for r in rows:
        if r["exact_rows"] is not None:
            parts.append(f"{table(r)} {int(num(r['exact_rows'])):,}")
        else:
            parts.append(f"{table(r)} ~{int(num(r['estimated_rows'])):,} (estimate)")
    counted = sum(1 for r in rows if r["exact_rows"] is not None)
    how = "named critical tables" if wanted else f"the {len(rows)} largest tables"
    summary = (
        f"row counts of {how} ({counted} counted, {len(rows) - counted} estimated from statistics: over "
        f"{size(params['count_max_bytes'])} or not readable): " + ", ".join(parts)
    )
    if missing:
        return verdict(
            [warn(name, "named in critical_tables but not found") for name in missing], ok="", found=summary
        )
    return Verdict(Status.PASS, summary if rows else "no table to count")


register(
    Probe(
        id="backup.critical-table-row-counts",
        category="backup",
        severity="P3",
        title="Row counts of critical tables",
        checks="Row counts of the critical tables (params critical_tables, default the 10 largest), the "
        "first validation query of a restore drill: compare them on the restored copy. "
        "count(*) below params count_max_bytes and with SELECT privilege; the planner's estimate otherwise.",
        fix="Name the critical tables in the target's settings and run the same probe on the restored copy.",
        sql=f"""
with picked as (
  select c.oid, n.nspname::text as schema, c.relname::text as tbl, c.reltuples, c.relkind
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r', 'p') and not c.relispartition and {user_schema()}
    and (cardinality(%(critical_tables)s::text[]) = 0
         or n.nspname || '.' || c.relname = any(%(critical_tables)s::text[])
         or (n.nspname = 'public' and c.relname = any(%(critical_tables)s::text[])))
  order by c.relpages desc, n.nspname, c.relname
  limit case when cardinality(%(critical_tables)s::text[]) = 0 then %(top_n)s end
), sized as (
  select p.*, case when p.relkind = 'p'
                   then (select coalesce(sum(pg_relation_size(t.relid)), 0) from pg_partition_tree(p.oid) t)
                   else pg_relation_size(p.oid) end as bytes
  from picked p
)
select schema, tbl as table, bytes, greatest(reltuples, 0)::bigint as estimated_rows,
       case when has_table_privilege(oid, 'SELECT') and bytes <= %(count_max_bytes)s
            then (xpath('/row/n/text()',
                        query_to_xml(format('select count(*) as n from %%I.%%I', schema, tbl),
                                     false, true, ''))
                 )[1]::text::bigint
       end as exact_rows
from sized
order by schema, tbl
""",
        evaluate=_row_counts,
        params={"critical_tables": [], "top_n": 10, "count_max_bytes": 64 * 1024 * 1024},
        seed="11.4",
    )
)
