"""Data-model probes (seed §6, §7.2): money in floats, free-text status, unguarded keys, rewritable audit."""

from __future__ import annotations

from typing import Any

from ..registry import Probe, Verdict, register
from .sql import APP_ROLES, not_extension_member, user_schema
from .verdicts import fail, table, verdict, warn

_COLUMNS = (
    "a.attnum > 0 and not a.attisdropped and c.relkind in ('r', 'p') and not c.relispartition"
    f" and {user_schema()} and {not_extension_member()}"
)
_FROM_COLUMNS = """
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace"""


def _money_in_float(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = [
        fail(
            f"{table(r)}.{r['column']}",
            f"{r['type']} holds money: binary floating point cannot represent 0.10 exactly, so sums drift",
            type=r["type"],
        )
        for r in rows
    ]
    return verdict(
        items, ok="no money-like column is floating point", found="{n} money column{s} in floating point"
    )


register(
    Probe(
        id="data-model.money-in-float",
        category="data-model",
        severity="P1",
        title="Money in floating-point columns",
        checks="real or double precision columns whose names say money (amount, price, total, balance, cost, "
        "fee, ...). Rounding errors accumulate in sums and reconciliations never balance.",
        fix="ALTER TABLE <schema>.<table> ALTER COLUMN <col> TYPE numeric(19, 4); -- or bigint minor units "
        "(cents); rewrites the table, plan it as a migration",
        sql=f"""
select n.nspname as schema, c.relname as table, a.attname as column,
       format_type(a.atttypid, a.atttypmod) as type
{_FROM_COLUMNS}
where a.atttypid in ('real'::regtype, 'double precision'::regtype) and a.attname ~* %(money_pattern)s
  and {_COLUMNS}
order by 1, 2, 3
""",
        evaluate=_money_in_float,
        params={
            "money_pattern": "(^|_)(amount|amt|price|total|subtotal|balance|cost|fee|fees|money|payment|"
            "salary|"
            "tax|charge|refund|revenue|discount|wage)(_|s?$)"
        },
        seed="7.2",
    )
)


def _free_text_status(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = [
        warn(
            f"{table(r)}.{r['column']}",
            f"{r['type']} with no CHECK constraint, enum or foreign key: any string is a valid state",
            type=r["type"],
        )
        for r in rows
    ]
    return verdict(
        items, ok="every status-like column is constrained", found="{n} free-text status column{s}"
    )


register(
    Probe(
        id="data-model.free-text-status",
        category="data-model",
        severity="P2",
        title="Free-text status columns",
        checks="text/varchar columns named status, state or stage with no CHECK constraint, enum type or "
        "foreign key: a status with no model of its transitions. Typos and retired states "
        "enter silently and workflows stall on them.",
        fix="ALTER TABLE <schema>.<table> ADD CONSTRAINT <table>_<col>_check CHECK (<col> IN ('...')) NOT "
        "VALID; "
        "then VALIDATE CONSTRAINT; or reference a states table with a foreign key.",
        sql=f"""
select n.nspname as schema, c.relname as table, a.attname as column,
       format_type(a.atttypid, a.atttypmod) as type
{_FROM_COLUMNS}
where a.atttypid in ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype)
  and a.attname ~* %(status_pattern)s
  and {_COLUMNS}
  and not exists (select 1 from pg_constraint k where k.conrelid = c.oid and k.contype in ('c', 'f')
                  and a.attnum = any(k.conkey))
order by 1, 2, 3
""",
        evaluate=_free_text_status,
        params={"status_pattern": "(^|_)(status|state|stage)$"},
        seed="6.4",
    )
)


def _idempotency_keys(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = [
        warn(
            f"{table(r)}.{r['column']}",
            "no unique index includes it: a retried request is stored twice (check-then-insert is not a "
            "guard)",
        )
        for r in rows
    ]
    return verdict(
        items,
        ok="every idempotency-like key column is unique",
        found="{n} idempotency key{s} without uniqueness",
    )


register(
    Probe(
        id="data-model.idempotency-key-not-unique",
        category="data-model",
        severity="P2",
        title="Idempotency keys without a unique constraint",
        checks="Columns named like an idempotency or external request key that no unique index covers "
        "(duplicates prevented only by check-then-insert). Client retries then create duplicates.",
        fix="CREATE UNIQUE INDEX CONCURRENTLY ON <schema>.<table> (<tenant column>, <key column>);",
        sql=f"""
select n.nspname as schema, c.relname as table, a.attname as column
{_FROM_COLUMNS}
where a.attname = any(%(key_columns)s::text[]) and {_COLUMNS}
  and not exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisunique and i.indisvalid
                  and a.attnum = any((i.indkey::int2[])[0:i.indnkeyatts - 1]))
order by 1, 2, 3
""",
        evaluate=_idempotency_keys,
        params={
            "key_columns": ["idempotency_key", "request_id", "external_id", "dedup_key", "deduplication_key"]
        },
        seed="6.4",
    )
)


def _audit_writable(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    per_table: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        per_table.setdefault(table(r), []).append(r)
    items = []
    for name, grants in per_table.items():
        roles = "; ".join(
            f"role {g['role']} may "
            + "/".join(
                p
                for p, ok in (
                    ("UPDATE", g["can_update"]),
                    ("DELETE", g["can_delete"]),
                    ("TRUNCATE", g["can_truncate"]),
                )
                if ok
            )
            for g in grants
        )
        guarded = all(g["guard_trigger"] for g in grants)
        make = warn if guarded else fail
        items.append(
            make(
                name,
                roles
                + (
                    " (a BEFORE UPDATE/DELETE trigger may refuse it: verify)"
                    if guarded
                    else ": the audit trail can be rewritten without trace"
                ),
                roles=[g["role"] for g in grants],
            )
        )
    return verdict(
        items,
        ok="no audit-like table is writable by an application role",
        found="{n} rewritable audit table{s}",
    )


register(
    Probe(
        id="data-model.audit-table-writable",
        category="data-model",
        severity="P1",
        title="Audit tables the application may rewrite",
        checks="Tables named like audit trails (audit, history, event, *_log) on which an application role "
        "holds UPDATE, DELETE or TRUNCATE. An audit trail the application can edit answers no dispute "
        "(the guide treats it as P0; found here by name, so P1 until confirmed. Guide: Severity levels).",
        fix="REVOKE UPDATE, DELETE, TRUNCATE ON <schema>.<table> FROM <role>; -- grant INSERT and SELECT "
        "only",
        sql=f"""
with {APP_ROLES}
select n.nspname as schema, c.relname as table, r.rolname as role,
       has_any_column_privilege(r.oid, c.oid, 'UPDATE') as can_update,
       has_table_privilege(r.oid, c.oid, 'DELETE') as can_delete,
       has_table_privilege(r.oid, c.oid, 'TRUNCATE') as can_truncate,
       exists (select 1 from pg_trigger t
               where t.tgrelid = c.oid and not t.tgisinternal and t.tgenabled <> 'D'
               and (t.tgtype::int & 2) <> 0 and (t.tgtype::int & 24) <> 0) as guard_trigger
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
cross join app_roles r
where c.relkind in ('r', 'p') and not c.relispartition and c.relname ~* %(audit_pattern)s and {user_schema()}
  and (has_any_column_privilege(r.oid, c.oid, 'UPDATE') or has_table_privilege(r.oid, c.oid, 'DELETE')
       or has_table_privilege(r.oid, c.oid, 'TRUNCATE'))
order by 1, 2, 3
""",
        evaluate=_audit_writable,
        params={"audit_pattern": "audit|history|event|_logs?$"},
        seed="6.4",
    )
)
