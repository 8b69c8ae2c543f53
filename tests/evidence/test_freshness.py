"""Evidence goes stale: maximum ages per kind (configurable, "never" for links and files), the boundary,
the fresh counts the gate needs in one query, the stale marker partial, and the typed records that
pipelines and people post (runbook tests, migration rehearsals, load tests) through the pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from evidence import freshness
from evidence import services as evidence_services
from evidence.models import Evidence, EvidenceKind, LoadTest, MigrationRehearsal, RunbookTest
from readiness.env import env_days
from reviews.services import ServiceError
from tests.factories import ReviewFactory, category

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TABLE = dict(freshness.DEFAULT_MAX_AGE_DAYS)


# --- The pure rules


@pytest.mark.parametrize(
    ("kind", "days"),
    [
        ("restore_drill", 90),
        ("probe_result", 7),
        ("load_test", 180),
        ("runbook_test", 180),
        ("runbook", 180),
        ("migration_rehearsal", 30),
        ("link", None),
        ("file", None),
    ],
)
def test_each_kind_has_its_documented_maximum_age(kind, days):
    assert freshness.max_age_days(kind, TABLE) == days


def test_evidence_is_fresh_on_its_last_day_and_stale_just_after():
    observed = NOW - timedelta(days=90)
    assert not freshness.is_stale("restore_drill", observed, NOW, TABLE)
    assert freshness.is_stale("restore_drill", observed - timedelta(seconds=1), NOW, TABLE)
    assert freshness.stale_at("restore_drill", observed, TABLE) == NOW


def test_links_and_files_never_go_stale_unless_configured():
    ancient = NOW - timedelta(days=3650)
    assert not freshness.is_stale("link", ancient, NOW, TABLE)
    assert freshness.stale_at("file", ancient, TABLE) is None
    assert freshness.is_stale("link", ancient, NOW, {**TABLE, "link": 365})


def test_an_unknown_kind_does_not_go_stale():
    assert not freshness.is_stale("something-new", NOW - timedelta(days=10_000), NOW, TABLE)


def test_age_is_whole_days_and_never_negative():
    assert freshness.age_days(NOW - timedelta(days=3, hours=23), NOW) == 3
    assert freshness.age_days(NOW + timedelta(minutes=4), NOW) == 0


def test_settings_override_the_defaults(settings):
    settings.EVIDENCE_MAX_AGE_DAYS = {"restore_drill": 30, "link": 10}
    assert freshness.max_age_days("restore_drill") == 30
    assert freshness.max_age_days("link") == 10
    assert freshness.max_age_days("probe_result") == 7  # not configured: the default


def test_the_environment_sets_days_or_never(monkeypatch):
    monkeypatch.setenv("DAYS", "45")
    assert env_days("DAYS", 90) == 45
    monkeypatch.setenv("DAYS", "never")
    assert env_days("DAYS", 90) is None
    monkeypatch.delenv("DAYS")
    assert env_days("DAYS", 90) == 90
    for bad in ("0", "-3", "soon"):
        monkeypatch.setenv("DAYS", bad)
        with pytest.raises(ImproperlyConfigured, match="DAYS"):
            env_days("DAYS", 90)


# --- Fresh counts for the gate: one query for many reviews


def _evidence(review, code, kind, age_days, actor):
    return Evidence.objects.create(
        review=review,
        category=category(review, code),
        kind=kind,
        title=f"{kind} {age_days}d",
        url="https://example.com/x",
        file="x.txt" if kind == EvidenceKind.FILE else "",
        observed_at=timezone.now() - timedelta(days=age_days),
        added_by=actor,
    )


@pytest.mark.django_db
def test_fresh_counts_count_only_fresh_items_per_review_and_category(
    review, architect, django_assert_num_queries
):
    other = ReviewFactory(system=review.system, created_by=architect)
    _evidence(review, "backup", EvidenceKind.RESTORE_DRILL, 10, architect)
    _evidence(review, "backup", EvidenceKind.RESTORE_DRILL, 100, architect)
    _evidence(review, "security", EvidenceKind.PROBE_RESULT, 8, architect)
    _evidence(review, "security", EvidenceKind.LINK, 2000, architect)
    _evidence(other, "capacity", EvidenceKind.LOAD_TEST, 181, architect)
    _evidence(other, "migration", EvidenceKind.MIGRATION_REHEARSAL, 29, architect)
    backup, security = category(review, "backup").pk, category(review, "security").pk

    with django_assert_num_queries(1):
        counts = freshness.fresh_counts([review.pk, other.pk])

    assert counts == {
        (review.pk, backup): 1,
        (review.pk, security): 1,  # the link; the 8-day-old probe result is stale
        (other.pk, category(other, "migration").pk): 1,
    }
    assert freshness.fresh_counts([]) == {}


@pytest.mark.django_db
def test_the_model_says_its_age_and_whether_it_is_stale(review, architect):
    item = _evidence(review, "backup", EvidenceKind.RESTORE_DRILL, 91, architect)
    assert item.is_stale and item.max_age_days == 90 and item.age_days == 91
    assert not _evidence(review, "backup", EvidenceKind.LINK, 900, architect).is_stale


@pytest.mark.django_db
def test_the_age_partial_marks_stale_evidence(review, architect):
    stale = render_to_string(
        "evidence/_age.html", {"e": _evidence(review, "backup", EvidenceKind.RESTORE_DRILL, 91, architect)}
    )
    fresh = render_to_string(
        "evidence/_age.html", {"e": _evidence(review, "backup", EvidenceKind.RESTORE_DRILL, 3, architect)}
    )
    assert ">stale<" in stale and "older than 90 days" in stale.lower()
    assert ">stale<" not in fresh and "goes stale after 90 days" in fresh


# --- The typed records through their services and pages


@pytest.mark.django_db
def test_a_migration_rehearsal_needs_a_validation_query_and_lock_behaviour(review, architect):
    now = timezone.now()
    with pytest.raises(ServiceError) as err:
        evidence_services.add_migration_rehearsal(
            review=review, actor=architect, migration="0042", phase="sideways", environment="staging",
            dataset="snapshot", started_at=now - timedelta(hours=1), ended_at=now - timedelta(hours=2),
            lock_behaviour=" ", validation_query="", validation_passed=True,
        )  # fmt: skip
    assert set(err.value.message_dict) == {"phase", "ended_at", "lock_behaviour", "validation_query"}
    assert not Evidence.objects.exists()


@pytest.mark.django_db
def test_a_load_test_refuses_percentiles_that_fall_and_numbers_that_are_not(review, architect):
    now = timezone.now()
    base = dict(
        review=review, actor=architect, scenario="peak", environment="perf",
        started_at=now - timedelta(hours=2), ended_at=now - timedelta(hours=1),
        throughput_per_s=100.0, saturation_point="CPU at 6k TPS",
    )  # fmt: skip
    with pytest.raises(ServiceError, match="p50 ≤ p95 ≤ p99"):
        evidence_services.add_load_test(**base, p50_ms=5.0, p95_ms=4.0, p99_ms=6.0)
    with pytest.raises(ServiceError) as err:
        evidence_services.add_load_test(**base, p50_ms=float("nan"), p95_ms=float("inf"), p99_ms=-1.0)
    assert {"p50_ms", "p95_ms", "p99_ms"} <= set(err.value.message_dict)
    item = evidence_services.add_load_test(**base, p50_ms=1.0, p95_ms=9.0, p99_ms=20.0, target_p95_ms=10.0)
    assert item.category.code == "capacity" and item.load_test.passed is True


def local_minute(delta: timedelta) -> str:
    return timezone.localtime(timezone.now() + delta).strftime("%Y-%m-%dT%H:%M")


PAGE_DATA = {
    "runbook_test": {
        "runbook_name": "Lock storm",
        "scenario": "Blocked sessions behind a migration",
        "environment": "staging",
        "started_at": local_minute(-timedelta(hours=3)),
        "ended_at": local_minute(-timedelta(hours=2)),
        "passed": "on",
    },
    "migration_rehearsal": {
        "migration": "0042_orders_status",
        "phase": "expand",
        "environment": "staging",
        "dataset": "snapshot of 1 Nov, 1.2 TB",
        "started_at": local_minute(-timedelta(hours=3)),
        "ended_at": local_minute(-timedelta(hours=2)),
        "lock_behaviour": "ACCESS EXCLUSIVE on orders for 120 ms",
        "longest_lock_ms": "120",
        "validation_query": "select 1",
        "validation_passed": "on",
    },
    "load_test": {
        "scenario": "checkout peak x2",
        "environment": "perf",
        "started_at": local_minute(-timedelta(hours=3)),
        "ended_at": local_minute(-timedelta(hours=2)),
        "throughput_per_s": "4200",
        "p50_ms": "3",
        "p95_ms": "18",
        "p99_ms": "45",
        "saturation_point": "CPU-bound at 6k TPS",
    },
}
RECORDS = {"runbook_test": RunbookTest, "migration_rehearsal": MigrationRehearsal, "load_test": LoadTest}
CATEGORIES = {"runbook_test": "runbooks", "migration_rehearsal": "migration", "load_test": "capacity"}


@pytest.mark.django_db
@pytest.mark.parametrize("kind", list(PAGE_DATA))
def test_a_member_records_each_new_kind_on_its_page(client, member, review, kind):
    client.force_login(member)
    url = reverse("evidence_create", args=[review.pk, kind])
    assert client.get(url).status_code == 200
    response = client.post(url, PAGE_DATA[kind])
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    item = Evidence.objects.get()
    assert (item.kind, item.category.code, item.added_by) == (kind, CATEGORIES[kind], member)
    assert RECORDS[kind].objects.get().evidence == item


@pytest.mark.django_db
@pytest.mark.parametrize("kind", list(PAGE_DATA))
def test_the_new_kinds_refuse_an_end_before_the_start_on_the_page(client, member, review, kind):
    client.force_login(member)
    data = {**PAGE_DATA[kind], "ended_at": local_minute(-timedelta(hours=4))}
    response = client.post(reverse("evidence_create", args=[review.pk, kind]), data)
    assert response.status_code == 200
    assert "ended_at" in response.context["form"].errors
    assert not Evidence.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("kind", list(PAGE_DATA))
def test_the_new_kinds_pages_refuse_auditors_and_other_teams(client, auditor, outsider, review, kind):
    url = reverse("evidence_create", args=[review.pk, kind])
    client.force_login(auditor)
    assert client.post(url, PAGE_DATA[kind]).status_code == 403
    client.force_login(outsider)
    assert client.post(url, PAGE_DATA[kind]).status_code == 404
    client.logout()
    assert client.post(url, PAGE_DATA[kind]).status_code == 302
    assert not Evidence.objects.exists()


@pytest.mark.django_db
def test_the_summary_partial_says_what_each_typed_record_measured(review, architect):
    now = timezone.now()
    item = evidence_services.add_migration_rehearsal(
        review=review, actor=architect, migration="0042", phase="expand", environment="staging",
        dataset="1.2 TB snapshot", started_at=now - timedelta(minutes=30),
        ended_at=now - timedelta(minutes=5),
        lock_behaviour="short", longest_lock_ms=80, validation_query="select 1", validation_passed=False,
    )  # fmt: skip
    html = render_to_string("evidence/_summary.html", {"e": item})
    assert "0042 (expand)" in html and "longest lock 80 ms" in html and "validation failed" in html
