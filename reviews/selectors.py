"""Reads that pages, services and the decision record share, each in a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.apps import apps
from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery
from django.utils import timezone

from evidence import kinds
from evidence.models import TYPED_RECORDS, Evidence

from . import gate as gate_rules
from . import gatefacts
from .changes import changes_since
from .models import (
    AuditEvent,
    Category,
    CategoryScore,
    Decision,
    ExceptionState,
    Finding,
    FindingStatus,
    Membership,
    Review,
    RiskException,
    System,
)


@dataclass
class ScorecardRow:
    category: Category
    score: CategoryScore | None
    evidence_count: int
    fresh_evidence_count: int | None = None  # None: freshness not computed
    evidence: gatefacts.EvidenceFacts | None = None  # what the gate believes of the evidence
    critical: tuple[gate_rules.CriticalItemIn, ...] = ()

    @property
    def effective(self) -> int | None:
        return gate_rules.effective_score(self.as_gate_input())

    @property
    def counted_down(self) -> tuple[str, ...]:
        """Why the gate believes less than the score (empty when it believes it)."""
        return gate_rules.judge(self.as_gate_input())[1]

    @property
    def lacks_evidence(self) -> bool:
        return (
            self.score is not None
            and self.score.score >= gate_rules.EVIDENCE_REQUIRED_FROM
            and not self.evidence_count
        )

    def as_gate_input(self) -> gate_rules.ScoreIn:
        if self.evidence is None:  # built by hand: counts only, as before evidence had a verdict
            return gate_rules.ScoreIn(
                category_code=self.category.code,
                category_name=self.category.name,
                score=self.score.score if self.score else None,
                evidence_count=self.evidence_count,
                fresh_evidence_count=self.fresh_evidence_count,
                critical=self.critical,
                minimum=gatefacts.minimum_of(self.category),
            )
        return gatefacts.score_in(
            code=self.category.code,
            name=self.category.name,
            score=self.score.score if self.score else None,
            has_owner=bool(self.score and self.score.owner_id),
            evidence=self.evidence,
            critical=self.critical,
            minimum=gatefacts.minimum_of(self.category),
        )

    @property
    def only_stale_evidence(self) -> bool:
        return self.as_gate_input().only_stale_evidence


def _rows(
    review: Review,
    categories: list[Category],
    scores: dict,
    evidence: dict[tuple[int, int], gatefacts.EvidenceFacts],
    critical: dict,
) -> list[ScorecardRow]:
    rows = []
    for c in categories:
        facts = evidence.get((review.pk, c.pk), gatefacts.NO_EVIDENCE)
        rows.append(
            ScorecardRow(
                c, scores.get(c.pk), facts.count, facts.fresh, facts, critical.get((review.pk, c.pk), ())
            )
        )
    return rows


def scorecard(review: Review, *, now: datetime | None = None) -> list[ScorecardRow]:
    """One row per category of the review's catalogue, with what the gate believes of its evidence and
    its critical checklist items: 5 queries."""
    categories = list(Category.objects.filter(version_id=review.catalogue_id).order_by("number"))
    scores = {s.category_id: s for s in CategoryScore.objects.filter(review=review).select_related("owner")}
    evidence = gatefacts.evidence_facts([review.pk], now=now or timezone.now())
    critical = gatefacts.critical_items({review.pk: review.catalogue_id})
    return _rows(review, categories, scores, evidence, critical)


def unscored_categories(review: Review) -> list[str]:
    """The names of the review's categories nobody has scored, in catalogue order: one query."""
    return list(
        Category.objects.filter(version_id=review.catalogue_id)
        .exclude(pk__in=CategoryScore.objects.filter(review=review).values("category_id"))
        .order_by("number")
        .values_list("name", flat=True)
    )


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
    rows = rows if rows is not None else scorecard(review, now=now)
    findings = findings if findings is not None else list(findings_with_exceptions(review))
    return gate_input_of(
        review,
        rows=rows,
        findings=tuple(
            gate_rules.FindingIn(
                id=f.pk,
                title=f.title,
                level=f.level,
                status=f.status,
                category_code=f.category.code,
                exceptions=tuple(gate_rules.ExceptionIn(e.state, e.expires_at) for e in f.exceptions.all()),
                checklist_item_id=f.checklist_item_id,
            )
            for f in findings
        ),
        now=now,
    )


