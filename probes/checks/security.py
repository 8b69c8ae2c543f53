"""Security probes (seed §14): application roles' powers, tenant isolation by RLS, PUBLIC privileges."""

from __future__ import annotations

from typing import Any

from ..registry import Probe, Verdict, register
from .sql import APP_ROLES, not_extension_member, user_schema
from .verdicts import fail, num, table, verdict, warn


def _app_role_superuser(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    configured = bool(params.get("app_roles"))
    items = []
    for r in rows:
        if not r["rolsuper"]:
            continue
        sessions = int(num(r["sessions"]))
        if configured:
            items.append(
                fail(
                    f"role {r['rolname']}",
                    f"application role is a superuser: it bypasses every privilege and RLS policy "
                    f"({sessions} session(s) in this database now)",
                    sessions=sessions,
                )
            )
        else:
            items.append(
                warn(
                    f"role {r['rolname']}",
                    f"login superuser besides the bootstrap one ({sessions} session(s) in this database "
                    "now); "
                    "if the application uses it this is a P0: name the application roles in app_roles",
                    sessions=sessions,
                )
            )
    return verdict(
        items,
        ok="no application role is a superuser"
        + ("" if configured else " (no app_roles configured: checked the login superusers)"),
        found="{n} superuser role(s) the application may use: {first}",
    )


register(
    Probe(
        id="security.app-role-superuser",
        category="security",
        severity="P0",
        title="Application roles that are superusers",
        checks="Application roles (params app_roles) with SUPERUSER. An application on a superuser role "
        "is a P0 blocker (Guide: Severity levels): one SQL injection owns the server. Without app_roles, "
        "every LOGIN superuser other than the bootstrap role and the probe's own is reported as a warning.",
        fix="ALTER ROLE <role> NOSUPERUSER; -- and grant it only the table privileges it needs",
        sql="""
select r.rolname, r.rolsuper, r.rolcanlogin,
       (select count(*) from pg_stat_activity a where a.usename = r.rolname and a.datname = current_database()
        and a.pid <> pg_backend_pid()) as sessions
from pg_roles r
where case when cardinality(%(app_roles)s::text[]) > 0 then r.rolname = any(%(app_roles)s::text[])
           else r.rolsuper and r.rolcanlogin and r.oid <> 10 and r.rolname <> current_user end
order by 1
""",
        evaluate=_app_role_superuser,
        seed="14.1",
    )
)


def _app_role_bypassrls(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = [
        fail(
            f"role {r['rolname']}", "application role has BYPASSRLS: row level security does not apply to it"
        )
        for r in rows
    ]
    return verdict(
        items, ok="no application role has BYPASSRLS", found="{n} application role(s) with BYPASSRLS"
    )


register(
    Probe(
        id="security.app-role-bypassrls",
        category="security",
        severity="P0",
        title="Application roles with BYPASSRLS",
        checks="Application roles with the BYPASSRLS attribute. Every tenant policy is then decoration: "
        "row level security exists, but the role the application uses bypasses it.",
        fix="ALTER ROLE <role> NOBYPASSRLS;",
        sql=f"""
with {APP_ROLES}
select rolname from app_roles where rolbypassrls order by 1
""",
        evaluate=_app_role_bypassrls,
        seed="14.3",
    )
)


def _app_role_owns_objects(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    per_role: dict[str, list[str]] = {}
    for r in rows:
        if r["kind"] == "relations":
            what = f"{int(num(r['count']))} relation(s) in schema {r['name']}"
        else:
            what = f"{r['kind']} {r['name']}"
        per_role.setdefault(r["role"], []).append(what)
    items = [
        fail(
            f"role {role}",
            "owns "
            + "; ".join(owned)
            + ": an owner can ALTER and DROP them and is exempt from RLS unless forced",
            owns=owned,
        )
        for role, owned in per_role.items()
    ]
    return verdict(
        items, ok="no application role owns the schema or its objects", found="{n} role(s) own objects"
    )


register(
    Probe(
        id="security.app-role-owns-objects",
        category="security",
        severity="P1",
        title="Application roles that own the schema",
        checks="Application roles owning this database, a schema or tables in it. The runtime role should "
        "not be the migration role: an owner can drop and alter what it only needs to use.",
        fix="ALTER TABLE <t> OWNER TO <migration role>; ALTER SCHEMA <s> OWNER TO <migration role>; "
        "then GRANT the runtime role only SELECT/INSERT/UPDATE where needed.",
        sql=f"""
with {APP_ROLES}
select r.rolname as role, 'database' as kind, d.datname::text as name, 1::bigint as count
from pg_database d join app_roles r on r.oid = d.datdba
where d.datname = current_database()
union all
select r.rolname, 'schema', n.nspname::text, 1
from pg_namespace n join app_roles r on r.oid = n.nspowner
where {user_schema()}
union all
select r.rolname, 'relations', n.nspname::text, count(*)
from pg_class c
join app_roles r on r.oid = c.relowner
join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p', 'v', 'm', 'S', 'f') and {user_schema()}
group by r.rolname, n.nspname
order by 1, 2, 3
""",
        evaluate=_app_role_owns_objects,
        seed="14.2",
    )
)


def _tenant_rls(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = []
    for r in rows:
        cols = ", ".join(r["tenant_columns"])
        if not r["rls_enabled"]:
            items.append(
                fail(
                    table(r),
                    f"tenant key ({cols}) but row level security is off: one query without the "
                    "tenant filter reads every tenant",
                    tenant_columns=r["tenant_columns"],
                )
            )
        elif not r["rls_forced"]:
            items.append(
                warn(
                    table(r),
                    f"RLS enabled ({int(num(r['policies']))} policies) but not forced: the table "
                    "owner bypasses it",
                    tenant_columns=r["tenant_columns"],
                )
            )
    return verdict(
        items,
        ok=f"{len(rows)} tenant table(s), each with row level security enabled and forced"
        if rows
        else f"no table has a tenant key column ({', '.join(params['tenant_columns'])})",
        found="{n} tenant table(s) without enforced row level security",
    )


register(
    Probe(
        id="security.tenant-tables-without-rls",
        category="security",
        severity="P0",
        title="Tenant tables without row level security",
        checks="Tables with a tenant key column (params tenant_columns) where row level security is off "
        "(FAIL) or not forced for the owner (WARN). A cross-tenant leak is P0 (Guide: Severity levels); "
        "RLS makes the tenant filter impossible to forget.",
        fix="ALTER TABLE <t> ENABLE ROW LEVEL SECURITY; ALTER TABLE <t> FORCE ROW LEVEL SECURITY; "
        "CREATE POLICY tenant_isolation ON <t> USING (tenant_id = current_setting('app.tenant_id')::<type>);",
        sql=f"""
select n.nspname as schema, c.relname as table,
       array_agg(a.attname::text order by a.attnum) as tenant_columns,
       c.relrowsecurity as rls_enabled, c.relforcerowsecurity as rls_forced,
       (select count(*) from pg_policy p where p.polrelid = c.oid) as policies
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                   and a.attname = any(%(tenant_columns)s::text[])
where c.relkind in ('r', 'p') and {user_schema()} and {not_extension_member()}
group by n.nspname, c.relname, c.oid, c.relrowsecurity, c.relforcerowsecurity
order by 1, 2
""",
        evaluate=_tenant_rls,
        params={"tenant_columns": ["tenant_id", "tenant", "org_id", "organization_id", "account_id"]},
        seed="14.1",
    )
)


def _public_create(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = [
        fail(
            f"{r['kind']} {r['name']}",
            "PUBLIC may CREATE here: any role can plant objects (functions, operators) that shadow the "
            "application's and run with its privileges",
        )
        for r in rows
    ]
    return verdict(
        items, ok="PUBLIC may not create in any schema", found="PUBLIC may CREATE in {n} place(s): {first}"
    )


register(
    Probe(
        id="security.public-create-on-schema",
        category="security",
        severity="P1",
        title="CREATE for PUBLIC on schemas",
        checks="Schemas (public above all, the default before PostgreSQL 15) and the database where the "
        "PUBLIC pseudo-role holds CREATE. Every login role can then shadow objects on the search_path.",
        fix="REVOKE CREATE ON SCHEMA public FROM PUBLIC; REVOKE CREATE ON DATABASE <db> FROM PUBLIC;",
        sql=f"""
select 'schema' as kind, n.nspname::text as name
from pg_namespace n
where {user_schema()} and has_schema_privilege('public', n.oid, 'CREATE')
union all
select 'database', d.datname::text
from pg_database d
where d.datname = current_database() and has_database_privilege('public', d.oid, 'CREATE')
order by 1, 2
""",
        evaluate=_public_create,
        seed="14.2",
    )
)


def _security_definer(rows: list[dict[str, Any]], params: dict[str, Any]) -> Verdict:
    items = []
    for r in rows:
        obj = f"function {r['schema']}.{r['function']}({r['args']})"
        if r["owner_superuser"]:
            items.append(
                fail(
                    obj,
                    f"SECURITY DEFINER owned by superuser {r['owner']} without a fixed "
                    "search_path: a planted object runs as superuser",
                )
            )
        else:
            items.append(warn(obj, f"SECURITY DEFINER (owner {r['owner']}) without a fixed search_path"))
    return verdict(
        items,
        ok="every SECURITY DEFINER function pins its search_path",
        found="{n} SECURITY DEFINER function(s) without search_path",
    )


register(
    Probe(
        id="security.security-definer-search-path",
        category="security",
        severity="P2",
        title="SECURITY DEFINER functions without search_path",
        checks="SECURITY DEFINER functions that do not set search_path. They run with their owner's "
        "rights and resolve names through the caller's search_path: a classic privilege escalation.",
        fix="ALTER FUNCTION <schema>.<function>(<args>) SET search_path = pg_catalog, <schema>;",
        sql=f"""
select n.nspname as schema, p.proname as function, pg_get_function_identity_arguments(p.oid) as args,
       r.rolname as owner, r.rolsuper as owner_superuser
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_roles r on r.oid = p.proowner
where p.prosecdef and {user_schema()} and {not_extension_member("p", "pg_proc")}
  and not exists (select 1 from unnest(coalesce(p.proconfig, '{{}}')) s where s ~ '^search_path=')
order by 1, 2, 3
""",
        evaluate=_security_definer,
        seed="14.1",
    )
)
