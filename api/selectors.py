"""Reads of the API: what a token may reach, and the JSON-safe shapes of what it reads, each in a fixed
number of queries. The gate is the review pages' gate, with evidence freshness counted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from django.shortcuts import get_object_or_404
from django.utils import timezone

from evidence import freshness, kinds
from evidence.kinds.runbooks import REQUIRED_NAMES
from evidence.models import TYPED_RECORDS, Evidence
from probes.models import ProbeRun, ProbeTarget, RunState
from reviews import gate as gate_rules
from reviews import selectors as review_selectors
from reviews import standing
from reviews.models import Decision, Review, System

from .models import ApiToken

EVIDENCE_RELATED = ("category", *TYPED_RECORDS)


# --- What a token reaches: its team's systems, or its one system. Anything else is a 404.


def systems_for(token: ApiToken) -> QuerySet[System]:
    systems = System.objects.filter(team_id=token.team_id)
    if token.system_id:
        systems = systems.filter(pk=token.system_id)
    return systems


def get_system(token: ApiToken, slug: str) -> System:
    return get_object_or_404(systems_for(token).select_related("team"), slug=slug)


def get_review(token: ApiToken, review_id: int) -> Review:
    return get_object_or_404(
        Review.objects.select_related("system__team", "catalogue").filter(system__in=systems_for(token)),
        pk=review_id,
    )


def get_target(token: ApiToken, target_id: int) -> ProbeTarget:
    return get_object_or_404(
        ProbeTarget.objects.select_related("system").filter(system__in=systems_for(token)), pk=target_id
    )


def get_run(token: ApiToken, run_id: int) -> ProbeRun:
    return get_object_or_404(
        ProbeRun.objects.select_related("target__system").filter(target__system__in=systems_for(token)),
        pk=run_id,
    )


# --- Systems and reviews


def system_list(token: ApiToken) -> list[dict]:
    systems = review_selectors.systems_overview(systems_for(token)).order_by("name")
    return [
        {
            "slug": s.slug,
            "name": s.name,
            "team": s.team.name,
            "source_of_truth": s.source_of_truth,
            "current_review_id": s.current_review_id,
        }
        for s in systems
    ]


def review_entry(review: Review) -> dict:
    return {
        "id": review.pk,
        "system": review.system.slug,
        "release_scope": review.release_scope,
        "state": review.state,
        "schema_changing": review.schema_changing,
        "production_traffic": review.production_traffic,
        "next_review_date": review.next_review_date,
        "created_at": review.created_at,
        "url": review.get_absolute_url(),
    }


def review_list(system: System, *, limit: int, offset: int) -> dict:
    reviews = Review.objects.filter(system=system).select_related("system")
    return {
        "count": reviews.count(),
        "items": [review_entry(r) for r in reviews.order_by("-created_at", "-id")[offset : offset + limit]],
    }


def _score_inputs(review: Review, now: datetime) -> tuple[list, tuple[gate_rules.ScoreIn, ...]]:
    rows = review_selectors.scorecard(review)
    fresh = freshness.fresh_counts([review.pk], now=now)
    scores = tuple(
        replace(row.as_gate_input(), fresh_evidence_count=fresh.get((review.pk, row.category.pk), 0))
        for row in rows
    )
    return rows, scores


def review_detail(review: Review, *, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    _rows, scores = _score_inputs(review, now)
    return {
        **review_entry(review),
        "scorecard": [
            {
                "category": s.category_code,
                "name": s.category_name,
                "score": s.score,
                "effective_score": gate_rules.effective_score(s),
                "evidence_count": s.evidence_count,
                "fresh_evidence_count": s.fresh_evidence_count,
                "only_stale_evidence": s.only_stale_evidence,
            }
            for s in scores
        ],
    }


def gate_result(review: Review, *, now: datetime | None = None) -> gate_rules.GateResult:
    """The gate of the review pages (reviews.selectors.gate_input), with each score's fresh evidence
    counted, so a 2–3 that only stale evidence supports counts as 1 (and is said so)."""
    now = now or timezone.now()
    rows, scores = _score_inputs(review, now)
    gate_input = review_selectors.gate_input(review, now=now, rows=rows)
    return gate_rules.evaluate(replace(gate_input, scores=scores))


EXIT_CODES = {"APPROVED": 0, "APPROVED_WITH_EXCEPTIONS": 0, "BLOCKED": 1, "INCOMPLETE": 2}


def release_review(system: System, release: str) -> Review:
    """The system's newest review of this release scope (compared trimmed, ignoring case)."""
    from django.http import Http404

    scope = release.strip()
    review = (
        Review.objects.filter(system=system, release_scope__iexact=scope)
        .select_related("system__team", "catalogue")
        .first()
    )
    if review is None:
        known = list(
            Review.objects.filter(system=system)
            .order_by("-created_at", "-id")
            .values_list("release_scope", flat=True)[:10]
        )
        raise Http404(
            f"{system.name} has no review of release {scope!r}"
            + (f"; its newest reviews are of: {', '.join(repr(k) for k in known)}." if known else ".")
        )
    return review