def gate_input_of(
    review: Review, *, rows: list[ScorecardRow], findings: tuple[gate_rules.FindingIn, ...], now: datetime
) -> gate_rules.GateInput:
    """The gate input of a review from its scorecard rows and its findings as the gate sees them (the
    meeting builds those flat)."""
    return gate_rules.GateInput(
        schema_changing=review.schema_changing,
        production_traffic=review.production_traffic,
        scores=tuple(r.as_gate_input() for r in rows),
        findings=findings,
        now=now,
    )


def review_gate(
    review: Review, *, now: datetime | None = None, rows=None, findings=None
) -> gate_rules.GateResult:
    return gate_rules.evaluate(gate_input(review, now=now or timezone.now(), rows=rows, findings=findings))


def latest_decisions_by_system(systems) -> dict[int, Decision]:
    ids = [s.pk for s in systems]
    decisions = (
        Decision.objects.filter(system_id__in=ids)
        .defer(*Decision.RECORD_FIELDS)
        .order_by("system_id", "-recorded_at", "-id")
    )
    latest: dict[int, Decision] = {}
    for d in decisions.select_related("approver"):
        latest.setdefault(d.system_id, d)
    return latest


# Signed exceptions that lapse within this many days are shown on the dashboard.
EXPIRING_SOON_DAYS = 14


def overdue_systems(systems: QuerySet[System], *, today: date) -> QuerySet[System]:
    """Systems whose newest decision's next-review date has passed: one query."""
    newest = Decision.objects.filter(system=OuterRef("pk")).order_by("-recorded_at", "-id")
    return (
        systems.select_related("team")
        .annotate(
            next_review=Subquery(newest.values("next_review")[:1]),
            latest_decision_id=Subquery(newest.values("pk")[:1]),
        )
        .filter(next_review__lt=today)
        .order_by("next_review", "name")
    )


def expiring_exceptions(
    systems: QuerySet[System], *, now: datetime, days: int = EXPIRING_SOON_DAYS
) -> QuerySet[RiskException]:
    """Signed, still active exceptions of these systems that lapse within `days`: one query."""
    return (
        RiskException.objects.filter(
            state=ExceptionState.SIGNED,
            expires_at__gt=now,
            expires_at__lte=now + timedelta(days=days),
            finding__review__system__in=systems,
        )
        .select_related("finding__review__system__team", "signer")
        .order_by("expires_at", "pk")
    )


def systems_overview(systems: QuerySet[System]) -> QuerySet[System]:
    """Systems annotated with their current (newest) review id."""
    newest = Review.objects.filter(system=OuterRef("pk")).order_by("-created_at", "-id").values("pk")[:1]
    return systems.select_related("team").annotate(current_review_id=Subquery(newest))


