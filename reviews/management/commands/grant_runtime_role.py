"""Grant the app's runtime database role what it needs and nothing more; run by the owner after migrate."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from psycopg import sql

# Tables the runtime role may read and append to, never change: these, and any table whose rows
# PostgreSQL refuses to change (a trigger calling readiness_refuse_change: reviews/migrations/0002, 0005).
APPEND_ONLY_TABLES = {"reviews_decision", "reviews_decisiondocument", "reviews_auditevent"}
READ_ONLY_TABLES = {"django_migrations"}  # only migrate writes it
ORDINARY = "SELECT, INSERT, UPDATE, DELETE"

ROLE_FACTS = """
SELECT rolsuper OR rolbypassrls OR rolcreaterole, pg_has_role(%(role)s, current_user, 'MEMBER')
FROM pg_roles WHERE rolname = %(role)s
"""
TABLES = """
SELECT c.relname, pg_get_userbyid(c.relowner) = current_user,
       EXISTS (SELECT FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
               WHERE t.tgrelid = c.oid AND p.proname = 'readiness_refuse_change')
FROM pg_class c
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
ORDER BY c.relname
"""


def privileges(name: str, guarded: bool) -> str:
    if name in READ_ONLY_TABLES:
        return "SELECT"
    if guarded or name in APPEND_ONLY_TABLES:
        return "SELECT, INSERT"
    return ORDINARY


class Command(BaseCommand):
    help = (
        "Grant the runtime role (the one the web app, worker and beat connect as) exactly what the app "
        "needs on the tables of the current schema: SELECT, INSERT, UPDATE, DELETE on ordinary tables; "
        "SELECT and INSERT only on append-only ones (decisions, their PDFs, audit events); SELECT on "
        "django_migrations; USAGE and SELECT on sequences; and, by default privileges, on what the owner "
        "creates later. Run it as the owner of the tables (the role that runs migrate) after every migrate. "
        "The runtime role must not own the tables: an owner can disable the append-only triggers."
    )

    def add_arguments(self, parser):
        parser.add_argument("role", help="The runtime role; it must exist (CREATE ROLE ... LOGIN).")

    def handle(self, *args, role: str, **options):
        if connection.vendor != "postgresql":
            raise CommandError(f"Runtime roles are for PostgreSQL; this database is {connection.vendor}.")
        with transaction.atomic(), connection.cursor() as cur:
            self._check_role(cur, role)
            cur.execute(TABLES)
            tables = cur.fetchall()
            foreign = sorted(name for name, mine, _ in tables if not mine)
            if foreign:
                raise CommandError(
                    "Run this as the owner of the tables; not yours: " + ", ".join(foreign[:10])
                )
            cur.execute("SELECT current_database(), current_schema()")
            database, schema = cur.fetchone()
            r, s = sql.Identifier(role), sql.Identifier(schema)

            def run(statement: str, *names) -> None:
                cur.execute(sql.SQL(statement).format(*names).as_string(connection.connection))

            run("GRANT CONNECT ON DATABASE {} TO {}", sql.Identifier(database), r)
            run("GRANT USAGE ON SCHEMA {} TO {}", s, r)
            granted: dict[str, list[str]] = {}
            for name, _, guarded in tables:
                what = privileges(name, guarded)
                run("REVOKE ALL ON TABLE {} FROM {}", sql.Identifier(name), r)
                run(f"GRANT {what} ON TABLE {{}} TO {{}}", sql.Identifier(name), r)
                granted.setdefault(what, []).append(name)
            run("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}", s, r)
            # Tables of a later migrate work at once; run again, this command narrows the append-only ones.
            run(f"ALTER DEFAULT PRIVILEGES IN SCHEMA {{}} GRANT {ORDINARY} ON TABLES TO {{}}", s, r)
            run("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT USAGE, SELECT ON SEQUENCES TO {}", s, r)
        self.stdout.write(f"Granted to {role} on {database}.{schema}:")
        for what, names in granted.items():
            listed = ", ".join(names) if len(names) <= 5 else f"{len(names)} tables"
            self.stdout.write(f"  {what}: {listed}")
        self.stdout.write("  USAGE, SELECT: every sequence")

    @staticmethod
    def _check_role(cur, role: str) -> None:
        cur.execute(ROLE_FACTS, {"role": role})
        facts = cur.fetchone()
        if facts is None:
            raise CommandError(f"There is no role {role!r}: create it first (CREATE ROLE ... LOGIN).")
        powerful, is_owner = facts
        if is_owner:
            raise CommandError(
                f"{role!r} owns the tables (or is a member of their owner): the runtime role must be "
                "another role, or it could disable the triggers that keep records append-only."
            )
        if powerful:
            raise CommandError(
                f"{role!r} is a superuser, bypasses row security or creates roles: give the app a plain "
                "role (CREATE ROLE ... LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE)."
            )
