"""The services layer: validation, audit in the same transaction, frozen reviews, versions."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.db.utils import InternalError, ProgrammingError
from django.utils import timezone

from evidence import services as evidence_services
from reviews import services
from reviews.gate import GateOutcome
from reviews.models import (
    AppendOnlyError,
    AuditEvent,
    CategoryScore,
    Decision,
    ExceptionState,
    Finding,
    Level,
    ReviewState,
)
from tests.factories import attach, category, score_all

pytestmark = pytest.mark.django_db


def test_score_2_without_evidence_is_refused_and_nothing_is_written(review, member):
    before = AuditEvent.objects.count()
    with pytest.raises(services.ServiceError) as err:
        services.set_score(review=review, category=category(review, "backup"), score=2, actor=member)
    assert "no evidence" in str(err.value).lower()
    assert not CategoryScore.objects.exists()
    assert AuditEvent.objects.count() == before


def test_set_score_writes_an_audit_event_with_before_and_after(review, member):
    attach(review, "backup", member)
    row = services.set_score(review=review, category=category(review, "backup"), score=2, actor=member)
    services.set_score(
        review=review, category=category(review, "backup"), score=3, actor=member, version=row.version
    )
    event = AuditEvent.objects.filter(action="score.set").order_by("-id").first()
    assert event.before["score"] == 2 and event.after["score"] == 3
    assert event.actor == member and event.review == review


def test_stale_version_gets_a_conflict_with_the_newer_value(review, member, architect):
    cat = category(review, "security")
    first = services.set_score(review=review, category=cat, score=1, actor=member)
    services.set_score(review=review, category=cat, score=0, actor=architect, version=first.version)
    with pytest.raises(services.ConflictError) as err:
        services.set_score(review=review, category=cat, score=1, actor=member, version=first.version)
    assert err.value.current.score == 0
    assert CategoryScore.objects.get(review=review, category=cat).score == 0


def test_two_first_scores_of_the_same_category_conflict(review, member, architect):
    cat = category(review, "security")
    services.set_score(review=review, category=cat, score=1, actor=member, version=0)
    with pytest.raises(services.ConflictError):
        services.set_score(review=review, category=cat, score=0, actor=architect, version=0)


def test_auditor_cannot_score(review, auditor):
    with pytest.raises(PermissionDenied):
        services.set_score(review=review, category=category(review, "security"), score=1, actor=auditor)


def test_p2_needs_a_dated_owner(review, member):
    with pytest.raises(services.ServiceError) as err:
        services.add_finding(
            review=review,
            category=category(review, "observability"),
            title="No lag alert",
            level=Level.P2,
            actor=member,
        )
    assert set(err.value.message_dict) == {"owner", "due_date"}
    assert not Finding.objects.exists()


def test_p2_constraint_holds_in_the_database_too(review, member):
    finding = services.add_finding(
        review=review,
        category=category(review, "observability"),
        title="No alert",
        level=Level.P3,
        actor=member,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Finding.objects.filter(pk=finding.pk).update(level=Level.P2)


def test_p0_cannot_be_accepted(review, member):
    finding = services.add_finding(
        review=review,
        category=category(review, "security"),
        title="App uses superuser",
        level=Level.P0,
        actor=member,
    )
    with pytest.raises(services.ServiceError):
        services.update_finding(
            finding=finding,
            actor=member,
            version=finding.version,
            title=finding.title,
            description="",
            level=Level.P0,
            status="accepted",
        )


def test_four_eyes_the_requester_cannot_sign(review, member, lead):
    finding = services.add_finding(
        review=review, category=category(review, "migration"), title="Backfill", level=Level.P1, actor=lead
    )
    exc = services.request_exception(
        finding=finding,
        justification="Low volume",
        compensating_control="Manual watch",
        expires_at=timezone.now() + timedelta(days=10),
        actor=lead,
    )
    with pytest.raises(services.ServiceError, match="Four eyes"):
        services.sign_exception(exception=exc, actor=lead)
    with pytest.raises(PermissionDenied):
        services.sign_exception(exception=exc, actor=member)  # a member is not a lead
    exc.refresh_from_db()
    assert exc.state == ExceptionState.REQUESTED


def test_exception_longer_than_the_maximum_is_refused(review, member, settings):
    settings.EXCEPTION_MAX_DAYS = 90
    finding = services.add_finding(
        review=review, category=category(review, "migration"), title="Backfill", level=Level.P1, actor=member
    )
    with pytest.raises(services.ServiceError) as err:
        services.request_exception(
            finding=finding,
            justification="x",
            compensating_control="y",
            expires_at=timezone.now() + timedelta(days=91),
            actor=member,
        )
    assert "90 days" in str(err.value)


def test_signed_exception_turns_blocked_into_approved_with_exceptions(review, architect, member, lead):
    score_all(review, architect)
    finding = services.add_finding(
        review=review, category=category(review, "migration"), title="Backfill", level=Level.P1, actor=member
    )
    exc = services.request_exception(
        finding=finding,
        justification="Low volume",
        compensating_control="Watch",
        expires_at=timezone.now() + timedelta(days=10),
        actor=member,
    )
    from reviews.selectors import review_gate

    assert review_gate(review).outcome == GateOutcome.BLOCKED
    services.sign_exception(exception=exc, actor=lead)
    assert review_gate(review).outcome == GateOutcome.APPROVED_WITH_EXCEPTIONS
    assert review_gate(review, now=timezone.now() + timedelta(days=11)).outcome == GateOutcome.BLOCKED


def test_record_decision_freezes_the_review_and_chains_digests(review, architect, system):
    score_all(review, architect)
    first = services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )
    assert first.outcome == GateOutcome.APPROVED
    assert first.digest == services.record_digest(first.record)
    review.refresh_from_db()
    assert review.state == ReviewState.DECIDED
    with pytest.raises(services.ServiceError):
        services.set_score(review=review, category=category(review, "backup"), score=0, actor=architect)

    second_review = services.start_review(
        system=system,
        release_scope="Ledger 3.1",
        actor=architect,
        schema_changing=True,
        production_traffic=True,
    )
    score_all(second_review, architect, value=3)
    second = services.record_decision(
        review=second_review, actor=architect, next_review=timezone.localdate() + timedelta(days=30)
    )
    assert second.previous_digest == first.digest
    assert second.record["previous_digest"] == first.digest


def test_decision_is_refused_while_categories_are_unscored(review, architect):
    with pytest.raises(services.ServiceError) as err:
        services.record_decision(
            review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=9)
        )
    assert "unscored" in str(err.value)
    assert not Decision.objects.exists()


def test_decisions_and_audit_events_refuse_change_in_the_model_layer(review, architect):
    score_all(review, architect)
    decision = services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )
    decision.outcome = "BLOCKED"
    with pytest.raises(AppendOnlyError):
        decision.save()
    with pytest.raises(AppendOnlyError):
        decision.delete()
    with pytest.raises(AppendOnlyError):
        Decision.objects.filter(pk=decision.pk).update(outcome="BLOCKED")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


@pytest.mark.parametrize("table", ["reviews_decision", "reviews_auditevent"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET id = id", "DELETE FROM {t}"])
def test_postgres_triggers_refuse_raw_updates_and_deletes(review, architect, table, statement):
    score_all(review, architect)
    services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )
    with (
        pytest.raises((InternalError, ProgrammingError)) as err,
        transaction.atomic(),
        connection.cursor() as cur,
    ):
        cur.execute(statement.format(t=table))
    assert "append-only" in str(err.value)


def test_restore_drill_measures_rpo_and_rto(review, member):
    now = timezone.now()
    item = evidence_services.add_restore_drill(
        review=review,
        actor=member,
        title="Q4 drill",
        database="ledger",
        backup_source="pgbackrest s3",
        target_environment="staging",
        requested_recovery_point=now - timedelta(hours=2),
        actual_recovery_point=now - timedelta(hours=2, minutes=3),
        started_at=now - timedelta(minutes=50),
        ended_at=now - timedelta(minutes=7),
        rpo_target_minutes=5,
        rto_target_minutes=60,
        validation_queries="select count(*) from posting",
        validation_passed=True,
    )
    drill = item.restore_drill
    assert drill.rpo_achieved == timedelta(minutes=3) and drill.rto_achieved == timedelta(minutes=43)
    assert drill.passed
    assert item.category.code == "backup"


def test_restore_drill_that_ends_before_it_starts_is_refused(review, member):
    now = timezone.now()
    with pytest.raises(services.ServiceError) as err:
        evidence_services.add_restore_drill(
            review=review,
            actor=member,
            title="bad",
            database="ledger",
            backup_source="s3",
            target_environment="stg",
            requested_recovery_point=now,
            actual_recovery_point=now,
            started_at=now - timedelta(minutes=5),
            ended_at=now - timedelta(minutes=10),
            rpo_target_minutes=5,
            rto_target_minutes=60,
            validation_queries="select 1",
            validation_passed=True,
        )
    assert "ended_at" in err.value.message_dict
    assert not review.evidence.exists()
