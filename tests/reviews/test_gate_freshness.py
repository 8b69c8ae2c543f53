"""The gate and stale evidence: a 2–3 supported only by stale evidence counts as if it had none, and the
gate says so; fresh counts not computed (None) leave every earlier verdict as it was."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evidence.models import Evidence, EvidenceKind
from reviews.gate import GateInput, GateOutcome, ReasonStatus, ScoreIn, effective_score, evaluate

from .test_gate import CATEGORIES, ready_gate

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def with_fresh(gate: GateInput, code: str, evidence: int, fresh: int | None) -> GateInput:
    return replace(
        gate,
        scores=tuple(
            replace(s, evidence_count=evidence, fresh_evidence_count=fresh) if s.category_code == code else s
            for s in gate.scores
        ),
    )


def test_a_2_supported_only_by_stale_evidence_counts_as_1():
    assert effective_score(ScoreIn("backup", "Backup", 2, evidence_count=1, fresh_evidence_count=0)) == 1
    assert effective_score(ScoreIn("backup", "Backup", 3, evidence_count=4, fresh_evidence_count=0)) == 1


def test_one_fresh_item_is_enough():
    assert effective_score(ScoreIn("backup", "Backup", 3, evidence_count=4, fresh_evidence_count=1)) == 3


def test_none_means_not_computed_and_keeps_the_old_behaviour():
    score = ScoreIn("backup", "Backup", 2, evidence_count=1)
    assert score.fresh_evidence_count is None
    assert not score.only_stale_evidence
    assert effective_score(score) == 2


def test_stale_backup_evidence_flips_an_approved_review_to_blocked_and_says_why():
    gate = with_fresh(ready_gate(score=2), "backup", evidence=1, fresh=0)

    result = evaluate(gate)

    assert result.outcome == GateOutcome.BLOCKED
    [reason] = result.blockers
    assert reason.rule == "minimum:backup"
    assert reason.message == (
        "Backup, restore & DR scores 2 but its only evidence is stale, so it counts as 1; it needs at least 2"
    )


def test_the_message_counts_several_stale_items():
    result = evaluate(with_fresh(ready_gate(score=3), "security", evidence=3, fresh=0))
    assert "its 3 evidence items are all stale" in result.blockers[0].message


def test_no_evidence_keeps_its_own_message():
    result = evaluate(with_fresh(ready_gate(score=2), "backup", evidence=0, fresh=0))
    assert "has no evidence, so it counts as 1" in result.blockers[0].message


def test_stale_migration_evidence_blocks_only_a_schema_changing_release():
    stale = with_fresh(ready_gate(score=2), "migration", evidence=1, fresh=0)
    assert evaluate(stale).outcome == GateOutcome.BLOCKED
    assert evaluate(replace(stale, schema_changing=False)).outcome == GateOutcome.APPROVED


def test_a_category_without_a_minimum_is_noted_not_blocking():
    result = evaluate(with_fresh(ready_gate(score=3), "capacity", evidence=2, fresh=0))

    assert result.outcome == GateOutcome.APPROVED
    assert [(n.rule, n.category_code) for n in result.notes] == [("stale:capacity", "capacity")]
    assert result.notes[0].message == (
        "Capacity, performance & cost scores 3 but its 2 evidence items are all stale, so it counts as 1"
    )
    assert all(r.status != ReasonStatus.BLOCKS for r in result.reasons)


def test_a_low_score_with_stale_evidence_is_not_noted():
    result = evaluate(with_fresh(with_fresh(ready_gate(score=1), "capacity", 1, 0), "backup", 1, 0))
    assert result.notes == ()
    assert "scores 1; it needs at least 2" in result.blockers[0].message


@given(
    codes=st.sets(st.sampled_from([c for c, _ in CATEGORIES])),
    score=st.sampled_from([2, 3]),
    evidence=st.integers(1, 5),
)
def test_without_fresh_counts_the_verdict_is_the_same_as_with_every_item_fresh(codes, score, evidence):
    base = ready_gate(score=score)
    computed = base
    for code in codes:
        computed = with_fresh(computed, code, evidence, evidence)
    assert evaluate(computed) == evaluate(base)


@given(codes=st.sets(st.sampled_from([c for c, _ in CATEGORIES]), min_size=1))
def test_stale_evidence_never_improves_the_outcome(codes):
    rank = {"APPROVED": 0, "APPROVED_WITH_EXCEPTIONS": 1, "INCOMPLETE": 2, "BLOCKED": 3}
    base = ready_gate(score=2)
    stale = base
    for code in codes:
        stale = with_fresh(stale, code, 1, 0)
    assert rank[evaluate(stale).outcome] >= rank[evaluate(base).outcome]


# --- Through the database: evidence ages, the API's gate reads it


@pytest.mark.django_db
def test_an_aging_restore_drill_flips_the_reviews_gate(review, architect):
    from api.selectors import gate_result
    from tests.api.conftest import score_everything

    score_everything(review, architect, score=2)
    drill = Evidence.objects.get(review=review, category__code="backup")
    Evidence.objects.filter(pk=drill.pk).update(kind=EvidenceKind.RESTORE_DRILL)
    assert gate_result(review).outcome == GateOutcome.APPROVED
    Evidence.objects.filter(pk=drill.pk).update(observed_at=drill.observed_at - timedelta(days=91))
    result = gate_result(review)
    assert result.outcome == GateOutcome.BLOCKED
    assert "only evidence is stale" in result.blockers[0].message
