"""Carry-over: a new review starts with what the last decision left open, linked to its origin, and a
decided review's follow-ups are closed later through the new review, audited."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from evidence.models import Evidence
from reviews import services
from reviews.gate import GateOutcome
from reviews.models import (
    AuditEvent,
    ExceptionState,
    Finding,
    FindingSource,
    FindingStatus,
    Level,
    RiskException,
)
from reviews.selectors import review_changes, review_gate

from ..factories import category, score_all

pytestmark = pytest.mark.django_db


def _p1_with_signed_exception(review, member, lead, title="Application connects as superuser", days=30):
    finding = services.add_finding(
        review=review, category=category(review, "security"), title=title, level=Level.P1, actor=member
    )
    exc = services.request_exception(
        finding=finding,
        justification="Low traffic until the fix",
        compensating_control="Pager alert on role use",
        expires_at=timezone.now() + timedelta(days=days),
        actor=member,
    )
    return finding, services.sign_exception(exception=exc, actor=lead)


@pytest.fixture
def decided(review, architect, member, lead):
    """Ledger 3.0 decided APPROVED_WITH_EXCEPTIONS: a P1 on a signed exception, two P2s with dated owners
    (one from a probe), a P3, a resolved P2; fresh links and one fresh and one stale probe result."""
    score_all(review, architect)
    now = timezone.now()
    p1, exc = _p1_with_signed_exception(review, member, lead)
    p2 = services.add_finding(
        review=review,
        category=category(review, "backup"),
        title="Restore drill runs on a laptop",
        level=Level.P2,
        owner=member,
        due_date=timezone.localdate() + timedelta(days=40),
        actor=architect,
    )
    probe_p2 = Finding.objects.create(
        review=review,
        category=category(review, "query-index"),
        title="Unused index on orders",
        level=Level.P2,
        owner=member,
        due_date=timezone.localdate() + timedelta(days=20),
        source=FindingSource.PROBE,
        probe_key="unused_indexes:public.orders_idx",
    )
    p3 = services.add_finding(
        review=review,
        category=category(review, "runbooks"),
        title="Runbook index",
        level=Level.P3,
        actor=architect,
    )
    done = services.add_finding(
        review=review,
        category=category(review, "backup"),
        title="WAL archive not monitored",
        level=Level.P2,
        owner=member,
        due_date=timezone.localdate() + timedelta(days=10),
        actor=architect,
    )
    services.update_finding(
        finding=done,
        actor=architect,
        version=done.version,
        title=done.title,
        description="",
        level=Level.P2,
        status=FindingStatus.RESOLVED,
        owner=member,
        due_date=done.due_date,
    )
    backup = category(review, "backup")
    fresh = Evidence.objects.create(
        review=review,
        category=backup,
        kind="probe_result",
        title="Replication lag probe",
        observed_at=now - timedelta(days=2),
        added_by=architect,
    )
    stale = Evidence.objects.create(
        review=review,
        category=backup,
        kind="probe_result",
        title="Bloat probe",
        observed_at=now - timedelta(days=30),
        added_by=architect,
    )
    decision = services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )
    assert decision.outcome == "APPROVED_WITH_EXCEPTIONS"
    return {
        "review": review,
        "p1": p1,
        "exc": exc,
        "p2": p2,
        "probe_p2": probe_p2,
        "p3": p3,
        "done": done,
        "fresh": fresh,
        "stale": stale,
    }


def _start(system, architect, scope="Ledger 3.1"):
    return services.start_review(
        system=system, release_scope=scope, actor=architect, schema_changing=False, production_traffic=True
    )


def test_a_new_review_carries_the_findings_the_last_decision_left_open(decided, system, architect, member):
    new = _start(system, architect)
    carried = {f.title: f for f in Finding.objects.filter(review=new)}
    assert set(carried) == {
        "Application connects as superuser",
        "Restore drill runs on a laptop",
        "Unused index on orders",
        "Runbook index",
    }  # the resolved P2 stays behind
    p2 = carried["Restore drill runs on a laptop"]
    assert p2.carried_from_id == decided["p2"].pk
    assert (p2.level, p2.status, p2.owner, p2.due_date) == (Level.P2, "open", member, decided["p2"].due_date)
    assert p2.category.code == "backup"
    probe = carried["Unused index on orders"]
    assert probe.source == FindingSource.PROBE and probe.probe_key == "unused_indexes:public.orders_idx"
    assert AuditEvent.objects.filter(action="finding.carry", review=new).count() == 4
    start = AuditEvent.objects.get(action="review.start", review=new)
    assert start.after["carried"] == {"findings": 4, "exceptions": 1, "evidence": 15, "scores": 0}


def test_the_p1_rides_on_its_carried_exception_in_the_new_gate(decided, system, architect):
    new = _start(system, architect)
    copy = RiskException.objects.get(finding__review=new)
    origin = decided["exc"]
    assert copy.carried_from_id == origin.pk
    assert (copy.state, copy.signer_id, copy.signed_at, copy.expires_at) == (
        ExceptionState.SIGNED,
        origin.signer_id,
        origin.signed_at,
        origin.expires_at,
    )
    assert services.signature_matches(copy) is True
    score_all(new, architect)
    gate = review_gate(new)
    assert gate.outcome == GateOutcome.APPROVED_WITH_EXCEPTIONS
    assert [r.status.value for r in gate.reasons if r.rule == "p1"] == ["exception"]


def test_an_expired_exception_does_not_carry_and_the_p1_blocks_again(decided, system, architect):
    RiskException.objects.filter(pk=decided["exc"].pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    new = _start(system, architect)
    assert not RiskException.objects.filter(finding__review=new).exists()
    score_all(new, architect)
    gate = review_gate(new)
    assert gate.outcome == GateOutcome.BLOCKED
    assert any("superuser" in m for m in (r.message for r in gate.blockers))


def test_fresh_evidence_is_carried_with_its_date_and_stale_evidence_is_not(decided, system, architect):
    new = _start(system, architect)
    items = {e.title: e for e in Evidence.objects.filter(review=new)}
    assert "Bloat probe" not in items
    lag = items["Replication lag probe"]
    assert lag.carried_from_id == decided["fresh"].pk
    assert lag.observed_at == decided["fresh"].observed_at  # still ageing from when it was observed
    assert not lag.is_stale and lag.age_days == 2
    assert all(e.carried_from_id for e in items.values())
    assert AuditEvent.objects.filter(action="evidence.carry", review=new).count() == len(items)


def test_the_first_review_of_a_system_carries_nothing(system, architect):
    new = _start(system, architect, "Ledger 1.0")
    assert not Finding.objects.filter(review=new).exists()
    assert AuditEvent.objects.get(action="review.start", review=new).after["carried"]["findings"] == 0


def test_resolving_the_carried_copy_resolves_the_frozen_follow_up_later(decided, system, architect, client):
    new = _start(system, architect)
    copy = Finding.objects.get(review=new, carried_from=decided["p2"])
    services.update_finding(
        finding=copy,
        actor=architect,
        version=copy.version,
        title=copy.title,
        description=copy.description,
        level=copy.level,
        status=FindingStatus.RESOLVED,
        owner=copy.owner,
        due_date=copy.due_date,
    )
    origin = Finding.objects.get(pk=decided["p2"].pk)
    assert origin.status == FindingStatus.OPEN and origin.version == decided["p2"].version  # frozen
    event = AuditEvent.objects.get(action="finding.resolve_later", object_id=str(origin.pk))
    assert event.review_id == decided["review"].pk and event.actor == architect
    assert event.after["resolved_by_finding"] == copy.pk and event.after["resolved_in_review"] == new.pk
    client.force_login(architect)
    old_page = client.get(reverse("review_detail", args=[decided["review"].pk])).content.decode()
    assert "resolved later in" in old_page and reverse("review_detail", args=[new.pk]) in old_page
    new_page = client.get(reverse("review_detail", args=[new.pk])).content.decode()
    assert "carried from" in new_page


def test_a_frozen_review_still_refuses_direct_changes_to_its_follow_ups(decided, architect):
    p2 = decided["p2"]
    with pytest.raises(services.ServiceError):
        services.update_finding(
            finding=p2,
            actor=architect,
            version=p2.version,
            title=p2.title,
            description="",
            level=p2.level,
            status=FindingStatus.RESOLVED,
            owner=p2.owner,
            due_date=p2.due_date,
        )


def test_a_follow_up_carried_twice_is_resolved_later_in_the_third_review(decided, system, architect):
    from reviews.carryover import resolved_later

    second = _start(system, architect)
    score_all(second, architect)
    services.record_decision(
        review=second, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )
    third = _start(system, architect, "Ledger 3.2")
    copy = Finding.objects.get(review=third, title="Runbook index")
    assert copy.carried_from.carried_from_id == decided["p3"].pk
    services.update_finding(
        finding=copy,
        actor=architect,
        version=copy.version,
        title=copy.title,
        description="",
        level=copy.level,
        status=FindingStatus.RESOLVED,
    )
    assert resolved_later([decided["p3"].pk])[decided["p3"].pk].pk == copy.pk


def test_the_changes_view_counts_carried_items_as_carried_not_removed(decided, system, architect):
    new = _start(system, architect)
    changes = review_changes(new)
    assert changes["findings"]["resolved"] == []  # before carry-over: every open follow-up "gone"
    assert changes["findings"]["opened"] == []
    assert {f["title"] for f in changes["findings"]["carried"]} == {
        "Application connects as superuser",
        "Restore drill runs on a laptop",
        "Unused index on orders",
        "Runbook index",
    }
    assert changes["exceptions"] == {"added": [], "expired": [], "revoked": []}
    removed = {e["title"] for e in changes["evidence"]["removed"]}
    assert removed == {"Bloat probe"}  # the stale one stayed behind
    carried = {e["title"] for e in changes["evidence"]["carried"]}
    assert "Replication lag probe" in carried and "Bloat probe" not in carried
    assert changes["evidence"]["added"] == []
    assert changes["carried"] == 4 + len(carried)


def test_the_carried_copy_is_not_counted_twice_on_the_portfolio(decided, system, architect, client):
    _start(system, architect)
    client.force_login(architect)
    (row,) = [r for r in client.get(reverse("portfolio")).context["rows"] if r.system.pk == system.pk]
    assert row.p1 == 1


def test_the_next_decision_record_lists_what_was_carried_and_from_where(decided, system, architect):
    new = services.start_review(
        system=system,
        release_scope="Ledger 3.1",
        actor=architect,
        schema_changing=False,
        production_traffic=True,
    )
    score_all(new, architect)
    decision = services.record_decision(
        review=new, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )
    carried = decision.record["carried"]
    kinds = [c["kind"] for c in carried]
    assert (kinds.count("finding"), kinds.count("exception")) == (4, 1) and "evidence" in kinds
    origin = decided["review"].pk
    assert {c["from_review_id"] for c in carried} == {origin}
    by_origin = {(c["kind"], c["from_id"]) for c in carried}
    assert ("finding", decided["p2"].pk) in by_origin and ("exception", decided["exc"].pk) in by_origin
    assert ("evidence", decided["fresh"].pk) in by_origin and (
        "evidence",
        decided["stale"].pk,
    ) not in by_origin
    assert all(c["summary"] for c in carried)
