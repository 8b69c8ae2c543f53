"""The sections of a decision record (schema /5 on) that hold what was decided on beyond the scorecard
and the findings: the claims, the checklist answers with their N/A reasons, the chair's judgement and
the final questions, the loosening chain of findings, the raises of scores below a minimum (/6 on),
evidence whose verdict failed, carried items, and the review's depth (/7 on: runbook coverage, the
concurrency matrix, signals, forecasts and recovery objectives, summed up from the evidence entries).

`add_to` writes them into the record `selectors.decision_record` built, before its digest is computed.
Each section is a list (the final questions: null when the decision was taken without them) of plain
JSON, in a fixed order, so the same review always gives the same bytes."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count

from evidence import kinds
from evidence import verdict as evidence_verdict
from evidence.kinds.declared import EXPECTED, FORECASTS, REQUIRED_FORECASTS, SCENARIOS, SIGNAL_AREAS
from evidence.kinds.runbooks import REQUIRED_RUNBOOKS
from evidence.models import TYPED_RECORDS, Evidence, EvidenceKind, RunbookTest

from .judgement import Judgement
from .models import (
    ChecklistAnswer,
    Claim,
    Finding,
    Loosening,
    LooseningState,
    Review,
    RiskException,
    ScoreRaise,
)

# The kinds of evidence whose typed record can fail its verdict (evidence.verdict), and the kinds declared
# in evidence.kinds (/7 on), of which only a failing record is listed: an incomplete one shows nothing wrong.
VERDICT_KINDS = (
    EvidenceKind.RESTORE_DRILL,
    EvidenceKind.RUNBOOK,
    EvidenceKind.RUNBOOK_TEST,
    EvidenceKind.MIGRATION_REHEARSAL,
    EvidenceKind.LOAD_TEST,
    *kinds.KINDS,
)


def _username(user) -> str | None:
    return user.username if user is not None else None


def _full_name(user) -> str:
    return (user.get_full_name() or user.username) if user is not None else "nobody"


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
    record["score_raises"] = _score_raises(review)
    record["failed_evidence"] = _failed_evidence(review, recorded_at=recorded_at)
    record["carried"] = _carried(review)
    record["depth"] = depth(record)
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
    """The review's evidence whose verdict fails (evidence.verdict: a restore drill that missed its RPO,
    RTO or validation, a load test over its target, a failed migration rehearsal or runbook test, a
    runbook never tested): such evidence supports nothing, and the record says which and why."""
    evidence = (
        Evidence.objects.filter(review=review, kind__in=VERDICT_KINDS, observed_at__lte=recorded_at)
        .select_related("category", "added_by", *TYPED_RECORDS)
        .order_by("category__number", "observed_at", "id")
    )
    evidence = list(evidence)
    passed_tests = dict(  # a runbook's passing tests, for all of them in one query
        RunbookTest.objects.filter(
            runbook__evidence__in=[e for e in evidence if e.kind == "runbook"], passed=True
        )
        .values("runbook__evidence_id")
        .annotate(n=Count("id"))
        .values_list("runbook__evidence_id", "n")
    )
    out = []
    for e in evidence:
        verdict = evidence_verdict.of(e, passed_tests=passed_tests.get(e.pk, 0))
        if not verdict.supports and not verdict.incomplete:
            out.append(
                {
                    "id": e.pk,
                    "kind": e.kind,
                    "title": e.title,
                    "category": e.category.code,
                    "observed_at": e.observed_at.isoformat(),
                    "added_by": _username(e.added_by),
                    "why": verdict.why,
                    "summary": f"{e.get_kind_display()} “{e.title}”: {verdict.why}",
                }
            )
    return out


def _loosening(review: Review) -> list[dict]:
    """The loosening chain of the review's findings: each proposal to lower a P0/P1 or close it, with
    who proposed it and why, and who confirmed (or has yet to). Proposals still open at the decision
    are listed too: the finding kept its level. One query."""
    rows = (
        Loosening.objects.filter(
            finding__review=review, state__in=(LooseningState.PROPOSED, LooseningState.CONFIRMED)
        )
        .select_related("finding", "proposed_by", "decided_by")
        .order_by("proposed_at", "pk")
    )
    out = []
    for row in rows:
        confirmed = row.state == LooseningState.CONFIRMED
        who = _full_name(row.proposed_by)
        tail = (
            f"confirmed by {_full_name(row.decided_by)}"
            if confirmed
            else "not confirmed: the finding kept its level"
        )
        out.append(
            {
                "finding_id": row.finding_id,
                "finding": row.finding.title,
                "kind": row.kind,
                "from_level": row.from_level,
                "from_status": row.from_status,
                "to_level": row.to_level,
                "to_status": row.to_status,
                "to_resolution": row.to_resolution,
                "reason": row.reason,
                "state": row.state,
                "proposed_by": _username(row.proposed_by),
                "proposed_at": row.proposed_at.isoformat(),
                "decided_by": _username(row.decided_by),
                "decided_at": row.decided_at.isoformat() if row.decided_at else None,
                "decision_note": row.decision_note,
                "summary": f"{row.summary} — “{row.finding.title}”: proposed by {who} ({row.reason}); {tail}",
            }
        )
    return out


def _score_raises(review: Review) -> list[dict]:
    """Raises of scores below a minimum (schema /6 on): who proposed lifting the minimum and why, and who
    confirmed (or has yet to: the score kept its value). One query."""
    rows = (
        ScoreRaise.objects.filter(
            review=review, state__in=(LooseningState.PROPOSED, LooseningState.CONFIRMED)
        )
        .select_related("category", "proposed_by", "decided_by")
        .order_by("proposed_at", "pk")
    )
    out = []
    for row in rows:
        confirmed = row.state == LooseningState.CONFIRMED
        tail = (
            f"confirmed by {_full_name(row.decided_by)}"
            if confirmed
            else "not confirmed: the score kept its value"
        )
        out.append(
            {
                "category": row.category.code,
                "from_score": row.from_score,
                "to_score": row.to_score,
                "reason": row.reason,
                "state": row.state,
                "proposed_by": _username(row.proposed_by),
                "proposed_at": row.proposed_at.isoformat(),
                "decided_by": _username(row.decided_by),
                "decided_at": row.decided_at.isoformat() if row.decided_at else None,
                "decision_note": row.decision_note,
                "summary": f"{row.summary}: proposed by {_full_name(row.proposed_by)} ({row.reason}); {tail}",
            }
        )
    return out


def _carried(review: Review) -> list[dict]:
    """The findings, exceptions and evidence this review carried over from the system's last decided
    review (reviews.carryover), each with the review it came from. Three queries."""
    out = []
    findings = (
        Finding.objects.filter(review=review, carried_from__isnull=False)
        .select_related("carried_from__review")
        .order_by("level", "id")
    )
    for f in findings:
        origin = f.carried_from.review
        out.append(
            {
                "kind": "finding",
                "id": f.pk,
                "from_id": f.carried_from_id,
                "from_review_id": origin.pk,
                "summary": f"{f.level} “{f.title}” ({f.get_status_display().lower()}) from {origin}",
            }
        )
    exceptions = (
        RiskException.objects.filter(finding__review=review, carried_from__isnull=False)
        .select_related("carried_from__finding__review", "finding")
        .order_by("id")
    )
    for x in exceptions:
        origin = x.carried_from.finding.review
        out.append(
            {
                "kind": "exception",
                "id": x.pk,
                "from_id": x.carried_from_id,
                "from_review_id": origin.pk,
                "summary": f"Exception for “{x.finding.title}” ({x.get_state_display().lower()}, "
                f"expires {x.expires_at:%Y-%m-%d}) from {origin}",
            }
        )
    evidence = (
        Evidence.objects.filter(review=review, carried_from__isnull=False)
        .select_related("carried_from__review")
        .order_by("observed_at", "id")
    )
    for e in evidence:
        origin = e.carried_from.review
        out.append(
            {
                "kind": "evidence",
                "id": e.pk,
                "from_id": e.carried_from_id,
                "from_review_id": origin.pk,
                "summary": f"{e.get_kind_display()} “{e.title}” (observed {e.observed_at:%Y-%m-%d}) "
                f"from {origin}",
            }
        )
    return out


# --- The review's depth (/7 on): what an auditor asks of the inventories and plans, summed up from the
# evidence entries the record already holds (selectors._evidence_entry), so no query is made here.

# The better of two records' verdicts: a complete record of an area covers it whatever else was recorded.
STATE_RANK = {"complete": 0, "incomplete": 1, "failing": 2}
MISSING_STATE = "missing"


def _entries(record: dict) -> list[dict]:
    return [e for row in record.get("scorecard", []) for e in row.get("evidence", [])]


def _newest(entries: list[dict]) -> dict | None:
    """The entry observed last (then added last): observed times compared as times, not as text."""
    if not entries:
        return None
    return max(entries, key=lambda e: (datetime.fromisoformat(e["observed_at"]), e["id"]))


def _best_state(entries: list[dict]) -> str:
    states = [e["record"]["verdict"] for e in entries]
    return min(states, key=lambda s: STATE_RANK.get(s, 9)) if states else MISSING_STATE


def _declared(entries: list[dict], kind: str) -> list[dict]:
    return [e for e in entries if e["kind"] == kind and isinstance(e.get("record"), dict)]


def depth(record: dict) -> dict:
    """The depth section: for each declared kind how many records and of which verdict; the required
    runbooks (exists, tested, last tested); the concurrency matrix (each required scenario's latest
    result); signals per area; the required forecasts; the latest recovery objectives."""
    entries = _entries(record)
    return {
        "kinds": [_kind_counts(spec, _declared(entries, spec.kind)) for spec in kinds.KINDS.values()],
        "runbooks": _runbook_coverage(entries),
        "other_runbooks": [
            {"id": e["id"], "name": e["runbook"]["name"], "last_tested": e["runbook"]["last_tested"]}
            for e in entries
            if e["kind"] == "runbook"
            and isinstance(e.get("runbook"), dict)
            and not e["runbook"].get("covers")
        ],
        "concurrency": _concurrency_matrix(entries),
        "signals": _by_choice(_declared(entries, "signal"), "area", SIGNAL_AREAS),
        "forecasts": _by_choice(
            _declared(entries, "forecast"),
            "subject",
            [(code, label) for code, label in FORECASTS if code in REQUIRED_FORECASTS],
        ),
        "recovery_objectives": _recovery_objectives(_declared(entries, "recovery_objectives")),
    }


def _kind_counts(spec: kinds.Spec, records: list[dict]) -> dict:
    verdicts = [e["record"]["verdict"] for e in records]
    return {
        "kind": spec.kind,
        "plural": spec.plural,
        "count": len(records),
        **{state: verdicts.count(state) for state in ("complete", "incomplete", "failing")},
    }


def _runbook_coverage(entries: list[dict]) -> list[dict]:
    """Each required runbook: the runbooks covering it, whether one was tested (a last-tested date, or a
    runbook test of it that passed: evidence.verdict.runbook) and the latest such date."""
    books = [e for e in entries if e["kind"] == "runbook" and isinstance(e.get("runbook"), dict)]
    passed_on: dict[int, list[str]] = {}
    for e in entries:
        test = e.get("runbook_test") if e["kind"] == "runbook_test" else None
        if isinstance(test, dict) and test.get("passed") and test.get("runbook_id") is not None:
            passed_on.setdefault(test["runbook_id"], []).append(test["ended_at"][:10])
    out = []
    for code, name in REQUIRED_RUNBOOKS:
        covering = [e for e in books if e["runbook"].get("covers") == code]
        dates = [
            day
            for e in covering
            for day in (e["runbook"].get("last_tested"), *passed_on.get(e["id"], []))
            if day
        ]
        out.append(
            {
                "code": code,
                "name": name,
                "runbooks": [{"id": e["id"], "name": e["runbook"]["name"]} for e in covering],
                "exists": bool(covering),
                "tested": bool(dates),
                "last_tested": max(dates) if dates else None,
            }
        )
    return out


def _concurrency_matrix(entries: list[dict]) -> list[dict]:
    """Each required scenario of the concurrency test matrix with its latest test's result."""
    tests = _declared(entries, "concurrency_test")
    out = []
    for code, label in SCENARIOS:
        if code not in EXPECTED:
            continue  # "other" is not a required scenario
        of_scenario = [e for e in tests if e["record"]["data"].get("scenario") == code]
        latest = _newest(of_scenario)
        data = latest["record"]["data"] if latest else {}
        out.append(
            {
                "scenario": code,
                "label": label,
                "expected": EXPECTED[code],
                "tests": len(of_scenario),
                "latest_id": latest["id"] if latest else None,
                "write_path": data.get("write_path") or "",
                "result": data.get("result"),  # passed, failed, not_run; None: never recorded
                "ran_on": data.get("ran_on"),
                "verdict": latest["record"]["verdict"] if latest else MISSING_STATE,
            }
        )
    return out


def _by_choice(records: list[dict], field: str, choices) -> list[dict]:
    """One row per choice (signal area, forecast subject): how many records, the best verdict among
    them (complete, incomplete, failing, or missing when none)."""
    out = []
    for code, label in choices:
        chosen = [e for e in records if e["record"]["data"].get(field) == code]
        out.append(
            {
                field: code,
                "label": label,
                "records": len(chosen),
                "ids": [e["id"] for e in chosen],
                "verdict": _best_state(chosen),
            }
        )
    return out


def _recovery_objectives(records: list[dict]) -> dict | None:
    """The latest recovery objectives recorded (what restore drills are measured against), or None."""
    latest = _newest(records)
    if latest is None:
        return None
    return {
        "id": latest["id"],
        "observed_at": latest["observed_at"],
        "data": latest["record"]["data"],
        "verdict": latest["record"]["verdict"],
        "why": latest["record"]["why"],
        "earlier": len(records) - 1,
    }
