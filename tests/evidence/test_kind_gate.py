"""The kinds declared in evidence.kinds before the real gate, on PostgreSQL: each ages by the days its
declaration gives (which the settings override), an incomplete record counts for nothing and opens
nothing, a failing one opens one finding at its level and is named as failed evidence, and only a later
record of its kind that passes is the fix of that finding."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from evidence import freshness, typed, verdict
from evidence.kinds import KINDS
from evidence.models import Evidence, Record
from evidence.services import judge_record
from reviews import services
from reviews.gate import GateOutcome
from reviews.loosening import fix_evidence_needed, has_fix_evidence
from reviews.models import AuditEvent, Finding, FindingSource
from reviews.selectors import review_gate, scorecard
from tests.factories import attach, score_all

from .declared_samples import SAMPLES

pytestmark = pytest.mark.django_db

INCOMPLETE = [
    ("invariant", {"test": ""}),
    ("invariant", {"rule_type": "uniqueness", "in_database": "no"}),
    ("write_path", {"failure": ""}),
    ("concurrency_test", {"result": "not_run"}),
    ("forecast", {"basis": ""}),
    ("migration_plan", {"consumers": ""}),
    ("signal", {"baseline": ""}),
    ("alert_rule", {"threshold_basis": "static"}),
    ("privacy_field", {"masking": ""}),
]
FAILING = [
    ("concurrency_test", {"result": "failed"}),
    ("migration_plan", {"backward_compatible": "no"}),
    ("privacy_field", {"classification": "public"}),
]


def add(review, actor, kind, **changes) -> Evidence:
    return typed.add_record(review=review, actor=actor, kind=kind, **{**SAMPLES[kind], **changes})


def only(review, actor, kind, **changes) -> Evidence:
    """A record of `kind` as the only evidence of its category."""
    Evidence.objects.filter(review=review, category__code=KINDS[kind].category).delete()
    return add(review, actor, kind, **changes)


def row(review, code, now=None):
    return next(r for r in scorecard(review, now=now) if r.category.code == code)


@pytest.fixture
def scored(review, member):
    """Every category scored 2 on a link, every critical item answered Yes: APPROVED."""
    score_all(review, member, 2)
    assert review_gate(review).outcome == GateOutcome.APPROVED
    return review


# --- Freshness: each kind's age from its declaration, overridden by the settings


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_declared_kind_ages_by_the_days_its_declaration_gives(kind):
    assert freshness.default_max_ages()[kind] == KINDS[kind].max_age_days
    assert freshness.max_age_table()[kind] == KINDS[kind].max_age_days  # no variable set in the tests


def test_the_setting_overrides_one_kinds_age_and_leaves_the_others(settings):
    settings.EVIDENCE_MAX_AGE_DAYS = {**settings.EVIDENCE_MAX_AGE_DAYS, "concurrency_test": 30}
    table = freshness.max_age_table()
    assert table["concurrency_test"] == 30
    assert table["privacy_field"] == KINDS["privacy_field"].max_age_days


def test_the_environment_sets_each_declared_kinds_age_or_never():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "readiness.settings_test",
        "EVIDENCE_MAX_AGE_CONCURRENCY_TEST_DAYS": "12",
        "EVIDENCE_MAX_AGE_PRIVACY_FIELD_DAYS": "never",
    }
    env.pop("EVIDENCE_MAX_AGE_INVARIANT_DAYS", None)
    code = (
        "import django, json; django.setup(); from evidence import freshness; t = freshness.max_age_table(); "
        "print(json.dumps({k: t[k] for k in ('concurrency_test', 'privacy_field', 'invariant')}))"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "concurrency_test": 12,
        "privacy_field": None,
        "invariant": KINDS["invariant"].max_age_days,
    }


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_record_supports_its_score_until_its_max_age_and_then_is_stale(kind, scored, member):
    spec = KINDS[kind]
    item = only(scored, member, kind)
    last_fresh = item.observed_at + timedelta(days=spec.max_age_days)
    at_end = row(scored, spec.category, now=last_fresh)
    assert (at_end.evidence.fresh, at_end.evidence.supporting, at_end.effective) == (1, 1, 2)
    after = row(scored, spec.category, now=last_fresh + timedelta(seconds=1))
    assert (after.evidence.fresh, after.evidence.supporting, after.effective) == (0, 0, 1)
    assert after.counted_down == ("its only evidence is stale",)


def test_a_concurrency_test_is_as_old_as_the_day_it_ran(scored, member):
    ran = timezone.localdate() - timedelta(days=100)
    item = only(scored, member, "concurrency_test", ran_on=ran.isoformat())
    assert timezone.localtime(item.observed_at).date() == ran
    assert row(scored, "transaction").effective == 2  # 100 days of 180
    stale_from = item.observed_at + timedelta(days=180, seconds=1)
    assert row(scored, "transaction", now=stale_from).effective == 1
    gate = review_gate(scored, now=stale_from)
    assert [n.rule for n in gate.notes] == ["stale:transaction"]
    assert "Transaction & concurrency scores 2 but its only evidence is stale" in gate.notes[0].message


def test_a_shorter_configured_age_makes_the_same_test_stale(scored, member, settings):
    only(scored, member, "concurrency_test", ran_on=(timezone.localdate() - timedelta(days=100)).isoformat())
    settings.EVIDENCE_MAX_AGE_DAYS = {**settings.EVIDENCE_MAX_AGE_DAYS, "concurrency_test": 30}
    assert row(scored, "transaction").effective == 1
    settings.EVIDENCE_MAX_AGE_DAYS = {**settings.EVIDENCE_MAX_AGE_DAYS, "concurrency_test": None}
    assert row(scored, "transaction", now=timezone.now() + timedelta(days=3650)).effective == 2


def test_stale_recovery_objectives_block_the_gate(scored, member):
    item = only(scored, member, "recovery_objectives")
    assert review_gate(scored).outcome == GateOutcome.APPROVED
    result = review_gate(scored, now=item.observed_at + timedelta(days=365, seconds=1))
    assert result.outcome == GateOutcome.BLOCKED
    (reason,) = result.blockers
    assert reason.rule == "minimum:backup" and "only evidence is stale" in reason.message


# --- Incomplete: not evidence for a 2 or 3, no finding, not failed


@pytest.mark.parametrize(("kind", "changes"), INCOMPLETE)
def test_an_incomplete_record_counts_for_nothing_and_opens_no_finding(kind, changes, scored, member):
    spec = KINDS[kind]
    item = only(scored, member, kind, **changes)
    assert verdict.of(Evidence.objects.select_related("record").get(pk=item.pk)).state == verdict.INCOMPLETE
    assert not Finding.objects.filter(review=scored).exists()
    judge_record(item, actor=member)  # judged again: still nothing
    assert not Finding.objects.filter(review=scored).exists()
    facts = row(scored, spec.category).evidence
    assert (facts.count, facts.fresh, facts.supporting, facts.failed) == (1, 1, 0, ())
    assert row(scored, spec.category).effective == 1
    gate = review_gate(scored)
    assert f"evidence:{item.pk}" not in {n.rule for n in gate.notes}
    attach(scored, spec.category, member)  # beside evidence that supports it, the 2 holds
    assert row(scored, spec.category).effective == 2


def test_the_gate_does_not_call_an_incomplete_record_stale(scored, member):
    only(scored, member, "alert_rule", threshold_basis="static")
    result = review_gate(scored)
    assert result.outcome == GateOutcome.BLOCKED  # observability under 2 with production traffic
    (reason,) = result.blockers
    assert reason.rule == "minimum:observability"
    assert "stale" not in reason.message and "incomplete" in reason.message, reason.message


def test_an_incomplete_alert_rule_leaves_observability_under_its_minimum(scored, member):
    only(scored, member, "alert_rule", threshold_basis="static")
    result = review_gate(scored)
    assert result.outcome == GateOutcome.BLOCKED
    assert [r.rule for r in result.blockers] == ["minimum:observability"]
    assert not Finding.objects.filter(review=scored).exists()


# --- Failing: one finding at the declared level, named as failed evidence


@pytest.mark.parametrize(("kind", "changes"), FAILING)
def test_a_failing_record_opens_one_finding_at_its_level_and_is_named_as_failed(
    kind, changes, scored, member
):
    spec = KINDS[kind]
    item = only(scored, member, kind, **changes)
    judged = Record.objects.get(evidence=item).judged
    assert judged.state == verdict.FAILING
    (finding,) = Finding.objects.filter(review=scored)
    assert (finding.evidence_id, finding.level, finding.category.code, finding.source, finding.status) == (
        item.pk,
        spec.failing_level,
        spec.category,
        FindingSource.EVIDENCE,
        "open",
    )
    assert judged.why in finding.title and item.title in finding.description
    for _ in range(2):
        assert judge_record(item, actor=member).pk == finding.pk  # judged again: the same finding
    assert Finding.objects.filter(review=scored).count() == 1
    assert AuditEvent.objects.filter(action="finding.open", review=scored).count() == 1

    scoring = row(scored, spec.category)
    assert [(f.evidence_id, f.title, f.why) for f in scoring.evidence.failed] == [
        (item.pk, item.title, judged.why)
    ]
    assert scoring.effective == 1 and item.title in scoring.counted_down[0]
    gate = review_gate(scored)
    assert gate.outcome == GateOutcome.BLOCKED
    assert any(r.rule == "p1" and item.title in r.message for r in gate.blockers)

    attach(scored, spec.category, member)  # supported otherwise: still named, as a note
    assert row(scored, spec.category).effective == 2
    assert f"evidence:{item.pk}" in {n.rule for n in review_gate(scored).notes}


def test_a_stale_failing_record_is_still_named_as_failed(scored, member):
    item = only(scored, member, "concurrency_test", result="failed")
    later = item.observed_at + timedelta(days=181)
    facts = row(scored, "transaction", now=later).evidence
    assert (facts.fresh, [f.evidence_id for f in facts.failed]) == (0, [item.pk])


# --- The fix of a failing record's finding is a later record of its kind that passes


def _resolve(finding, actor):
    finding.refresh_from_db()
    return services.update_finding(
        finding=finding,
        actor=actor,
        version=finding.version,
        title=finding.title,
        description=finding.description,
        level=finding.level,
        status="resolved",
        owner=finding.owner,
        due_date=finding.due_date,
        note="The retry now reuses the idempotency key",
    )


def test_a_failed_concurrency_tests_finding_is_fixed_only_by_a_passing_concurrency_test(scored, member):
    today = timezone.localdate().isoformat()
    failed = only(scored, member, "concurrency_test", result="failed", ran_on=today)
    finding = Finding.objects.get(evidence=failed)
    assert not has_fix_evidence(finding)
    needed = fix_evidence_needed(finding, "it")
    assert needed.startswith("Attach a concurrency test that passes to Transaction & concurrency")
    attach(scored, "transaction", member, title="Retry fixed in the client")  # a link shows no test
    add(scored, member, "write_path")  # a record of the category, but not a test
    add(scored, member, "concurrency_test", result="failed", ran_on=today)  # failing again
    add(scored, member, "concurrency_test", result="not_run")  # not run: shows nothing yet
    assert not has_fix_evidence(finding)
    with pytest.raises(services.ServiceError, match="concurrency test that passes"):
        _resolve(finding, member)
    add(scored, member, "concurrency_test", result="passed", ran_on=today)  # ran today, after the fix
    assert has_fix_evidence(finding)
    fixed = _resolve(finding, member)
    assert (fixed.status, fixed.resolution) == ("resolved", "fixed")


def test_a_passing_test_without_a_date_is_observed_when_added_and_is_the_fix(scored, member):
    failed = only(scored, member, "concurrency_test", result="failed")
    finding = Finding.objects.get(evidence=failed)
    add(scored, member, "concurrency_test", result="passed", ran_on="")
    assert has_fix_evidence(finding)


def test_a_passing_test_that_ran_before_the_finding_opened_is_not_its_fix(scored, member):
    failed = only(scored, member, "concurrency_test", result="failed")
    finding = Finding.objects.get(evidence=failed)
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    add(scored, member, "concurrency_test", result="passed", ran_on=yesterday)
    assert not has_fix_evidence(finding)


@pytest.mark.parametrize(
    ("kind", "changes"), [(k, c) for k, c in FAILING if k != "concurrency_test"], ids=lambda v: str(v)
)
def test_the_other_failing_kinds_are_fixed_by_a_passing_record_of_their_kind(kind, changes, scored, member):
    failed = only(scored, member, kind, **changes)
    finding = Finding.objects.get(evidence=failed)
    attach(scored, KINDS[kind].category, member)
    assert not has_fix_evidence(finding)
    add(scored, member, kind)
    assert has_fix_evidence(finding)


# --- Bad input through the service: refused by field, nothing written


def test_text_postgresql_cannot_store_is_refused_by_field_not_a_server_error(review, member):
    before = Evidence.objects.count()
    with pytest.raises(services.ServiceError) as refused:
        add(review, member, "invariant", constraint="cases_\ud800_check", failure="a\x00b")
    assert set(refused.value.message_dict) == {"constraint", "failure"}
    assert Evidence.objects.count() == before
