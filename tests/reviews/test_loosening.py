"""Four eyes on every loosening: a P0/P1 is lowered, accepted or closed as not an issue only when a second
architect or lead of the team confirms a reasoned proposal; resolving one as fixed needs a note and
evidence; owners are people who may act."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from evidence import services as evidence_services
from reviews import loosening, selectors, services
from reviews.gate import GateOutcome
from reviews.models import (
    AuditEvent,
    ExceptionState,
    Finding,
    FindingStatus,
    Level,
    Loosening,
    LooseningKind,
    LooseningState,
    Resolution,
)
from tests.factories import attach, category, score_all

pytestmark = pytest.mark.django_db


def add(review, actor, level=Level.P0, code="security", title="App connects as superuser"):
    return services.add_finding(
        review=review, category=category(review, code), title=title, level=level, actor=actor
    )


def change(finding, actor, **kwargs):
    finding.refresh_from_db()
    values = {
        "title": finding.title,
        "description": finding.description,
        "level": finding.level,
        "status": loosening.status_of(finding),
        "owner": finding.owner,
        "due_date": finding.due_date,
        "version": finding.version,
    }
    values.update(kwargs)
    return services.update_finding(finding=finding, actor=actor, **values)


def blockers(review):
    return {r.finding_id for r in selectors.review_gate(review).blockers if r.finding_id}


# --- The reproduction: a member regraded an open P0 and a P1 to P3 alone


def test_a_member_cannot_regrade_a_p0_or_p1_directly(review, member):
    p0 = add(review, member, Level.P0)
    p1 = add(review, member, Level.P1, code="backup", title="No restore drill")
    for finding in (p0, p1):
        with pytest.raises(services.ServiceError) as err:
            change(finding, member, level=Level.P3)
        assert "second person" in " ".join(err.value.messages)
    assert blockers(review) == {p0.pk, p1.pk}
    assert set(Finding.objects.values_list("level", flat=True)) == {Level.P0, Level.P1}


def test_an_architect_cannot_regrade_alone_either(review, architect):
    p0 = add(review, architect)
    with pytest.raises(services.ServiceError):
        change(p0, architect, level=Level.P1)
    p0.refresh_from_db()
    assert p0.level == Level.P0


def test_member_proposes_p0_to_p3_and_the_gate_still_blocks_until_a_lead_confirms(review, member, lead):
    p0 = add(review, member)
    proposal = loosening.propose(
        finding=p0, actor=member, level=Level.P3, status="open", reason="Only the staging replica uses it"
    )
    assert proposal.kind == LooseningKind.LOWER_LEVEL and proposal.state == LooseningState.PROPOSED
    p0.refresh_from_db()
    assert p0.level == Level.P0
    assert p0.pk in blockers(review)

    loosening.confirm(loosening=proposal, actor=lead, note="Checked the connection strings")
    p0.refresh_from_db()
    proposal.refresh_from_db()
    assert p0.level == Level.P3
    assert p0.pk not in blockers(review)
    assert (proposal.state, proposal.decided_by, proposal.decision_note) == (
        LooseningState.CONFIRMED,
        lead,
        "Checked the connection strings",
    )


def test_the_proposer_cannot_confirm_their_own_proposal(review, architect):
    p0 = add(review, architect)
    proposal = loosening.propose(finding=p0, actor=architect, level=Level.P3, status="open", reason="Why not")
    with pytest.raises(services.ServiceError) as err:
        loosening.confirm(loosening=proposal, actor=architect)
    assert "Four eyes" in err.value.messages[0]
    p0.refresh_from_db()
    assert p0.level == Level.P0


def test_the_database_refuses_a_loosening_decided_by_its_proposer(review, architect):
    p0 = add(review, architect)
    proposal = loosening.propose(finding=p0, actor=architect, level=Level.P3, status="open", reason="x")
    with pytest.raises(IntegrityError, match="loosening_four_eyes"), transaction.atomic():
        Loosening.objects.filter(pk=proposal.pk).update(
            state=LooseningState.CONFIRMED, decided_by=architect, decided_at=timezone.now()
        )


def test_a_member_an_auditor_and_another_team_cannot_confirm(review, member, lead, auditor, outsider):
    p0 = add(review, lead)
    proposal = loosening.propose(
        finding=p0, actor=lead, level=Level.P3, status="open", reason="Fixed upstream"
    )
    for who in (member, auditor, outsider):
        with pytest.raises(PermissionDenied):
            loosening.confirm(loosening=proposal, actor=who)
        with pytest.raises(PermissionDenied):
            loosening.reject(loosening=proposal, actor=who)
    proposal.refresh_from_db()
    assert proposal.state == LooseningState.PROPOSED


def test_an_auditor_cannot_propose(review, member, auditor):
    p0 = add(review, member)
    with pytest.raises(PermissionDenied):
        loosening.propose(finding=p0, actor=auditor, level=Level.P3, status="open", reason="x")


@pytest.mark.parametrize("reason", ["", "   \n"])
def test_a_loosening_needs_a_reason(review, member, reason):
    p0 = add(review, member)
    with pytest.raises(services.ServiceError) as err:
        loosening.propose(finding=p0, actor=member, level=Level.P3, status="open", reason=reason)
    assert "note" in err.value.message_dict
    assert not Loosening.objects.exists()


def test_one_open_proposal_per_finding(review, member, architect):
    p0 = add(review, member)
    loosening.propose(finding=p0, actor=member, level=Level.P3, status="open", reason="First")
    with pytest.raises(services.ServiceError) as err:
        loosening.propose(finding=p0, actor=architect, level=Level.P1, status="open", reason="Second")
    assert "already awaits confirmation" in err.value.messages[0]
    with pytest.raises(IntegrityError), transaction.atomic():
        Loosening.objects.create(
            finding=p0,
            kind=LooseningKind.LOWER_LEVEL,
            from_level="P0",
            from_status="open",
            to_level="P1",
            to_status="open",
            reason="behind the service's back",
            proposed_by=architect,
        )


def test_rejecting_keeps_the_level_and_a_new_proposal_may_follow(review, member, lead):
    p1 = add(review, member, Level.P1)
    proposal = loosening.propose(finding=p1, actor=member, level=Level.P3, status="open", reason="Minor")
    loosening.reject(loosening=proposal, actor=lead, note="Not minor: it loses data")
    p1.refresh_from_db()
    assert p1.level == Level.P1 and p1.pk in blockers(review)
    again = loosening.propose(finding=p1, actor=member, level=Level.P3, status="open", reason="Half as bad")
    assert again.state == LooseningState.PROPOSED


def test_the_proposer_withdraws_and_nobody_else_may(review, member, lead):
    p0 = add(review, member)
    proposal = loosening.propose(finding=p0, actor=member, level=Level.P3, status="open", reason="x")
    with pytest.raises(PermissionDenied):
        loosening.withdraw(loosening=proposal, actor=lead)
    loosening.withdraw(loosening=proposal, actor=member)
    proposal.refresh_from_db()
    assert proposal.state == LooseningState.WITHDRAWN
    with pytest.raises(services.ServiceError):
        loosening.confirm(loosening=proposal, actor=lead)


def test_accepting_a_p1_goes_through_a_proposal(review, member, lead):
    p1 = add(review, member, Level.P1, code="backup", title="No restore drill")
    with pytest.raises(services.ServiceError) as err:
        change(p1, member, status=FindingStatus.ACCEPTED)
    assert "status" in err.value.message_dict
    proposal = loosening.propose(
        finding=p1,
        actor=member,
        level=Level.P1,
        status=FindingStatus.ACCEPTED,
        reason="Risk owned by the CFO",
    )
    assert proposal.kind == LooseningKind.ACCEPT
    loosening.confirm(loosening=proposal, actor=lead)
    p1.refresh_from_db()
    assert p1.status == FindingStatus.ACCEPTED
    # An accepted P1 still ships only on a signed exception (the gate's rule for an unresolved P1).
    assert p1.pk in blockers(review)


def test_a_p0_cannot_be_proposed_as_accepted(review, member):
    p0 = add(review, member)
    with pytest.raises(services.ServiceError):
        loosening.propose(finding=p0, actor=member, level=Level.P0, status=FindingStatus.ACCEPTED, reason="x")


def test_not_an_issue_leaves_the_gate_only_when_confirmed(review, member, architect):
    p0 = add(review, member)
    with pytest.raises(services.ServiceError):
        change(p0, member, status=loosening.NOT_AN_ISSUE)
    proposal = loosening.propose(
        finding=p0,
        actor=member,
        level=Level.P0,
        status=loosening.NOT_AN_ISSUE,
        reason="The role is read-only",
    )
    assert proposal.kind == LooseningKind.NOT_AN_ISSUE
    assert p0.pk in blockers(review)
    loosening.confirm(loosening=proposal, actor=architect)
    p0.refresh_from_db()
    assert (p0.status, p0.resolution, p0.resolution_note) == (
        FindingStatus.RESOLVED,
        Resolution.NOT_AN_ISSUE,
        "The role is read-only",
    )
    assert p0.pk not in blockers(review)


def test_confirming_a_stale_proposal_is_refused(review, member, lead):
    p1 = add(review, member, Level.P1)
    proposal = loosening.propose(finding=p1, actor=member, level=Level.P3, status="open", reason="x")
    change(p1, member, level=Level.P0)  # raising is never a loosening
    with pytest.raises(services.ServiceError) as err:
        loosening.confirm(loosening=proposal, actor=lead)
    assert "changed since this was proposed" in err.value.messages[0]
    p1.refresh_from_db()
    assert p1.level == Level.P0


def test_lowering_a_p0_to_p2_needs_the_dated_owner_first(review, member, lead):
    p0 = add(review, member)
    with pytest.raises(services.ServiceError) as err:
        loosening.propose(finding=p0, actor=member, level=Level.P2, status="open", reason="x")
    assert "owner" in err.value.message_dict


def test_p2_and_p3_change_freely(review, member):
    p2 = services.add_finding(
        review=review,
        category=category(review, "security"),
        title="Wide grants",
        level=Level.P2,
        owner=member,
        due_date=timezone.localdate() + timedelta(days=10),
        actor=member,
    )
    change(p2, member, level=Level.P3)
    change(p2, member, status=loosening.NOT_AN_ISSUE)
    p2.refresh_from_db()
    assert (p2.level, p2.status, p2.resolution) == (Level.P3, FindingStatus.RESOLVED, Resolution.NOT_AN_ISSUE)
    assert not Loosening.objects.exists()


def test_confirming_a_regrade_voids_a_signed_exception(review, member, lead, architect):
    p1 = add(review, member, Level.P1)
    exc = services.request_exception(
        finding=p1,
        justification="Drill next sprint",
        compensating_control="Snapshots",
        expires_at=timezone.now() + timedelta(days=20),
        actor=member,
    )
    services.sign_exception(exception=exc, actor=lead)
    change(p1, member, owner=member, due_date=timezone.localdate() + timedelta(days=9))
    proposal = loosening.propose(finding=p1, actor=member, level=Level.P2, status="open", reason="x")
    loosening.confirm(loosening=proposal, actor=architect)
    exc.refresh_from_db()
    assert exc.state == ExceptionState.REQUESTED and exc.signer is None


def test_a_decided_review_takes_no_proposal_and_no_confirmation(review, member, lead, architect):
    p1 = add(review, member, Level.P1)
    proposal = loosening.propose(finding=p1, actor=member, level=Level.P3, status="open", reason="x")
    score_all(review, architect, value=0)
    services.record_decision(review=review, actor=architect, next_review=timezone.localdate() + timedelta(90))
    with pytest.raises(services.ServiceError):
        loosening.confirm(loosening=proposal, actor=lead)
    assert not loosening.awaiting(lead).exists()


def test_the_chain_is_audited(review, member, lead):
    p0 = add(review, member)
    proposal = loosening.propose(
        finding=p0, actor=member, level=Level.P3, status="open", reason="Staging only"
    )
    loosening.confirm(loosening=proposal, actor=lead)
    events = list(
        AuditEvent.objects.filter(review=review).order_by("id").values_list("action", "actor__username")
    )
    assert events[-3:] == [
        ("loosening.propose", "mia"),
        ("loosening.confirm", "linus"),
        ("finding.regrade", "linus"),
    ]
    regrade = AuditEvent.objects.filter(action="finding.regrade").get()
    assert regrade.before["level"] == "P0" and regrade.after["level"] == "P3"
    assert (regrade.after["proposed_by"], regrade.after["confirmed_by"], regrade.after["reason"]) == (
        member.pk,
        lead.pk,
        "Staging only",
    )


def test_a_refused_direct_loosening_writes_nothing(review, member):
    p0 = add(review, member)
    before = AuditEvent.objects.count()
    with pytest.raises(services.ServiceError):
        change(p0, member, level=Level.P3, title="Renamed too")
    assert AuditEvent.objects.count() == before
    p0.refresh_from_db()
    assert (p0.title, p0.version) == ("App connects as superuser", 1)


def test_update_or_propose_saves_other_edits_and_proposes(review, member):
    p0 = add(review, member)
    saved, proposal = loosening.update_or_propose(
        finding=p0,
        actor=member,
        version=p0.version,
        title="App connects as the owner role",
        description="",
        level=Level.P3,
        status="open",
        note="Read-only replica",
    )
    assert saved.title == "App connects as the owner role" and saved.level == Level.P0
    assert proposal.to_level == Level.P3


def test_pending_proposals_are_listed_for_architects_and_leads_but_not_the_proposer(
    review, member, lead, architect, auditor
):
    p0 = add(review, lead)
    proposal = loosening.propose(finding=p0, actor=lead, level=Level.P3, status="open", reason="x")
    assert list(loosening.awaiting(architect)) == [proposal]
    assert not loosening.awaiting(lead).exists()
    assert not loosening.awaiting(member).exists()
    assert not loosening.awaiting(auditor).exists()


# --- Resolving a P0/P1 as fixed: a note and evidence of the fix


def test_resolving_a_p0_as_fixed_needs_a_note_and_evidence(review, member):
    p0 = add(review, member)
    with pytest.raises(services.ServiceError) as err:
        change(p0, member, status=FindingStatus.RESOLVED)
    assert {"note", "status"} <= set(err.value.message_dict)
    with pytest.raises(services.ServiceError) as err:
        change(p0, member, status=FindingStatus.RESOLVED, note="Rotated to app_rw")
    assert "evidence of the fix" in err.value.message_dict["status"][0]
    attach(review, "security", member, title="Role audit after rotation")
    change(p0, member, status=FindingStatus.RESOLVED, note="Rotated to app_rw")
    p0.refresh_from_db()
    assert (p0.status, p0.resolution, p0.resolution_note) == (
        FindingStatus.RESOLVED,
        Resolution.FIXED,
        "Rotated to app_rw",
    )
    assert p0.pk not in blockers(review)


def test_evidence_observed_before_the_finding_does_not_show_a_fix(review, member):
    evidence_services.add_link(
        review=review,
        category=category(review, "security"),
        title="Old role audit",
        url="https://ci.example.com/old",
        actor=member,
        observed_at=timezone.now() - timedelta(days=3),
    )
    p1 = add(review, member, Level.P1)
    with pytest.raises(services.ServiceError):
        change(p1, member, status=FindingStatus.RESOLVED, note="Fixed")


def test_evidence_of_another_category_does_not_show_a_fix(review, member):
    p0 = add(review, member)
    attach(review, "backup", member)
    with pytest.raises(services.ServiceError):
        change(p0, member, status=FindingStatus.RESOLVED, note="Fixed")


def test_a_p3_resolves_without_a_note(review, member):
    p3 = add(review, member, Level.P3)
    change(p3, member, status=FindingStatus.RESOLVED)
    p3.refresh_from_db()
    assert p3.status == FindingStatus.RESOLVED


# --- Owners: only people who may act


def test_an_auditor_cannot_own_a_finding_or_a_score(review, member, auditor):
    with pytest.raises(services.ServiceError) as err:
        services.add_finding(
            review=review,
            category=category(review, "security"),
            title="x",
            level=Level.P3,
            owner=auditor,
            actor=member,
        )
    assert "auditor" in err.value.message_dict["owner"][0]
    with pytest.raises(services.ServiceError) as err:
        services.set_score(
            review=review, category=category(review, "security"), score=1, owner=auditor, actor=member
        )
    assert "owner" in err.value.message_dict


def test_another_teams_architect_cannot_own_a_finding(review, member, outsider):
    with pytest.raises(services.ServiceError):
        services.add_finding(
            review=review,
            category=category(review, "security"),
            title="x",
            level=Level.P3,
            owner=outsider,
            actor=member,
        )


def test_owner_candidates_are_the_teams_architects_leads_and_members(
    review, architect, lead, member, auditor, outsider
):
    names = set(loosening.owner_candidates(review.system.team_id).values_list("username", flat=True))
    assert names == {"alice", "linus", "mia"}


def test_the_gate_outcome_changes_only_after_confirmation(review, member, lead, architect):
    score_all(review, architect, value=2)
    p0 = add(review, member)
    proposal = loosening.propose(
        finding=p0, actor=member, level=Level.P3, status="open", reason="Staging only"
    )
    assert selectors.review_gate(review).outcome == GateOutcome.BLOCKED
    loosening.confirm(loosening=proposal, actor=lead)
    assert selectors.review_gate(review).outcome == GateOutcome.APPROVED


def test_the_decision_record_holds_the_loosening_chain_confirmed_and_pending(review, member, lead, architect):
    score_all(review, architect)
    p0 = add(review, member)
    lowered = loosening.propose(
        finding=p0, actor=member, level=Level.P3, status="open", reason="Only the staging replica uses it"
    )
    loosening.confirm(loosening=lowered, actor=lead, note="Checked the connection strings")
    p1 = add(review, member, Level.P1, code="backup", title="No restore drill")
    loosening.propose(finding=p1, actor=member, level=Level.P3, status="open", reason="Drill next week")
    decision = services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )
    assert decision.outcome == "BLOCKED"  # the pending proposal left the P1 at its level
    chain = decision.record["loosening"]
    assert [(e["finding_id"], e["state"], e["from_level"], e["to_level"]) for e in chain] == [
        (p0.pk, "confirmed", "P0", "P3"),
        (p1.pk, "proposed", "P1", "P3"),
    ]
    assert (chain[0]["proposed_by"], chain[0]["decided_by"], chain[0]["reason"]) == (
        "mia",
        "linus",
        "Only the staging replica uses it",
    )
    assert "confirmed by" in chain[0]["summary"] and "kept its level" in chain[1]["summary"]
    assert chain[1]["decided_by"] is None
