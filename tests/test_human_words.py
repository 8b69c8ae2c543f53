"""Human words everywhere: labels for codes, people by their full names, ages read naturally, and the
audit trail and exception history as sentences with before → after values (reviews.audit_text), read in
a constant number of queries."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from evidence import services as evidence_services
from reviews import audit_text, labels, records, services
from reviews.audit_text.sentences import OBJECT_NAMES
from reviews.models import AuditEvent, ChecklistItem, Level
from tests.factories import attach, category, score_all

ROOT = Path(__file__).resolve().parent.parent

# --- reviews.labels: one place for the words of codes, people and ages (no database)


@pytest.mark.parametrize(
    ("vocabulary", "code", "words"),
    [
        ("evidence_kind", "restore_drill", "Restore drill"),
        ("evidence_kind", "capacity_envelope", "Capacity envelope"),
        ("outcome", "APPROVED", "Approved"),
        ("outcome", "APPROVED_WITH_EXCEPTIONS", "Approved with exceptions"),
        ("outcome", "INCOMPLETE", "Not yet decidable"),
        ("role", "lead", "Team lead"),
        ("review_state", "in_meeting", "In meeting"),
        ("exception_state", "requested", "Awaiting signature"),
        ("finding_origin", "manual", "Raised by a person"),
        ("run_state", "done", "Done"),
        ("result_status", "skipped", "Skipped"),
        ("reason_status", "blocks", "Blocks"),
    ],
)
def test_every_code_has_its_words(vocabulary, code, words):
    assert labels.label(vocabulary, code) == words


def test_a_code_nobody_labelled_still_reads_and_nothing_stays_nothing():
    assert labels.label("evidence_kind", "chaos_drill") == "Chaos drill"
    assert labels.label("outcome", None) == "" and labels.label("role", "") == ""


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(seconds=5), "just now"),
        (timedelta(seconds=59), "just now"),
        (timedelta(minutes=1), "1 minute old"),
        (timedelta(minutes=21), "21 minutes old"),
        (timedelta(hours=3), "3 hours old"),
        (timedelta(days=3), "3 days old"),
        (timedelta(days=16), "2 weeks old"),
        (timedelta(days=130), "4 months old"),
        (timedelta(days=800), "2 years old"),
    ],
)
def test_ages_read_naturally(delta, words):
    now = timezone.now()
    assert labels.age(now - delta, now) == words


def test_events_are_ago_and_the_future_is_just_now():
    now = timezone.now()
    assert labels.age(now - timedelta(minutes=5), now, suffix="ago") == "5 minutes ago"
    assert labels.age(now + timedelta(minutes=5), now) == "just now"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (45, "45 s"),
        (120, "2 min"),
        (timedelta(minutes=43), "43 min"),
        (timedelta(hours=2, minutes=3), "2 h 03 min"),
    ],
)
def test_durations_read_as_minutes_and_hours(value, words):
    assert labels.duration(value) == words


def test_a_probe_is_named_by_its_title():
    assert labels.probe_title("security.ssl") == "SSL for client connections"
    assert labels.probe_title("invariant.7") == "Invariant check"


# --- reviews.audit_text: one sentence per action (no database)

NAMES = audit_text.Names(
    users={1: "Ada Lovelace", 2: "Linus Pauling", 3: "Mia Hamm", 4: "grace"},
    categories={7: "Backup, restore & DR", "backup": "Backup, restore & DR", 10: "Security & access control"},
    reviews={5: "Ledger 2.3 — idempotent postings", 6: "Ledger 3.0"},
    teams={1: "Payments"},
    systems={1: "Ledger", "ledger": "Ledger"},
    evidence={90: "Restore drill 2026-11-21"},
    findings={11: "P1 “No PITR”"},
    targets={1: "Local PostgreSQL"},
    items={40: "A restore drill has been performed recently."},
)
FINDING = {
    "title": "No PITR",
    "description": "",
    "level": "P1",
    "status": "open",
    "resolution": "",
    "resolution_note": "",
    "owner": None,
    "due_date": None,
    "category": 7,
}
EXCEPTION = {
    "justification": "Small table",
    "compensating_control": "Watch it",
    "expires_at": "2027-01-02T13:14:28.134Z",
    "state": "requested",
    "signer": None,
    "signed_at": None,
}
LOOSENING = {
    "kind": "lower_level",
    "from_level": "P1",
    "from_status": "open",
    "to_level": "P3",
    "to_status": "open",
    "to_resolution": "",
    "reason": "Only a report",
    "proposed_by": 3,
    "state": "proposed",
    "decided_by": None,
    "decision_note": "",
}


RAISE = {
    "from_score": 1,
    "to_score": 3,
    "reason": "Drill met its RPO",
    "proposed_by": 3,
    "state": "proposed",
    "decided_by": None,
    "decision_note": "",
    "category": "backup",
}
RAISE_REPR = "Raise Backup, restore & DR from 1 to 3 (Ledger — Ledger 3.0)"


def event(
    action, *, before=None, after=None, actor=1, object_type="", object_id="1", object_repr="", review=6
):
    return AuditEvent(
        action=action,
        actor_id=actor,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr,
        review_id=review,
        before=before,
        after=after,
        at=timezone.now(),
    )


# (action, event keywords, the sentence, changes as "label: before → after")
CASES = [
    (
        "system.create",
        {"after": {"team": 1, "name": "Ledger", "slug": "ledger", "description": "", "source_of_truth": ""}},
        "Ada Lovelace added the system “Ledger”",
        [],
    ),
    (
        "system.update",
        {
            "before": {
                "team": 1,
                "name": "Ledger",
                "slug": "ledger",
                "description": "",
                "source_of_truth": "",
            },
            "after": {
                "team": 1,
                "name": "Ledger",
                "slug": "ledger",
                "description": "Postings",
                "source_of_truth": "",
            },
        },
        "Ada Lovelace edited the system “Ledger”",
        ["description: — → Postings"],
    ),
    (
        "review.start",
        {
            "after": {
                "release_scope": "Ledger 3.0",
                "chair": 1,
                "state": "draft",
                "current_step": 1,
                "carried": {"findings": 1, "exceptions": 0, "evidence": 11},
            },
            "object_type": "reviews.review",
        },
        "Ada Lovelace started the review “Ledger 3.0”, carrying over 1 finding, 11 evidence items"
        " from the last decision",
        [],
    ),
    (
        "review.update",
        {
            "before": {"release_scope": "Ledger 3.0", "schema_changing": None, "chair": 1},
            "after": {"release_scope": "Ledger 3.0", "schema_changing": True, "chair": 2},
            "object_type": "reviews.review",
        },
        "Ada Lovelace edited the scope of the review “Ledger 3.0”",
        ["schema-changing: — → yes", "chair: Ada Lovelace → Linus Pauling"],
    ),
    (
        "review.overdue",
        {"actor": None, "after": {"system": "ledger", "next_review": "2026-11-01", "days_overdue": 12}},
        "The next review of Ledger is 12 days overdue, due 2026-11-01",
        [],
    ),
    (
        "meeting.step",
        {
            "before": {"state": "draft", "current_step": 1},
            "after": {"state": "in_meeting", "current_step": 1},
        },
        "Ada Lovelace opened the meeting at step 1: State the release scope",
        [],
    ),
    (
        "meeting.step",
        {
            "before": {"state": "in_meeting", "current_step": 2},
            "after": {"state": "in_meeting", "current_step": 7},
        },
        "Ada Lovelace moved the meeting to step 7: Backup and restore evidence",
        [],
    ),
    (
        "score.set",
        {"after": {"score": 2, "owner": None, "notes": ""}, "object_repr": "Backup, restore & DR: 2"},
        "Ada Lovelace scored Backup, restore & DR 2",
        [],
    ),
    (
        "score.set",
        {
            "actor": 4,
            "before": {"score": 1, "owner": None, "notes": ""},
            "after": {"score": 2, "owner": 3, "notes": ""},
            "object_repr": "Backup, restore & DR: 2",
        },
        "grace changed the score of Backup, restore & DR: 1 → 2",
        ["owner: — → Mia Hamm"],
    ),
    (
        "score.set",
        {
            "actor": 2,
            "before": {"score": 1, "owner": None, "notes": ""},
            "after": {
                "score": 3,
                "owner": None,
                "notes": "",
                "score_raise": 4,
                "proposed_by": 3,
                "confirmed_by": 2,
                "reason": "Drill met its RPO",
            },
            "object_repr": "Backup, restore & DR: 3",
        },
        "Linus Pauling changed the score of Backup, restore & DR: 1 → 3, as Mia Hamm proposed and Linus "
        "Pauling confirmed",
        ["reason: — → Drill met its RPO"],
    ),
    (
        "score.carry",
        {
            "after": {"score": 1, "from_review": 5, "category": "backup"},
            "object_repr": "Backup, restore & DR: 1",
        },
        "Ada Lovelace carried the score of Backup, restore & DR (1) over from the last decision, where it "
        "was below its minimum",
        [],
    ),
    (
        "score.clear",
        {"before": {"score": 2, "owner": None, "notes": ""}, "object_repr": "Backup, restore & DR: 2"},
        "Ada Lovelace took back the score of Backup, restore & DR (2)",
        [],
    ),
    (
        "score_raise.propose",
        {"actor": 3, "after": RAISE, "object_repr": RAISE_REPR, "object_type": "reviews.scoreraise"},
        "Mia Hamm proposed to raise Backup, restore & DR from 1 to 3: “Drill met its RPO”",
        [],
    ),
    (
        "score_raise.confirm",
        {
            "actor": 2,
            "before": RAISE,
            "after": {**RAISE, "state": "confirmed", "decided_by": 2},
            "object_repr": RAISE_REPR,
            "object_type": "reviews.scoreraise",
        },
        "Linus Pauling confirmed Mia Hamm’s proposal to raise Backup, restore & DR from 1 to 3",
        [],
    ),
    (
        "score_raise.reject",
        {
            "actor": 2,
            "before": RAISE,
            "after": {**RAISE, "state": "rejected", "decided_by": 2, "decision_note": "RPO missed"},
            "object_repr": RAISE_REPR,
            "object_type": "reviews.scoreraise",
        },
        "Linus Pauling rejected Mia Hamm’s proposal to raise Backup, restore & DR from 1 to 3",
        ["note on the decision: — → RPO missed"],
    ),
    (
        "score_raise.withdraw",
        {
            "actor": 3,
            "before": RAISE,
            "after": {**RAISE, "state": "withdrawn", "decided_by": 3},
            "object_repr": RAISE_REPR,
            "object_type": "reviews.scoreraise",
        },
        "Mia Hamm withdrew their own proposal to raise Backup, restore & DR from 1 to 3",
        [],
    ),
    (
        "checklist.clear",
        {"before": {"answer": "yes", "note": "", "evidence": None}, "object_id": "40"},
        "Ada Lovelace took back the answer to “A restore drill has been performed recently”",
        [],
    ),
    (
        "checklist.answer",
        {"after": {"answer": "na", "note": "No replica", "evidence": None}, "object_id": "40"},
        "Ada Lovelace answered “A restore drill has been performed recently”: Not applicable",
        [],
    ),
    (
        "checklist.answer",
        {
            "before": {"answer": "yes", "note": "", "evidence": None},
            "after": {"answer": "no", "note": "", "evidence": 90},
            "object_id": "40",
        },
        "Ada Lovelace changed the answer to “A restore drill has been performed recently”: Yes → No",
        ["evidence: — → “Restore drill 2026-11-21”"],
    ),
    (
        "finding.add",
        {"after": FINDING, "object_type": "reviews.finding", "object_repr": "P1 No PITR"},
        "Ada Lovelace raised the P1 “No PITR” in Backup, restore & DR",
        [],
    ),
    (
        "finding.add",
        {
            "actor": 3,
            "after": {**FINDING, "probe_run": 4, "probe_key": "security.ssl:"},
            "object_type": "reviews.finding",
        },
        "Probe run #4 (started by Mia Hamm) raised the P1 “No PITR” in Backup, restore & DR",
        [],
    ),
    (
        "finding.open",
        {"after": {**FINDING, "source": "checklist"}, "object_type": "reviews.finding"},
        "Ada Lovelace opened the P1 “No PITR” in Backup, restore & DR"
        " (a critical checklist item answered No)",
        [],
    ),
    (
        "finding.reopen",
        {"before": FINDING, "after": FINDING, "object_type": "reviews.finding"},
        "Ada Lovelace reopened the P1 “No PITR”",
        [],
    ),
    (
        "finding.update",
        {
            "before": FINDING,
            "after": {**FINDING, "status": "resolved", "resolution": "fixed", "resolution_note": "PITR on"},
            "object_type": "reviews.finding",
        },
        "Ada Lovelace resolved the P1 “No PITR” as fixed",
        ["resolution note: — → PITR on"],
    ),
    (
        "finding.update",
        {
            "before": FINDING,
            "after": {**FINDING, "owner": 2, "due_date": "2027-01-10"},
            "object_type": "reviews.finding",
        },
        "Ada Lovelace edited the P1 “No PITR”",
        ["owner: — → Linus Pauling", "due date: — → 2027-01-10"],
    ),
    (
        "finding.regrade",
        {
            "actor": 2,
            "before": FINDING,
            "after": {
                **FINDING,
                "level": "P3",
                "loosening": 9,
                "proposed_by": 3,
                "confirmed_by": 2,
                "reason": "x",
            },
            "object_type": "reviews.finding",
        },
        "Linus Pauling regraded “No PITR” from P1 to P3, as Mia Hamm proposed and Linus Pauling confirmed",
        [],
    ),
    (
        "finding.resolve",
        {
            "actor": None,
            "before": FINDING,
            "after": {
                **FINDING,
                "status": "resolved",
                "probe_run": 4,
                "probe_key": "k",
                "reason": "passes on this run",
            },
            "object_type": "reviews.finding",
        },
        "Probe run #4 resolved the P1 “No PITR”: passes on this run",
        [],
    ),
    (
        "finding.carry",
        {
            "after": {"from_finding": 11, "from_review": 5, "level": "P1", "status": "open"},
            "object_repr": "P1 No PITR",
        },
        "Ada Lovelace carried the P1 “No PITR” over from the review “Ledger 2.3 — idempotent postings”",
        [],
    ),
    (
        "finding.resolve_later",
        {
            "after": {
                "resolved_by_finding": 12,
                "resolved_in_review": 6,
                "resolved_at": "2026-12-01T10:00:00+00:00",
            },
            "object_repr": "P1 No PITR",
        },
        "The P1 “No PITR” was resolved later, in the review “Ledger 3.0”",
        [],
    ),
    (
        "claim.add",
        {
            "after": {
                "claim": "Backup valid",
                "risk": "r",
                "control": "c",
                "evidence": 90,
                "evidence_note": "",
            }
        },
        "Ada Lovelace added the claim “Backup valid”",
        [],
    ),
    (
        "loosening.propose",
        {"actor": 3, "after": {**LOOSENING, "finding": 11}, "object_repr": "Lower the level of P1 No PITR"},
        "Mia Hamm proposed to lower “No PITR” from P1 to P3",
        [],
    ),
    (
        "loosening.confirm",
        {
            "actor": 2,
            "before": LOOSENING,
            "after": {**LOOSENING, "state": "confirmed", "decided_by": 2, "finding": 11},
            "object_repr": "Lower the level of P1 No PITR",
            "object_type": "reviews.loosening",
        },
        "Linus Pauling confirmed Mia Hamm’s proposal to lower “No PITR” from P1 to P3",
        [],
    ),
    (
        "loosening.reject",
        {
            "actor": 2,
            "before": {**LOOSENING, "kind": "accept", "to_status": "accepted", "to_level": "P1"},
            "after": {
                **LOOSENING,
                "kind": "accept",
                "to_status": "accepted",
                "to_level": "P1",
                "state": "rejected",
            },
            "object_repr": "Close as accepted of P1 No PITR",
            "object_type": "reviews.loosening",
        },
        "Linus Pauling rejected Mia Hamm’s proposal to close the P1 “No PITR” as accepted",
        [],
    ),
    (
        "loosening.withdraw",
        {
            "actor": 3,
            "before": {**LOOSENING, "kind": "not_an_issue"},
            "after": {**LOOSENING, "kind": "not_an_issue", "state": "withdrawn"},
            "object_repr": "Close as not an issue of P1 No PITR",
            "object_type": "reviews.loosening",
        },
        "Mia Hamm withdrew their own proposal to close the P1 “No PITR” as not an issue at P3",
        [],
    ),
    (
        "exception.request",
        {"actor": 3, "after": EXCEPTION, "object_repr": "Exception for P1 No PITR"},
        "Mia Hamm requested an exception for the P1 “No PITR” until 2027-01-02 13:14 UTC",
        [],
    ),
    (
        "exception.edit",
        {
            "before": EXCEPTION,
            "after": {**EXCEPTION, "compensating_control": "Watch it hourly"},
            "object_repr": "Exception for P1 No PITR",
            "object_type": "reviews.riskexception",
        },
        "Ada Lovelace edited the terms of the exception for the P1 “No PITR”",
        ["compensating control: Watch it → Watch it hourly"],
    ),
    (
        "exception.sign",
        {
            "actor": 2,
            "before": EXCEPTION,
            "after": {
                **EXCEPTION,
                "state": "signed",
                "signer": 2,
                "signed_at": "2026-12-03T13:14:29Z",
                "signed_digest": "a" * 64,
            },
            "object_repr": "Exception for P1 No PITR",
            "object_type": "reviews.riskexception",
        },
        "Linus Pauling signed the exception for the P1 “No PITR”, valid until 2027-01-02 13:14 UTC",
        [],
    ),
    (
        "exception.reject",
        {
            "actor": 2,
            "before": EXCEPTION,
            "after": {**EXCEPTION, "state": "rejected", "signer": 2},
            "object_repr": "Exception for P1 No PITR",
        },
        "Linus Pauling rejected the exception for the P1 “No PITR”",
        [],
    ),
    (
        "exception.revoke",
        {
            "actor": 2,
            "before": {**EXCEPTION, "state": "signed"},
            "after": {**EXCEPTION, "state": "revoked"},
            "object_repr": "Exception for P1 No PITR",
        },
        "Linus Pauling revoked the exception for the P1 “No PITR”",
        [],
    ),
    (
        "exception.void",
        {
            "before": {**EXCEPTION, "state": "signed", "signer": 2, "signed_digest": "a" * 64},
            "after": {**EXCEPTION, "signed_digest": "", "why": "finding regraded after signing"},
            "object_repr": "Exception for P1 No PITR",
        },
        "Ada Lovelace voided the signature on the exception for the P1 “No PITR”"
        " (finding regraded after signing)",
        [],
    ),
    (
        "exception.expire",
        {
            "actor": None,
            "before": {**EXCEPTION, "state": "signed"},
            "after": {**EXCEPTION, "state": "expired"},
            "object_repr": "Exception for P1 No PITR",
        },
        "The exception for the P1 “No PITR” expired on 2027-01-02 13:14 UTC",
        [],
    ),
    (
        "exception.carry",
        {
            "after": {
                "from_exception": 3,
                "from_review": 5,
                "expires_at": "2027-01-02T13:14:28+00:00",
                "signer": 2,
            },
            "object_repr": "Exception for P1 No PITR",
        },
        "Ada Lovelace carried the exception for the P1 “No PITR” over from the review"
        " “Ledger 2.3 — idempotent postings”, signed by Linus Pauling, until 2027-01-02 13:14 UTC",
        [],
    ),
    (
        "decision.record",
        {
            "before": {"state": "in_meeting", "chair": 1},
            "after": {
                "outcome": "BLOCKED",
                "gate_outcome": "APPROVED",
                "reason": "Restore untested",
                "digest": "b" * 64,
            },
        },
        "Ada Lovelace recorded the decision: Blocked, stricter than the gate’s Approved",
        [],
    ),
    (
        "decision.import",
        {"after": {"outcome": "APPROVED", "gate_outcome": "APPROVED", "reason": "", "digest": "b" * 64}},
        "Ada Lovelace imported an earlier decision: Approved",
        [],
    ),
    (
        "decision.download",
        {"actor": 4, "after": {"format": "pdf", "digest": "b" * 64}},
        "grace downloaded the decision record (PDF)",
        [],
    ),
    (
        "decision.pdf",
        {"actor": None, "after": {"size": 54514, "pages": 7, "sha256": "c" * 64, "render_ms": 852}},
        "Readiness rendered the decision record as a PDF (7 pages, 53 KB)",
        [],
    ),
    (
        "audit.export",
        {"actor": 4, "review": None, "after": {"format": "csv", "filters": {"action": "exception."}}},
        "grace exported the audit trail as CSV, filtered by action exception.",
        [],
    ),
    (
        "audit.redact",
        {"after": {"events": [3, 4], "keys": ["password"], "reason": "a password in a DSN"}},
        "Ada Lovelace redacted 2 audit events: a password in a DSN",
        [],
    ),
    (
        "evidence.add",
        {
            "after": {
                "category": 7,
                "kind": "restore_drill",
                "title": "Drill",
                "url": "",
                "file": "",
                "notes": "",
                "observed_at": "2026-11-21T10:00:00Z",
                "shows": "",
            },
            "object_type": "evidence.evidence",
        },
        "Ada Lovelace added the restore drill “Drill” to Backup, restore & DR",
        [],
    ),
    (
        "evidence.add",
        {
            "actor": 3,
            "after": {
                "category": 10,
                "kind": "probe_result",
                "title": "SSL",
                "probe_run": 4,
                "probe_id": "security.ssl",
            },
        },
        "Probe run #4 (started by Mia Hamm) added the result of the probe “SSL for client connections” to"
        " Security & access control",
        [],
    ),
    (
        "api.evidence.add",
        {
            "after": {"token": "rdy_1234", "token_name": "deploy", "idempotency_key": "k1"},
            "object_repr": "CI run",
        },
        "Ada Lovelace added the evidence “CI run” through the API (token “deploy”)",
        [],
    ),
    (
        "evidence.carry",
        {
            "after": {"from_evidence": 1, "from_review": 5, "observed_at": "2026-07-01T00:00:00+00:00"},
            "object_repr": "Dash",
        },
        "Ada Lovelace carried the evidence “Dash” over from the review “Ledger 2.3 — idempotent postings”",
        [],
    ),
    (
        "evidence.restore_drill",
        {
            "actor": 2,
            "after": {"rpo_minutes": 2.0, "rto_minutes": 43.0, "passed": True},
            "object_repr": "Drill",
        },
        "Linus Pauling recorded the restore drill “Drill”: RPO 2 min, RTO 43 min, passed",
        [],
    ),
    (
        "evidence.runbook_test",
        {"after": {"runbook": "Lock storm", "passed": False, "linked_runbook": None}},
        "Ada Lovelace recorded a test of the runbook “Lock storm”: it did not work as written",
        [],
    ),
    (
        "evidence.migration_rehearsal",
        {
            "after": {
                "migration": "0042_fx",
                "runtime_seconds": 7380,
                "longest_lock_ms": 40,
                "validation_passed": True,
            }
        },
        "Ada Lovelace recorded a rehearsal of the migration “0042_fx”: ran 2 h 03 min,"
        " longest lock 40 ms, validated",
        [],
    ),
    (
        "evidence.load_test",
        {"after": {"p50_ms": "4", "p95_ms": "21", "p99_ms": "60", "passed": True}, "object_repr": "3x peak"},
        "Ada Lovelace recorded the load test “3x peak”: p50 4 ms, p95 21 ms, p99 60 ms, p95 within target",
        [],
    ),
    (
        "evidence.import",
        {
            "after": {"kind": "invariant", "rows": 12, "file": "invariants.csv"},
            "object_type": "reviews.review",
            "object_repr": "Ledger 3.0",
        },
        "Ada Lovelace imported 12 invariants from the file “invariants.csv”",
        [],
    ),
    (
        "evidence.import",
        {"after": {"kind": "runbook", "rows": 1, "file": "runbooks.yaml"}},
        "Ada Lovelace imported 1 runbook from the file “runbooks.yaml”",
        [],
    ),
    (
        "evidence.record",
        {
            "after": {
                "kind": "concurrency_test",
                "verdict": "failing",
                "why": "failed: “No partial state” did not hold",
            },
            "object_repr": "Concurrency test: Lock timeout",
        },
        "Ada Lovelace recorded the concurrency test “Concurrency test: Lock timeout”: failing "
        "(failed: “No partial state” did not hold)",
        [],
    ),
    (
        "evidence.stale",
        {
            "actor": None,
            "after": {"kind": "restore_drill", "category": "backup", "max_age_days": 90},
            "object_repr": "Drill",
        },
        "The restore drill “Drill” went stale: older than 90 days",
        [],
    ),
    (
        "evidence.download",
        {"actor": 4, "after": {"file": "report.pdf"}, "object_repr": "Report"},
        "grace downloaded the file “report.pdf” of the evidence “Report”",
        [],
    ),
    (
        "probe_target.create",
        {"after": {"system": 1, "name": "Local PostgreSQL", "environment": "staging", "port": 5432}},
        "Ada Lovelace registered the probe target “Local PostgreSQL”",
        [],
    ),
    (
        "probe_target.update",
        {
            "before": {"name": "Local PostgreSQL", "environment": "staging", "schedule_hours": None},
            "after": {
                "name": "Local PostgreSQL",
                "environment": "production",
                "schedule_hours": 24,
                "connection_changed": True,
            },
        },
        "Ada Lovelace edited the probe target “Local PostgreSQL”, with new connection details",
        ["environment: Staging → Production", "schedule (hours): — → 24"],
    ),
    (
        "probe_target.test_request",
        {"object_repr": "Ledger · Local PostgreSQL"},
        "Ada Lovelace asked for a connection test of “Local PostgreSQL”",
        [],
    ),
    (
        "probe_target.test",
        {
            "actor": None,
            "after": {
                "ok": True,
                "server_version": "16.4",
                "current_user": "probe",
                "is_superuser": False,
                "error": None,
            },
            "object_repr": "Ledger · Local PostgreSQL",
        },
        "The connection test of “Local PostgreSQL” connected to PostgreSQL 16.4 as probe",
        [],
    ),
    (
        "probe_target.test",
        {
            "actor": None,
            "after": {"ok": False, "error": "connection refused"},
            "object_repr": "Ledger · Local PostgreSQL",
        },
        "The connection test of “Local PostgreSQL” failed: connection refused",
        [],
    ),
    (
        "probe_target.rotate_secret",
        {"actor": None, "object_repr": "Ledger · Local PostgreSQL"},
        "Readiness re-encrypted the credentials of the probe target “Local PostgreSQL”",
        [],
    ),
    (
        "invariant.create",
        {
            "after": {
                "target": 1,
                "name": "Entries balance",
                "sql": "select 1",
                "category": "data-model",
                "severity": "P1",
            }
        },
        "Ada Lovelace added the invariant check “Entries balance”",
        [],
    ),
    (
        "invariant.delete",
        {"before": {"target": 1, "name": "Entries balance", "sql": "select 1"}},
        "Ada Lovelace deleted the invariant check “Entries balance”",
        [],
    ),
    (
        "probe_run.start",
        {"actor": 3, "after": {"target": 1, "review": 6}, "object_repr": "Probe run #4 of Local PostgreSQL"},
        "Mia Hamm started probe run #4 of Local PostgreSQL for the review “Ledger 3.0”",
        [],
    ),
    (
        "probe_run.schedule",
        {
            "actor": None,
            "after": {"target": 1, "review": None},
            "object_repr": "Probe run #5 of Local PostgreSQL",
        },
        "The schedule started probe run #5 of Local PostgreSQL",
        [],
    ),
    (
        "api.probe_run.start",
        {
            "after": {"token": "rdy_1", "token_name": "deploy", "idempotency_key": None},
            "object_repr": "Probe run #6 of X",
        },
        "Ada Lovelace started probe run #6 of X through the API (token “deploy”)",
        [],
    ),
    (
        "probe_run.finish",
        {
            "actor": None,
            "after": {"state": "done", "results": {"pass": 38, "fail": 6}, "applied_to_review": True},
            "object_repr": "Probe run #4 of Local PostgreSQL",
        },
        "Probe run #4 of Local PostgreSQL finished: 38 passed, 6 failed; results applied to the review",
        [],
    ),
    (
        "probe_run.fail",
        {"actor": None, "after": {"state": "failed", "error": "timeout"}, "object_repr": "Probe run #4 of X"},
        "Probe run #4 of X failed: timeout",
        [],
    ),
    (
        "probe_run.requeue",
        {"actor": None, "after": {"attempt": 2, "reason": "worker lost"}, "object_repr": "Probe run #4 of X"},
        "Probe run #4 of X was queued again (attempt 2): worker lost",
        [],
    ),
    (
        "api_token.create",
        {"after": {"team": 1, "name": "deploy", "prefix": "rdy_1", "scope_read": True}},
        "Ada Lovelace created the API token “deploy”",
        [],
    ),
    (
        "api_token.revoke",
        {
            "before": {"name": "deploy", "revoked_at": None},
            "after": {"name": "deploy", "revoked_at": "2026-12-03T10:00:00Z"},
        },
        "Ada Lovelace revoked the API token “deploy”",
        [],
    ),
    (
        "membership.create",
        {"after": {"user": 3, "team": 1, "role": "member"}},
        "Ada Lovelace made Mia Hamm Member of Payments",
        [],
    ),
    (
        "membership.update",
        {"before": {"user": 3, "team": 1, "role": "member"}, "after": {"user": 3, "team": 1, "role": "lead"}},
        "Ada Lovelace changed the role of Mia Hamm in Payments: Member → Team lead",
        [],
    ),
    (
        "membership.delete",
        {"before": {"user": 3, "team": 1, "role": "member"}},
        "Ada Lovelace removed Mia Hamm from Payments",
        [],
    ),
    (
        "membership.update",
        {
            "before": {"user": 3, "team": 1, "role": "member"},
            "after": {"user": 3, "team": 1, "role": "lead", "via": "groups claim", "groups": ["dba-leads"]},
            "actor": None,
        },
        "Readiness changed the role of Mia Hamm in Payments: Member → Team lead, from the groups the "
        "single sign-on provider sent",
        ["groups: — → dba-leads"],
    ),
    (
        "grouprolemapping.create",
        {"after": {"group": "dba-leads", "team": 1, "role": "lead"}},
        "Ada Lovelace mapped the group “dba-leads” to Team lead of Payments",
        [],
    ),
    (
        "grouprolemapping.update",
        {
            "before": {"group": "dba-leads", "team": 1, "role": "lead"},
            "after": {"group": "dba-leads", "team": 1, "role": "member"},
        },
        "Ada Lovelace edited the single sign-on mapping of the group “dba-leads”",
        ["role: Team lead → Member"],
    ),
    (
        "grouprolemapping.delete",
        {"before": {"group": "dba-leads", "team": 1, "role": "lead"}},
        "Ada Lovelace deleted the single sign-on mapping of the group “dba-leads” to Payments",
        [],
    ),
    (
        "installationauditor.create",
        {"after": {"user": 4, "granted_at": "2026-12-03T10:00:00Z"}},
        "Ada Lovelace made grace an installation-wide auditor",
        [],
    ),
    (
        "installationauditor.delete",
        {"before": {"user": 4, "granted_at": "2026-12-03T10:00:00Z"}},
        "Ada Lovelace withdrew the installation-wide auditor role of grace",
        [],
    ),
]


@pytest.mark.parametrize(("action", "kwargs", "sentence", "changes"), CASES, ids=[c[0] for c in CASES])
def test_each_action_reads_as_a_sentence(action, kwargs, sentence, changes):
    entry = audit_text.describe_event(event(action, **kwargs), NAMES)
    assert entry.sentence == sentence
    assert [f"{c.label}: {c.before} → {c.after}" for c in entry.changes] == changes
    words = entry.text
    assert "{'" not in words and "None" not in words and "True" not in words and "False" not in words


def test_every_named_action_has_a_sentence_and_a_case():
    assert set(audit_text.ACTION_NAMES) - {"team.create", "team.update", "team.delete"} <= set(
        audit_text.SENTENCES
    )
    assert set(audit_text.SENTENCES) <= {c[0] for c in CASES}


FILE_TYPES = {"html", "txt", "json", "csv"}


def test_every_action_the_code_records_is_named():
    """An action the services record is in the trail's filter menu with its words."""
    groups = {a.split(".", 1)[0] for a in audit_text.ACTION_NAMES}
    found = set()
    for app in ("reviews", "evidence", "probes", "api", "schedules", "reminders"):
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts or "audit_text" in path.parts:
                continue
            for group, verb in re.findall(r'"([a-z_]+)\.([a-z_]+)"', path.read_text()):
                name = f"{group}.{verb}"
                if group in groups and name not in OBJECT_NAMES and verb not in FILE_TYPES:
                    found.add(name)
    # Built from parts in the code: exception.sign/reject, <model>.create/update/delete in the admin.
    found |= {"exception.sign", "exception.reject"}
    missing = {a for a in found if a not in audit_text.ACTION_NAMES and a not in audit_text.SENTENCES}
    assert not missing, missing


