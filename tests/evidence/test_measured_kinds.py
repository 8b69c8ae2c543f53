"""The typed records kept in models of their own (evidence.kinds.measured: restore drills, runbooks, runbook
tests, migration rehearsals, load tests, access patterns, derived stores, capacity envelopes), declared
once like the inventories: the values each field accepts, the checks across fields, the rows the one
service writes, their audit events, verdicts and findings, and the forms built from the descriptions."""

import html
from datetime import UTC, date, datetime, timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from evidence import freshness, kinds, typed, verdict
from evidence import services as evidence_services
from evidence.forms import FORMS
from evidence.kinds.spec import BOOL, DATETIME, FLOAT, Field
from evidence.models import Evidence, EvidenceKind, MigrationPhase, Pagination
from evidence.models import Runbook as RunbookRow
from reviews.models import AuditEvent, Finding
from reviews.services import ServiceError

NOW = timezone.now()


def ago(**delta) -> datetime:
    return NOW - timedelta(**delta)


# A complete record of each kind, as a page or a pipeline gives it (Python values).
SAMPLES: dict[str, dict] = {
    "restore_drill": {
        "database": "ledger",
        "backup_source": "pgBackRest repo2",
        "target_environment": "staging",
        "requested_recovery_point": ago(hours=5),
        "actual_recovery_point": ago(hours=5, minutes=3),
        "started_at": ago(hours=4),
        "ended_at": ago(hours=3),
        "rpo_target_minutes": 15,
        "rto_target_minutes": 120,
        "validation_queries": "select count(*) from journal;",
        "validation_passed": True,
        "next_drill_date": date(2030, 1, 1),
    },
    "runbook": {
        "name": "Lock storm",
        "covers": "lock_storm",
        "severity": "SEV2",
        "symptoms": "p95 write latency up, blocked sessions",
        "diagnostic_queries": "select * from pg_locks where not granted;",
        "owner": "mia",
        "last_tested": timezone.localdate() - timedelta(days=10),
    },
    "runbook_test": {
        "runbook_name": "lock storm",
        "scenario": "Lock storm on the primary",
        "environment": "staging",
        "started_at": ago(hours=2),
        "ended_at": ago(hours=1),
        "passed": True,
    },
    "migration_rehearsal": {
        "migration": "0042_orders_status",
        "phase": "expand",
        "environment": "staging",
        "dataset": "snapshot of 1 Nov, 1.2 TB",
        "started_at": ago(hours=2),
        "ended_at": ago(hours=1, minutes=20),
        "lock_behaviour": "ACCESS EXCLUSIVE on orders for 120 ms",
        "longest_lock_ms": 120,
        "validation_query": "select count(*) from orders where status is null;",
        "validation_passed": True,
    },
    "load_test": {
        "scenario": "Checkout peak",
        "environment": "perf",
        "started_at": ago(hours=3),
        "ended_at": ago(hours=2),
        "throughput_per_s": 1200.0,
        "p50_ms": 12.0,
        "p95_ms": 38.5,
        "p99_ms": 45.5,
        "target_p95_ms": 50.0,
        "saturation_point": "CPU-bound at 4,200 TPS",
    },
    "access_pattern": {
        "query_name": "Case inbox",
        "actor_name": "investigator",
        "frequency": "500/min peak",
        "predicate": "tenant_id, status",
        "pagination": "keyset",
        "expected_p95_ms": 100.0,
        "index": "(tenant_id, status, due_at, id)",
    },
    "derived_store": {
        "store": "Search index",
        "source": "CDC/outbox",
        "freshness": "< 30 sec",
        "rebuild": "Full reindex",
        "owner": "Platform search",
        "failure_action": "Disable search",
    },
    "capacity_envelope": {
        "current_data_size": "420 GB",
        "projected_data_size": "1.1 TB",
        "current_peak_tps": 1800.0,
        "projected_peak_tps": 4500.0,
        "current_p95_ms": 38.0,
        "target_p95_ms": 100.0,
        "saturation_trigger": "CPU above 70% at peak",
        "planned_mitigation": "Partition postings by month",
        "owner": "mia",
        "review_date": timezone.localdate() - timedelta(days=3),
    },
}

# The audit event each kind writes beside "evidence.add", and what it records (the audit sentences of
# reviews.audit_text read these keys).
AUDITED = {
    "restore_drill": ("evidence.restore_drill", {"rpo_minutes", "rto_minutes", "passed"}),
    "runbook_test": ("evidence.runbook_test", {"runbook", "passed", "linked_runbook"}),
    "migration_rehearsal": (
        "evidence.migration_rehearsal",
        {"migration", "runtime_seconds", "longest_lock_ms", "validation_passed"},
    ),
    "load_test": ("evidence.load_test", {"p50_ms", "p95_ms", "p99_ms", "passed"}),
}


