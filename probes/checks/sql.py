"""SQL fragments the checks share: which schemas belong to the application, which roles are application roles.

Every check's SQL is executed with its parameters bound (psycopg named placeholders), so a literal
percent sign is written `%%`; the checks prefer regular expressions to LIKE for that reason.
"""

from __future__ import annotations

# Parameters every probe understands, whatever its own: a target sets them once under "*".
COMMON_PARAMS: dict[str, object] = {
    # schemas to leave out of every scan besides the system ones (e.g. ["partman", "cron"])
    "exclude_schemas": [],
    # the roles the application connects as. Empty: every LOGIN role that is not a superuser, not a
    # replication role, not a pg_* role and not the probe's own role (see APP_ROLES below).
    "app_roles": [],
}


def user_schema(alias: str = "n") -> str:
    """A condition on pg_namespace `alias`: not a system schema (pg_catalog, pg_toast, pg_temp_*) and not
    one the target excludes."""
    return (
        f"{alias}.nspname !~ '^pg_' and {alias}.nspname <> 'information_schema'"
        f" and {alias}.nspname <> all(%(exclude_schemas)s::text[])"
    )


def not_extension_member(alias: str = "c", catalog: str = "pg_class") -> str:
    """A condition: the object `alias` was not created by an extension (its objects are the extension's
    business)."""
    return (
        f"not exists (select 1 from pg_depend x where x.classid = '{catalog}'::regclass"
        f" and x.objid = {alias}.oid and x.deptype = 'e')"
    )


# The application roles as a CTE named app_roles (oid, rolname, rolsuper, rolbypassrls, rolconnlimit).
# Configured names win; otherwise the login roles that can only be the application's or people's.
APP_ROLES = """app_roles as (
  select r.oid, r.rolname, r.rolsuper, r.rolbypassrls, r.rolconnlimit
  from pg_roles r
  where case
    when cardinality(%(app_roles)s::text[]) > 0 then r.rolname = any(%(app_roles)s::text[])
    else r.rolcanlogin and not r.rolsuper and not r.rolreplication
         and r.rolname <> current_user and r.rolname !~ '^pg_'
  end
)"""
