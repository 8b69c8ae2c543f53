"""The readiness gate (seed §3–§4): its rules one by one, the seed's P0 examples, and its properties."""

from __future__ import annotations

import string
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from reviews.gate import (
    ExceptionIn,
    FindingIn,
    GateInput,
    GateOutcome,
    ReasonStatus,
    ScoreIn,
    effective_score,
    evaluate,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

CATEGORIES = (
    ("ownership", "Ownership & authority"),
    ("data-model", "Data model & invariants"),
    ("schema", "Schema & physical design"),
    ("query-index", "Query & index"),
    ("transaction", "Transaction & concurrency"),
    ("migration", "Migration & compatibility"),
    ("backup", "Backup, restore & DR"),
    ("replication", "Replication & failover"),
    ("observability", "Observability & alerting"),
    ("security", "Security & access control"),
    ("privacy", "Privacy, retention & compliance"),
    ("integration", "Integration & derived data"),
    ("capacity", "Capacity, performance & cost"),
    ("runbooks", "Runbooks & incident response"),
)
CODES = tuple(code for code, _ in CATEGORIES)
NAMES = dict(CATEGORIES)
MINIMUM_CODES = ("backup", "security", "migration", "observability")
EXCEPTION_STATES = ("requested", "signed", "rejected", "revoked", "expired")
NOT_SIGNED_STATES = tuple(s for s in EXCEPTION_STATES if s != "signed")

# The brief's order of outcomes, from best to worst.
RANK = {
    GateOutcome.APPROVED: 0,
    GateOutcome.APPROVED_WITH_EXCEPTIONS: 1,
    GateOutcome.INCOMPLETE: 2,
    GateOutcome.BLOCKED: 3,
}
REASON_ORDER = {
    ReasonStatus.BLOCKS: 0,
    ReasonStatus.EXCEPTION: 1,
    ReasonStatus.PENDING: 2,
    ReasonStatus.MET: 3,
}

ACTIVE = ExceptionIn("signed", NOW + timedelta(days=30))
LAPSED = ExceptionIn("signed", NOW - timedelta(days=1))


# --- builders ---------------------------------------------------------------------------------------


def ready_gate(*, schema_changing: bool = True, production_traffic: bool = True, score: int = 3) -> GateInput:
    """Every category scored with evidence, no findings: the gate's happy path."""
    return GateInput(
        schema_changing=schema_changing,
        production_traffic=production_traffic,
        scores=tuple(ScoreIn(code, name, score, evidence_count=1) for code, name in CATEGORIES),
        findings=(),
        now=NOW,
    )


def with_score(gate: GateInput, code: str, score: int | None, evidence_count: int = 1) -> GateInput:
    scores = tuple(
        replace(s, score=score, evidence_count=evidence_count) if s.category_code == code else s
        for s in gate.scores
    )
    return replace(gate, scores=scores)


def with_findings(gate: GateInput, *findings: FindingIn) -> GateInput:
    return replace(gate, findings=gate.findings + findings)


def finding(
    id: int = 1,
    level: str = "P0",
    status: str = "open",
    *,
    title: str = "Something is wrong",
    category_code: str = "",
    exceptions: tuple[ExceptionIn, ...] = (),
) -> FindingIn:
    return FindingIn(id, title, level, status, category_code, exceptions)


def reasons_with(result, status: ReasonStatus):
    return [r for r in result.reasons if r.status == status]


# --- baseline -------------------------------------------------------------------------------------


def test_all_categories_scored_with_evidence_and_no_findings_is_approved():
    result = evaluate(ready_gate(score=2))

    assert result.outcome == GateOutcome.APPROVED
    assert result.reasons
    assert all(r.status == ReasonStatus.MET for r in result.reasons)
    assert not result.blockers and not result.exceptions and not result.pending


def test_approved_gate_explains_each_minimum_that_is_met():
    result = evaluate(ready_gate())

    met_rules = {r.rule for r in reasons_with(result, ReasonStatus.MET)}
    minimums = {f"minimum:{code}" for code in MINIMUM_CODES}
    assert {"p0", "p1"} | minimums <= met_rules


# --- P0 -------------------------------------------------------------------------------------------


def test_open_p0_blocks_even_with_all_scores_3():
    result = evaluate(with_findings(ready_gate(score=3), finding(7, "P0", "open")))

    assert result.outcome == GateOutcome.BLOCKED
    [blocker] = result.blockers
    assert blocker.rule == "p0"
    assert blocker.finding_id == 7


def test_accepted_p0_still_blocks():
    result = evaluate(with_findings(ready_gate(), finding(8, "P0", "accepted")))

    assert result.outcome == GateOutcome.BLOCKED
    assert [r.finding_id for r in result.blockers] == [8]


def test_resolved_p0_does_not_block():
    result = evaluate(with_findings(ready_gate(), finding(9, "P0", "resolved")))

    assert result.outcome == GateOutcome.APPROVED
    assert not result.blockers


def test_signed_exception_does_not_let_a_p0_ship():
    result = evaluate(with_findings(ready_gate(), finding(10, "P0", "open", exceptions=(ACTIVE,))))

    assert result.outcome == GateOutcome.BLOCKED
    assert [r.finding_id for r in result.blockers] == [10]


def test_every_open_p0_is_its_own_blocker():
    gate = with_findings(
        ready_gate(), finding(1, "P0"), finding(2, "P0", "accepted"), finding(3, "P0", "resolved")
    )

    result = evaluate(gate)

    assert sorted(r.finding_id for r in result.blockers) == [1, 2]


def test_p0_blocker_message_names_the_finding():
    result = evaluate(with_findings(ready_gate(), finding(11, "P0", title="Restore never tested")))

    [blocker] = result.blockers
    assert "Restore never tested" in blocker.message
    assert "P0" in blocker.message


# Seed §3, "Contoh P0": each applies to a review as a P0 finding in its category.
SEED_P0_EXAMPLES = [
    ("backup", "No tested restore path"),
    ("ownership", "No clear data ownership"),
    ("transaction", "Important mutation is not idempotent while clients retry automatically"),
    ("security", "Multi-tenant table without testable tenant isolation"),
    ("migration", "Destructive migration without rollback or roll-forward plan"),
    ("security", "Application uses database superuser"),
    ("security", "Audit trail editable without trace"),
    ("privacy", "PII flows into logs, CDC or warehouse without classification"),
]


@pytest.mark.parametrize(("category_code", "title"), SEED_P0_EXAMPLES)
@pytest.mark.parametrize("status", ["open", "accepted"])
def test_seed_p0_example_blocks_release(category_code, title, status):
    gate = with_findings(ready_gate(), finding(42, "P0", status, title=title, category_code=category_code))

    result = evaluate(gate)

    assert result.outcome == GateOutcome.BLOCKED
    [blocker] = result.blockers
    assert blocker.finding_id == 42
    assert blocker.category_code == category_code
    assert title in blocker.message


@pytest.mark.parametrize(("category_code", "title"), SEED_P0_EXAMPLES)
def test_seed_p0_example_once_resolved_no_longer_blocks(category_code, title):
    gate = with_findings(
        ready_gate(), finding(42, "P0", "resolved", title=title, category_code=category_code)
    )

    assert evaluate(gate).outcome == GateOutcome.APPROVED


# --- P1 and exceptions ----------------------------------------------------------------------------


def test_open_p1_without_exception_blocks():
    result = evaluate(with_findings(ready_gate(), finding(20, "P1", "open")))

    assert result.outcome == GateOutcome.BLOCKED
    [blocker] = result.blockers
    assert blocker.rule == "p1"
    assert blocker.finding_id == 20
    assert "no signed exception" in blocker.message


@pytest.mark.parametrize("status", ["open", "accepted"])
def test_p1_with_signed_unexpired_exception_is_approved_with_exceptions(status):
    result = evaluate(with_findings(ready_gate(), finding(21, "P1", status, exceptions=(ACTIVE,))))

    assert result.outcome == GateOutcome.APPROVED_WITH_EXCEPTIONS
    assert not result.blockers
    [exception] = result.exceptions
    assert exception.finding_id == 21
    assert ACTIVE.expires_at.strftime("%Y-%m-%d") in exception.message


def test_resolved_p1_needs_no_exception():
    result = evaluate(with_findings(ready_gate(), finding(22, "P1", "resolved")))

    assert result.outcome == GateOutcome.APPROVED


@pytest.mark.parametrize("state", NOT_SIGNED_STATES)
def test_p1_with_unsigned_exception_blocks(state):
    exception = ExceptionIn(state, NOW + timedelta(days=30))

    result = evaluate(with_findings(ready_gate(), finding(23, "P1", exceptions=(exception,))))

    assert result.outcome == GateOutcome.BLOCKED
    assert [r.finding_id for r in result.blockers] == [23]


@pytest.mark.parametrize(
    "expires_at",
    [NOW, NOW - timedelta(microseconds=1), NOW - timedelta(days=400)],
    ids=["expires-exactly-now", "expired-a-moment-ago", "expired-long-ago"],
)
def test_p1_with_signed_but_lapsed_exception_blocks_and_says_it_expired(expires_at):
    exception = ExceptionIn("signed", expires_at)

    result = evaluate(with_findings(ready_gate(), finding(24, "P1", exceptions=(exception,))))

    assert result.outcome == GateOutcome.BLOCKED
    [blocker] = result.blockers
    assert blocker.finding_id == 24
    assert "expired" in blocker.message


def test_p1_exception_a_moment_in_the_future_still_counts():
    exception = ExceptionIn("signed", NOW + timedelta(microseconds=1))

    result = evaluate(with_findings(ready_gate(), finding(25, "P1", exceptions=(exception,))))

    assert result.outcome == GateOutcome.APPROVED_WITH_EXCEPTIONS


def test_one_active_exception_among_lapsed_ones_is_enough():
    exceptions = (LAPSED, ExceptionIn("revoked", NOW + timedelta(days=5)), ACTIVE)

    result = evaluate(with_findings(ready_gate(), finding(26, "P1", exceptions=exceptions)))

    assert result.outcome == GateOutcome.APPROVED_WITH_EXCEPTIONS


def test_exception_on_one_p1_does_not_cover_another():
    gate = with_findings(ready_gate(), finding(27, "P1", exceptions=(ACTIVE,)), finding(28, "P1"))

    result = evaluate(gate)

    assert result.outcome == GateOutcome.BLOCKED
    assert [r.finding_id for r in result.blockers] == [28]
    assert [r.finding_id for r in result.exceptions] == [27]


# --- P2 / P3 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["P2", "P3"])
@pytest.mark.parametrize("status", ["open", "accepted", "resolved"])
def test_p2_and_p3_findings_never_block(level, status):
    gate = with_findings(ready_gate(), *(finding(i, level, status) for i in range(1, 6)))

    result = evaluate(gate)

    assert result.outcome == GateOutcome.APPROVED
    assert not result.blockers


# --- category minimums ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["backup", "security"])
@pytest.mark.parametrize("score", [0, 1])
@pytest.mark.parametrize(
    ("schema_changing", "production_traffic"),
    [(False, False), (True, True)],
    ids=["quiet-release", "busy-release"],
)
def test_backup_or_security_below_2_always_blocks(code, score, schema_changing, production_traffic):
    gate = with_score(
        ready_gate(schema_changing=schema_changing, production_traffic=production_traffic), code, score
    )

    result = evaluate(gate)

    assert result.outcome == GateOutcome.BLOCKED
    [blocker] = result.blockers
    assert blocker.rule == f"minimum:{code}"
    assert blocker.category_code == code
    assert NAMES[code] in blocker.message


@pytest.mark.parametrize("code", MINIMUM_CODES)
@pytest.mark.parametrize("score", [2, 3])
def test_minimum_category_at_2_or_more_with_evidence_is_met(code, score):
    result = evaluate(with_score(ready_gate(), code, score))

    assert result.outcome == GateOutcome.APPROVED
    [reason] = [r for r in result.reasons if r.rule == f"minimum:{code}"]
    assert reason.status == ReasonStatus.MET


@pytest.mark.parametrize("score", [0, 1])
def test_migration_below_2_blocks_a_schema_changing_release(score):
    result = evaluate(with_score(ready_gate(schema_changing=True), "migration", score))

    assert result.outcome == GateOutcome.BLOCKED
    assert [r.category_code for r in result.blockers] == ["migration"]
    assert "schema-changing" in result.blockers[0].message


@pytest.mark.parametrize("score", [0, 1])
def test_migration_below_2_does_not_block_a_release_without_schema_change(score):
    result = evaluate(with_score(ready_gate(schema_changing=False), "migration", score))

    assert result.outcome == GateOutcome.APPROVED
    assert not any(r.rule == "minimum:migration" for r in result.reasons)


@pytest.mark.parametrize("score", [0, 1])
def test_observability_below_2_blocks_with_production_traffic(score):
    result = evaluate(with_score(ready_gate(production_traffic=True), "observability", score))

    assert result.outcome == GateOutcome.BLOCKED
    assert [r.category_code for r in result.blockers] == ["observability"]
    assert "production traffic" in result.blockers[0].message


@pytest.mark.parametrize("score", [0, 1])
def test_observability_below_2_does_not_block_without_production_traffic(score):
    result = evaluate(with_score(ready_gate(production_traffic=False), "observability", score))

    assert result.outcome == GateOutcome.APPROVED
    assert not any(r.rule == "minimum:observability" for r in result.reasons)


@pytest.mark.parametrize("code", [c for c in CODES if c not in MINIMUM_CODES])
def test_low_score_outside_the_seed_minimums_does_not_block(code):
    # Seed §4 names only four minimums; other categories must be scored but have no floor.
    result = evaluate(with_score(ready_gate(), code, 0))

    assert result.outcome == GateOutcome.APPROVED


def test_each_failing_minimum_is_its_own_blocker():
    gate = ready_gate()
    for code in MINIMUM_CODES:
        gate = with_score(gate, code, 1)

    result = evaluate(gate)

    assert sorted(r.category_code for r in result.blockers) == sorted(MINIMUM_CODES)


# --- no evidence, no readiness --------------------------------------------------------------------


@pytest.mark.parametrize("code", MINIMUM_CODES)
@pytest.mark.parametrize("score", [2, 3])
def test_score_without_evidence_counts_as_1_and_does_not_meet_a_minimum(code, score):
    result = evaluate(with_score(ready_gate(), code, score, evidence_count=0))

    assert result.outcome == GateOutcome.BLOCKED
    [blocker] = result.blockers
    assert blocker.category_code == code
    assert "no evidence" in blocker.message
    assert "counts as 1" in blocker.message


@pytest.mark.parametrize("code", MINIMUM_CODES)
def test_single_piece_of_evidence_is_enough_for_a_minimum(code):
    result = evaluate(with_score(ready_gate(), code, 2, evidence_count=1))

    assert result.outcome == GateOutcome.APPROVED


@pytest.mark.parametrize("score", [0, 1])
def test_low_score_without_evidence_is_not_reported_as_missing_evidence(score):
    result = evaluate(with_score(ready_gate(), "backup", score, evidence_count=0))

    [blocker] = result.blockers
    assert "no evidence" not in blocker.message


@pytest.mark.parametrize(
    ("score", "evidence_count", "believed"),
    [(None, 0, None), (0, 0, 0), (1, 0, 1), (2, 0, 1), (3, 0, 1), (2, 1, 2), (3, 2, 3), (1, 3, 1)],
)
def test_effective_score_discounts_unevidenced_2_and_3(score, evidence_count, believed):
    assert effective_score(ScoreIn("backup", "Backup", score, evidence_count)) == believed


# --- unscored categories --------------------------------------------------------------------------


@pytest.mark.parametrize("code", CODES)
def test_unscored_category_makes_the_gate_incomplete(code):
    result = evaluate(with_score(ready_gate(), code, None, evidence_count=0))

    assert result.outcome == GateOutcome.INCOMPLETE
    assert not result.blockers
    assert result.pending
    assert any(NAMES[code] in r.message for r in result.pending)


def test_unscored_reason_counts_the_unscored_categories():
    gate = with_score(with_score(ready_gate(), "ownership", None), "runbooks", None)

    [reason] = [r for r in evaluate(gate).reasons if r.rule == "unscored"]

    assert reason.status == ReasonStatus.PENDING
    assert "2 of 14" in reason.message


def test_nothing_scored_is_incomplete():
    gate = replace(ready_gate(), scores=tuple(ScoreIn(code, name, None) for code, name in CATEGORIES))

    assert evaluate(gate).outcome == GateOutcome.INCOMPLETE


def test_missing_minimum_category_is_pending_not_met():
    gate = replace(ready_gate(), scores=tuple(s for s in ready_gate().scores if s.category_code != "backup"))

    result = evaluate(gate)

    assert result.outcome == GateOutcome.INCOMPLETE
    [reason] = [r for r in result.reasons if r.rule == "minimum:backup"]
    assert reason.status == ReasonStatus.PENDING


def test_open_p0_wins_over_unscored_categories():
    gate = with_findings(with_score(ready_gate(), "ownership", None), finding(30, "P0"))

    result = evaluate(gate)

    assert result.outcome == GateOutcome.BLOCKED
    assert result.pending


def test_failing_minimum_wins_over_unscored_categories():
    gate = with_score(with_score(ready_gate(), "backup", None), "security", 1)

    assert evaluate(gate).outcome == GateOutcome.BLOCKED


def test_unscored_category_wins_over_an_exception():
    gate = with_findings(with_score(ready_gate(), "capacity", None), finding(31, "P1", exceptions=(ACTIVE,)))

    assert evaluate(gate).outcome == GateOutcome.INCOMPLETE


# --- reasons --------------------------------------------------------------------------------------


def test_reasons_are_ordered_blocks_exception_pending_met():
    gate = with_findings(
        with_score(with_score(ready_gate(), "ownership", None), "security", 1),
        finding(40, "P1", exceptions=(ACTIVE,)),
        finding(41, "P0"),
    )

    result = evaluate(gate)

    statuses = [r.status for r in result.reasons]
    assert statuses == sorted(statuses, key=REASON_ORDER.__getitem__)
    assert set(statuses) == set(ReasonStatus)


def test_every_blocker_names_its_finding_or_category():
    gate = with_findings(
        with_score(with_score(ready_gate(), "backup", 0), "migration", 3, evidence_count=0),
        finding(50, "P0", category_code="security"),
        finding(51, "P1"),
        finding(52, "P1", exceptions=(LAPSED,)),
    )

    result = evaluate(gate)

    assert len(result.blockers) == 5
    for blocker in result.blockers:
        assert blocker.finding_id is not None or blocker.category_code in CODES
    assert {r.finding_id for r in result.blockers} >= {50, 51, 52}
    assert {r.category_code for r in result.blockers if r.finding_id is None} == {"backup", "migration"}


# --- properties -----------------------------------------------------------------------------------

property_settings = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

offsets = st.one_of(
    st.just(timedelta(0)),
    st.timedeltas(min_value=timedelta(days=-800), max_value=timedelta(days=800)),
    st.sampled_from([timedelta(microseconds=-1), timedelta(microseconds=1)]),
)
exceptions_st = st.builds(
    ExceptionIn, state=st.sampled_from(EXCEPTION_STATES), expires_at=offsets.map(NOW.__add__)
)
active_exceptions = st.builds(
    ExceptionIn,
    state=st.just("signed"),
    expires_at=st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=800)).map(
        NOW.__add__
    ),
)
lapsed_exceptions = st.builds(
    ExceptionIn,
    state=st.just("signed"),
    expires_at=st.timedeltas(min_value=timedelta(days=-800), max_value=timedelta(0)).map(NOW.__add__),
)
# An explicit alphabet keeps hypothesis from caching Unicode tables in the working tree.
TITLE_ALPHABET = string.ascii_letters + string.digits + " -"
score_values = st.one_of(st.none(), st.integers(min_value=0, max_value=3))