# --- The descriptions (no database)


def test_every_measured_kind_has_a_sample_and_is_an_evidence_kind():
    assert set(SAMPLES) == set(kinds.MEASURED)
    assert set(kinds.ALL) <= set(EvidenceKind.values)
    assert not set(kinds.MEASURED) & set(kinds.KINDS)


@pytest.mark.parametrize("kind", sorted(kinds.MEASURED))
def test_every_column_of_the_model_is_a_field_of_its_description(kind):
    spec = kinds.MEASURED[kind]
    model = Evidence._meta.get_field(spec.model).related_model
    columns = {
        f.name for f in model._meta.concrete_fields if f.name not in ("id", "evidence") and not f.is_relation
    }
    assert {spec.column(name) for name in spec.names} == columns


def test_the_choices_are_the_models():
    assert kinds.ALL["migration_rehearsal"].by_name["phase"].choices == tuple(MigrationPhase.choices)
    assert kinds.ALL["access_pattern"].by_name["pagination"].choices == tuple(Pagination.choices)


def test_the_freshness_categories_and_shows_are_read_from_the_descriptions():
    for kind, spec in kinds.ALL.items():
        assert freshness.DEFAULT_MAX_AGE_DAYS[kind] == spec.max_age_days
        assert settings.EVIDENCE_MAX_AGE_DAYS[kind] == spec.max_age_days
        assert verdict.shows(kind) == spec.shows
    assert freshness.DEFAULT_MAX_AGE_DAYS["restore_drill"] == 90
    assert freshness.DEFAULT_MAX_AGE_DAYS["migration_rehearsal"] == 30
    assert verdict.shows("runbook_test") == {verdict.RUNBOOK, verdict.TEST}
    assert verdict.shows("probe_result") == {verdict.TEST}


@pytest.mark.parametrize(
    ("raw", "value", "error"),
    [
        (12, 12.0, ""),
        ("1,234.5", 1234.5, ""),
        (" 0.25 ", 0.25, ""),
        ("1,5", None, "Give a number with a point for decimals, e.g. 1234.5."),
        ("nan", None, "Give a number."),
        (float("inf"), None, "Give a number."),
        (True, None, "Give a number."),
        (10**400, None, "Give a number."),
        ("-1", None, "Give a number from 0 to 1,000,000,000,000."),
        ("", None, ""),
    ],
)
def test_a_float_field(raw, value, error):
    assert Field("x", "X", FLOAT, max_value=1e12).clean(raw) == (value, error)


@pytest.mark.parametrize(
    ("raw", "value", "error"),
    [
        ("2026-03-31T14:30+02:00", "2026-03-31T14:30:00+02:00", ""),
        ("2026-03-31T12:30:00Z", "2026-03-31T12:30:00+00:00", ""),
        (datetime(2026, 3, 31, 12, 30, tzinfo=UTC), "2026-03-31T12:30:00+00:00", ""),
        ("2026-03-31T14:30", None, "Give the time with its offset from UTC, e.g. 2026-03-31T14:30+02:00."),
        (
            datetime(2026, 3, 31, 12, 30),
            None,
            "Give the time with its offset from UTC, e.g. 2026-03-31T14:30+02:00.",
        ),
        ("0001-01-01T00:00:00+05:00", None, "Give a time between 1970 and 2100."),
        ("tomorrow", None, "Give a time as YYYY-MM-DDTHH:MM with its offset, e.g. 2026-03-31T14:30+02:00."),
        (date(2026, 3, 31), None, "Give a date and a time."),
    ],
)
def test_a_datetime_field_wants_its_offset(raw, value, error):
    assert Field("x", "X", DATETIME).clean(raw) == (value, error)


@pytest.mark.parametrize(
    ("raw", "value", "error"),
    [
        (True, True, ""),
        ("on", True, ""),
        ("Yes", True, ""),
        ("0", False, ""),
        ("perhaps", None, "Answer yes or no."),
    ],
)
def test_a_box_field(raw, value, error):
    assert Field("x", "X", BOOL).clean(raw) == (value, error)


def test_an_unticked_box_that_may_be_left_is_no_and_one_that_must_be_answered_is_required():
    spec = kinds.ALL["migration_rehearsal"]
    values, errors = spec.clean({**SAMPLES["migration_rehearsal"], "validation_passed": None})
    assert values["rollback_rehearsed"] is False
    assert errors == {"validation_passed": "Required."}


