"""Reads that pages, services and the decision record share, each in a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery
from django.utils import timezone

from evidence.models import Evidence

from . import gate as gate_rules
from .models import (
    Category,
    CategoryScore,
    Decision,
    Finding,
    FindingStatus,
    Review,
    RiskException,
    System,
)


@dataclass
class ScorecardRow:
    category: Category
    score: CategoryScore | None
    evidence_count: int

    @property
    def effective(self) -> int | None:
        return gate_rules.effective_score(self.as_gate_input())

    @property
    def lacks_evidence(self) -> bool:
        return (
            self.score is not None
            and self.score.score >= gate_rules.EVIDENCE_REQUIRED_FROM
            and not self.evidence_count
        )

    def as_gate_input(self) -> gate_rules.ScoreIn:
        return gate_rules.ScoreIn(
            category_code=self.category.code,
            category_name=self.category.name,
            score=self.score.score if self.score else None,
            evidence_count=self.evidence_count,
        )


def scorecard(review: Review) -> list[ScorecardRow]:
    """One row per category of the review's catalogue: 3 queries."""
    categories = list(Category.objects.filter(version_id=review.catalogue_id).order_by("number"))
    scores = {s.category_id: s for s in CategoryScore.objects.filter(review=review).select_related("owner")}
    counts = dict(
        Evidence.objects.filter(review=review)
        .values_list("category_id")
        .annotate(n=Count("id"))
        .values_list("category_id", "n")
    )
    return [ScorecardRow(c, scores.get(c.pk), counts.get(c.pk, 0)) for c in categories]


def findings_with_exceptions(review: Review) -> QuerySet[Finding]:
    return (
        Finding.objects.filter(review=review)
        .select_related("category", "owner")
        .prefetch_related(
            Prefetch(
                "exceptions",
                queryset=RiskException.objects.select_related("requested_by", "signer").order_by(
                    "-requested_at"
                ),
            )
        )
    )


def gate_input(
    review: Review,
    *,
    now: datetime,
    rows: list[ScorecardRow] | None = None,
    findings: list[Finding] | None = None,
) -> gate_rules.GateInput:
    rows = rows if rows is not None else scorecard(review)
    findings = findings if findings is not None else list(findings_with_exceptions(review))
    return gate_rules.GateInput(
        schema_changing=review.schema_changing,
        production_traffic=review.production_traffic,
        scores=tuple(r.as_gate_input() for r in rows),
        findings=tuple(
            gate_rules.FindingIn(
                id=f.pk,
                title=f.title,
                level=f.level,
                status=f.status,
                category_code=f.category.code,
                exceptions=tuple(gate_rules.ExceptionIn(e.state, e.expires_at) for e in f.exceptions.all()),
            )
            for f in findings
        ),
        now=now,
    )


def review_gate(
    review: Review, *, now: datetime | None = None, rows=None, findings=None
) -> gate_rules.GateResult:
    return gate_rules.evaluate(gate_input(review, now=now or timezone.now(), rows=rows, findings=findings))


def latest_decisions_by_system(systems) -> dict[int, Decision]:
    ids = [s.pk for s in systems]
    decisions = Decision.objects.filter(system_id__in=ids).order_by("system_id", "-recorded_at", "-id")
    latest: dict[int, Decision] = {}
    for d in decisions.select_related("approver"):
        latest.setdefault(d.system_id, d)
    return latest


def systems_overview(systems: QuerySet[System]) -> QuerySet[System]:
    """Systems annotated with their current (newest) review id."""
    newest = Review.objects.filter(system=OuterRef("pk")).order_by("-created_at", "-id").values("pk")[:1]
    return systems.select_related("team").annotate(current_review_id=Subquery(newest))