@st.composite
def score_sets(draw) -> tuple[ScoreIn, ...]:
    return tuple(
        ScoreIn(code, name, draw(score_values), draw(st.integers(min_value=0, max_value=3)))
        for code, name in CATEGORIES
    )


@st.composite
def finding_lists(draw) -> tuple[FindingIn, ...]:
    count = draw(st.integers(min_value=0, max_value=6))
    return tuple(
        FindingIn(
            id=i,
            title=draw(st.text(TITLE_ALPHABET, min_size=1, max_size=20)),
            level=draw(st.sampled_from(["P0", "P1", "P2", "P3"])),
            status=draw(st.sampled_from(["open", "resolved", "accepted"])),
            category_code=draw(st.sampled_from(("",) + CODES)),
            exceptions=tuple(draw(st.lists(exceptions_st, max_size=3))),
        )
        for i in range(1, count + 1)
    )


gate_inputs = st.builds(
    GateInput,
    schema_changing=st.booleans(),
    production_traffic=st.booleans(),
    scores=score_sets(),
    findings=finding_lists(),
    now=st.just(NOW),
)


def rank(gate: GateInput) -> int:
    return RANK[evaluate(gate).outcome]


def replace_finding(gate: GateInput, index: int, new: FindingIn) -> GateInput:
    findings = list(gate.findings)
    findings[index] = new
    return replace(gate, findings=tuple(findings))


