"""Whether a piece of evidence supports readiness, and what it shows: pure functions of plain values.

A typed record can be evidence against readiness: a restore drill that missed its RPO or RTO target or
failed validation, a load test whose p95 is over its target, a migration rehearsal that failed its
validation, a runbook never tested or a runbook test that failed. Such a record does not count toward
the evidence a 2 or 3 needs (reviews.gate.judge), and its service opens a finding
(evidence.findings). The selectors read the values in bulk and call these functions, so every page
and the portfolio judge evidence alike.

What each kind shows, for a 3 (seed §4: control, automated test or monitoring, runbook):
- a link or a file shows what its author declares (Evidence.shows), a control when undeclared: a
  document or a screenshot is at best evidence of a designed control;
- restore drills, load tests, migration rehearsals and probe results are tests or monitoring: they
  measured the system;
- a runbook shows a runbook; a runbook test shows a runbook and a test of it;
- access patterns, derived-store inventory entries and capacity envelopes are controls: written,
  owned contracts that the system is held to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

CONTROL, TEST, RUNBOOK = "control", "test", "runbook"
COMPLETE, INCOMPLETE, FAILING = "complete", "incomplete", "failing"
SHOWS_CHOICES = (
    (CONTROL, "A control (design, configuration, policy)"),
    (TEST, "An automated test or monitoring"),
    (RUNBOOK, "A runbook"),
)

# What each typed record's kind shows is declared with it (evidence.kinds: Spec.shows).
KIND_SHOWS: dict[str, frozenset[str]] = {"probe_result": frozenset({TEST})}


def shows(kind: str, declared: str = "") -> frozenset[str]:
    """What an item of this kind shows toward a 3; a link or file what it declares, else a control."""
    if kind in ("link", "file"):
        return frozenset({declared or CONTROL})
    if kind in KIND_SHOWS:
        return KIND_SHOWS[kind]
    from . import kinds  # the kinds declared there import this module

    spec = kinds.lookup(kind)
    return spec.shows if spec is not None else frozenset()


@dataclass(frozen=True)
class Verdict:
    supports: bool
    why: str = ""  # when it does not: "missed its RPO target (…) and failed validation"
    # A record that does not support readiness because it is unfinished (a field it asks for is empty),
    # not because it shows something wrong: it opens no finding.
    incomplete: bool = False

    @property
    def state(self) -> str:
        """complete, incomplete or failing."""
        return COMPLETE if self.supports else INCOMPLETE if self.incomplete else FAILING


SUPPORTS = Verdict(True)


def duration(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" + (f" {rest} min" if rest else "")


def _joined(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def restore_drill(
    *,
    rpo_achieved: timedelta,
    rpo_target_minutes: int,
    rto_achieved: timedelta,
    rto_target_minutes: int,
    validation_passed: bool,
) -> Verdict:
    """A drill supports readiness only when it met both targets and its validation passed (seed §11.3)."""
    failures = []
    if rpo_achieved > timedelta(minutes=rpo_target_minutes):
        failures.append(
            f"missed its RPO target ({duration(rpo_achieved)} of data lost, "
            f"target {duration(timedelta(minutes=rpo_target_minutes))})"
        )
    if rto_achieved > timedelta(minutes=rto_target_minutes):
        failures.append(
            f"overran its RTO target (restored in {duration(rto_achieved)}, "
            f"target {duration(timedelta(minutes=rto_target_minutes))})"
        )
    if not validation_passed:
        failures.append("failed validation of the restored data")
    return Verdict(False, _joined(failures)) if failures else SUPPORTS


def load_test(*, p95_ms: float, target_p95_ms: float | None) -> Verdict:
    """A load test whose p95 is over its target shows the system cannot carry the load (seed §17.2).
    Without a target it cannot fail."""
    if target_p95_ms is not None and p95_ms > target_p95_ms:
        return Verdict(False, f"missed its target (p95 {p95_ms:g} ms, target {target_p95_ms:g} ms)")
    return SUPPORTS


def migration_rehearsal(*, validation_passed: bool) -> Verdict:
    if not validation_passed:
        return Verdict(False, "failed its validation query")
    return SUPPORTS


def runbook(*, last_tested: date | None, passed_tests: int) -> Verdict:
    """A runbook never exercised is a document, not a recovery path (seed §18.2 "Last Tested")."""
    if last_tested is None and passed_tests == 0:
        return Verdict(False, "has never been tested")
    return SUPPORTS


def runbook_test(*, passed: bool) -> Verdict:
    if not passed:
        return Verdict(False, "failed: the runbook's steps did not recover the service as written")
    return SUPPORTS


def of(evidence, *, passed_tests: int | None = None) -> Verdict:
    """The verdict of an Evidence row whose typed record is loaded (select_related(*TYPED_RECORDS)).
    `passed_tests`: a runbook's passing tests, counted when not given."""
    from . import kinds

    spec = kinds.lookup(evidence.kind)
    if spec is None:
        return SUPPORTS
    row = getattr(evidence, spec.model or "record", None)
    if row is None:
        return SUPPORTS
    if spec.stored_in_record:
        return spec.verdict(row.data)
    if spec.kind == "runbook":  # not a function of its values alone: its passing tests count too
        if passed_tests is None:
            passed_tests = row.tests.filter(passed=True).count()
        return runbook(last_tested=row.last_tested, passed_tests=passed_tests)
    return spec.verdict(spec.read(row))
