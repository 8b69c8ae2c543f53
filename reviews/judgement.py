"""The chair's judgement at the decision: the review guide's final questions, answered, and an outcome
the chair may make stricter than the gate's, never laxer, with a written reason (seed §20, §21).

Plain functions over plain data; `_decide` (reviews.services) calls `judge` and freezes its answer into
the decision record."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError

from .models import Answer, Outcome


@dataclass(frozen=True)
class FinalQuestion:
    code: str  # stable: it is frozen into decision records
    heading: str
    text: str


# The guide's final questions, grouped under its five headings. A record freezes code, heading and text,
# so rewording a question later does not change what an earlier decision answered.
FINAL_SECTIONS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Correctness",
        (
            ("correctness_invariants", "Can the team name its ten most important business invariants?"),
            ("correctness_enforced", "Is it known where each invariant is enforced?"),
            ("correctness_concurrency", "Is each invariant tested under concurrent writes?"),
            ("correctness_illegal_states", "Are the data states that must never exist written down?"),
            ("correctness_corrections", "Is it settled how corrections are represented?"),
        ),
    ),
    (
        "Safety",
        (
            ("safety_restore", "Has the database actually been restored from its backups?"),
            ("safety_restore_time", "Has the time a restore takes been measured?"),
            ("safety_data_loss", "Can the team say what data may be lost in a disaster?"),
            ("safety_stop_migration", "Can a bad migration be stopped?"),
            ("safety_rebuild_derived", "Can the derived stores be rebuilt from the source of truth?"),
        ),
    ),
    (
        "Operations",
        (
            ("operations_baseline", "Is the normal baseline of the database known?"),
            ("operations_alerts", "Do the alerts reflect what users feel?"),
            ("operations_runbooks", "Are there runbooks for the likely incidents?"),
            (
                "operations_diagnose",
                "Can on-call diagnose locks, replication lag, disk and query regressions?",
            ),
            ("operations_owners", "Does every database-critical component have an owner?"),
        ),
    ),
    (
        "Security and compliance",
        (
            ("security_least_privilege", "Does the application run with the least privilege it needs?"),
            ("security_classified", "Are the sensitive fields classified?"),
            ("security_copy_paths", "Are the backup, export and change-data-capture paths secured?"),
            ("security_support_access", "Is support access to the data audited?"),
            ("security_retention", "Can retention actually be carried out?"),
            ("security_legal_hold", "Is legal hold represented in the data?"),
        ),
    ),
    (
        "Evolution",
        (
            ("evolution_old_versions", "Can the schema evolve without breaking older application versions?"),
            ("evolution_consumers", "Are all consumers of the data known?"),
            ("evolution_migration_tests", "Are migrations tested on production-like data?"),
            ("evolution_backfills", "Can a large backfill be resumed after it stops?"),
            ("evolution_rollback", "Is rolling back or rolling forward realistic?"),
        ),
    ),
)
FINAL_QUESTIONS: tuple[FinalQuestion, ...] = tuple(
    FinalQuestion(code=code, heading=heading, text=text)
    for heading, questions in FINAL_SECTIONS
    for code, text in questions
)
FINAL_ANSWERS = (Answer.YES, Answer.NO, Answer.NOT_APPLICABLE)
NOTE_MAX = 2000
REASON_MAX = 5000

# How strict an outcome is. The chair may record the gate's outcome or a stricter one. Only BLOCKED is
# ever stricter in practice: "approved with exceptions" needs a P1 riding on a signed exception, which
# the chair cannot conjure, so it is offered only when the gate says so.
STRICTNESS = {Outcome.APPROVED: 0, Outcome.APPROVED_WITH_EXCEPTIONS: 1, Outcome.BLOCKED: 2}


def outcomes_for(gate_outcome: str) -> list[str]:
    """What the chair may record for a gate outcome: the gate's own, or BLOCKED. None for INCOMPLETE."""
    if gate_outcome not in STRICTNESS:
        return []
    return [gate_outcome] if gate_outcome == Outcome.BLOCKED else [gate_outcome, Outcome.BLOCKED.value]