def test_an_unknown_action_falls_back_to_a_readable_sentence_with_labelled_changes():
    entry = audit_text.describe_event(
        event(
            "widget.recolour",
            before={"colour": "red", "due_date": None, "owner": 1},
            after={"colour": "blue", "due_date": "2027-01-10", "owner": 2},
            object_type="shop.widget",
            object_repr="Big widget",
        ),
        NAMES,
    )
    assert entry.sentence == "Ada Lovelace: recolour, widget “Big widget”"
    assert [(c.label, c.before, c.after) for c in entry.changes] == [
        ("colour", "red", "blue"),
        ("due date", "—", "2027-01-10"),
        ("owner", "Ada Lovelace", "Linus Pauling"),
    ]
    created = audit_text.describe_event(
        event(
            "team.create",
            after={"name": "Payments", "slug": "payments"},
            object_type="reviews.team",
            object_repr="Payments",
        ),
        NAMES,
    )
    assert created.sentence == "Ada Lovelace added the team “Payments”"
    assert created.details == [("short name", "payments")]


def test_an_event_of_an_old_shape_still_reads():
    entry = audit_text.describe_event(
        event("exception.request", after=["odd"], object_repr="Exception for P1 X"), NAMES
    )
    assert entry.sentence.startswith("Ada Lovelace requested an exception for the P1 “X”")


