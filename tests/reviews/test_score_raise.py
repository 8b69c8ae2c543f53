"""Four eyes on reopening a score below a minimum: raising backup, security, migration safety (schema-
changing release) or observability (production traffic) from 0–1 to 2 or more is a reasoned proposal
that a second architect or lead of the team confirms; until then the score keeps its value and the gate
keeps blocking."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from reviews import score_raise, selectors, services
from reviews.gate import GateOutcome
from reviews.models import AuditEvent, CategoryScore, LooseningState, ScoreRaise
from tests.factories import attach, category, score_all

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def score_of(review, code):
    return CategoryScore.objects.get(review=review, category__code=code).score


def blocking_rules(review):
    return {r.rule for r in selectors.review_gate(review).blockers}


def set_(review, code, value, actor, **kwargs):
    return services.set_score(
        review=review, category=category(review, code), score=value, actor=actor, **kwargs
    )


def propose(review, code, actor, value=3, reason="Restore drill passed on 1 Dec"):
    return score_raise.propose(
        review=review, category=category(review, code), actor=actor, score=value, reason=reason
    )


@pytest.fixture
def backup_at_1(review, architect):
    """Every category 2 with evidence, then backup recorded at 1: the gate blocks on backup's minimum."""
    score_all(review, architect)
    set_(review, "backup", 1, architect, version=CategoryScore.objects.get(category__code="backup").version)
    assert "minimum:backup" in blocking_rules(review)
    return review


# --- Refused directly, for every category with a minimum


@pytest.mark.parametrize("code", ["backup", "security", "migration", "observability"])
def test_raising_a_minimum_category_from_below_2_is_refused_directly(review, architect, code):
    attach(review, code, architect)
    set_(review, code, 1, architect)
    for value in (2, 3):
        with pytest.raises(services.ServiceError) as err:
            set_(review, code, value, architect)
        assert "second person" in " ".join(err.value.messages)
    assert score_of(review, code) == 1


def test_a_zero_is_reopened_the_same_way(review, member):
    attach(review, "backup", member)
    set_(review, "backup", 0, member)
    with pytest.raises(services.ServiceError):
        set_(review, "backup", 2, member)
    assert score_of(review, "backup") == 0


@pytest.mark.parametrize(
    ("code", "flag"), [("migration", "schema_changing"), ("observability", "production_traffic")]
)
def test_a_conditional_minimum_is_guarded_unless_the_chair_said_it_does_not_apply(
    review, architect, code, flag
):
    attach(review, code, architect)
    set_(review, code, 1, architect)
    for value in (None, True):  # not answered yet: the minimum may apply
        setattr(review, flag, value)
        review.save(update_fields=[flag])
        with pytest.raises(services.ServiceError):
            set_(review, code, 3, architect)
    setattr(review, flag, False)
    review.save(update_fields=[flag])
    set_(review, code, 3, architect)
    assert score_of(review, code) == 3


def test_a_score_below_a_minimum_cannot_be_taken_away_to_score_it_afresh(review, member):
    attach(review, "backup", member)
    low = set_(review, "backup", 1, member)
    with pytest.raises(services.ServiceError, match="below its minimum"):
        services.clear_score(
            review=review, category=category(review, "backup"), actor=member, version=low.version
        )
    assert score_of(review, "backup") == 1
    attach(review, "capacity", member)
    first = set_(review, "capacity", 1, member)  # no minimum: undoing a first score takes it away
    services.clear_score(
        review=review, category=category(review, "capacity"), actor=member, version=first.version
    )
    assert not CategoryScore.objects.filter(review=review, category__code="capacity").exists()


def test_the_meeting_undo_cannot_take_a_low_score_away(client, review, member):
    attach(review, "backup", member)
    low = set_(review, "backup", 1, member)
    client.force_login(member)
    response = client.post(
        reverse("meeting_score_undo", args=[review.pk, "backup"]),
        {"score": "", "owner": "", "notes": "", "version": str(low.version)},
        **HX,
    )
    assert response.status_code == 422 and "below its minimum" in response.content.decode()
    assert score_of(review, "backup") == 1


def _flags(review, actor, **flags):
    review.refresh_from_db()
    values = {
        "release_scope": review.release_scope,
        "scope_notes": review.scope_notes,
        "schema_changing": review.schema_changing,
        "production_traffic": review.production_traffic,
        "next_review_date": review.next_review_date,
        **flags,
    }
    return services.update_review(review=review, actor=actor, version=review.version, **values)