def test_the_checks_across_fields_speak_beside_the_errors_of_single_fields():
    spec = kinds.ALL["load_test"]
    _values, errors = spec.clean(
        {**SAMPLES["load_test"], "ended_at": ago(hours=5), "p95_ms": 60.0, "p99_ms": 50.0, "tool": 7}
    )
    assert errors == {
        "ended_at": "It cannot end before it started.",
        "p99_ms": "Percentiles must not fall: p50 ≤ p95 ≤ p99.",
        "tool": "Give text.",
    }
    drill = kinds.ALL["restore_drill"]
    _values, errors = drill.clean({**SAMPLES["restore_drill"], "actual_recovery_point": ago(hours=1)})
    assert errors == {
        "actual_recovery_point": "The actual recovery point cannot be later than the one requested."
    }


# --- Through the one service


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(kinds.MEASURED))
def test_a_record_is_written_to_its_model_and_reads_back_as_it_was_given(kind, review, member):
    spec = kinds.MEASURED[kind]
    clean, errors = spec.clean(SAMPLES[kind])
    assert errors == {}
    events = AuditEvent.objects.count()
    item = getattr(evidence_services, f"add_{kind}")(review=review, actor=member, **SAMPLES[kind])
    assert (item.kind, item.category.code) == (kind, spec.category)
    assert item.title == spec.title(clean)
    row = getattr(Evidence.objects.select_related(spec.model).get(pk=item.pk), spec.model)
    assert spec.python(spec.read(row)) == spec.python(clean)
    assert spec.summary(spec.read(row))
    action, keys = AUDITED.get(kind, (None, None))
    assert AuditEvent.objects.count() == events + (2 if action else 1)
    if action:
        assert set(AuditEvent.objects.get(action=action).after) == keys
    assert verdict.of(item).supports
    assert not Finding.objects.filter(evidence=item).exists()


@pytest.mark.django_db
def test_it_is_observed_when_its_observed_field_says(review, member):
    drill = evidence_services.add_restore_drill(review=review, actor=member, **SAMPLES["restore_drill"])
    assert drill.observed_at == SAMPLES["restore_drill"]["ended_at"]
    envelope = evidence_services.add_capacity_envelope(
        review=review, actor=member, **SAMPLES["capacity_envelope"]
    )
    assert timezone.localtime(envelope.observed_at).date() == SAMPLES["capacity_envelope"]["review_date"]
    untested = evidence_services.add_runbook(
        review=review, actor=member, **{**SAMPLES["runbook"], "last_tested": None}
    )
    assert timezone.now() - untested.observed_at < timedelta(minutes=1)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "change", "field", "message"),
    [
        (
            "runbook",
            {"last_tested": timezone.localdate() + timedelta(days=1)},
            "last_tested",
            "The last test",
        ),
        (
            "capacity_envelope",
            {"review_date": timezone.localdate() + timedelta(days=1)},
            "review_date",
            "The review",
        ),
        (
            "load_test",
            {"ended_at": NOW + timedelta(days=1)},
            "ended_at",
            "Evidence cannot come from the future.",
        ),
    ],
)
def test_its_observed_field_cannot_be_in_the_future(review, member, kind, change, field, message):
    with pytest.raises(ServiceError) as refused:
        typed.add_record(review=review, actor=member, kind=kind, **{**SAMPLES[kind], **change})
    assert refused.value.message_dict[field][0].startswith(message)
    assert not Evidence.objects.exists()


@pytest.mark.django_db
def test_a_title_is_given_where_the_kind_takes_one_and_refused_elsewhere(review, member):
    named = typed.add_record(
        review=review,
        actor=member,
        kind="load_test",
        title="  Black Friday rehearsal ",
        **SAMPLES["load_test"],
    )
    assert named.title == "Black Friday rehearsal"
    unnamed = typed.add_record(review=review, actor=member, kind="load_test", **SAMPLES["load_test"])
    assert unnamed.title == "Load test: Checkout peak"
    with pytest.raises(ServiceError) as refused:
        typed.add_record(
            review=review, actor=member, kind="derived_store", title="Mine", **SAMPLES["derived_store"]
        )
    assert set(refused.value.message_dict) == {"title"}


