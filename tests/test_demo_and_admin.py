"""The demo command (safe twice, usable by every demo user) and the admin (every model, read-only
where the services own the rows)."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.management import call_command
from django.http import HttpRequest
from django.urls import reverse

from evidence.models import Evidence
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