def replace_score(gate: GateInput, index: int, new: ScoreIn) -> GateInput:
    scores = list(gate.scores)
    scores[index] = new
    return replace(gate, scores=tuple(scores))


@property_settings
@given(
    gate=gate_inputs,
    status=st.sampled_from(["open", "accepted"]),
    exceptions=st.lists(exceptions_st, max_size=3),
)
def test_property_an_unresolved_p0_always_blocks(gate, status, exceptions):
    p0 = FindingIn(999, "P0", "P0", status, "", tuple(exceptions))

    result = evaluate(with_findings(gate, p0))

    assert result.outcome == GateOutcome.BLOCKED
    assert any(r.finding_id == 999 and r.status == ReasonStatus.BLOCKS for r in result.reasons)


@property_settings
@given(gate=gate_inputs)
def test_property_any_generated_unresolved_p0_blocks(gate):
    if any(f.level == "P0" and f.status != "resolved" for f in gate.findings):
        assert evaluate(gate).outcome == GateOutcome.BLOCKED


@property_settings
@given(gate=gate_inputs, data=st.data())
def test_property_adding_an_active_exception_never_makes_the_outcome_worse(gate, data):
    assume(gate.findings)
    index = data.draw(st.integers(min_value=0, max_value=len(gate.findings) - 1))
    exception = data.draw(active_exceptions)
    target = gate.findings[index]

    covered = replace_finding(gate, index, replace(target, exceptions=target.exceptions + (exception,)))

    assert rank(covered) <= rank(gate)