def test_someone_gone_from_the_names_reads_as_a_number_not_a_crash():
    entry = audit_text.describe_event(
        event("score.set", actor=99, after={"score": 1}, object_repr="Backup: 1"), NAMES
    )
    assert entry.sentence == "user #99 scored Backup 1"


# --- The pages, as people see them


def test_the_trail_tells_events_as_sentences_with_full_names(
    client, review, architect, member, lead, auditor
):
    score_all(review, member)
    p1 = services.add_finding(
        review=review, category=category(review, "backup"), title="No PITR", level=Level.P1, actor=member
    )
    exc = services.request_exception(
        finding=p1,
        justification="Small table",
        compensating_control="Watch it",
        expires_at=timezone.now() + timedelta(days=5),
        actor=member,
    )
    services.sign_exception(exception=exc, actor=lead)
    client.force_login(auditor)
    body = client.get(reverse("audit_trail")).content.decode()
    name = member.get_full_name()
    assert f"{name} raised the P1 “No PITR” in Backup, restore &amp; DR" in body
    assert f"{lead.get_full_name()} signed the exception for the P1 “No PITR”" in body
    assert f"{name} scored Backup, restore &amp; DR 2" in body
    assert "{&#x27;" not in body and "{'" not in body
    assert ">mia<" not in body and ">linus<" not in body
    review_trail = client.get(reverse("review_audit", args=[review.pk])).content.decode()
    assert f"{name} raised the P1 “No PITR”" in review_trail


