"""The probe pages as three people: the owner team's member (200), another team's architect (404) and the
team's auditor (reads, but 403 on every change). Plus the htmx progress polling and the panels."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from probes import registry, services
from probes.models import InvariantCheck, ProbeResult, ProbeRun, ProbeTarget, RunState
from tests.factories import ReviewFactory

from . import test_targets as shared
from .test_targets import PASSWORD, dsn_for

# Fixtures shared with test_targets.
make_target, target, target_db = shared.make_target, shared.target, shared.target_db

pytestmark = pytest.mark.django_db


@pytest.fixture
def check(target, architect):
    return services.add_invariant_check(
        target=target, name="entries balance", sql="SELECT id FROM ledger_entry WHERE false", actor=architect
    )


@pytest.fixture
def run(target, member):
    return ProbeRun.objects.create(
        target=target, started_by=member, state=RunState.DONE, progress_total=1, progress_done=1
    )


def read_urls(target, run):
    review = ReviewFactory(system=target.system, created_by=target.created_by)
    return [
        reverse("probe_review_panel", args=[review.pk]),
        reverse("probe_targets", args=[target.system.slug]),
        reverse("probe_target_detail", args=[target.pk]),
        reverse("probe_run_detail", args=[run.pk]),
        reverse("probe_run_progress", args=[run.pk]),
    ]


def change_requests(target, check, review_id=None):
    """(method, url, data) of every change, each valid for the owner."""
    return [
        ("get", reverse("probe_target_create", args=[target.system.slug]), None),
        (
            "post",
            reverse("probe_target_create", args=[target.system.slug]),
            {"name": "replica", "environment": "production", "dsn": dsn_for("postgres"), "params": ""},
        ),
        ("get", reverse("probe_target_edit", args=[target.pk]), None),
        (
            "post",
            reverse("probe_target_edit", args=[target.pk]),
            {"name": "renamed", "environment": "staging", "dsn": "", "params": ""},
        ),
        ("post", reverse("probe_target_test", args=[target.pk]), {}),
        ("get", reverse("invariant_create", args=[target.pk]), None),
        (
            "post",
            reverse("invariant_create", args=[target.pk]),
            {
                "name": "no negative ids",
                "sql": "SELECT id FROM ledger_entry WHERE id < 0",
                "category": "data-model",
                "severity": "P1",
                "row_cap": "100",
            },
        ),
        ("post", reverse("invariant_delete", args=[check.pk]), {}),
        ("post", reverse("probe_run_start", args=[target.pk]), {"review": review_id or ""}),
    ]


RUN_URL_NAMES = ("probe_target_test", "probe_run_start")


def test_the_owner_teams_member_runs_probes_but_may_not_change_targets_or_checks(
    client, member, target, check, run, review, django_capture_on_commit_callbacks
):
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=False):
        for method, url, data in change_requests(target, check, review.pk):
            response = getattr(client, method)(url, data) if data is not None else client.get(url)
            runs = any(url == reverse(n, args=[target.pk]) for n in RUN_URL_NAMES)
            assert response.status_code == (302 if runs else 403), (url, response.status_code)
    assert not ProbeTarget.objects.filter(name="replica").exists()
    assert InvariantCheck.objects.filter(pk=check.pk).exists()
    assert ProbeRun.objects.get(state=RunState.QUEUED).started_by == member
    page = client.get(reverse("probe_target_detail", args=[target.pk])).content.decode()
    assert reverse("probe_run_start", args=[target.pk]) in page
    assert reverse("probe_target_test", args=[target.pk]) in page
    for hidden in ("probe_target_edit", "invariant_create"):
        assert reverse(hidden, args=[target.pk]) not in page
    assert reverse("invariant_delete", args=[check.pk]) not in page


def test_the_owner_teams_architect_reads_and_changes(
    client, architect, target, check, run, review, django_capture_on_commit_callbacks
):
    client.force_login(architect)
    for url in read_urls(target, run):
        assert client.get(url).status_code in (200, 286), url  # 286: a finished run's progress stops polling
    with django_capture_on_commit_callbacks(execute=False):
        for method, url, data in change_requests(target, check, review.pk):
            response = getattr(client, method)(url, data) if data is not None else client.get(url)
            assert response.status_code in (200, 302), (url, response.status_code)
            if method == "post":
                assert response.status_code == 302, (url, response.content.decode()[:2000])
    assert ProbeTarget.objects.filter(name="replica").exists()
    assert ProbeTarget.objects.filter(pk=target.pk, name="renamed", environment="staging").exists()
    assert not InvariantCheck.objects.filter(pk=check.pk).exists()
    assert InvariantCheck.objects.filter(name="no negative ids").exists()
    started = ProbeRun.objects.get(state=RunState.QUEUED)
    assert started.review == review and started.started_by == architect


def test_another_teams_architect_gets_404_everywhere(client, outsider, target, check, run):
    client.force_login(outsider)
    for url in read_urls(target, run):
        assert client.get(url).status_code == 404, url
    for method, url, data in change_requests(target, check):
        response = getattr(client, method)(url, data) if data is not None else client.get(url)
        assert response.status_code == 404, url
    assert ProbeTarget.objects.count() == 1 and InvariantCheck.objects.count() == 1


def test_the_auditor_reads_but_every_change_is_403(client, auditor, target, check, run, review):
    client.force_login(auditor)
    for url in read_urls(target, run):
        assert client.get(url).status_code in (200, 286), url
    for method, url, data in change_requests(target, check, review.pk):
        response = getattr(client, method)(url, data) if data is not None else client.get(url)
        assert response.status_code == 403, url
    assert ProbeTarget.objects.count() == 1 and InvariantCheck.objects.count() == 1
    assert ProbeRun.objects.count() == 1
    target.refresh_from_db()
    assert target.name == "production primary" and target.last_test_at is None


def test_pages_need_a_login(client, target, run):
    for url in read_urls(target, run):
        assert client.get(url).status_code == 302, url


def test_progress_polls_every_second_while_running_and_286_stops_it(client, member, target):
    client.force_login(member)
    run = ProbeRun.objects.create(
        target=target,
        started_by=member,
        state=RunState.RUNNING,
        progress_total=40,
        progress_done=12,
        current_probe="invariant.999",
    )
    url = reverse("probe_run_progress", args=[run.pk])
    running = client.get(url, headers={"HX-Request": "true"})
    assert running.status_code == 200
    body = running.content.decode()
    assert 'hx-trigger="every 1s"' in body and f'hx-get="{url}"' in body
    assert "12 of 40" in body
    assert "HX-Request" in running["Vary"]
    ProbeRun.objects.filter(pk=run.pk).update(state=RunState.DONE, progress_done=40, current_probe="")
    done = client.get(url, headers={"HX-Request": "true"})
    assert done.status_code == 286
    assert "hx-trigger" not in done.content.decode() and "40 of 40" in done.content.decode()
    # The full page embeds the same live part, polling only while the run is not finished.
    page = client.get(reverse("probe_run_detail", args=[run.pk])).content.decode()
    assert 'hx-trigger="every' not in page and "<script" not in page.split("</head>", 1)[1]


def test_results_are_grouped_by_category_with_their_status(client, member, target, run):
    ProbeResult.objects.create(
        run=run,
        probe_id="security.a",
        title="Superuser app role",
        category="security",
        severity="P0",
        status="fail",
        summary="app is superuser",
        details=[{"object": "role app", "status": "fail", "message": "superuser"}],
    )
    ProbeResult.objects.create(
        run=run,
        probe_id="schema.b",
        title="Tables without PK",
        category="schema",
        severity="P1",
        status="pass",
        summary="none",
    )
    client.force_login(member)
    page = client.get(reverse("probe_run_detail", args=[run.pk])).content.decode()
    assert page.index("Schema") < page.index("Security")  # catalogue order
    assert 'class="outcome outcome-blocked">Fail' in page and 'class="outcome outcome-approved">Pass' in page
    assert "role app" in page


def test_the_run_page_queries_do_not_grow_with_its_results(client, member, target, run):
    client.force_login(member)
    url = reverse("probe_run_detail", args=[run.pk])

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    ProbeResult.objects.create(
        run=run, probe_id="p.0", title="t", category="schema", severity="P1", status="pass"
    )
    few = count()
    for i in range(1, 30):
        ProbeResult.objects.create(
            run=run,
            probe_id=f"p.{i}",
            title="t",
            category=("schema", "security")[i % 2],
            severity="P1",
            status="fail",
        )
    assert count() == few


def _test_and_poll(client, target, capture) -> str:
    with capture(execute=True):  # the worker's turn comes at commit (in-process, as in the quick start)
        pending = client.post(reverse("probe_target_test", args=[target.pk]), headers={"HX-Request": "true"})
    assert pending.status_code == 200 and 'id="connection-test"' in pending.content.decode()
    done = client.get(reverse("probe_target_test_status", args=[target.pk]), headers={"HX-Request": "true"})
    assert done.status_code == 286  # htmx stops polling
    return done.content.decode()


def test_test_connection_answers_htmx_with_the_server_facts(
    client, member, target, django_capture_on_commit_callbacks
):
    client.force_login(member)
    body = _test_and_poll(client, target, django_capture_on_commit_callbacks)
    assert "Connected" in body and "pg_monitor" in body and "Superuser" in body
    assert PASSWORD not in body


def test_test_connection_shows_a_clear_error(client, member, make_target, django_capture_on_commit_callbacks):
    target = make_target(dsn=dsn_for("postgres", port="1"))
    client.force_login(member)
    body = _test_and_poll(client, target, django_capture_on_commit_callbacks)
    assert "Unreachable host" in body and PASSWORD not in body


def test_an_invalid_invariant_is_refused_on_the_form(client, architect, target):
    client.force_login(architect)
    response = client.post(
        reverse("invariant_create", args=[target.pk]),
        {
            "name": "sneaky",
            "sql": "DELETE FROM ledger_entry",
            "category": "data-model",
            "severity": "P1",
            "row_cap": "100",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors["sql"]
    assert not InvariantCheck.objects.exists()


def test_the_target_form_never_renders_the_dsn_back(client, architect, system):
    client.force_login(architect)
    response = client.post(
        reverse("probe_target_create", args=[system.slug]),
        {"name": "", "environment": "production", "dsn": dsn_for("postgres"), "params": ""},
    )
    assert response.status_code == 200 and response.context["form"].errors
    assert PASSWORD not in response.content.decode()


def test_the_system_page_says_how_to_add_a_target(client, architect, member, system):
    client.force_login(architect)
    page = client.get(system.get_absolute_url()).content.decode()
    assert "No probe target yet" in page and reverse("probe_target_create", args=[system.slug]) in page
    client.force_login(member)
    page = client.get(system.get_absolute_url()).content.decode()
    assert reverse("probe_target_create", args=[system.slug]) not in page


def test_the_review_page_loads_the_probes_panel_after_itself_and_it_offers_a_run_for_the_review(
    client, member, auditor, target, review
):
    client.force_login(member)
    page = client.get(review.get_absolute_url()).content.decode()
    panel_url = reverse("probe_review_panel", args=[review.pk])
    assert f'hx-get="{panel_url}"' in page and 'hx-trigger="load"' in page
    assert reverse("probe_run_start", args=[target.pk]) not in page  # not rendered with the meeting page
    panel = client.get(panel_url).content.decode()
    assert reverse("probe_run_start", args=[target.pk]) in panel
    assert f'name="review" value="{review.pk}"' in panel and "csrfmiddlewaretoken" in panel
    client.force_login(auditor)
    panel = client.get(panel_url).content.decode()
    assert target.name in panel and reverse("probe_run_start", args=[target.pk]) not in panel


def test_the_probes_panel_of_a_decided_review_offers_no_run(client, member, target, review):
    review.state = "decided"
    review.save()
    client.force_login(member)
    panel = client.get(reverse("probe_review_panel", args=[review.pk])).content.decode()
    assert target.name in panel and reverse("probe_run_start", args=[target.pk]) not in panel


def test_a_run_started_from_a_review_page_goes_to_the_run_page(
    client, member, target, review, django_capture_on_commit_callbacks
):
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            reverse("probe_run_start", args=[target.pk]),
            {"review": review.pk},
            headers={"HX-Request": "true"},
        )
    run = ProbeRun.objects.get()
    assert response["HX-Redirect"] == run.get_absolute_url()


def test_every_registered_probe_is_listed_on_the_target_form(client, architect, system):
    client.force_login(architect)
    page = client.get(reverse("probe_target_create", args=[system.slug])).content.decode()
    for probe in registry.all_probes():
        assert probe.id in page


def test_the_admin_shows_probe_rows_read_only_and_never_the_secret(admin_client, target, run):
    from django.contrib import admin

    from probes.models import ProbeFinding

    for model in (ProbeTarget, InvariantCheck, ProbeRun, ProbeResult, ProbeFinding):
        assert admin.site.is_registered(model)
        changelist = reverse(f"admin:probes_{model._meta.model_name}_changelist")
        assert admin_client.get(changelist).status_code == 200
        assert admin_client.get(reverse(f"admin:probes_{model._meta.model_name}_add")).status_code == 403
    page = admin_client.get(reverse("admin:probes_probetarget_change", args=[target.pk])).content.decode()
    assert target.host in page and target.dbname in page
    assert PASSWORD not in page and target.password_encrypted not in page