@dataclass(frozen=True)
class Judgement:
    gate_outcome: str
    outcome: str
    reason: str
    answers: tuple[dict, ...] | None  # None: decided without the final questions (an imported decision)

    @property
    def stricter(self) -> bool:
        return self.outcome != self.gate_outcome

    def as_record(self) -> dict:
        return {
            "gate_outcome": self.gate_outcome,
            "outcome": self.outcome,
            "stricter_than_gate": self.stricter,
            "reason": self.reason,
        }

    def final_questions_record(self) -> list[dict] | None:
        return list(self.answers) if self.answers is not None else None


def judge(
    *,
    gate_outcome: str,
    outcome: str | None = None,
    reason: str = "",
    final_answers: dict[str, tuple[str, str]] | None = None,
) -> Judgement:
    """Check the chair's judgement against the gate's outcome; raise ValidationError (with field errors
    named as the decision form names them) for anything refused.

    `final_answers` maps each question's code to (answer, note): every question answered yes, no or not
    applicable; a "not applicable" says why; a "no" says why it does not block, unless the chair records
    BLOCKED (a "no" is the chair's to weigh, not a blocker by itself)."""
    outcome = outcome or gate_outcome
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    allowed = outcomes_for(gate_outcome)
    if outcome not in allowed:
        if outcome in STRICTNESS and gate_outcome in STRICTNESS:
            errors.setdefault("outcome", []).append(
                f"The gate says {Outcome(gate_outcome).label}: the chair may record that or Blocked, "
                "never a laxer outcome."
            )
        else:
            errors.setdefault("outcome", []).append("Choose an outcome the gate allows.")
    elif outcome != gate_outcome and not reason:
        errors.setdefault("reason", []).append(
            "Say why the decision is stricter than the gate: it is written into the record."
        )
    if len(reason) > REASON_MAX:
        errors.setdefault("reason", []).append(f"At most {REASON_MAX} characters.")
    answers = None
    if final_answers is not None:
        answers, answer_errors = _answers(final_answers, blocked=outcome == Outcome.BLOCKED)
        errors.update(answer_errors)
    if errors:
        raise ValidationError({name: msgs for name, msgs in errors.items()})
    return Judgement(gate_outcome=gate_outcome, outcome=outcome, reason=reason, answers=answers)


def _answers(given: dict[str, tuple[str, str]], *, blocked: bool) -> tuple[tuple[dict, ...], dict]:
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(given) - {q.code for q in FINAL_QUESTIONS})
    if unknown:
        errors["final_questions"] = [f"Unknown question(s): {', '.join(unknown)}."]
    out = []
    for q in FINAL_QUESTIONS:
        answer, note = given.get(q.code, ("", ""))
        answer, note = (answer or "").strip(), (note or "").strip()
        field = f"fq_{q.code}"
        if answer not in FINAL_ANSWERS:
            errors[field] = ["Answer yes, no or not applicable."]
            continue
        if len(note) > NOTE_MAX:
            errors[f"{field}_note"] = [f"At most {NOTE_MAX} characters."]
        elif answer == Answer.NOT_APPLICABLE and not note:
            errors[f"{field}_note"] = ["Say why this does not apply."]
        elif answer == Answer.NO and not note and not blocked:
            errors[f"{field}_note"] = [
                "A “no” needs a note saying why it does not block, or record the decision as Blocked."
            ]
        out.append({"code": q.code, "heading": q.heading, "question": q.text, "answer": answer, "note": note})
    return tuple(out), errors


def answered_no(record: dict) -> list[dict]:
    """The final questions a record's chair answered "no" (for pages and the PDF)."""
    return [a for a in record.get("final_questions") or [] if a.get("answer") == Answer.NO]
