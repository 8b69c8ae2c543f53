"""The API's request and response shapes (pydantic, through Django Ninja), documented in /api/openapi.json.

Input types refuse what PostgreSQL or the services would choke on, so bad input is a 422, never a 500:
NUL characters, text that is not UTF-8, times without a time zone or outside 1970–2100, numbers that
are not finite or do not fit their column."""

from datetime import date, datetime
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints

from evidence import kinds
from evidence.models import EvidenceKind

MAX_ID = 2**63 - 1


def _clean_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("Text cannot contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("Text must be valid Unicode (no lone surrogates).") from None
    return value


def _sane_time(value: datetime) -> datetime:
    if not 1970 <= value.year <= 2100:
        raise ValueError("Give a time between 1970 and 2100.")
    return value


def _sane_date(value: date) -> date:
    if not 1970 <= value.year <= 2100:
        raise ValueError("Give a date between 1970 and 2100.")
    return value


def Text(max_length: int, *, min_length: int = 0):  # noqa: N802 (a type factory)
    return Annotated[
        str, StringConstraints(max_length=max_length, min_length=min_length), AfterValidator(_clean_text)
    ]


Title = Text(200, min_length=1)
Name = Text(200, min_length=1)
Url = Text(500)
When = Annotated[AwareDatetime, AfterValidator(_sane_time)]
Day = Annotated[date, AfterValidator(_sane_date)]
CategoryCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,40}$")]
EvidenceKindCode = Literal[tuple(EvidenceKind.values)]


# --- Errors


class ErrorOut(Schema):
    error: str = Field(description="A stable code: invalid_request, refused, not_found, forbidden, …")
    message: str = Field(description="What went wrong, in words a person can act on.")
    fields: dict[str, list[str]] = Field(default_factory=dict, description="Errors per input field.")


# --- Systems, reviews, gate


class SystemOut(Schema):
    slug: str
    name: str
    team: str
    source_of_truth: str
    current_review_id: int | None = Field(description="The system's newest review, if any.")


class ReviewOut(Schema):
    id: int
    system: str = Field(description="The system's slug.")
    release_scope: str
    state: Literal["draft", "in_meeting", "decided"]
    schema_changing: bool | None  # None: the chair has not answered yet
    production_traffic: bool | None
    next_review_date: date | None
    created_at: datetime
    url: str = Field(description="The review's page.")


class ReviewListOut(Schema):
    count: int
    items: list[ReviewOut]


class ScoreRowOut(Schema):
    category: str
    name: str
    score: int | None
    effective_score: int | None = Field(
        description="What the gate believes: 2–3 without fresh evidence is 1."
    )
    evidence_count: int
    fresh_evidence_count: int
    only_stale_evidence: bool


class ReviewDetailOut(ReviewOut):
    scorecard: list[ScoreRowOut]


class ReasonOut(Schema):
    rule: str = Field(description="p0, p1, minimum:<category>, unscored")
    status: Literal["blocks", "exception", "pending", "met"]
    message: str
    category: str
    finding_id: int | None


class NoteOut(Schema):
    rule: str = Field(description="stale:<category>")
    message: str
    category: str


class DecisionBriefOut(Schema):
    outcome: str
    recorded_at: datetime
    next_review: date


class CountedReviewOut(Schema):
    review_id: int
    release_scope: str
    state: str
    outcome: Literal["APPROVED", "APPROVED_WITH_EXCEPTIONS", "BLOCKED", "INCOMPLETE"]
    passed: bool
    last_decision: bool = Field(description="The review of the system's last decision (else an open review).")
    blockers: list[str] = Field(description="Why it blocks, when it does.")


class GateOut(Schema):
    review_id: int
    system: str
    release_scope: str
    state: str
    outcome: Literal["APPROVED", "APPROVED_WITH_EXCEPTIONS", "BLOCKED", "INCOMPLETE"]
    label: str
    passed: bool = Field(description="True for APPROVED and APPROVED_WITH_EXCEPTIONS only.")
    exit_code: int = Field(
        description="0 passed, 1 BLOCKED, 2 INCOMPLETE (not yet decidable): `exit` with it."
    )
    reasons: list[ReasonOut]
    notes: list[NoteOut] = Field(description="Said beside the reasons; no verdict (e.g. stale evidence).")
    blockers: list[str]
    evaluated_at: datetime
    decision: DecisionBriefOut | None = Field(description="The recorded decision of this review, if any.")
    answers_for: Literal["system", "release", "review"] = Field(
        "review",
        description="What the outcome is of: one review (by id or by `release`), or the whole system "
        "(the worst of its open reviews and its last decision; `reasons` are those of `review_id`).",
    )
    reviews: list[CountedReviewOut] = Field(
        default_factory=list,
        description="For the system: every review that counts (open ones and the last decision's).",
    )


# --- Evidence


class RestoreDrillOut(Schema):
    database: str
    backup_source: str
    target_environment: str
    requested_recovery_point: datetime
    actual_recovery_point: datetime
    started_at: datetime
    ended_at: datetime
    rpo_target_minutes: int
    rto_target_minutes: int
    rpo_achieved_seconds: int
    rto_achieved_seconds: int
    validation_passed: bool
    passed: bool