@property_settings
@given(gate=gate_inputs, data=st.data())
def test_property_a_lapsed_exception_counts_as_no_exception(gate, data):
    assume(gate.findings)
    index = data.draw(st.integers(min_value=0, max_value=len(gate.findings) - 1))
    lapsed = data.draw(st.lists(lapsed_exceptions, min_size=1, max_size=3))
    target = gate.findings[index]
    bare = replace_finding(gate, index, replace(target, exceptions=()))
    with_lapsed = replace_finding(gate, index, replace(target, exceptions=tuple(lapsed)))

    bare_result, lapsed_result = evaluate(bare), evaluate(with_lapsed)

    assert lapsed_result.outcome == bare_result.outcome
    assert [(r.rule, r.status, r.finding_id) for r in lapsed_result.reasons] == [
        (r.rule, r.status, r.finding_id) for r in bare_result.reasons
    ]


@property_settings
@given(gate=gate_inputs, data=st.data())
def test_property_adding_evidence_never_makes_the_outcome_worse(gate, data):
    unevidenced = [i for i, s in enumerate(gate.scores) if s.evidence_count == 0]
    assume(unevidenced)
    index = data.draw(st.sampled_from(unevidenced))

    evidenced = replace_score(gate, index, replace(gate.scores[index], evidence_count=1))

    assert rank(evidenced) <= rank(gate)