def system_review(system: System, review_id: int) -> Review:
    from django.http import Http404

    review = (
        Review.objects.filter(system=system, pk=review_id).select_related("system__team", "catalogue").first()
    )
    if review is None:
        raise Http404(f"{system.name} has no review {review_id}.")
    return review


def _counted_entry(c: standing.Counted) -> dict:
    return {
        "review_id": c.review.pk,
        "release_scope": c.review.release_scope,
        "state": c.review.state,
        "outcome": c.outcome.value,
        "passed": EXIT_CODES[c.outcome.value] == 0,
        "last_decision": c.decided,
        "blockers": [r.message for r in c.gate.blockers] if c.outcome == standing.Outcome.BLOCKED else [],
    }


def system_gate_entry(system: System, *, now: datetime | None = None) -> dict:
    """The system's standing (reviews.standing): BLOCKED while any open review (or the last decision)
    is blocked, else the worst of them; the reasons are those of the review it comes from, and
    `reviews` lists every review that counts."""
    now = now or timezone.now()
    state = standing.system_state(system, now=now)
    worst = state.worst
    if worst is None:
        from django.http import Http404

        raise Http404(f"{system.name} has no review yet.")
    review = Review.objects.select_related("system__team", "catalogue").get(pk=worst.review.pk)
    entry = gate_entry(review, now=now)
    outcome = worst.outcome
    entry.update(
        {
            "answers_for": "system",
            "outcome": outcome.value,
            "label": outcome.label,
            "passed": EXIT_CODES[outcome.value] == 0,
            "exit_code": EXIT_CODES[outcome.value],
            "reviews": [_counted_entry(c) for c in state.reviews],
        }
    )
    return entry


