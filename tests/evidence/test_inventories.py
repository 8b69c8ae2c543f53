"""The access pattern (seed §8.1), derived store (§16.1) and capacity envelope (§17.3) records: what the
services accept and refuse, where they show, how they age, and what the decision record keeps of them."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from evidence import freshness
from evidence import services as evidence_services
from evidence.models import AccessPattern, CapacityEnvelope, DerivedStore, Evidence, EvidenceKind
from reviews import services
from reviews.models import AuditEvent
from reviews.selectors import decision_record, review_gate

pytestmark = pytest.mark.django_db


def access_pattern(review, actor, **changes):
    data = {
        "query_name": "Case inbox",
        "actor_name": "investigator",
        "frequency": "500/min peak",
        "predicate": "tenant_id, assigned_user_id, status in active states",
        "pagination": "keyset",
        "expected_p95_ms": 100.0,
        "index": "(tenant_id, assigned_user_id, status, due_at, priority, id)",
        "sort": "due_at asc, priority desc",
        **changes,
    }
    return evidence_services.add_access_pattern(review=review, actor=actor, **data)


def derived_store(review, actor, **changes):
    data = {
        "store": "Search index",
        "source": "CDC/outbox",
        "freshness": "< 30 sec",
        "rebuild": "Full reindex",
        "owner": "Platform search",
        "failure_action": "Disable search fallback",
        **changes,
    }
    return evidence_services.add_derived_store(review=review, actor=actor, **data)


def capacity_envelope(review, actor, **changes):
    data = {
        "current_data_size": "420 GB",
        "projected_data_size": "1.1 TB",
        "current_peak_tps": 1800.0,
        "projected_peak_tps": 4500.0,
        "current_p95_ms": 120.0,
        "target_p95_ms": 100.0,
        "saturation_trigger": "CPU above 70% at peak",
        "planned_mitigation": "Partition postings by month",
        "owner": "mia",
        "review_date": timezone.localdate() - timedelta(days=3),
        **changes,
    }
    return evidence_services.add_capacity_envelope(review=review, actor=actor, **data)


def test_each_record_is_evidence_for_its_category_with_its_audit_event(review, member):
    events = AuditEvent.objects.count()
    pattern, store, envelope = (
        access_pattern(review, member),
        derived_store(review, member),
        capacity_envelope(review, member),
    )
    assert (pattern.kind, pattern.category.code, pattern.title) == (
        EvidenceKind.ACCESS_PATTERN,
        "query-index",
        "Access pattern: Case inbox",
    )
    assert (store.kind, store.category.code) == (EvidenceKind.DERIVED_STORE, "integration")
    assert (envelope.kind, envelope.category.code) == (EvidenceKind.CAPACITY_ENVELOPE, "capacity")
    assert AccessPattern.objects.get(evidence=pattern).pagination == "keyset"
    assert DerivedStore.objects.get(evidence=store).rebuild == "Full reindex"
    assert AuditEvent.objects.count() == events + 3
    # The envelope is as old as its review date, so it goes stale like any evidence (seed §17.3).
    assert timezone.localtime(envelope.observed_at).date() == timezone.localdate() - timedelta(days=3)
    assert not CapacityEnvelope.objects.get(evidence=envelope).within_target


@pytest.mark.parametrize(
    ("make", "changes", "fields"),
    [
        (access_pattern, {"query_name": " ", "index": ""}, {"query_name", "index"}),
        (access_pattern, {"pagination": "cursor"}, {"pagination"}),
        (access_pattern, {"expected_p95_ms": 0.0}, {"expected_p95_ms"}),
        (access_pattern, {"expected_p95_ms": float("inf")}, {"expected_p95_ms"}),
        (access_pattern, {"url": "ftp://x"}, {"url"}),
        (derived_store, {"rebuild": "", "failure_action": " "}, {"rebuild", "failure_action"}),
        (capacity_envelope, {"review_date": timezone.localdate() + timedelta(days=1)}, {"review_date"}),
        (capacity_envelope, {"review_date": None}, {"review_date"}),
        (
            capacity_envelope,
            {"current_peak_tps": -1.0, "target_p95_ms": 0.0},
            {"current_peak_tps", "target_p95_ms"},
        ),
        (capacity_envelope, {"owner": ""}, {"owner"}),
    ],
)
def test_the_services_refuse_what_the_seed_templates_require_and_write_nothing(
    review, member, make, changes, fields
):
    before = (Evidence.objects.count(), AuditEvent.objects.count())
    with pytest.raises(services.ServiceError) as refused:
        make(review, member, **changes)
    assert set(refused.value.message_dict) == fields
    assert (Evidence.objects.count(), AuditEvent.objects.count()) == before


def test_an_auditor_may_not_record_them(review, auditor):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        derived_store(review, auditor)


def test_the_review_page_offers_them_and_shows_what_they_say(client, review, member):
    access_pattern(review, member)
    derived_store(review, member)
    capacity_envelope(review, member)
    client.force_login(member)
    html = client.get(review.get_absolute_url()).content.decode()
    for kind in ("access_pattern", "derived_store", "capacity_envelope"):
        assert reverse("evidence_create", args=[review.pk, kind]) in html
    assert "keyset pagination · p95 under 100 ms" in html
    assert "from CDC/outbox · fresh within &lt; 30 sec" in html
    assert "over its 100 ms target" in html


def test_each_form_records_its_kind(client, review, member):
    client.force_login(member)
    response = client.post(
        reverse("evidence_create", args=[review.pk, "derived_store"]),
        {
            "store": "Warehouse table",
            "source": "CDC ETL",
            "freshness": "T+1",
            "rebuild": "Reload date range",
            "owner": "Data platform",
            "failure_action": "Stop reports",
        },
    )
    assert response.status_code == 302
    assert DerivedStore.objects.get().store == "Warehouse table"


def test_they_age_by_their_own_maximum(review, member):
    now = timezone.now()
    envelope = capacity_envelope(review, member, review_date=timezone.localdate() - timedelta(days=200))
    assert freshness.is_stale(envelope.kind, envelope.observed_at, now)
    assert not freshness.is_stale(envelope.kind, now - timedelta(days=170), now)
    assert freshness.max_age_days("access_pattern") == 180 and freshness.max_age_days("derived_store") == 365


def test_a_stale_envelope_alone_does_not_hold_up_a_capacity_score_of_2(review, member):
    capacity_envelope(review, member, review_date=timezone.localdate() - timedelta(days=200))
    services.set_score(
        review=review, category=review.catalogue.categories.get(code="capacity"), score=2, actor=member
    )
    notes = [n.rule for n in review_gate(review).notes]
    assert "stale:capacity" in notes


def test_the_decision_record_keeps_them_as_text(review, member, architect):
    access_pattern(review, member, expected_p95_ms=99.5)
    derived_store(review, member)
    capacity_envelope(review, member)
    now = timezone.now()
    record = decision_record(
        review,
        gate=review_gate(review, now=now),
        approver=architect,
        recorded_at=now,
        next_review=timezone.localdate() + timedelta(days=30),
        previous_digest="",
    )
    entries = {e["kind"]: e for row in record["scorecard"] for e in row["evidence"]}
    assert entries["access_pattern"]["access_pattern"]["expected_p95_ms"] == "99.5"
    assert entries["derived_store"]["derived_store"]["failure_action"] == "Disable search fallback"
    assert entries["capacity_envelope"]["capacity_envelope"]["target_p95_ms"] == "100"


def test_the_pdf_says_what_each_record_holds(review, member, architect):
    import io
    import re

    from pypdf import PdfReader

    from reviews import records

    access_pattern(review, member)
    derived_store(review, member)
    capacity_envelope(review, member)
    now = timezone.now()
    record = decision_record(
        review,
        gate=review_gate(review, now=now),
        approver=architect,
        recorded_at=now,
        next_review=timezone.localdate() + timedelta(days=30),
        previous_digest="",
    )
    pdf, _pages = records.render_pdf(record, digest="0" * 64)
    text = re.sub(r"\s+", " ", " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages))
    assert "keyset pagination, p95 under 100 ms" in text
    assert "rebuild: Full reindex" in text
    assert "over its 100 ms target" in text and "plan: Partition postings by month" in text
