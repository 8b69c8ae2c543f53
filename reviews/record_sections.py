"""The sections of a decision record (schema /5 on) that hold what was decided on beyond the scorecard
and the findings: the claims, the checklist answers with their N/A reasons, the chair's judgement and
the final questions, the loosening chain of findings, evidence whose verdict failed, and carried items.

`add_to` writes them into the record `selectors.decision_record` built, before its digest is computed.
Each section is a list (the final questions: null when the decision was taken without them) of plain
JSON, in a fixed order, so the same review always gives the same bytes."""

from __future__ import annotations

from datetime import datetime

from evidence.models import Evidence, EvidenceKind

from .judgement import Judgement
from .models import ChecklistAnswer, Claim, Review

# The typed records that carry a verdict (`passed`), by evidence kind.
VERDICT_RECORDS = {
    EvidenceKind.RESTORE_DRILL: "restore_drill",
    EvidenceKind.RUNBOOK_TEST: "runbook_test",
    EvidenceKind.MIGRATION_REHEARSAL: "migration_rehearsal",
    EvidenceKind.LOAD_TEST: "load_test",
}


def _username(user) -> str | None:
    return user.username if user is not None else None


def add_to(record: dict, *, review: Review, judgement: Judgement, recorded_at: datetime) -> dict:
    """The record with the /5 sections; the outcome is the chair's, and a stricter outcome's reason is
    the first blocker (a BLOCKED decision always says why)."""
    record["outcome"] = judgement.outcome
    record["judgement"] = judgement.as_record()
    if judgement.stricter:
        record["blockers"] = [f"The chair's judgement: {judgement.reason}", *record["blockers"]]
    record["final_questions"] = judgement.final_questions_record()
    record["claims"] = _claims(review)
    record["checklist"] = _checklist(review)
    record["loosening"] = _loosening(review)
    record["failed_evidence"] = _failed_evidence(review, recorded_at=recorded_at)
    record["carried"] = _carried(review)
    return record


def _claims(review: Review) -> list[dict]:
    """The review's claims table: claim, risk, control and the evidence it rests on. One query."""
    claims = Claim.objects.filter(review=review).select_related("category", "evidence", "created_by")
    return [
        {
            "id": c.pk,
            "claim": c.claim,
            "risk": c.risk,
            "control": c.control,
            "category": c.category.code if c.category else None,
            "evidence_id": c.evidence_id,
            "evidence": c.evidence.title if c.evidence else None,
            "evidence_note": c.evidence_note,
            "created_by": _username(c.created_by),
            "created_at": c.created_at.isoformat(),
        }
        for c in claims.order_by("created_at", "id")
    ]


def _checklist(review: Review) -> list[dict]:
    """Every checklist answer given: the item (code, text, category, how critical the catalogue marks
    it), the answer, its note (for "not applicable": the reason), who answered and when. One query."""
    answers = ChecklistAnswer.objects.filter(review=review).select_related("item__category", "answered_by")
    return [
        {
            "item": a.item.code,
            "category": a.item.category.code,
            "section": a.item.section,
            "text": a.item.text,
            "critical_level": getattr(a.item, "critical_level", None) or None,
            "answer": a.answer,
            "note": a.note,
            "evidence_id": a.evidence_id,
            "answered_by": _username(a.answered_by),
            "answered_at": a.answered_at.isoformat(),
        }
        for a in answers.order_by("item__category__number", "item__position", "item__code")
    ]


def _failed_evidence(review: Review, *, recorded_at: datetime) -> list[dict]:
    """The review's evidence whose typed record has a failing verdict (a restore drill that missed its
    RPO, RTO or validation; a failed runbook test, migration rehearsal or load test): such evidence
    supports nothing, and the record says so. One query."""
    kinds = list(VERDICT_RECORDS)
    evidence = (
        Evidence.objects.filter(review=review, kind__in=kinds, observed_at__lte=recorded_at)
        .select_related("category", "added_by", *VERDICT_RECORDS.values())
        .order_by("category__number", "observed_at", "id")
    )
    out = []
    for e in evidence:
        typed = getattr(e, VERDICT_RECORDS[e.kind], None)
        passed = getattr(typed, "passed", None) if typed is not None else None
        if passed is False:
            out.append(
                {
                    "id": e.pk,
                    "kind": e.kind,
                    "title": e.title,
                    "category": e.category.code,
                    "observed_at": e.observed_at.isoformat(),
                    "added_by": _username(e.added_by),
                }
            )
    return out


def _loosening(review: Review) -> list[dict]:
    """The loosening chain of the review's findings: each lowering of a P0/P1, closing as accepted and
    exception signature, with who proposed it, who agreed and when. Lists what the review's four-eyes
    proposals hold; a review without proposals has none. Each entry carries at least `finding_id` and
    `summary` (one line a reader understands; the pages and the PDF show it)."""
    return []


def _carried(review: Review) -> list[dict]:
    """The findings and evidence this review carried over from the system's earlier reviews, each with
    the review it came from. A review that carried nothing has none. Each entry carries at least `kind`
    ("finding" or "evidence"), `id`, `from_review_id` and `summary` (the line pages and the PDF show)."""
    return []
