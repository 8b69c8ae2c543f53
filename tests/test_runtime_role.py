"""The runtime database role (manage.py grant_runtime_role) on the real PostgreSQL: it runs the app, reads
and writes ordinary tables, only appends decisions, their PDFs and audit events, and cannot disable the
append-only triggers or drop what it does not own."""

import uuid
from datetime import timedelta

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from psycopg import errors

from reviews import records, services
from reviews.models import AuditEvent, Decision, Role

from .factories import MembershipFactory, ReviewFactory, TeamFactory, UserFactory, score_all

pytestmark = pytest.mark.django_db(transaction=True)  # the role's own connection sees committed rows only


@pytest.fixture
def runtime_role():
    name = f"readiness_rt_{uuid.uuid4().hex[:10]}"
    with connection.cursor() as cur:
        cur.execute(f'CREATE ROLE "{name}" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB')
    yield name
    with connection.cursor() as cur:
        cur.execute("RESET ROLE")
        cur.execute(f'DROP OWNED BY "{name}"')  # its grants and default privileges in this database
        cur.execute(f'DROP ROLE "{name}"')


def connect_as(role: str) -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, dbname=db["NAME"], user=role, autocommit=True
    )


@pytest.fixture
def decided(db):
    team = TeamFactory(name="Payments", slug="payments")
    architect = UserFactory(username="alice")
    MembershipFactory(user=architect, team=team, role=Role.ARCHITECT)
    review = ReviewFactory(system__team=team, created_by=architect, chair=architect, release_scope="R1")
    score_all(review, architect)
    return services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=30)
    )


def refused(conn: psycopg.Connection, statement: str, params=()) -> bool:
    try:
        conn.execute(statement, params)
    except errors.InsufficientPrivilege:
        return True
    return False


def test_the_runtime_role_writes_ordinary_tables_and_only_appends_records(runtime_role, decided):
    call_command("grant_runtime_role", runtime_role)
    with connect_as(runtime_role) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == runtime_role
        # Ordinary tables: read, insert, update, delete.
        assert conn.execute("SELECT count(*) FROM reviews_system").fetchone()[0] == 1
        insert = "INSERT INTO reviews_team (name, slug) VALUES ('T', 't') RETURNING id"
        team_id = conn.execute(insert).fetchone()[0]
        conn.execute("UPDATE reviews_team SET name = 'T2' WHERE id = %s", [team_id])
        conn.execute("DELETE FROM reviews_team WHERE id = %s", [team_id])
        # Records: read and append, never change.
        assert conn.execute("SELECT digest FROM reviews_decision").fetchone()[0] == decided.digest
        conn.execute(
            "INSERT INTO reviews_auditevent (action, object_type, object_id, object_repr, at) "
            "VALUES ('test.append', 'reviews.team', '0', 'x', now())"
        )
        for table in ("reviews_decision", "reviews_auditevent", "reviews_decisiondocument"):
            assert refused(conn, f"UPDATE {table} SET id = id"), table
            assert refused(conn, f"DELETE FROM {table}"), table
            assert refused(conn, f"TRUNCATE {table}"), table
            assert refused(conn, f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only"), table
            assert refused(conn, f"ALTER TABLE {table} DISABLE TRIGGER ALL"), table
            assert refused(conn, f"DROP TABLE {table} CASCADE"), table
        assert refused(conn, "DROP TABLE reviews_team CASCADE")
        assert refused(conn, "DROP FUNCTION readiness_refuse_change() CASCADE")
        assert refused(conn, "INSERT INTO django_migrations (app, name, applied) VALUES ('x', 'y', now())")
        assert refused(conn, "CREATE TABLE reviews_sneaky (id int)")
    assert AuditEvent.objects.filter(action="test.append").count() == 1
    assert Decision.objects.get().digest == decided.digest


def test_the_app_runs_as_the_runtime_role(runtime_role, decided, client):
    """Services, the PDF rendering (its lock), verification and sign-in throttling, all as the role."""
    call_command("grant_runtime_role", runtime_role)
    with connection.cursor() as cur:
        cur.execute(f'SET ROLE "{runtime_role}"')
        cur.execute("SELECT current_user")
        assert cur.fetchone()[0] == runtime_role
    try:
        review = decided.review
        newer = ReviewFactory(system=review.system, created_by=decided.approver, release_scope="R2")
        score_all(newer, decided.approver)
        second = services.record_decision(
            review=newer, actor=decided.approver, next_review=timezone.localdate() + timedelta(days=30)
        )
        document = records.store_decision_pdf(second.pk) or second.document
        assert document.sha256
        assert records.verify_stored(Decision.objects.get(pk=second.pk)).matches
        for _ in range(2):
            client.post(reverse("login"), {"username": "alice", "password": "wrong"})
        client.force_login(decided.approver)
        assert client.get(reverse("verify_decision"), {"decision": second.pk}).status_code == 200
    finally:
        with connection.cursor() as cur:
            cur.execute("RESET ROLE")


def test_the_command_refuses_the_owner_and_unknown_roles(db):
    with connection.cursor() as cur:
        cur.execute("SELECT current_user")
        owner = cur.fetchone()[0]
    with pytest.raises(CommandError, match="superuser|owns the tables"):
        call_command("grant_runtime_role", owner)
    with pytest.raises(CommandError, match="There is no role"):
        call_command("grant_runtime_role", "no_such_role_" + uuid.uuid4().hex[:8])
