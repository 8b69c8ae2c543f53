#!/usr/bin/env bash
# PostgreSQL first start (docker-compose mounts this into /docker-entrypoint-initdb.d): two roles and
# the database.
#   readiness_owner  owns the database and its tables; only the `migrate` service connects as it.
#   readiness_app    what web, worker and beat connect as; `manage.py grant_runtime_role` gives it
#                    SELECT/INSERT/UPDATE/DELETE on ordinary tables and SELECT/INSERT only on decisions,
#                    their PDFs and audit events. Not an owner, so it cannot disable the append-only triggers.
# Passwords: READINESS_OWNER_PASSWORD, READINESS_APP_PASSWORD (docker-compose.yml passes them).
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v owner_password="$READINESS_OWNER_PASSWORD" -v app_password="$READINESS_APP_PASSWORD" <<'SQL'
CREATE ROLE readiness_owner LOGIN NOSUPERUSER NOCREATEROLE NOBYPASSRLS PASSWORD :'owner_password';
CREATE ROLE readiness_app LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOBYPASSRLS PASSWORD :'app_password';
CREATE DATABASE readiness OWNER readiness_owner;
REVOKE ALL ON DATABASE readiness FROM PUBLIC;
\connect readiness
ALTER SCHEMA public OWNER TO readiness_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
