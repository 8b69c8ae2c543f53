"""The gate's new facts, pure: critical checklist items, what a 3 needs, evidence with a verdict, and
release flags that must be answered. No database."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from evidence import verdict
from reviews.gate import (
    CriticalItemIn,
    FailedEvidenceIn,
    GateInput,
    GateOutcome,
    ReasonStatus,
    ScoreIn,
    evaluate,
    judge,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ALL = frozenset({"control", "test", "runbook"})
CODES = ("backup", "security", "migration", "observability", "data-model", "capacity", "runbooks")


def score(code, value=2, **kw) -> ScoreIn:
    base = dict(
        evidence_count=1,
        fresh_evidence_count=1,
        supporting_count=1,
        shows=frozenset({"control"}),
        has_owner=False,
    )
    return ScoreIn(code, code.title(), value, **{**base, **kw})


def gate(*scores: ScoreIn, schema_changing=True, production_traffic=True, findings=()) -> GateInput:
    given_codes = {s.category_code for s in scores}
    return GateInput(
        schema_changing=schema_changing,
        production_traffic=production_traffic,
        scores=tuple(scores) + tuple(score(c) for c in CODES if c not in given_codes),
        findings=findings,
        now=NOW,
    )


def critical(answer, code="backup.restore-drill-recent", level="P0"):
    return CriticalItemIn(1, code, "A restore drill has been performed recently.", level, answer)


DRILL = FailedEvidenceIn(
    7, "Restore drill", "Q3 drill", "missed its RPO target (3 h of data lost, target 15 min)"
)


def test_a_ready_gate_is_approved():
    assert evaluate(gate()).outcome == GateOutcome.APPROVED


# --- Critical checklist items


def test_a_critical_backup_item_answered_no_caps_backup_at_1_and_blocks_naming_the_item():
    result = evaluate(gate(score("backup", 3, critical=(critical("no"),))))
    assert result.outcome == GateOutcome.BLOCKED
    (reason,) = [r for r in result.blockers if r.rule == "minimum:backup"]
    assert "restore drill has been performed recently" in reason.message and "answered No" in reason.message
    assert "counts as 1" in reason.message


def test_an_unanswered_or_unknown_critical_item_caps_its_category_too():
    for answer in (None, "unknown"):
        assert judge(score("security", 2, critical=(critical(answer),)))[0] == 1


def test_yes_and_not_applicable_hold():
    for answer in ("yes", "na"):
        assert judge(score("security", 2, critical=(critical(answer),))) == (2, ())
    assert evaluate(gate(score("backup", 2, critical=(critical("yes"),)))).outcome == GateOutcome.APPROVED


def test_a_capped_category_without_a_minimum_is_said_in_the_notes():
    result = evaluate(
        gate(score("data-model", 2, critical=(critical(None, "data-model.audit-rows-immutable"),)))
    )
    assert result.outcome == GateOutcome.APPROVED  # no rule of the gate looks at data-model's score
    (note,) = [n for n in result.notes if n.category_code == "data-model"]
    assert "not answered" in note.message and "counts as 1" in note.message


def test_the_reproduction_restore_drill_and_superuser_answered_no_is_not_approved():
    result = evaluate(
        gate(
            score("backup", 2, critical=(critical("no"),)),
            score("security", 2, critical=(critical("no", "security.app-not-superuser"),)),
        )
    )
    assert result.outcome == GateOutcome.BLOCKED
    assert {r.rule for r in result.blockers} >= {"minimum:backup", "minimum:security"}


# --- What a 3 needs


def test_a_3_with_a_control_a_test_a_runbook_and_an_owner_stays_3():
    assert judge(score("capacity", 3, shows=ALL, has_owner=True)) == (3, ())


def test_a_3_without_the_pieces_the_scorecard_names_counts_as_2_and_says_what_is_missing():
    believed, why = judge(score("capacity", 3, shows=frozenset({"control"}), has_owner=False))
    assert believed == 2
    assert "an automated test or monitoring" in why[0] and "a runbook" in why[0] and "an owner" in why[0]
    assert judge(score("capacity", 3, shows=ALL, has_owner=False))[0] == 2
    assert judge(score("capacity", 3, shows=frozenset({"control", "test"}), has_owner=True))[0] == 2


def test_a_3_counted_as_2_still_meets_a_minimum_and_says_why():
    result = evaluate(gate(score("backup", 3)))
    assert result.outcome == GateOutcome.APPROVED
    (met,) = [r for r in result.reasons if r.rule == "minimum:backup"]
    assert met.status == ReasonStatus.MET and "counts as 2" in met.message


# --- Evidence with a verdict


def test_backup_3_whose_only_evidence_is_a_failed_drill_blocks_naming_the_drill():
    backup = score("backup", 3, supporting_count=0, failed=(DRILL,), shows=frozenset(), has_owner=True)
    result = evaluate(gate(backup))
    assert result.outcome == GateOutcome.BLOCKED
    (reason,) = [r for r in result.blockers if r.rule == "minimum:backup"]
    assert "“Q3 drill”" in reason.message and "missed its RPO target" in reason.message


def test_a_failed_record_beside_supporting_evidence_is_said_but_does_not_lower_the_score():
    result = evaluate(gate(score("backup", 2, evidence_count=2, fresh_evidence_count=2, failed=(DRILL,))))
    assert result.outcome == GateOutcome.APPROVED
    assert any(n.rule == "evidence:7" and "Q3 drill" in n.message for n in result.notes)


def test_restore_drill_verdicts():
    ok = dict(
        rpo_achieved=timedelta(minutes=5),
        rpo_target_minutes=15,
        rto_achieved=timedelta(minutes=30),
        rto_target_minutes=60,
        validation_passed=True,
    )
    assert verdict.restore_drill(**ok).supports
    assert verdict.restore_drill(**{**ok, "rpo_achieved": timedelta(minutes=15)}).supports  # on target
    missed = verdict.restore_drill(**{**ok, "rpo_achieved": timedelta(hours=3, minutes=15)})
    assert not missed.supports and "missed its RPO target" in missed.why and "3 h 15 min" in missed.why
    overran = verdict.restore_drill(**{**ok, "rto_achieved": timedelta(minutes=61)})
    assert not overran.supports and "overran its RTO target" in overran.why
    invalid = verdict.restore_drill(**{**ok, "validation_passed": False})
    assert not invalid.supports and "failed validation" in invalid.why


def test_load_test_rehearsal_and_runbook_verdicts():
    assert not verdict.load_test(p95_ms=250, target_p95_ms=200).supports
    assert verdict.load_test(p95_ms=200, target_p95_ms=200).supports
    assert verdict.load_test(p95_ms=900, target_p95_ms=None).supports  # no target: nothing to miss
    assert not verdict.migration_rehearsal(validation_passed=False).supports
    assert verdict.migration_rehearsal(validation_passed=True).supports
    never = verdict.runbook(last_tested=None, passed_tests=0)
    assert not never.supports and "never been tested" in never.why
    assert verdict.runbook(last_tested=date(2026, 5, 1), passed_tests=0).supports
    assert verdict.runbook(last_tested=None, passed_tests=1).supports
    assert not verdict.runbook_test(passed=False).supports


def test_what_each_kind_shows_toward_a_3():
    assert verdict.shows("link") == {"control"} and verdict.shows("file", "runbook") == {"runbook"}
    assert verdict.shows("restore_drill") == {"test"} and verdict.shows("probe_result") == {"test"}
    assert verdict.shows("runbook_test") == {"runbook", "test"} and verdict.shows("runbook") == {"runbook"}
    assert verdict.shows("capacity_envelope") == {"control"}


# --- Release flags


def test_an_unanswered_release_flag_makes_the_gate_undecidable_whatever_else_holds():
    for flags in ({"schema_changing": None}, {"production_traffic": None}):
        result = evaluate(replace(gate(), **flags))
        assert result.outcome == GateOutcome.INCOMPLETE
        assert any(r.rule.startswith("release:") and r.status == ReasonStatus.PENDING for r in result.reasons)
    blocked = evaluate(gate(score("backup", 1), schema_changing=None))
    assert blocked.outcome == GateOutcome.INCOMPLETE and blocked.blockers  # the blocker is still said


def test_without_a_schema_change_answer_the_migration_minimum_is_not_judged():
    result = evaluate(gate(score("migration", 0), schema_changing=None))
    assert not any(r.rule == "minimum:migration" for r in result.reasons)
    assert any("changes the schema" in r.message for r in result.pending)


# --- Properties


answers = st.sampled_from([None, "yes", "no", "na", "unknown"])


@st.composite
def scores(draw):
    value = draw(st.one_of(st.none(), st.integers(0, 3)))
    count = draw(st.integers(0, 3))
    fresh = draw(st.integers(0, count))
    supporting = draw(st.integers(0, fresh))
    failed = (
        tuple(DRILL for _ in range(draw(st.integers(0, count - supporting)))) if count > supporting else ()
    )
    return ScoreIn(
        draw(st.sampled_from(CODES)),
        "X",
        value,
        evidence_count=count,
        fresh_evidence_count=fresh,
        supporting_count=supporting,
        failed=failed,
        shows=draw(st.frozensets(st.sampled_from(sorted(ALL)))),
        has_owner=draw(st.booleans()),
        critical=tuple(critical(a) for a in draw(st.lists(answers, max_size=3))),
    )


@given(scores())
def test_the_believed_score_never_exceeds_the_given_one_and_obeys_each_cap(s):
    believed, why = judge(s)
    if s.score is None:
        assert believed is None
        return
    assert believed <= s.score and (believed == s.score) == (not why)
    if s.open_critical:
        assert believed <= 1
    if s.score >= 2 and s.supporting == 0:
        assert believed <= 1
    if believed == 3:
        assert s.shows == ALL and s.has_owner


@given(
    st.lists(scores(), max_size=6),
    st.sampled_from([None, True, False]),
    st.sampled_from([None, True, False]),
)
def test_the_gate_is_approved_only_when_both_flags_are_answered_and_every_minimum_is_believed(
    score_list, schema_changing, production_traffic
):
    g = gate(*{s.category_code: s for s in score_list}.values(), schema_changing=schema_changing,
             production_traffic=production_traffic)  # fmt: skip
    result = evaluate(g)
    if schema_changing is None or production_traffic is None:
        assert result.outcome == GateOutcome.INCOMPLETE
    if result.outcome == GateOutcome.APPROVED:
        for s in g.scores:
            if s.category_code in ("backup", "security"):
                assert judge(s)[0] >= 2
