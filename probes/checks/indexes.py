"""Index probes (seed §8.2, §10.3): foreign keys without index, duplicate, unused and invalid indexes."""

from __future__ import annotations

from typing import Any

from ..registry import Probe, Verdict, register
from .sql import user_schema
from .verdicts import fail, num, size, table, verdict, warn

# An index "supports" constraint f when its leading key columns are exactly f's columns (in any order).
_SUPPORTS_FK = "(i.indkey::int2[])[0:cardinality({fk}.conkey) - 1] @> {fk}.conkey"


def _fk_without_index(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = []
    for r in rows:
        rows_est = max(num(r["est_rows"]), num(r["live_rows"]))
        make = fail if rows_est >= params["large_table_rows"] else warn
        cols = ", ".join(r["columns"])
        items.append(
            make(
                f"{table(r)} ({cols})",
                f"foreign key {r['constraint']} ({cols}) references {r['references']} but no index starts "
                "with "
                f"its columns; each delete or key update on {r['references']} scans {table(r)} "
                f"(~{int(rows_est):,} rows)",
                constraint=r["constraint"],
                columns=r["columns"],
                references=r["references"],
                rows=int(rows_est),
            )
        )
    return verdict(
        items, ok="every foreign key has an index on its columns", found="{n} foreign key{s} without index"
    )


register(
    Probe(
        id="query-index.fk-without-index",
        category="query-index",
        severity="P1",
        title="Foreign keys without a supporting index",
        checks="Foreign keys whose columns are not the leading columns of any index on the referencing "
        "table. "
        "Deleting or re-keying a parent row then scans the whole child table under lock; on a large child "
        "table (FAIL; smaller ones WARN) that is an outage waiting for the first bulk delete.",
        fix="CREATE INDEX CONCURRENTLY <table>_<cols>_idx ON <schema>.<table> (<fk columns>);",
        sql=f"""
select n.nspname as schema, c.relname as table, con.conname as constraint,
       array(select a.attname::text
             from unnest(con.conkey) with ordinality k(attnum, ord)
             join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum
             order by k.ord) as columns,
       con.confrelid::regclass::text as references,
       greatest(c.reltuples, 0)::bigint as est_rows, pg_stat_get_live_tuples(c.oid) as live_rows
from pg_constraint con
join pg_class c on c.oid = con.conrelid
join pg_namespace n on n.oid = c.relnamespace
where con.contype = 'f' and {user_schema()}
  and not exists (
    select 1 from pg_index i
    where i.indrelid = con.conrelid and i.indisvalid and i.indpred is null
      and {_SUPPORTS_FK.format(fk="con")})
order by n.nspname, c.relname, con.conname
""",
        evaluate=_fk_without_index,
        params={"large_table_rows": 100_000},
        seed="8.2",
    )
)


def _duplicate_indexes(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = []
    for r in rows:
        keep, extra = r["indexes"][0], r["indexes"][1:]
        for idx, idx_bytes in zip(extra, r["sizes"][1:], strict=False):
            if r["kind"] == "duplicate":
                items.append(
                    fail(
                        f"index {r['schema']}.{idx}",
                        f"same definition as {keep} on {table(r)}; it only costs writes ({size(idx_bytes)})",
                        duplicate_of=keep,
                        bytes=idx_bytes,
                    )
                )
            else:
                items.append(
                    warn(
                        f"index {r['schema']}.{idx}",
                        f"its columns are a prefix of {keep} on {table(r)}, which can serve the same "
                        f"lookups ({size(idx_bytes)})",
                        covered_by=keep,
                        bytes=idx_bytes,
                    )
                )
    return verdict(items, ok="no duplicate or redundant index", found="{n} duplicate or redundant index(es)")


register(
    Probe(
        id="query-index.duplicate-indexes",
        category="query-index",
        severity="P2",
        title="Duplicate and redundant indexes",
        checks="Indexes with the same definition as another on the same table (FAIL), or whose key columns "
        "are a leading prefix of another plain btree index (WARN). They add write amplification and "
        "storage and serve no query the other cannot.",
        fix="DROP INDEX CONCURRENTLY <schema>.<index>; -- keep the one that backs a constraint",
        sql=f"""
with idx as (
  select i.indexrelid, i.indrelid, i.indisunique, i.indisprimary, c.relam, i.indnkeyatts,
         i.indkey::text as keys, i.indclass::text as opclasses, i.indcollation::text as colls,
         i.indoption::text as opts, coalesce(pg_get_expr(i.indexprs, i.indrelid), '') as exprs,
         coalesce(pg_get_expr(i.indpred, i.indrelid), '') as pred, c.relname
  from pg_index i
  join pg_class c on c.oid = i.indexrelid
  join pg_namespace n on n.oid = c.relnamespace
  where i.indisvalid and {user_schema()}
), dups as (
  select indrelid, array_agg(indexrelid order by indisprimary desc, indisunique desc, relname) as oids
  from idx
  group by indrelid, relam, indnkeyatts, keys, opclasses, colls, opts, exprs, pred
  having count(*) > 1
), prefix as (
  -- a plain btree index whose key columns (and operator classes) begin another btree index's
  select a.indrelid, array[b.indexrelid, a.indexrelid] as oids
  from pg_index a
  join pg_class ac on ac.oid = a.indexrelid
  join pg_namespace n on n.oid = ac.relnamespace
  join pg_index b on b.indrelid = a.indrelid and b.indexrelid <> a.indexrelid
  join pg_class bc on bc.oid = b.indexrelid and bc.relam = ac.relam
  where ac.relam = (select oid from pg_am where amname = 'btree') and {user_schema()}
    and a.indisvalid and b.indisvalid and not a.indisunique
    and a.indexprs is null and b.indexprs is null and a.indpred is null and b.indpred is null
    and a.indnkeyatts < b.indnkeyatts
    and (b.indkey::int2[])[0:a.indnkeyatts - 1] = (a.indkey::int2[])[0:a.indnkeyatts - 1]
    and (b.indclass::oid[])[0:a.indnkeyatts - 1] = (a.indclass::oid[])[0:a.indnkeyatts - 1]
), found as (
  select indrelid, 'duplicate' as kind, oids from dups
  union all
  select indrelid, 'prefix', oids from prefix
)
select n.nspname as schema, t.relname as table, f.kind,
       array(select c.relname::text from unnest(f.oids) with ordinality u(oid, ord)
             join pg_class c on c.oid = u.oid order by u.ord) as indexes,
       array(select pg_relation_size(u.oid) from unnest(f.oids) with ordinality u(oid, ord)
             order by u.ord) as sizes
from found f
join pg_class t on t.oid = f.indrelid
join pg_namespace n on n.oid = t.relnamespace
order by 1, 2, 3, 4
""",
        evaluate=_duplicate_indexes,
        seed="8.2",
    )
)


def _unused_indexes(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = [
        warn(
            f"index {r['schema']}.{r['index']}",
            f"never scanned since statistics were reset ({r['stats_reset'] or 'never reset'}); "
            f"{size(r['index_bytes'])} on {table(r)}",
            bytes=r["index_bytes"],
        )
        for r in rows
        if num(r["index_bytes"]) >= params["min_bytes"]
    ]
    return verdict(
        items,
        ok=f"no unused index of {size(params['min_bytes'])} or more (constraint and foreign-key indexes "
        "aside)",
        found="{n} unused index(es)",
    )


register(
    Probe(
        id="query-index.unused-indexes",
        category="query-index",
        severity="P3",
        title="Unused indexes",
        checks="Indexes never scanned since the statistics were reset, that back no constraint and support "
        "no foreign key. They cost every write. Usage on standbys is not counted here: check them too.",
        fix="Confirm on replicas and over a full business cycle, then DROP INDEX CONCURRENTLY "
        "<schema>.<index>;",
        sql=f"""
select s.schemaname as schema, s.relname as table, s.indexrelname as index, s.idx_scan,
       pg_relation_size(s.indexrelid) as index_bytes,
       (select stats_reset from pg_stat_database where datname = current_database()) as stats_reset
from pg_stat_user_indexes s
join pg_index i on i.indexrelid = s.indexrelid
where s.idx_scan = 0 and not i.indisunique and not i.indisprimary and i.indisvalid
  and s.schemaname <> all(%(exclude_schemas)s::text[])
  and i.indexrelid not in (select k.conindid from pg_constraint k)  -- hashed: no index on conindid
  and not exists (select 1 from pg_constraint f where f.contype = 'f' and f.conrelid = i.indrelid
                  and {_SUPPORTS_FK.format(fk="f")})
order by index_bytes desc
""",
        evaluate=_unused_indexes,
        params={"min_bytes": 1024 * 1024},
        seed="8.2",
    )
)


def _invalid_indexes(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = []
    for r in rows:
        if r["in_progress"]:
            items.append(
                warn(
                    f"index {r['schema']}.{r['index']}",
                    f"being built right now on {table(r)}",
                    bytes=r["bytes"],
                )
            )
        else:
            items.append(
                fail(
                    f"index {r['schema']}.{r['index']}",
                    f"invalid on {table(r)}: a failed CREATE INDEX CONCURRENTLY or REINDEX left it; queries "
                    f"ignore it but writes still maintain it ({size(r['bytes'])}): {r['definition']}",
                    bytes=r["bytes"],
                    definition=r["definition"],
                )
            )
    return verdict(items, ok="no invalid index", found="{n} invalid index(es)")


register(
    Probe(
        id="migration.invalid-indexes",
        category="migration",
        severity="P2",
        title="Invalid indexes left by failed migrations",
        checks="Indexes marked invalid, which a failed CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY "
        "leaves behind. The planner ignores them, writes still pay for them, and a unique one may still "
        "reject rows: the migration did not do what its author believes.",
        fix="DROP INDEX CONCURRENTLY <schema>.<index>; fix the cause (e.g. duplicate rows), then re-run "
        "CREATE INDEX CONCURRENTLY, or REINDEX INDEX CONCURRENTLY <schema>.<index>;",
        sql=f"""
select n.nspname as schema, t.relname as table, c.relname as index, pg_relation_size(c.oid) as bytes,
       pg_get_indexdef(c.oid) as definition,
       exists (select 1 from pg_stat_progress_create_index p where p.index_relid = c.oid) as in_progress
from pg_index i
join pg_class c on c.oid = i.indexrelid
join pg_class t on t.oid = i.indrelid
join pg_namespace n on n.oid = c.relnamespace
where not i.indisvalid and {user_schema()}
order by 1, 2, 3
""",
        evaluate=_invalid_indexes,
        seed="10.3",
    )
)