class MigrationRehearsalOut(Schema):
    migration: str
    phase: str
    environment: str
    dataset: str
    runtime_seconds: int
    lock_behaviour: str
    longest_lock_ms: int | None
    validation_query: str
    validation_passed: bool
    rollback_rehearsed: bool


class LoadTestOut(Schema):
    scenario: str
    environment: str
    throughput_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    target_p95_ms: float | None
    saturation_point: str
    saturation_throughput_per_s: float | None
    passed: bool | None


class AccessPatternOut(Schema):
    query_name: str
    actor: str
    frequency: str
    freshness: str
    predicate: str
    sort: str
    pagination: str
    expected_p95_ms: float
    index: str


class DerivedStoreOut(Schema):
    store: str
    source: str
    freshness: str
    rebuild: str
    owner: str
    failure_action: str


class CapacityEnvelopeOut(Schema):
    current_data_size: str
    projected_data_size: str
    current_peak_tps: float
    projected_peak_tps: float
    current_p95_ms: float
    target_p95_ms: float
    known_bottleneck: str
    saturation_trigger: str
    planned_mitigation: str
    owner: str
    review_date: date
    within_target: bool


class RunbookTestOut(Schema):
    runbook_name: str
    runbook_linked: bool = Field(
        description="The review holds a runbook of that name, and the test is linked."
    )
    scenario: str
    environment: str
    started_at: datetime
    ended_at: datetime
    passed: bool


class RunbookOut(Schema):
    name: str
    covers: str = Field(description="The required runbook it is (a code), or empty for another runbook.")
    covers_name: str = Field(description="That required runbook's name, or empty.")
    severity: str
    symptoms: str
    dashboards: str
    diagnostic_queries: str
    immediate_safe_actions: str
    actions_requiring_approval: str
    actions_forbidden: str
    rollback_recovery: str
    communication: str
    evidence_to_capture: str
    postmortem_questions: str
    owner: str
    last_tested: date | None


class RecordOut(Schema):
    """A record of a kind the API's POST operations name (invariants, write paths, privacy fields …)."""

    kind: str
    data: dict[str, Any] = Field(
        description="Its values as stored: texts, choice codes, lists of codes, `yes`/`no`, whole numbers "
        "and dates as YYYY-MM-DD; an empty optional value is an empty text, list or null."
    )
    verdict: Literal["complete", "incomplete", "failing"] = Field(
        description="complete: it supports its category; incomplete: it is kept but lacks something it "
        "asks for (no finding); failing: it shows something wrong and opened a finding."
    )
    why: str = Field(description="Why it is incomplete or failing; empty when complete.")
    summary: str = Field(description="One line of what it says.")


class EvidenceOut(Schema):
    id: int
    review_id: int
    category: str
    kind: str
    title: str
    url: str
    observed_at: datetime
    added_at: datetime
    age_days: int
    max_age_days: int | None = Field(description="Its kind's maximum age; null: it does not go stale.")
    stale: bool = Field(description="Older than its maximum age: it no longer supports a score of 2–3.")
    stale_at: datetime | None
    restore_drill: RestoreDrillOut | None = None
    migration_rehearsal: MigrationRehearsalOut | None = None
    load_test: LoadTestOut | None = None
    runbook_test: RunbookTestOut | None = None
    access_pattern: AccessPatternOut | None = None
    derived_store: DerivedStoreOut | None = None
    capacity_envelope: CapacityEnvelopeOut | None = None
    runbook: RunbookOut | None = None
    record: RecordOut | None = Field(
        None,
        description="The record of "
        + ", ".join(spec.label.lower() for spec in kinds.KINDS.values())
        + " evidence (each posted at /api/reviews/{review_id}/evidence/<kind, plural, dashed>).",
    )


class EvidenceListOut(Schema):
    count: int
    items: list[EvidenceOut]


class LinkIn(Schema):
    category: CategoryCode = Field(description="A category code of the review's catalogue, e.g. backup.")
    title: Title
    url: Url
    notes: Text(5000) = ""
    observed_at: When | None = Field(None, description="When what the link shows happened; default now.")


# --- Probes


class ProbeTargetOut(Schema):
    id: int
    system: str
    name: str
    environment: str
    schedule_hours: int | None
    last_run_id: int | None


class ProbeRunIn(Schema):
    review_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = Field(
        None,
        description="Attach the results to this review of the target's system (as evidence and findings).",
    )


class ProbeResultOut(Schema):
    probe_id: str
    title: str
    category: str
    severity: str
    status: Literal["pass", "warn", "fail", "skipped", "error"]
    summary: str
    fix: str


class ProbeRunOut(Schema):
    id: int
    target_id: int
    review_id: int | None
    state: Literal["queued", "running", "done", "failed"]
    finished: bool
    progress_done: int
    progress_total: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str
    counts: dict[str, int] = Field(description="Results per status.")
    results: list[ProbeResultOut]
    url: str
    message: str = Field(
        "",
        description="Set when the run was saved but could not be handed to the workers yet "
        "(their message broker was unreachable): it stays queued and runs when they are back.",
    )
