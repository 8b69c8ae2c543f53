"""The chair's judgement at the decision: the final questions are answered and stored, the chair may be
stricter than the gate (with a reason) and never laxer; the record (schema /5) holds the judgement, the
final questions, the claims, the checklist answers with their N/A reasons and failed evidence; older
records still verify and the chain stays intact."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from evidence import services as evidence_services
from reviews import audit, judgement, records, services
from reviews.models import AuditEvent, ChecklistItem, Decision, Level, ReviewState
from tests.factories import ReviewFactory, category, score_all

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def all_yes(**overrides) -> dict:
    """Final answers as the service takes them: every question "yes" without a note, but `overrides`."""
    answers = {q.code: ("yes", "") for q in judgement.FINAL_QUESTIONS}
    answers.update(overrides)
    return answers


def all_yes_post(**overrides) -> dict:
    """The same as the decision form posts them (fq_<code> and fq_<code>_note)."""
    data = {}
    for code, (answer, note) in all_yes(**overrides).items():
        data[f"fq_{code}"] = answer
        data[f"fq_{code}_note"] = note
    return data


def in_days(n: int):
    return timezone.localdate() + timedelta(days=n)


def decide(review, actor, **kwargs):
    kwargs.setdefault("final_answers", all_yes())
    return services.record_decision(review=review, actor=actor, next_review=in_days(90), **kwargs)


# --- the questions and the rules, as plain functions ---------------------------------------------


def test_the_final_questions_are_grouped_under_the_guides_five_headings():
    headings = list(dict.fromkeys(q.heading for q in judgement.FINAL_QUESTIONS))
    assert headings == ["Correctness", "Safety", "Operations", "Security and compliance", "Evolution"]
    codes = [q.code for q in judgement.FINAL_QUESTIONS]
    assert len(codes) == len(set(codes)) == 26
    assert all(q.text.endswith("?") for q in judgement.FINAL_QUESTIONS)


@pytest.mark.parametrize(
    "gate, chair, allowed",
    [
        ("APPROVED", "APPROVED", True),
        ("APPROVED", "BLOCKED", True),
        ("APPROVED", "APPROVED_WITH_EXCEPTIONS", False),  # no exception to ride on
        ("APPROVED_WITH_EXCEPTIONS", "BLOCKED", True),
        ("APPROVED_WITH_EXCEPTIONS", "APPROVED", False),
        ("BLOCKED", "APPROVED", False),
        ("BLOCKED", "APPROVED_WITH_EXCEPTIONS", False),
        ("BLOCKED", "BLOCKED", True),
        ("INCOMPLETE", "APPROVED", False),
    ],
)
def test_the_chair_may_be_stricter_than_the_gate_never_laxer(gate, chair, allowed):
    if allowed:
        judged = judgement.judge(gate_outcome=gate, outcome=chair, reason="Restore never rehearsed at scale")
        assert judged.outcome == chair and judged.stricter == (chair != gate)
    else:
        with pytest.raises(ValidationError) as err:
            judgement.judge(gate_outcome=gate, outcome=chair, reason="Because I say so")
        assert "outcome" in err.value.message_dict


def test_a_stricter_outcome_needs_a_written_reason():
    with pytest.raises(ValidationError) as err:
        judgement.judge(gate_outcome="APPROVED", outcome="BLOCKED", reason="   ")
    assert err.value.message_dict["reason"] == [
        "Say why the decision is stricter than the gate: it is written into the record."
    ]
    assert judgement.judge(gate_outcome="APPROVED", outcome=None).outcome == "APPROVED"  # the gate's


def test_every_final_question_needs_an_answer_and_na_needs_a_reason():
    given = all_yes(safety_restore=("na", ""))
    del given["evolution_rollback"]
    with pytest.raises(ValidationError) as err:
        judgement.judge(gate_outcome="APPROVED", final_answers=given)
    errors = err.value.message_dict
    assert errors["fq_evolution_rollback"] == ["Answer yes, no or not applicable."]
    assert errors["fq_safety_restore_note"] == ["Say why this does not apply."]
    with pytest.raises(ValidationError) as err:
        judgement.judge(gate_outcome="APPROVED", final_answers=all_yes(made_up=("yes", "")))
    assert "made_up" in err.value.message_dict["final_questions"][0]


def test_a_no_needs_a_note_saying_why_it_does_not_block_unless_the_chair_blocks():
    no = all_yes(security_legal_hold=("no", ""))
    with pytest.raises(ValidationError) as err:
        judgement.judge(gate_outcome="APPROVED", final_answers=no)
    assert "does not block" in err.value.message_dict["fq_security_legal_hold_note"][0]
    # Answered: why it does not block.
    why = all_yes(security_legal_hold=("no", "No data under legal hold in this system yet"))
    assert judgement.judge(gate_outcome="APPROVED", final_answers=why).outcome == "APPROVED"
    # Or the chair blocks, and the "no" needs no further note.
    blocked = judgement.judge(
        gate_outcome="APPROVED", outcome="BLOCKED", reason="Legal hold", final_answers=no
    )
    assert blocked.outcome == "BLOCKED"


# --- through the service: what the decision and its record hold -----------------------------------


def test_the_final_answers_are_stored_in_the_record_as_asked(review, architect):
    score_all(review, architect)
    decision = decide(
        review, architect, final_answers=all_yes(security_legal_hold=("no", "No data under legal hold yet"))
    )
    record = decision.record
    assert record["schema"] == "readiness.decision/7"
    assert len(record["final_questions"]) == 26
    first = record["final_questions"][0]
    assert first == {
        "code": "correctness_invariants",
        "heading": "Correctness",
        "question": "Can the team name its ten most important business invariants?",
        "answer": "yes",
        "note": "",
    }
    assert judgement.answered_no(record) == [
        {
            "code": "security_legal_hold",
            "heading": "Security and compliance",
            "question": "Is legal hold represented in the data?",
            "answer": "no",
            "note": "No data under legal hold yet",
        }
    ]
    assert record["judgement"] == {
        "gate_outcome": "APPROVED",
        "outcome": "APPROVED",
        "stricter_than_gate": False,
        "reason": "",
    }


def test_a_stricter_outcome_is_recorded_with_the_gates_and_the_reason(review, architect):
    score_all(review, architect)
    decision = decide(
        review, architect, outcome="BLOCKED", reason="The restore drill ran on a tenth of the data."
    )
    assert decision.outcome == "BLOCKED"
    record = decision.record
    assert record["outcome"] == "BLOCKED" and record["reasons"]  # the gate's own reasons stay
    assert record["judgement"] == {
        "gate_outcome": "APPROVED",
        "outcome": "BLOCKED",
        "stricter_than_gate": True,
        "reason": "The restore drill ran on a tenth of the data.",
    }
    assert record["blockers"] == ["The chair's judgement: The restore drill ran on a tenth of the data."]
    assert decision.blockers == record["blockers"]
    assert records.verify_stored(decision).matches
    event = AuditEvent.objects.get(action="decision.record", object_id=str(decision.pk))
    assert event.after["gate_outcome"] == "APPROVED" and event.after["outcome"] == "BLOCKED"
    assert event.after["reason"] == "The restore drill ran on a tenth of the data."


def test_a_laxer_outcome_is_refused_and_changes_nothing(review, architect, member):
    score_all(review, architect)
    services.add_finding(
        review=review, category=category(review, "security"), title="Superuser", level=Level.P0, actor=member
    )
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as err:
        decide(review, architect, outcome="APPROVED", reason="We will fix it next week")
    assert "never a laxer outcome" in err.value.message_dict["outcome"][0]
    review.refresh_from_db()
    assert not Decision.objects.exists() and review.state != ReviewState.DECIDED
    assert AuditEvent.objects.count() == events


def test_the_record_holds_claims_checklist_answers_with_na_reasons_and_failed_evidence(
    review, architect, member
):
    score_all(review, member)
    claim = services.add_claim(
        review=review,
        claim="No posting is ever lost",
        risk="A crash between debit and credit",
        control="One transaction per posting",
        category=category(review, "transaction"),
        evidence_note="Concurrency test in CI",
        actor=member,
    )
    items = list(ChecklistItem.objects.filter(category=category(review, "backup")).order_by("position")[:2])
    services.answer_item(review=review, item=items[0], answer="yes", actor=member)
    services.answer_item(
        review=review, item=items[1], answer="na", note="No replicas: a single managed instance", actor=member
    )
    now = timezone.now()
    drill = evidence_services.add_restore_drill(
        review=review,
        actor=member,
        title="Restore that missed its RTO",
        database="ledger",
        backup_source="pgBackRest S3",
        target_environment="staging",
        requested_recovery_point=now - timedelta(hours=2),
        actual_recovery_point=now - timedelta(hours=2, minutes=1),
        started_at=now - timedelta(hours=3),
        ended_at=now - timedelta(minutes=5),
        rpo_target_minutes=5,
        rto_target_minutes=60,
        validation_queries="select 1",
        validation_passed=True,
    )
    record = decide(review, architect).record
    assert record["claims"] == [
        {
            "id": claim.pk,
            "claim": "No posting is ever lost",
            "risk": "A crash between debit and credit",
            "control": "One transaction per posting",
            "category": "transaction",
            "evidence_id": None,
            "evidence": None,
            "evidence_note": "Concurrency test in CI",
            "created_by": "mia",
            "created_at": claim.created_at.isoformat(),
        }
    ]
    answered = {a["item"]: a for a in record["checklist"]}  # score_all answered the critical items too
    assert [
        (a["item"], a["answer"], a["note"], a["answered_by"])
        for a in map(answered.get, [i.code for i in items])
    ] == [
        (items[0].code, "yes", "", "mia"),
        (items[1].code, "na", "No replicas: a single managed instance", "mia"),
    ]
    assert (
        answered[items[1].code]["text"] == items[1].text and answered[items[1].code]["category"] == "backup"
    )
    assert [e["id"] for e in record["failed_evidence"]] == [drill.pk]
    assert record["failed_evidence"][0]["kind"] == "restore_drill"
    assert "RTO" in record["failed_evidence"][0]["why"]
    assert record["loosening"] == [] and record["carried"] == []


def test_a_decision_without_the_final_questions_says_so_in_its_record(review, architect):
    score_all(review, architect)
    decision = services.record_decision(review=review, actor=architect, next_review=in_days(30))
    assert decision.record["final_questions"] is None
    assert decision.record["judgement"]["outcome"] == decision.outcome == "APPROVED"


def test_an_old_schema_4_record_still_verifies_and_the_chain_links_through_it(system, architect):
    """A decision stored by the previous version (schema /4: no judgement, no final questions) keeps
    verifying, renders in the PDF's context, and the next decision chains onto it."""
    from reviews.selectors import decision_record, review_gate

    first_review = ReviewFactory(system=system, created_by=architect, chair=architect)
    score_all(first_review, architect)
    now = timezone.now() - timedelta(days=1)
    record = decision_record(
        first_review,
        gate=review_gate(first_review, now=now),
        approver=architect,
        recorded_at=now,
        next_review=in_days(30),
        previous_digest="",
    )
    record["schema"] = "readiness.decision/4"
    assert "judgement" not in record and "final_questions" not in record
    old = Decision.objects.create(
        review=first_review,
        system=system,
        outcome=record["outcome"],
        blockers=record["blockers"],
        exceptions=record["exceptions"],
        follow_up=record["follow_up"],
        next_review=in_days(30),
        approver=architect,
        recorded_at=now,
        record=record,
        digest=services.record_digest(record),
        previous_digest="",
    )
    # As the previous version wrote it: the decision.record event with the record's digest.
    audit.record(
        actor=architect,
        action="decision.record",
        obj=old,
        review=first_review,
        after={"outcome": old.outcome, "digest": old.digest},
    )
    old.refresh_from_db()
    check = records.verify_stored(old)
    assert check.matches and check.chain_ok, check.lines()
    assert records.verify_given(record, claimed=old.digest, decision=old).matches
    assert records.pdf_context(old.record, digest=old.digest)["schema5"] is False

    second_review = ReviewFactory(system=system, created_by=architect, chair=architect)
    score_all(second_review, architect)
    second = decide(second_review, architect)
    assert second.record["schema"] == "readiness.decision/7" and second.previous_digest == old.digest
    check = records.verify_stored(second)
    assert check.matches and check.chain_ok and check.previous == old