@property_settings
@given(gate=gate_inputs, data=st.data())
def test_property_lowering_a_score_never_makes_the_outcome_better(gate, data):
    lowerable = [i for i, s in enumerate(gate.scores) if s.score is not None and s.score > 0]
    assume(lowerable)
    index = data.draw(st.sampled_from(lowerable))
    lower = data.draw(st.integers(min_value=0, max_value=gate.scores[index].score - 1))

    lowered = replace_score(gate, index, replace(gate.scores[index], score=lower))

    assert rank(lowered) >= rank(gate)


@property_settings
@given(gate=gate_inputs)
def test_property_blocked_exactly_when_some_reason_blocks(gate):
    result = evaluate(gate)

    some_reason_blocks = any(r.status == ReasonStatus.BLOCKS for r in result.reasons)
    assert (result.outcome == GateOutcome.BLOCKED) == some_reason_blocks


@property_settings
@given(gate=gate_inputs)
def test_property_approved_only_when_fully_scored_and_every_reason_met(gate):
    result = evaluate(gate)

    if result.outcome == GateOutcome.APPROVED:
        assert all(s.score is not None for s in gate.scores)
        assert all(r.status == ReasonStatus.MET for r in result.reasons)
    fully_scored = all(s.score is not None for s in gate.scores)
    if fully_scored and all(r.status == ReasonStatus.MET for r in result.reasons):
        assert result.outcome == GateOutcome.APPROVED


