"""The kinds declared in evidence.kinds, through the one service that adds them: what each accepts and
refuses, its verdict and the finding a failing record opens, and how it feeds the gate."""

import pytest

from evidence import kinds, typed, verdict
from evidence.models import Evidence, Record
from reviews.models import AuditEvent, Finding
from reviews.services import ServiceError

from .declared_samples import SAMPLES

pytestmark = pytest.mark.django_db


def test_every_declared_kind_has_a_sample():
    assert set(SAMPLES) == set(kinds.KINDS)


@pytest.mark.parametrize("kind", sorted(kinds.KINDS))
def test_a_complete_record_is_evidence_of_its_category_and_audited(kind, review, member):
    spec = kinds.KINDS[kind]
    item = typed.add_record(review=review, actor=member, kind=kind, **SAMPLES[kind])
    assert item.kind == kind and item.category.code == spec.category
    record = Record.objects.get(evidence=item)
    assert record.judged.state == verdict.COMPLETE, record.judged.why
    assert record.summary
    assert AuditEvent.objects.filter(action="evidence.record", object_id=str(item.pk)).exists()


@pytest.mark.parametrize("kind", sorted(kinds.KINDS))
def test_a_record_missing_every_required_field_lists_them_all_and_writes_nothing(kind, review, member):
    spec = kinds.KINDS[kind]
    before = Evidence.objects.count()
    with pytest.raises(ServiceError) as refused:
        typed.add_record(review=review, actor=member, kind=kind)
    required = {f.name for f in spec.fields if f.required and not f.wanted}
    assert required <= set(refused.value.message_dict)
    assert Evidence.objects.count() == before


def test_a_failing_record_opens_its_finding_and_an_incomplete_one_does_not(review, member):
    failed = typed.add_record(
        review=review,
        actor=member,
        kind="concurrency_test",
        **{**SAMPLES["concurrency_test"], "result": "failed"},
    )
    finding = Finding.objects.get(evidence=failed)
    assert finding.level == "P1" and "did not hold" in finding.title
    not_run = typed.add_record(
        review=review,
        actor=member,
        kind="concurrency_test",
        **{**SAMPLES["concurrency_test"], "result": "not_run"},
    )
    assert not Finding.objects.filter(evidence=not_run).exists()
    assert (
        verdict.of(Evidence.objects.select_related("record").get(pk=not_run.pk)).state == verdict.INCOMPLETE
    )


def test_unknown_fields_and_wrong_choices_are_refused_by_name(review, member):
    with pytest.raises(ServiceError) as refused:
        typed.add_record(
            review=review,
            actor=member,
            kind="write_path",
            **{**SAMPLES["write_path"], "isolation": "chaos", "x": 1},
        )
    assert set(refused.value.message_dict) == {"isolation", "x"}