@pytest.mark.parametrize(
    ("code", "flag"), [("migration", "schema_changing"), ("observability", "production_traffic")]
)
def test_saying_no_then_yes_again_does_not_lift_a_conditional_minimum_alone(
    system, architect, member, code, flag
):
    review = services.start_review(
        system=system,
        release_scope="Ledger 4.0",
        actor=architect,
        schema_changing=True,
        production_traffic=True,
    )
    attach(review, code, member)
    set_(review, code, 1, member)
    _flags(review, architect, **{flag: False})  # the chair says the minimum does not apply...
    with pytest.raises(services.ServiceError, match="second person"):  # ...but it did: still guarded
        set_(review, code, 3, member)
    current = CategoryScore.objects.get(review=review, category__code=code)
    with pytest.raises(services.ServiceError, match="below its minimum"):
        services.clear_score(
            review=review, category=category(review, code), actor=member, version=current.version
        )
    _flags(review, architect, **{flag: True})
    assert score_of(review, code) == 1 and not ScoreRaise.objects.exists()


def test_a_release_that_never_had_the_flag_raises_directly(system, architect, member):
    review = services.start_review(
        system=system,
        release_scope="Ledger 4.1",
        actor=architect,
        schema_changing=False,
        production_traffic=False,
    )
    attach(review, "migration", member)
    set_(review, "migration", 1, member)
    set_(review, "migration", 3, member)
    assert score_of(review, "migration") == 3


def test_what_lifts_no_minimum_is_saved_directly(review, member):
    for code in ("backup", "capacity"):
        attach(review, code, member)
    set_(review, "backup", 3, member)  # first score: nothing is reopened
    set_(review, "backup", 1, member)  # lowering is never a loosening
    set_(review, "backup", 0, member)
    set_(review, "capacity", 1, member)
    set_(review, "capacity", 3, member)  # no minimum on capacity
    assert (score_of(review, "backup"), score_of(review, "capacity")) == (0, 3)
    assert not ScoreRaise.objects.exists()


# --- Proposed, then confirmed by someone else


def test_member_proposes_and_the_gate_blocks_until_a_lead_confirms(backup_at_1, member, lead):
    review = backup_at_1
    proposal = propose(review, "backup", member)
    assert score_of(review, "backup") == 1
    assert "minimum:backup" in blocking_rules(review)
    assert proposal.state == LooseningState.PROPOSED and proposal.from_score == 1

    score = score_raise.confirm(raise_=proposal, actor=lead, note="Saw the drill report")
    assert score.score == 3 and score_of(review, "backup") == 3
    assert "minimum:backup" not in blocking_rules(review)
    proposal.refresh_from_db()
    assert (proposal.state, proposal.decided_by, proposal.decision_note) == (
        LooseningState.CONFIRMED,
        lead,
        "Saw the drill report",
    )
    actions = list(AuditEvent.objects.filter(review=review).order_by("id").values_list("action", flat=True))
    assert actions[-3:] == ["score_raise.propose", "score_raise.confirm", "score.set"]
    applied = AuditEvent.objects.filter(review=review, action="score.set").latest("id")
    assert applied.after["score"] == 3 and applied.before["score"] == 1
    assert (applied.after["proposed_by"], applied.after["confirmed_by"]) == (member.pk, lead.pk)
    assert applied.after["reason"] == "Restore drill passed on 1 Dec"


def test_the_proposer_cannot_confirm_even_as_architect(backup_at_1, architect, lead):
    proposal = propose(backup_at_1, "backup", architect)
    with pytest.raises(services.ServiceError, match="Four eyes"):
        score_raise.confirm(raise_=proposal, actor=architect)
    assert score_of(backup_at_1, "backup") == 1
    score_raise.confirm(raise_=proposal, actor=lead)
    assert score_of(backup_at_1, "backup") == 3


def test_members_auditors_and_other_teams_cannot_decide(backup_at_1, architect, member, auditor, outsider):
    proposal = propose(backup_at_1, "backup", architect)
    for person in (member, auditor, outsider):
        with pytest.raises(PermissionDenied):
            score_raise.confirm(raise_=proposal, actor=person)
        with pytest.raises(PermissionDenied):
            score_raise.reject(raise_=proposal, actor=person)
    with pytest.raises(PermissionDenied):
        propose(backup_at_1, "security", auditor)
    assert score_of(backup_at_1, "backup") == 1