@property_settings
@given(gate=gate_inputs)
def test_property_reasons_are_ordered_and_blockers_name_their_subject(gate):
    result = evaluate(gate)

    statuses = [r.status for r in result.reasons]
    assert statuses == sorted(statuses, key=REASON_ORDER.__getitem__)
    for blocker in result.blockers:
        assert blocker.finding_id is not None or blocker.category_code in CODES


@property_settings
@given(gate=gate_inputs)
def test_property_p2_and_p3_findings_do_not_affect_the_outcome(gate):
    without_minor = replace(gate, findings=tuple(f for f in gate.findings if f.level in {"P0", "P1"}))

    assert evaluate(gate).outcome == evaluate(without_minor).outcome


def test_p1_whose_exception_awaits_a_signature_says_so():
    pending = ExceptionIn("requested", NOW + timedelta(days=10))
    result = evaluate(with_findings(ready_gate(), finding(23, "P1", "open", exceptions=(pending,))))

    assert result.outcome == GateOutcome.BLOCKED
    assert "awaiting a signature" in result.blockers[0].message


def test_panel_summary_keeps_every_rule_and_counts_the_findings_it_folds():
    findings = tuple(finding(i, "P0", "open", title=f"Blocker {i}") for i in range(1, 11))
    result = evaluate(with_findings(ready_gate(), *findings))
    shown = result.summarized(per_rule=6)
    blockers = [r for r in shown if r.rule == "p0"]
    assert [r.message for r in blockers[:6]] == [f"Open P0 blocker: Blocker {i}" for i in range(1, 7)]
    assert blockers[6].message == "… and 4 more P0 blockers like these"
    assert {r.rule for r in shown} == {r.rule for r in result.reasons}