# --- the pages --------------------------------------------------------------------------------------


def test_the_decision_page_asks_the_final_questions_and_refuses_without_answers(client, architect, review):
    score_all(review, architect)
    client.force_login(architect)
    url = reverse("decision_create", args=[review.pk])
    page = client.get(url).content.decode()
    assert "Final questions" in page and "Is legal hold represented in the data?" in page
    assert 'name="outcome" value="BLOCKED"' in page
    response = client.post(url, {"next_review": in_days(90).isoformat()})
    assert response.status_code == 200 and not Decision.objects.exists()
    assert response.content.decode().count("Answer yes, no or not applicable.") == 26


def test_the_decision_page_records_a_stricter_outcome_and_the_decision_shows_both(client, architect, review):
    score_all(review, architect)
    client.force_login(architect)
    url = reverse("decision_create", args=[review.pk])
    data = {"next_review": in_days(90).isoformat(), "outcome": "BLOCKED", **all_yes_post()}
    response = client.post(url, data)
    assert response.status_code == 200 and not Decision.objects.exists()
    assert "Say why the decision is stricter than the gate" in response.content.decode()
    response = client.post(url, {**data, "reason": "Nobody on call knows the failover"})
    decision = Decision.objects.get()
    assert response.status_code == 302 and decision.outcome == "BLOCKED"
    page = client.get(reverse("decision_detail", args=[decision.pk])).content.decode()
    assert "Gate&#x27;s outcome" in page or "Gate's outcome" in page
    assert "stricter than the gate" in page and "Nobody on call knows the failover" in page
    assert "Is legal hold represented in the data?" in page


def test_the_meeting_decision_step_records_the_judgement(client, architect, review):
    score_all(review, architect)
    client.force_login(architect)
    url = reverse("meeting_decide", args=[review.pk])
    base = {"next_review": in_days(90).isoformat(), **all_yes_post(safety_restore=("no", ""))}
    response = client.post(url, base, **HX)
    assert response.status_code == 422 and not Decision.objects.exists()
    assert "does not block" in response.content.decode()
    response = client.post(url, {**base, "outcome": "BLOCKED", "reason": "Never restored"}, **HX)
    assert response.status_code == 200 and response["HX-Redirect"]
    decision = Decision.objects.get()
    assert decision.outcome == "BLOCKED" and decision.record["judgement"]["reason"] == "Never restored"
    step = client.get(reverse("meeting_decision", args=[review.pk])).content.decode()
    assert "the chair recorded a stricter outcome" in step and "Never restored" in step