# /3 adds "changes" (what changed since the previous decision); /4 adds "history" (the scores and outcome
# of the system's earlier decisions, for the chart); /5 adds what was decided on (reviews.record_sections:
# the chair's judgement, final questions, claims, checklist answers, loosening, failed evidence, carried
# items); /6 adds "score_raises" (raises of scores below a minimum, reviews.score_raise) and each
# scorecard row's "counted_down" (why the gate believed less than the score); /7 adds the review's depth:
# each evidence entry of a kind declared in evidence.kinds holds its "record" (values as text, verdict,
# why, summary), runbook entries hold their whole template and the required runbook they cover, runbook
# tests what they tested, and the "depth" section (reviews.record_sections) sums up runbook coverage,
# the concurrency matrix, signals, forecasts and recovery objectives. Verification recomputes the digest
# of the stored record whatever its schema, so older records still verify.
RECORD_SCHEMA = "readiness.decision/7"
HISTORY_DECISIONS = (
    39  # earlier decisions frozen into a record's "history" (the chart draws them and this one)
)
# The runbook template's texts beyond name, owner, last test and what it covers (evidence.models.Runbook).
RUNBOOK_TEMPLATE = (
    "severity",
    "symptoms",
    "dashboards",
    "diagnostic_queries",
    "immediate_safe_actions",
    "actions_requiring_approval",
    "actions_forbidden",
    "rollback_recovery",
    "communication",
    "evidence_to_capture",
    "postmortem_questions",
)


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _as_text(value):
    """Floats and dates as text; strings, integers, booleans and None as they are."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, date):
        return value.isoformat()
    return value


def _username(user) -> str | None:
    return user.get_username() if user else None


def _evidence_entry(e: Evidence, recorded_at: datetime) -> dict:
    entry = {
        "id": e.pk,
        "kind": e.kind,
        "title": e.title,
        "url": e.url,
        "file": e.file.name if e.file else "",
        "observed_at": e.observed_at.isoformat(),
        "age_days": max((recorded_at - e.observed_at).days, 0),
        "added_by": _username(e.added_by),
        "added_at": e.added_at.isoformat(),
    }
    if e.carried_from_id is not None:
        entry["carried_from"] = e.carried_from_id
    drill = getattr(e, "restore_drill", None) if e.kind == "restore_drill" else None
    if drill is not None:
        entry["restore_drill"] = {
            "database": drill.database,
            "rpo_target_minutes": drill.rpo_target_minutes,
            "rto_target_minutes": drill.rto_target_minutes,
            "rpo_achieved_seconds": int(drill.rpo_achieved.total_seconds()),
            "rto_achieved_seconds": int(drill.rto_achieved.total_seconds()),
            "validation_passed": drill.validation_passed,
            "passed": drill.passed,
        }
    runbook = getattr(e, "runbook", None) if e.kind == "runbook" else None
    if runbook is not None:
        entry["runbook"] = {
            "name": runbook.name,
            "owner": runbook.owner,
            "last_tested": _iso(runbook.last_tested),
            "covers": runbook.covers,  # a required runbook's code (/7 on), "" for another
            **{name: getattr(runbook, name) for name in RUNBOOK_TEMPLATE},
        }
    test = getattr(e, "runbook_test", None) if e.kind == "runbook_test" else None
    if test is not None:  # /7 on: which runbook it exercised and how it went (runbook coverage)
        entry["runbook_test"] = {
            "runbook_name": test.runbook_name,
            "runbook_id": test.runbook.evidence_id if test.runbook is not None else None,
            "scenario": test.scenario,
            "environment": test.environment,
            "started_at": test.started_at.isoformat(),
            "ended_at": test.ended_at.isoformat(),
            "passed": test.passed,
            "issues_found": test.issues_found,
            "follow_up_owner": test.follow_up_owner,
        }
    spec = kinds.get(e.kind)
    record = getattr(e, "record", None) if spec is not None else None
    if record is not None:  # a kind declared in evidence.kinds (/7 on): its values as text and its verdict
        judged = spec.verdict(record.data)
        entry["record"] = {
            "data": spec.texts(record.data),
            "verdict": judged.state,
            "why": judged.why,
            "summary": spec.summary(record.data),
        }
    # The inventories and the envelope, as their seed templates name them; numbers and dates as text
    # (the record holds no floats: canonical JSON).
    for name in ("access_pattern", "derived_store", "capacity_envelope"):
        record = getattr(e, name, None) if e.kind == name else None
        if record is not None:
            entry[name] = {key: _as_text(value) for key, value in record.data().items()}
    return entry


def _exception_entry(e: RiskException) -> dict:
    entry = {
        "id": e.pk,
        "state": e.state,
        "justification": e.justification,
        "compensating_control": e.compensating_control,
        "expires_at": e.expires_at.isoformat(),
        "requested_by": _username(e.requested_by),
        "requested_at": e.requested_at.isoformat(),
        "edited_by": _username(e.edited_by),
        "signer": _username(e.signer),
        "signed_at": _iso(e.signed_at),
        "signed_digest": e.signed_digest,
    }
    if e.carried_from_id is not None:  # carried from the decided review (reviews.carryover)
        entry["carried_from"] = e.carried_from_id
    return entry


def participants(review: Review, *, extra=()) -> list[dict]:
    """Everyone who acted on the review (its audit trail), with the chair and the approver: 3 queries."""
    from django.contrib.auth import get_user_model

    counts = dict(
        AuditEvent.objects.filter(review=review, actor__isnull=False)
        .values_list("actor_id")
        .annotate(n=Count("id"))
        .values_list("actor_id", "n")
    )
    ids = set(counts) | {u.pk for u in (review.chair, *extra) if u is not None}
    users = get_user_model().objects.filter(pk__in=ids).order_by("username")
    roles = dict(
        Membership.objects.filter(team_id=review.system.team_id, user_id__in=ids).values_list(
            "user_id", "role"
        )
    )
    extra_ids = {u.pk for u in extra if u is not None}
    people = []
    for user in users:
        parts = []
        if review.chair_id == user.pk:
            parts.append("chair")
        if user.pk in extra_ids:
            parts.append("approver")
        if counts.get(user.pk):
            parts.append("contributor")
        people.append(
            {
                "username": user.get_username(),
                "name": user.get_full_name(),
                "team_role": roles.get(user.pk),
                "took_part_as": parts,
                "actions": counts.get(user.pk, 0),
            }
        )
    return people


def probe_runs(review: Review, *, until: datetime) -> list[dict]:
    """The finished probe runs of the review that the decision could rely on, with their results in
    brief. [] when the probes app has no runs model (it is optional to the review domain)."""
    try:
        run_model = apps.get_model("probes", "ProbeRun")
    except LookupError:
        return []
    runs = (
        run_model.objects.filter(review=review, state__in=["done", "failed"], finished_at__lte=until)
        .select_related("target", "started_by")
        .prefetch_related("results")
        .order_by("started_at", "pk")
    )
    entries = []
    for run in runs:
        results = sorted(run.results.all(), key=lambda r: (r.category, r.probe_id))
        counts: dict[str, int] = {}
        for r in results:
            counts[r.status] = counts.get(r.status, 0) + 1
        entries.append(
            {
                "id": run.pk,
                "target": run.target.name,
                "environment": run.target.environment,
                "state": run.state,
                "applied_to_review": run.applied_to_review,
                "started_by": _username(run.started_by),
                "started_at": _iso(run.started_at),
                "finished_at": _iso(run.finished_at),
                "error": run.error,
                "counts": counts,
                "not_passed": [
                    {
                        "probe": r.probe_id,
                        "title": r.title,
                        "category": r.category,
                        "severity": r.severity,
                        "status": r.status,
                        "summary": r.summary,
                    }
                    for r in results
                    if r.status != "pass"
                ],
            }
        )
    return entries


def decision_record(
    review: Review,
    *,
    gate: gate_rules.GateResult,
    approver,
    recorded_at: datetime,
    next_review: date,
    previous_digest: str,
    notes: str = "",
    previous: Decision | None = None,
    with_history: bool = True,
) -> dict:
    """The canonical, JSON-safe decision record (seed §21) that the digest covers.

    Only strings, integers, booleans, null, lists and objects: no floats, whose text form could change
    between serialisers, and every time in ISO 8601 with its offset. A fixed number of queries."""
    rows = scorecard(review, now=recorded_at)
    findings = list(
        Finding.objects.filter(review=review)
        .select_related("category", "owner", "created_by")
        .prefetch_related(
            Prefetch(
                "exceptions",
                queryset=RiskException.objects.select_related("requested_by", "signer", "edited_by").order_by(
                    "requested_at", "id"
                ),
            )
        )
    )
    evidence = list(
        Evidence.objects.filter(review=review)
        .select_related("category", "added_by", *TYPED_RECORDS, "runbook_test__runbook")
        .order_by("category__number", "observed_at", "id")
    )
    by_category: dict[int, list[dict]] = {}
    for e in evidence:
        by_category.setdefault(e.category_id, []).append(_evidence_entry(e, recorded_at))
    now = recorded_at
    person = _username

    exceptions = []
    for f in findings:
        for e in f.exceptions.all():
            if e.is_active(now):
                exceptions.append(
                    {
                        "finding_id": f.pk,
                        "finding": f.title,
                        "level": f.level,
                        "category": f.category.code,
                        **_exception_entry(e),
                    }
                )
    follow_up = [
        {
            "finding_id": f.pk,
            "title": f.title,
            "level": f.level,
            "status": f.status,
            "category": f.category.code,
            "owner": person(f.owner),
            "due_date": _iso(f.due_date),
        }
        for f in sorted(findings, key=lambda f: (f.level, f.due_date or date.max, f.pk))
        if f.status != FindingStatus.RESOLVED and f.level in ("P1", "P2", "P3")
    ]
    record = {
        "schema": RECORD_SCHEMA,
        "system": {
            "slug": review.system.slug,
            "name": review.system.name,
            "team": review.system.team.name,
            "source_of_truth": review.system.source_of_truth,
        },
        "review": {
            "id": review.pk,
            "release_scope": review.release_scope,
            "scope_notes": review.scope_notes,
            "schema_changing": review.schema_changing,
            "production_traffic": review.production_traffic,
            "catalogue_version": review.catalogue.number,
            "chair": person(review.chair),
            "started_at": review.created_at.isoformat(),
        },
        "participants": participants(review, extra=(approver,)),
        "outcome": gate.outcome.value,
        "reasons": [
            {
                "rule": r.rule,
                "status": r.status.value,
                "message": r.message,
                "category": r.category_code,
                "finding_id": r.finding_id,
            }
            for r in gate.reasons
        ],
        "blockers": [r.message for r in gate.blockers],
        "exceptions": exceptions,
        "follow_up": follow_up,
        "findings": [
            {
                "id": f.pk,
                "level": f.level,
                "status": f.status,
                "title": f.title,
                "category": f.category.code,
                "source": f.source,
                "owner": person(f.owner),
                "due_date": _iso(f.due_date),
                "created_by": person(f.created_by),
                "created_at": f.created_at.isoformat(),
                "resolved_at": _iso(f.resolved_at),
                "exceptions": [_exception_entry(e) for e in f.exceptions.all()],
                **({"carried_from": f.carried_from_id} if f.carried_from_id is not None else {}),
            }
            for f in sorted(findings, key=lambda f: (f.level, f.pk))
        ],
        "scorecard": [
            {
                "number": r.category.number,
                "category": r.category.code,
                "name": r.category.name,
                "score": r.score.score if r.score else None,
                "effective_score": r.effective,
                "counted_down": list(r.counted_down),  # why the gate believed less (/6 on)
                "owner": person(r.score.owner) if r.score else None,
                "notes": r.score.notes if r.score else "",
                "evidence": by_category.get(r.category.pk, []),
            }
            for r in rows
        ],
        "evidence_count": len(evidence),
        "probe_runs": probe_runs(review, until=recorded_at),
        "notes": notes,
        "next_review": next_review.isoformat(),
        "approver": person(approver),
        "recorded_at": recorded_at.isoformat(),
        "previous_digest": previous_digest,
        "supersedes": (
            {
                "decision_id": previous.pk,
                "review_id": previous.review_id,
                "outcome": previous.outcome,
                "recorded_at": previous.recorded_at.isoformat(),
                "digest": previous.digest,
            }
            if previous is not None
            else None
        ),
    }
    record["changes"] = (
        changes_since(previous.record, record, now=recorded_at, is_stale=_stale_test())
        if previous is not None and previous.record
        else None
    )
    if with_history:
        record["history"] = decision_history(review.system_id, before=recorded_at, previous=previous)
    return record


def _history_entry(d: Decision) -> dict:
    """What the history chart needs of one decision, copied from its own frozen record."""
    return {
        "decision_id": d.pk,
        "recorded_at": d.recorded_at.isoformat(),
        "outcome": d.outcome,
        "digest": d.digest,
        "scorecard": [
            {key: row.get(key) for key in ("category", "number", "name", "score", "effective_score")}
            for row in (d.record or {}).get("scorecard", [])
        ],
    }


def decision_history(
    system_id: int, *, before: datetime, previous: Decision | None = None, limit: int = HISTORY_DECISIONS
) -> list[dict]:
    """The system's decisions recorded before `before`, oldest first. The previous decision's record
    holds the history before it, so only that one record is read; older records (schema /3 and
    before, without "history") are read from the database once."""
    if previous is not None and isinstance((previous.record or {}).get("history"), list):
        return [*previous.record["history"], _history_entry(previous)][-limit:]
    earlier = Decision.objects.filter(system_id=system_id, recorded_at__lt=before).order_by(
        "-recorded_at", "-id"
    )[:limit]
    return [_history_entry(d) for d in reversed(list(earlier))]


def _stale_test():
    from evidence import freshness

    table = freshness.max_age_table()
    return lambda kind, observed_at, at: freshness.is_stale(kind, observed_at, at, table)


def review_changes(review: Review, *, now: datetime | None = None) -> dict | None:
    """What changed since the system's last decision, for a review page: the frozen "changes" of the
    review's own decision once decided, else the current state against the last decision. None when
    there is nothing to compare with."""
    now = now or timezone.now()
    own = Decision.objects.filter(review=review).only("record").first()
    if own is not None:
        return own.record.get("changes")
    previous = Decision.objects.filter(system_id=review.system_id).order_by("-recorded_at", "-id").first()
    if previous is None or not previous.record:
        return None
    current = decision_record(
        review,
        gate=review_gate(review, now=now),
        approver=None,
        recorded_at=now,
        next_review=now.date(),
        previous_digest=previous.digest,
        with_history=False,  # only compared with the previous record, which "changes" ignores
    )
    return changes_since(previous.record, current, now=now, is_stale=_stale_test())


def review_gates(reviews: list[Review], *, now: datetime | None = None) -> dict[int, gate_rules.GateResult]:
    """Gate results for many reviews in seven queries, whatever their number (dashboard, system page)."""
    now = now or timezone.now()
    if not reviews:
        return {}
    ids = [r.pk for r in reviews]
    categories: dict[int, list[Category]] = {}
    for c in Category.objects.filter(version_id__in={r.catalogue_id for r in reviews}).order_by("number"):
        categories.setdefault(c.version_id, []).append(c)
    scores: dict[int, dict] = {}
    for s in CategoryScore.objects.filter(review_id__in=ids):
        scores.setdefault(s.review_id, {})[s.category_id] = s
    evidence = gatefacts.evidence_facts(ids, now=now)
    critical = gatefacts.critical_items({r.pk: r.catalogue_id for r in reviews})
    findings: dict[int, list[Finding]] = {}
    for f in findings_with_exceptions_many(ids):
        findings.setdefault(f.review_id, []).append(f)
    results = {}
    for review in reviews:
        rows = _rows(
            review, categories.get(review.catalogue_id, []), scores.get(review.pk, {}), evidence, critical
        )
        results[review.pk] = review_gate(review, now=now, rows=rows, findings=findings.get(review.pk, []))
    return results


def findings_with_exceptions_many(review_ids: list[int]) -> QuerySet[Finding]:
    return (
        Finding.objects.filter(review_id__in=review_ids)
        .select_related("category")
        .prefetch_related(Prefetch("exceptions", queryset=RiskException.objects.order_by("-requested_at")))
    )