def test_reject_keeps_the_score_and_withdraw_is_the_proposers_own(backup_at_1, member, lead, architect):
    first = propose(backup_at_1, "backup", member)
    score_raise.reject(raise_=first, actor=lead, note="The drill missed its RPO")
    assert score_of(backup_at_1, "backup") == 1
    second = propose(backup_at_1, "backup", member, reason="Second drill met the RPO")
    with pytest.raises(PermissionDenied):
        score_raise.withdraw(raise_=second, actor=architect)
    score_raise.withdraw(raise_=second, actor=member)
    second.refresh_from_db()
    assert second.state == LooseningState.WITHDRAWN and score_of(backup_at_1, "backup") == 1
    with pytest.raises(services.ServiceError, match="already"):
        score_raise.confirm(raise_=second, actor=lead)


def test_a_proposal_needs_a_reason_evidence_and_no_other_open_one(review, member, lead):
    set_(review, "backup", 1, member)
    with pytest.raises(services.ServiceError, match="no evidence"):
        propose(review, "backup", member)
    attach(review, "backup", member)
    with pytest.raises(services.ServiceError, match="say why"):
        propose(review, "backup", member, reason="  ")
    propose(review, "backup", member)
    with pytest.raises(services.ServiceError, match="already awaits confirmation"):
        propose(review, "backup", lead)
    with pytest.raises(services.ServiceError, match="lifts no minimum"):
        propose(review, "capacity", member)


def test_a_proposal_goes_stale_when_the_score_changes(backup_at_1, member, lead, architect):
    proposal = propose(backup_at_1, "backup", member)
    current = CategoryScore.objects.get(review=backup_at_1, category__code="backup")
    set_(backup_at_1, "backup", 0, architect, version=current.version)
    with pytest.raises(services.ServiceError, match="changed since this was proposed"):
        score_raise.confirm(raise_=proposal, actor=lead)
    assert score_of(backup_at_1, "backup") == 0


def test_a_decided_review_takes_no_proposal(backup_at_1, architect, member):
    services.record_decision(
        review=backup_at_1, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )
    with pytest.raises(services.ServiceError, match="frozen"):
        propose(backup_at_1, "backup", member)


def test_the_database_holds_the_rules(backup_at_1, architect, member):
    proposal = propose(backup_at_1, "backup", architect)
    backup = category(backup_at_1, "backup")
    with pytest.raises(IntegrityError), transaction.atomic():  # the proposer decides their own
        ScoreRaise.objects.filter(pk=proposal.pk).update(
            state=LooseningState.CONFIRMED, decided_by=architect, decided_at=timezone.now()
        )
    with pytest.raises(IntegrityError), transaction.atomic():  # a second open proposal
        ScoreRaise.objects.create(
            review=backup_at_1, category=backup, from_score=1, to_score=2, reason="x", proposed_by=member
        )
    security = category(backup_at_1, "security")
    with pytest.raises(IntegrityError), transaction.atomic():  # 2 → 3 crosses no minimum
        ScoreRaise.objects.create(
            review=backup_at_1, category=security, from_score=2, to_score=3, reason="x", proposed_by=member
        )


def test_set_or_propose_saves_owner_and_notes_and_proposes_the_raise(backup_at_1, member, lead):
    backup = category(backup_at_1, "backup")
    current = CategoryScore.objects.get(review=backup_at_1, category=backup)
    with pytest.raises(services.ServiceError, match="say why"):
        score_raise.set_or_propose(
            review=backup_at_1, category=backup, actor=member, score=3, version=current.version
        )
    row, proposal = score_raise.set_or_propose(
        review=backup_at_1,
        category=backup,
        actor=member,
        score=3,
        owner=lead,
        notes="Weekly drill",
        version=current.version,
        reason="Drill passed",
    )
    assert (row.score, row.owner, row.notes) == (1, lead, "Weekly drill")
    assert proposal.to_score == 3 and proposal.reason == "Drill passed"


# --- Pages, queue and record


