"""The demo command (safe twice, usable by every demo user) and the admin (every model, read-only
where the services own the rows)."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import HttpRequest
from django.urls import reverse

from evidence.models import Evidence
from probes import conninfo
from probes.models import ProbeRun, ProbeTarget
from reviews.management.commands import demo as demo_command
from reviews.models import AuditEvent, Decision, Finding, Review, System

pytestmark = pytest.mark.django_db

DEMO_USERS = ["ada", "linus", "mia", "audrey", "ivan", "ines"]


def counts():
    return [m.objects.count() for m in (System, Review, Finding, Evidence, Decision, AuditEvent)]


@pytest.fixture
def demo(capsys):
    call_command("demo")
    return capsys.readouterr().out


def test_demo_prints_every_user_with_a_password_and_running_it_twice_changes_nothing(demo, capsys):
    for username in DEMO_USERS:
        assert f"{username}-demo-2026" in demo
    before = counts()
    call_command("demo")
    assert counts() == before
    assert Finding.objects.values_list("level", flat=True).distinct().count() == 4
    assert Decision.objects.exists()
    assert Evidence.objects.filter(kind="restore_drill").exists()


def test_the_demo_ledger_has_a_history_of_decisions_in_time_order(demo):
    from reviews import records

    ledger = Decision.objects.filter(system__slug="ledger").order_by("recorded_at")
    assert [d.outcome for d in ledger] == ["BLOCKED", "BLOCKED", "APPROVED", "APPROVED"]
    assert all(records.verify_stored(d).matches and records.verify_stored(d).chain_ok for d in ledger)
    newest = ledger.last()
    assert [h["outcome"] for h in newest.record["history"]] == ["BLOCKED", "BLOCKED", "APPROVED"]


def test_the_main_demo_review_shows_every_kind_of_record_and_runbook_coverage_with_gaps(demo):
    from evidence import kinds
    from evidence.kinds.runbooks import REQUIRED_RUNBOOKS
    from evidence.models import Runbook
    from reviews import agenda

    review = Review.objects.get(system__slug="ledger", release_scope="Ledger 3.0 — multi-currency balances")
    records = list(
        Evidence.objects.filter(review=review, kind__in=list(kinds.KINDS)).select_related(
            "record", "category"
        )
    )
    assert {item.kind for item in records} == set(kinds.KINDS)
    assert all(item.category.code == kinds.KINDS[item.kind].category for item in records)
    states = {item.record.judged.state for item in records}
    assert states == {"complete", "incomplete", "failing"}
    # A failing record opened its finding, at the level its kind gives.
    for item in records:
        opened = Finding.objects.filter(review=review, evidence=item)
        if item.record.judged.state == "failing":
            assert opened.get().level == kinds.KINDS[item.kind].failing_level
        else:
            assert not opened.exists()
    # Every step from 3 to 10 has records of its own to walk, or runbooks.
    walked = {kinds.KINDS[item.kind].step for item in records}
    assert walked >= set(range(3, 10)) and agenda.step(10).categories == ("runbooks",)

    runbooks = Runbook.objects.filter(evidence__review=review)
    covered = {r.covers for r in runbooks if r.covers}
    required = {code for code, _name in REQUIRED_RUNBOOKS}
    assert covered < required and len(covered) >= len(required) // 2  # most, with gaps
    full = [r for r in runbooks if all(getattr(r, f) for f in TEMPLATE)]
    assert len(runbooks) > len(full) >= len(runbooks) // 2  # most in the whole template, not all
    assert all(r.last_tested for r in runbooks)  # so none opens a finding for never being tested
    assert (
        Evidence.objects.filter(
            review=review, kind="runbook_test", runbook_test__runbook__isnull=False
        ).count()
        >= 3
    )


TEMPLATE = (
    "name",
    "severity",
    "symptoms",
    "dashboards",
    "diagnostic_queries",
    "immediate_safe_actions",
    "actions_requiring_approval",
    "actions_forbidden",
    "rollback_recovery",
    "communication",
    "evidence_to_capture",
    "postmortem_questions",
    "owner",
    "last_tested",
)


def test_the_demo_touches_no_database_server_unless_given_one_and_says_how(demo):
    assert not ProbeTarget.objects.exists()
    assert "Probe target: none" in demo
    assert "--probe-target" in demo


def test_the_demo_prints_the_url_it_was_given_and_how_to_create_an_admin(capsys, monkeypatch):
    monkeypatch.setenv("PORT", "8001")
    call_command("demo", url="http://127.0.0.1:8001/")
    out = capsys.readouterr().out
    assert "Open http://127.0.0.1:8001/" in out
    assert "http://127.0.0.1:8001/admin/" in out
    assert "manage.py createsuperuser" in out
    assert "DATABASE_URL=" not in out  # never printed: it may hold a password


def test_the_demo_says_where_the_admin_is_once_there_is_an_administrator(capsys, django_user_model):
    django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    call_command("demo")
    out = capsys.readouterr().out
    assert "Admin: http://127.0.0.1:8000/admin/" in out
    assert "createsuperuser" not in out


def test_a_probe_target_outside_the_allowed_hosts_is_refused_before_connecting(settings, monkeypatch):
    settings.PROBE_ALLOWED_HOSTS = []
    connects = []
    monkeypatch.setattr(demo_command.Command, "_demo_probe_dsn", lambda self, server: connects.append(server))
    with pytest.raises(CommandError, match="PROBE_ALLOWED_HOSTS=127.0.0.1:5432"):
        call_command("demo", probe_target="127.0.0.1:5432")
    assert not connects
    assert not System.objects.exists()  # nothing of the demo was kept either


def test_the_demo_probes_a_server_it_is_given_as_a_role_of_its_own(capsys, settings):
    settings.PROBE_ALLOWED_HOSTS = ["127.0.0.1:5432"]
    call_command("demo", probe_target="postgresql://postgres@127.0.0.1:5432/postgres")
    out = capsys.readouterr().out
    target = ProbeTarget.objects.get()
    assert target.system.name == "Payouts"
    assert (target.host, target.port, target.dbname) == ("127.0.0.1", 5432, "postgres")
    assert target.db_user == "readiness_demo_probe"  # not the postgres it was given
    assert ProbeRun.objects.filter(target=target).exists()
    assert "connecting as role readiness_demo_probe" in out
    call_command("demo", probe_target="127.0.0.1:5432")
    assert ProbeTarget.objects.count() == 1


def test_probe_target_forms_and_the_allowed_hosts_they_need():
    assert conninfo.parse("db.example.com") == {
        "host": "db.example.com",
        "port": "5432",
        "dbname": "postgres",
        "user": "postgres",
    }
    assert conninfo.parse("127.0.0.1:5433/app")["port"] == "5433"
    assert conninfo.parse("host=10.0.0.5 port=6432 user=admin dbname=x")["user"] == "admin"
    assert conninfo.allowed_hosts("postgresql://u@127.0.0.1:6543/x") == ["127.0.0.1:6543"]
    assert conninfo.allowed_hosts("[::1]:5432") == ["[::1]:5432"]
    for bad in ("", "two words", "postgresql:///socket-only", "host=/var/run/postgresql"):
        with pytest.raises(ValueError):
            conninfo.parse(bad)


@pytest.mark.parametrize("username", DEMO_USERS)
def test_every_demo_user_can_sign_in_and_open_each_page_they_see(demo, client, username):
    # django-axes counts sign-ins per request: the test client's login gives it one.
    assert client.login(request=HttpRequest(), username=username, password=f"{username}-demo-2026")
    dashboard = client.get(reverse("dashboard"))
    assert dashboard.status_code == 200
    visible = dashboard.context["rows"]
    assert visible, "every demo user sees at least one system"
    for row in visible:
        assert client.get(row["system"].get_absolute_url()).status_code == 200
        if row["review"]:
            assert client.get(row["review"].get_absolute_url()).status_code == 200


def test_the_admin_lists_every_model(admin_client):
    ours = [m for m in apps.get_models() if m._meta.app_label in {"reviews", "evidence"}]
    assert ours
    for model in ours:
        assert admin.site.is_registered(model), model
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert admin_client.get(url).status_code == 200, url


def test_the_admin_cannot_add_rows_that_the_services_own(admin_client):
    for model in (Review, Finding, Decision, AuditEvent, Evidence):
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")
        assert admin_client.get(url).status_code == 403, url