def test_the_exception_history_reads_as_sentences(client, review, member, lead, auditor):
    p1 = services.add_finding(
        review=review, category=category(review, "backup"), title="No PITR", level=Level.P1, actor=member
    )
    exc = services.request_exception(
        finding=p1,
        justification="Small table",
        compensating_control="Watch it",
        expires_at=timezone.now() + timedelta(days=5),
        actor=member,
    )
    exc = services.edit_exception(
        exception=exc,
        actor=lead,
        version=exc.version,
        justification="Small table, 2 rows",
        compensating_control="Watch it",
        expires_at=exc.expires_at,
    )
    client.force_login(auditor)
    body = client.get(reverse("exception_detail", args=[exc.pk])).content.decode()
    assert f"{member.get_full_name()} requested an exception for the P1 “No PITR” until" in body
    assert "Justification:</span> Small table" in body
    assert f"{lead.get_full_name()} edited the terms of the exception for the P1 “No PITR”" in body
    assert "Small table → Small table, 2 rows" in body
    assert "&#x27;signer&#x27;" not in body and "{&#x27;" not in body


def _busy_review(review, member, lead, *, start: int, n: int) -> None:
    """n rounds of the common kinds of event: evidence, checklist answers, findings, claims, exceptions
    requested and signed (and scores, on the first rounds)."""
    items = list(ChecklistItem.objects.filter(category__version_id=review.catalogue_id).order_by("pk"))
    codes = ("backup", "security", "migration", "observability")
    for i in range(start, start + n):
        code = codes[i % 4]
        link = attach(review, code, member, title=f"Proof {i}")
        if i < 4:
            services.set_score(
                review=review, category=category(review, code), score=1, actor=member, owner=lead
            )
        services.answer_item(review=review, item=items[i], answer="yes", actor=member, evidence=link)
        finding = services.add_finding(
            review=review, category=category(review, code), title=f"F{i}", level=Level.P1, actor=member
        )
        services.add_claim(
            review=review, claim=f"Claim {i}", risk="r", control="c", actor=member, evidence=link
        )
        exc = services.request_exception(
            finding=finding,
            justification="j",
            compensating_control="c",
            expires_at=timezone.now() + timedelta(days=5),
            actor=member,
        )
        services.sign_exception(exception=exc, actor=lead)


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_the_trail_reads_names_in_a_constant_number_of_queries(
    client, review, architect, member, lead, auditor
):
    _busy_review(review, member, lead, start=0, n=4)
    client.force_login(auditor)
    pages = [reverse("audit_trail"), reverse("review_audit", args=[review.pk])]
    few = [_count(client, url) for url in pages]
    _busy_review(review, member, lead, start=4, n=12)
    assert AuditEvent.objects.filter(review=review).count() > 50
    many = [_count(client, url) for url in pages]
    assert many == few