def test_the_meeting_asks_for_a_reason_then_proposes(client, backup_at_1, member):
    client.force_login(member)
    url = reverse("meeting_score", args=[backup_at_1.pk, "backup"])
    version = CategoryScore.objects.get(review=backup_at_1, category__code="backup").version
    refused = client.post(url, {"score": "3", "version": str(version)}, **HX)
    assert refused.status_code == 422
    assert "needs a second person" in refused.content.decode()
    assert 'name="reason"' in refused.content.decode()
    assert score_of(backup_at_1, "backup") == 1
    proposed = client.post(url, {"score": "3", "version": str(version), "reason": "Drill passed"}, **HX)
    body = proposed.content.decode()
    assert proposed.status_code == 200
    assert "awaiting confirmation" in body and "Drill passed" in body
    assert "still counts as 1" in body  # the gate panel's note
    assert score_of(backup_at_1, "backup") == 1


def test_a_lead_confirms_from_the_queue_and_the_review_shows_the_chain(client, backup_at_1, member, lead):
    proposal = propose(backup_at_1, "backup", member)
    client.force_login(lead)
    queue = client.get(reverse("exception_queue")).content.decode()
    assert "Scores to raise above a minimum" in queue and "Restore drill passed on 1 Dec" in queue
    response = client.post(reverse("score_raise_confirm", args=[proposal.pk]), {"next": "/exceptions/"})
    assert response.status_code == 302
    assert score_of(backup_at_1, "backup") == 3
    page = client.get(backup_at_1.get_absolute_url()).content.decode()
    assert "Raised from 1 to 3" in page and "confirmed by" in page


def test_the_proposer_sees_no_confirm_button_and_cannot_post_one(client, backup_at_1, member):
    proposal = propose(backup_at_1, "backup", member)
    client.force_login(member)
    page = client.get(backup_at_1.get_absolute_url()).content.decode()
    assert reverse("score_raise_withdraw", args=[proposal.pk]) in page
    assert reverse("score_raise_confirm", args=[proposal.pk]) not in page
    assert client.post(reverse("score_raise_confirm", args=[proposal.pk])).status_code == 403
    assert score_of(backup_at_1, "backup") == 1


def test_the_decision_record_holds_the_raises_confirmed_and_pending(backup_at_1, member, lead, architect):
    review = backup_at_1
    confirmed = propose(review, "backup", member)
    score_raise.confirm(raise_=confirmed, actor=lead)
    current = CategoryScore.objects.get(review=review, category__code="security")
    set_(review, "security", 1, architect, version=current.version)
    propose(review, "security", member, value=2, reason="Superuser removed")
    decision = services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )
    assert decision.outcome == GateOutcome.BLOCKED  # security kept its 1
    raises = decision.record["score_raises"]
    assert [(r["category"], r["from_score"], r["to_score"], r["state"]) for r in raises] == [
        ("backup", 1, 3, "confirmed"),
        ("security", 1, 2, "proposed"),
    ]
    assert (raises[0]["proposed_by"], raises[0]["decided_by"]) == (member.username, lead.username)
    assert "kept its value" in raises[1]["summary"]
    assert decision.record["schema"] == "readiness.decision/7"


def test_a_reviewed_release_keeps_its_name_so_a_fresh_review_cannot_take_it(review, architect):
    services.add_finding(
        review=review, category=category(review, "security"), title="Superuser", level="P0", actor=architect
    )
    with pytest.raises(services.ServiceError, match="keeps its name"):
        _flags(review, architect, release_scope="Ledger 3.0 (old)")
    review.refresh_from_db()
    assert review.release_scope == "Ledger 3.0"
    with pytest.raises(services.ServiceError):  # and the name stays taken while it is open
        services.start_review(system=review.system, release_scope="Ledger 3.0", actor=architect)


def test_a_score_the_last_decision_left_below_its_minimum_is_carried_and_guarded(review, architect, lead):
    """Decide BLOCKED with backup at 1, start the same release again: backup starts at 1, and lifting it
    is a raise someone else confirms, not a first score."""
    score_all(review, architect)
    current = CategoryScore.objects.get(review=review, category__code="backup")
    set_(review, "backup", 1, architect, version=current.version)
    services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )
    again = services.start_review(
        system=review.system,
        release_scope=review.release_scope,
        actor=architect,
        schema_changing=True,
        production_traffic=True,
    )
    assert score_of(again, "backup") == 1
    assert CategoryScore.objects.filter(review=again).count() == 1  # only what was below a minimum
    with pytest.raises(services.ServiceError, match="second person"):
        set_(again, "backup", 2, architect, version=1)
    assert AuditEvent.objects.filter(review=again, action="score.carry").count() == 1