@pytest.mark.django_db
def test_a_runbook_test_is_linked_to_the_runbook_of_its_name(review, member):
    book = evidence_services.add_runbook(review=review, actor=member, **SAMPLES["runbook"])
    tested = evidence_services.add_runbook_test(review=review, actor=member, **SAMPLES["runbook_test"])
    assert tested.runbook_test.runbook == RunbookRow.objects.get(evidence=book)
    event = AuditEvent.objects.get(action="evidence.runbook_test")
    assert event.after == {"runbook": "lock storm", "passed": True, "linked_runbook": book.runbook.pk}


@pytest.mark.django_db
def test_failing_records_are_judged_by_their_description_and_open_their_findings(review, member):
    drill = evidence_services.add_restore_drill(
        review=review, actor=member, **{**SAMPLES["restore_drill"], "rto_target_minutes": 30}
    )
    spec = kinds.ALL["restore_drill"]
    judged = spec.verdict(spec.read(drill.restore_drill))
    assert judged == verdict.of(drill) and judged.state == verdict.FAILING
    assert "overran its RTO target (restored in 60 min, target 30 min)" in judged.why
    assert Finding.objects.get(evidence=drill).level == "P0"
    slow = evidence_services.add_load_test(
        review=review, actor=member, **{**SAMPLES["load_test"], "target_p95_ms": 20.0}
    )
    assert Finding.objects.get(evidence=slow).level == "P1"
    failed = evidence_services.add_runbook_test(
        review=review, actor=member, **{**SAMPLES["runbook_test"], "passed": False}
    )
    assert Finding.objects.get(evidence=failed).level == "P2"
    # A runbook's verdict also reads its passing tests: never tested, it fails.
    book = evidence_services.add_runbook(
        review=review, actor=member, **{**SAMPLES["runbook"], "name": "Disk full", "last_tested": None}
    )
    assert verdict.of(book).why == "has never been tested"


@pytest.mark.django_db
def test_missing_values_are_listed_and_nothing_is_written(review, member):
    with pytest.raises(ServiceError) as refused:
        evidence_services.add_restore_drill(review=review, actor=member, database="ledger")
    required = {f.name for f in kinds.ALL["restore_drill"].fields if f.required} - {"database"}
    assert set(refused.value.message_dict) == required
    assert (
        not Evidence.objects.exists()
        and not AuditEvent.objects.filter(action__startswith="evidence").exists()
    )


# --- Forms built from the descriptions


@pytest.mark.parametrize("kind", sorted(kinds.MEASURED))
def test_each_form_is_built_from_its_description(kind):
    spec = kinds.MEASURED[kind]
    form = FORMS[kind]()
    assert list(form.fields) == (["title"] if spec.titled else []) + list(spec.names) + ["url"]
    assert [form.fields[f.name].label for f in spec.fields] == [f.label for f in spec.fields]


def test_the_forms_keep_their_labels():
    labels = {name: field.label for name, field in FORMS["restore_drill"]().fields.items()}
    assert labels["rpo_target_minutes"] == "RPO target (minutes)" and labels["started_at"] == "Start time"
    assert (
        labels["validation_passed"] == "Validation passed" and labels["follow_up_owner"] == "Follow-up owner"
    )
    covers = FORMS["runbook"]().fields["covers"]
    assert covers.label == "Required runbook it covers" and covers.choices[0] == ("", "Another runbook")
    assert FORMS["access_pattern"]().fields["actor_name"].label == "Actor"


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(kinds.MEASURED))
def test_each_form_page_says_what_the_record_asks_for(client, review, member, kind):
    client.force_login(member)
    response = client.get(reverse("evidence_create", args=[review.pk, kind]))
    assert response.status_code == 200
    assert html.escape(kinds.MEASURED[kind].description) in response.content.decode()


@pytest.mark.django_db
def test_a_load_test_posted_through_its_form(client, review, member):
    client.force_login(member)

    def local(moment: datetime) -> str:
        return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")

    data = {
        **{k: v for k, v in SAMPLES["load_test"].items() if not isinstance(v, datetime)},
        "started_at": local(ago(hours=3)),
        "ended_at": local(ago(hours=4)),
    }
    url = reverse("evidence_create", args=[review.pk, "load_test"])
    response = client.post(url, data)
    assert response.status_code == 200 and "It cannot end before it started." in response.content.decode()
    assert not Evidence.objects.exists()
    response = client.post(url, {**data, "ended_at": local(ago(hours=2))})
    assert response.status_code == 302
    item = Evidence.objects.get()
    assert item.title == "Load test: Checkout peak" and item.load_test.p99_ms == 45.5
    assert AuditEvent.objects.get(action="evidence.load_test").after["passed"] is True
