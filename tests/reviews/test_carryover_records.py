"""Carry-over of the records declared in evidence.kinds: a system's recovery objectives and inventories
carry into its next review with their values and verdicts; a stale one stays behind; a carried finding of a
failing record is still fixed only by a record of its kind that passes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from evidence import typed, verdict
from evidence.models import Evidence, Record
from reviews import services
from reviews.loosening import fix_evidence_needed, has_fix_evidence
from reviews.models import AuditEvent, Finding
from reviews.selectors import scorecard
from tests.evidence.declared_samples import SAMPLES
from tests.factories import attach, score_all

pytestmark = pytest.mark.django_db


def add(review, actor, kind, **changes) -> Evidence:
    return typed.add_record(review=review, actor=actor, kind=kind, **{**SAMPLES[kind], **changes})


@pytest.fixture
def decided(review, architect, member):
    """Ledger 3.0 decided with a record of each declared kind, a failing privacy field and a failing
    concurrency test (each opened a P1), and a concurrency test past its age."""
    score_all(review, architect, 2)
    records = {kind: add(review, member, kind) for kind in SAMPLES}
    records["public_email"] = add(review, member, "privacy_field", column="phone", classification="public")
    records["failed_test"] = add(review, member, "concurrency_test", scenario="deadlock", result="failed")
    old = (timezone.localdate() - timedelta(days=200)).isoformat()
    records["old_test"] = add(review, member, "concurrency_test", scenario="lock_timeout", ran_on=old)
    services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )
    return records


def _start(system, architect):
    return services.start_review(
        system=system,
        release_scope="Ledger 3.1",
        actor=architect,
        schema_changing=True,
        production_traffic=True,
    )


def test_fresh_declared_records_carry_with_their_values(decided, system, architect):
    new = _start(system, architect)
    copies = {
        e.carried_from_id: e for e in Evidence.objects.filter(review=new).select_related("record", "category")
    }
    for name, origin in decided.items():
        if name == "old_test":
            assert origin.pk not in copies  # stale: stays behind
            continue
        copy = copies[origin.pk]
        assert (copy.kind, copy.title, copy.observed_at) == (origin.kind, origin.title, origin.observed_at)
        assert copy.category.code == origin.category.code
        assert copy.record.data == Record.objects.get(evidence=origin).data, name
        assert copy.record.summary == origin.record.summary
    assert Record.objects.filter(evidence__review=new).count() == len(decided) - 1
    carried = AuditEvent.objects.filter(action="evidence.carry", review=new)
    assert carried.count() == Evidence.objects.filter(review=new).count()


def test_carried_records_keep_their_verdicts_in_the_next_reviews_gate(decided, system, architect):
    new = _start(system, architect)
    objectives = Evidence.objects.select_related("record").get(
        review=new, carried_from=decided["recovery_objectives"]
    )
    assert verdict.of(objectives).state == verdict.COMPLETE
    public = Evidence.objects.get(review=new, carried_from=decided["public_email"])
    rows = {r.category.code: r for r in scorecard(new)}
    assert public.pk in [f.evidence_id for f in rows["privacy"].evidence.failed]  # still failing
    assert rows["backup"].evidence.supporting == 2  # the carried link and the recovery objectives


def test_carrying_a_failing_record_opens_no_second_finding(decided, system, architect):
    new = _start(system, architect)
    origins = Finding.objects.filter(evidence__in=[decided["public_email"], decided["failed_test"]])
    assert origins.count() == 2
    carried = Finding.objects.filter(review=new)
    assert sorted(f.carried_from_id for f in carried) == sorted(o.pk for o in origins)


def test_a_carried_finding_of_a_failed_test_is_fixed_only_by_a_passing_test(
    decided, system, architect, member
):
    new = _start(system, architect)
    finding = Finding.objects.get(review=new, carried_from__evidence=decided["failed_test"])
    attach(new, "transaction", member, title="Deadlock retry added")  # a link shows no test
    add(new, member, "write_path", command="Retry")  # a record of the category, not a test
    assert not has_fix_evidence(finding)
    assert fix_evidence_needed(finding, "it").startswith("Attach a concurrency test that passes")
    add(new, member, "concurrency_test", scenario="deadlock", ran_on="")
    assert has_fix_evidence(finding)