def decision_record(
    review: Review,
    *,
    gate: gate_rules.GateResult,
    approver,
    recorded_at: datetime,
    next_review: date,
    previous_digest: str,
    notes: str = "",
) -> dict:
    """The canonical, JSON-safe decision record (seed §21) that the digest covers."""
    rows = scorecard(review)
    findings = list(findings_with_exceptions(review))
    evidence = list(
        Evidence.objects.filter(review=review).select_related("category").order_by("category__number", "id")
    )
    by_category: dict[int, list[dict]] = {}
    for e in evidence:
        by_category.setdefault(e.category_id, []).append(
            {"id": e.pk, "kind": e.kind, "title": e.title, "observed_at": e.observed_at.isoformat()}
        )
    now = recorded_at

    def person(user) -> str | None:
        return user.get_username() if user else None

    exceptions = []
    for f in findings:
        for e in f.exceptions.all():
            if e.is_active(now):
                exceptions.append(
                    {
                        "finding_id": f.pk,
                        "finding": f.title,
                        "level": f.level,
                        "justification": e.justification,
                        "compensating_control": e.compensating_control,
                        "expires_at": e.expires_at.isoformat(),
                        "requested_by": person(e.requested_by),
                        "signer": person(e.signer),
                        "signed_at": e.signed_at.isoformat() if e.signed_at else None,
                        "signed_digest": e.signed_digest,
                    }
                )
    follow_up = [
        {
            "finding_id": f.pk,
            "title": f.title,
            "level": f.level,
            "category": f.category.code,
            "owner": person(f.owner),
            "due_date": f.due_date.isoformat() if f.due_date else None,
        }
        for f in findings
        if f.status != FindingStatus.RESOLVED and f.level in ("P1", "P2", "P3")
    ]
    return {
        "schema": "readiness.decision/1",
        "system": {"slug": review.system.slug, "name": review.system.name, "team": review.system.team.name},
        "review": {
            "id": review.pk,
            "release_scope": review.release_scope,
            "schema_changing": review.schema_changing,
            "production_traffic": review.production_traffic,
            "catalogue_version": review.catalogue.number,
            "chair": person(review.chair),
            "started_at": review.created_at.isoformat(),
        },
        "outcome": gate.outcome.value,
        "reasons": [{"rule": r.rule, "status": r.status.value, "message": r.message} for r in gate.reasons],
        "blockers": [r.message for r in gate.blockers],
        "exceptions": exceptions,
        "follow_up": follow_up,
        "scorecard": [
            {
                "category": r.category.code,
                "name": r.category.name,
                "score": r.score.score if r.score else None,
                "effective_score": r.effective,
                "owner": person(r.score.owner) if r.score else None,
                "notes": r.score.notes if r.score else "",
                "evidence": by_category.get(r.category.pk, []),
            }
            for r in rows
        ],
        "notes": notes,
        "next_review": next_review.isoformat(),
        "approver": person(approver),
        "recorded_at": recorded_at.isoformat(),
        "previous_digest": previous_digest,
    }


def review_gates(reviews: list[Review], *, now: datetime | None = None) -> dict[int, gate_rules.GateResult]:
    """Gate results for many reviews in four queries, whatever their number (dashboard, system page)."""
    now = now or timezone.now()
    if not reviews:
        return {}
    ids = [r.pk for r in reviews]
    categories: dict[int, list[Category]] = {}
    for c in Category.objects.filter(version_id__in={r.catalogue_id for r in reviews}).order_by("number"):
        categories.setdefault(c.version_id, []).append(c)
    scores = {(s.review_id, s.category_id): s for s in CategoryScore.objects.filter(review_id__in=ids)}
    counts = {
        (review_id, category_id): n
        for review_id, category_id, n in Evidence.objects.filter(review_id__in=ids)
        .values_list("review_id", "category_id")
        .annotate(n=Count("id"))
        .values_list("review_id", "category_id", "n")
    }
    findings: dict[int, list[Finding]] = {}
    for f in findings_with_exceptions_many(ids):
        findings.setdefault(f.review_id, []).append(f)
    results = {}
    for review in reviews:
        rows = [
            ScorecardRow(c, scores.get((review.pk, c.pk)), counts.get((review.pk, c.pk), 0))
            for c in categories.get(review.catalogue_id, [])
        ]
        results[review.pk] = review_gate(review, now=now, rows=rows, findings=findings.get(review.pk, []))
    return results


def findings_with_exceptions_many(review_ids: list[int]) -> QuerySet[Finding]:
    return (
        Finding.objects.filter(review_id__in=review_ids)
        .select_related("category")
        .prefetch_related(Prefetch("exceptions", queryset=RiskException.objects.order_by("-requested_at")))
    )