def test_csv_words_are_read_in_a_constant_number_of_queries(client, review, architect, member, lead, auditor):
    _busy_review(review, member, lead, start=0, n=4)
    client.force_login(auditor)
    url = reverse("audit_trail_csv")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            b"".join(client.get(url).streaming_content)
        return len(queries)

    few = count()
    _busy_review(review, member, lead, start=4, n=10)
    assert count() == few


def test_pages_name_people_and_where_findings_came_from(client, review, architect, member):
    evidence_services.add_link(
        review=review,
        category=category(review, "backup"),
        title="Drill report",
        url="https://x.example/d",
        actor=member,
    )
    services.add_finding(
        review=review, category=category(review, "security"), title="Owner role", level=Level.P0, actor=member
    )
    client.force_login(architect)
    body = client.get(review.get_absolute_url()).content.decode()
    assert "Raised by a person" in body and "· Person" not in body
    assert "just now" in body and "0 minutes" not in body


def test_a_finding_opened_by_the_checklist_says_so_without_its_code(review, architect):
    item = ChecklistItem.objects.filter(
        category__version_id=review.catalogue_id, critical_level=Level.P0
    ).first()
    services.answer_item(review=review, item=item, answer="no", actor=architect)
    finding = review.findings.get(checklist_item=item)
    assert item.code not in finding.description
    assert labels.finding_origin(finding) == "From the checklist"


def test_the_owner_picker_offers_full_names(client, review, architect, member):
    client.force_login(architect)
    body = client.get(reverse("finding_create", args=[review.pk])).content.decode()
    assert f">{member.get_full_name()}</option>" in body and f"({member.username})" not in body


def test_the_decision_page_and_pdf_name_people_and_outcomes_in_words(client, review, architect, member):
    score_all(review, member)
    first = services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )
    from tests.factories import ReviewFactory

    second_review = ReviewFactory(
        system=review.system, created_by=architect, chair=architect, release_scope="Ledger 3.1"
    )
    score_all(second_review, member)
    second = services.record_decision(
        review=second_review, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )
    client.force_login(architect)
    body = client.get(reverse("decision_detail", args=[first.pk])).content.decode()
    name = architect.get_full_name()
    assert f"<dt>Chair</dt><dd>{name}</dd>" in body
    assert f"({architect.username})" not in body
    html = render_to_string("records/decision.html", records.pdf_context(second.record, digest=second.digest))
    outcome = first.get_outcome_display()
    assert f"(decision #{first.pk}, {outcome}, " in html and f"#{first.pk}, {first.outcome}," not in html
    assert f"<tr><th>Chair</th><td>{name}</td></tr>" in html