def gate_entry(review: Review, *, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    result = gate_result(review, now=now)
    decision = Decision.objects.filter(review=review).first()
    outcome = result.outcome.value
    return {
        "review_id": review.pk,
        "system": review.system.slug,
        "release_scope": review.release_scope,
        "state": review.state,
        "outcome": outcome,
        "label": result.outcome.label,
        "passed": EXIT_CODES[outcome] == 0,
        "exit_code": EXIT_CODES[outcome],
        "reasons": [
            {
                "rule": r.rule,
                "status": r.status.value,
                "message": r.message,
                "category": r.category_code,
                "finding_id": r.finding_id,
            }
            for r in result.reasons
        ],
        "notes": [{"rule": n.rule, "message": n.message, "category": n.category_code} for n in result.notes],
        "blockers": [r.message for r in result.blockers],
        "evaluated_at": now,
        "answers_for": "review",
        "reviews": [],
        "decision": (
            {
                "outcome": decision.outcome,
                "recorded_at": decision.recorded_at,
                "next_review": decision.next_review,
            }
            if decision
            else None
        ),
    }


# --- Evidence


def evidence_entry(item: Evidence, *, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    entry = {
        "id": item.pk,
        "review_id": item.review_id,
        "category": item.category.code,
        "kind": item.kind,
        "title": item.title,
        "url": item.url,
        "observed_at": item.observed_at,
        "added_at": item.added_at,
        "age_days": freshness.age_days(item.observed_at, now),
        "max_age_days": freshness.max_age_days(item.kind),
        "stale": freshness.is_stale(item.kind, item.observed_at, now),
        "stale_at": freshness.stale_at(item.kind, item.observed_at),
    }
    spec = kinds.MEASURED.get(item.kind)
    row = getattr(item, spec.model, None) if spec is not None else None
    if row is not None:
        # Its values as its description reads them (EvidenceOut's `<kind>` keeps the ones it names), and
        # what is computed from them.
        entry[item.kind] = {**spec.read(row), **COMPUTED.get(item.kind, _nothing)(row)}
    record = getattr(item, "record", None) if item.kind in kinds.KINDS else None
    if record is not None:
        judged = record.judged
        entry["record"] = {
            "kind": item.kind,
            "data": record.data,
            "verdict": judged.state,
            "why": judged.why,
            "summary": record.summary,
        }
    return entry


def _nothing(row) -> dict:
    return {}


def _seconds(span) -> int:
    return int(span.total_seconds())


# What the API says of a measured record beyond its values (evidence.kinds.measured).
COMPUTED: dict[str, Callable[[Any], dict]] = {
    "restore_drill": lambda drill: {
        "rpo_achieved_seconds": _seconds(drill.rpo_achieved),
        "rto_achieved_seconds": _seconds(drill.rto_achieved),
        "passed": drill.passed,
    },
    "migration_rehearsal": lambda rehearsal: {"runtime_seconds": _seconds(rehearsal.runtime)},
    "load_test": lambda load: {"passed": load.passed},
    "access_pattern": lambda pattern: {"actor": pattern.actor},
    "capacity_envelope": lambda envelope: {"within_target": envelope.within_target},
    "runbook_test": lambda test: {"runbook_linked": test.runbook_id is not None},
    "runbook": lambda book: {"covers_name": REQUIRED_NAMES.get(book.covers, "")},
}


def evidence_list(
    review: Review,
    *,
    limit: int,
    offset: int,
    category: str | None,
    stale: bool | None,
    kind: str | None = None,
) -> dict:
    items = Evidence.objects.filter(review=review)
    now = timezone.now()
    if category:
        items = items.filter(category__code=category)
    if kind:
        items = items.filter(kind=kind)
    if stale is True:
        items = items.filter(freshness.stale_q(now))
    elif stale is False:
        items = items.filter(freshness.fresh_q(now))
    page = items.select_related(*EVIDENCE_RELATED).order_by("-observed_at", "-id")[offset : offset + limit]
    return {"count": items.count(), "items": [evidence_entry(e, now=now) for e in page]}


# --- Probes


def target_list(token: ApiToken) -> list[dict]:
    newest = ProbeRun.objects.filter(target=OuterRef("pk")).order_by("-created_at", "-pk").values("pk")[:1]
    targets = (
        ProbeTarget.objects.filter(system__in=systems_for(token))
        .select_related("system")
        .annotate(last_run_id=Subquery(newest))
        .order_by("system__name", "name")
    )
    return [
        {
            "id": t.pk,
            "system": t.system.slug,
            "name": t.name,
            "environment": t.environment,
            "schedule_hours": t.schedule_hours,
            "last_run_id": t.last_run_id,
        }
        for t in targets
    ]


def run_entry(run: ProbeRun) -> dict:
    results = list(run.results.order_by("category", "probe_id"))
    counts = dict(Counter(r.status for r in results))
    return {
        "id": run.pk,
        "target_id": run.target_id,
        "review_id": run.review_id,
        "state": run.state,
        "finished": run.state in (RunState.DONE, RunState.FAILED),
        "progress_done": run.progress_done,
        "progress_total": run.progress_total,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "error": run.error,
        "counts": counts,
        "results": [
            {
                "probe_id": r.probe_id,
                "title": r.title,
                "category": r.category,
                "severity": r.severity,
                "status": r.status,
                "summary": r.summary,
                "fix": r.fix,
            }
            for r in results
        ],
        "url": run.get_absolute_url(),
    }
