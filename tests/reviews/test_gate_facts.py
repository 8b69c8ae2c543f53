"""A decision that can be trusted, on PostgreSQL: the checklist reaches the gate, evidence has a verdict,
release flags are answered, not defaulted. Includes the issue's three reproductions."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from evidence import services as evidence_services
from evidence.models import EvidenceKind
from reviews import services
from reviews.gate import GateOutcome
from reviews.models import AuditEvent, ChecklistAnswer, ChecklistItem, Finding, FindingSource, Review
from reviews.selectors import review_gate, scorecard
from tests.factories import ReviewFactory, answer_critical, attach, category, score_all

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def item(review, code) -> ChecklistItem:
    return ChecklistItem.objects.select_related("category").get(
        category__version_id=review.catalogue_id, code=code
    )


def answer(review, code, value, actor, note=""):
    return services.answer_item(review=review, item=item(review, code), answer=value, actor=actor, note=note)


def drill(
    review, actor, *, title="Q3 restore drill", lost=timedelta(hours=3), took=timedelta(hours=2), valid=False
):
    now = timezone.now()
    return evidence_services.add_restore_drill(
        review=review,
        actor=actor,
        title=title,
        database="ledger",
        backup_source="pgbackrest s3",
        target_environment="restore-staging",
        requested_recovery_point=now - timedelta(hours=6),
        actual_recovery_point=now - timedelta(hours=6) - lost,
        started_at=now - timedelta(hours=1) - took,
        ended_at=now - timedelta(hours=1),
        rpo_target_minutes=15,
        rto_target_minutes=60,
        validation_queries="select count(*) from journal_entry",
        validation_passed=valid,
    )


@pytest.fixture
def approved(review, member):
    score_all(review, member, 2)
    assert review_gate(review).outcome == GateOutcome.APPROVED
    return review


# --- The catalogue marks the critical items


def test_the_installed_catalogue_marks_an_item_for_each_of_the_guides_p0_examples(review):
    p0 = set(
        ChecklistItem.objects.filter(
            category__version_id=review.catalogue_id, critical_level="P0"
        ).values_list("code", flat=True)
    )
    assert {
        "backup.restore-drill-recent",  # no tested restore path
        "ownership.ownership-map",  # no clear data ownership
        "transaction.idempotency-design",  # important mutation not idempotent with client retries
        "query-index.tenant-filter-unforgettable",  # multi-tenant table without testable isolation
        "migration.rollback-plan-realistic",  # destructive migration without rollback plan
        "security.app-not-superuser",  # the application uses a superuser
        "data-model.audit-rows-immutable",  # audit trail editable without trace
        "privacy.downstream-propagation-mapped",  # PII into logs/CDC/warehouse unclassified
    } <= p0
    p1 = ChecklistItem.objects.filter(category__version_id=review.catalogue_id, critical_level="P1")
    assert {"migration.backfill-chunked-resumable", "security.per-service-credentials"} <= set(
        p1.values_list("code", flat=True)
    )


# --- Reproduction 1: checklist answers change the gate


def test_reproduction_restore_drill_and_superuser_answered_no_is_not_approved(approved, member):
    answer(approved, "backup.restore-drill-recent", "no", member)
    answer(approved, "security.app-not-superuser", "no", member)
    result = review_gate(approved)
    assert result.outcome == GateOutcome.BLOCKED
    findings = Finding.objects.filter(review=approved, source=FindingSource.CHECKLIST)
    assert sorted((f.category.code, f.level) for f in findings) == [("backup", "P0"), ("security", "P0")]
    messages = " ".join(r.message for r in result.blockers)
    assert "performed recently" in messages and "superuser" in messages
    assert {r.rule for r in result.blockers} >= {"p0", "minimum:backup", "minimum:security"}
    assert AuditEvent.objects.filter(review=approved, action="finding.open").count() == 2


def test_answering_no_again_does_not_open_a_second_finding_and_yes_does_not_close_it(approved, member):
    row = answer(approved, "security.app-not-superuser", "no", member)
    row = services.answer_item(
        review=approved,
        item=row.item,
        answer="no",
        note="still the owner role",
        actor=member,
        version=row.version,
    )
    assert Finding.objects.filter(review=approved, checklist_item=row.item).count() == 1
    services.answer_item(review=approved, item=row.item, answer="yes", actor=member, version=row.version)
    finding = Finding.objects.get(review=approved, checklist_item=row.item)
    assert finding.status == "open"  # people resolve it
    assert review_gate(approved).outcome == GateOutcome.BLOCKED  # by the open P0, not by the answer


def test_a_p1_critical_item_answered_no_opens_a_p1(approved, member):
    answer(approved, "migration.backfill-chunked-resumable", "no", member)
    (finding,) = Finding.objects.filter(review=approved, source=FindingSource.CHECKLIST)
    assert finding.level == "P1" and finding.category.code == "migration"
    assert review_gate(approved).outcome == GateOutcome.BLOCKED  # a P1 without a signed exception


def test_an_ordinary_item_answered_no_opens_nothing(approved, member):
    answer(approved, "backup.cross-region-copy", "no", member)
    assert not Finding.objects.filter(review=approved).exists()
    assert review_gate(approved).outcome == GateOutcome.APPROVED


def test_an_unanswered_critical_backup_item_caps_backup_and_the_gate_names_it(review, member):
    score_all(review, member, 2)
    ChecklistAnswer.objects.filter(review=review, item__code="backup.restore-drill-recent").delete()
    result = review_gate(review)
    assert result.outcome == GateOutcome.BLOCKED
    (reason,) = [r for r in result.blockers if r.rule == "minimum:backup"]
    assert "performed recently" in reason.message and "not answered" in reason.message
    row = next(r for r in scorecard(review) if r.category.code == "backup")
    assert row.effective == 1 and row.counted_down


def test_not_applicable_needs_a_reason(review, member):
    target = item(review, "security.rls-tested")
    with pytest.raises(ValidationError) as err:
        services.answer_item(review=review, item=target, answer="na", actor=member)
    assert "note" in err.value.message_dict
    assert not ChecklistAnswer.objects.filter(review=review, item=target).exists()
    services.answer_item(
        review=review, item=target, answer="na", note="No RLS: one tenant per database", actor=member
    )
    assert ChecklistAnswer.objects.get(review=review, item=target).answer == "na"


def test_the_checklist_page_refuses_na_without_a_reason_and_says_so(client, review, member):
    client.force_login(member)
    target = item(review, "security.rls-tested")
    url = reverse("checklist_answer", args=[review.pk, target.pk])
    response = client.post(url, {"answer": "na", "note": "", "version": 0}, **HX)
    assert response.status_code == 422 and "Not applicable needs a reason" in response.content.decode()
    assert not ChecklistAnswer.objects.filter(review=review, item=target).exists()
    page = client.get(reverse("review_checklist", args=[review.pk, "security"])).content.decode()
    assert "Critical: a No opens a P0 finding" in page


# --- Reproduction 2: failed evidence is not evidence


def test_reproduction_backup_3_on_a_failed_drill_is_blocked_naming_the_drill(review, member):
    score_all(review, member, 2)
    review.evidence.filter(category__code="backup").delete()
    drill(review, member)  # missed RPO by hours, overran RTO, failed validation
    services.set_score(
        review=review, category=category(review, "backup"), score=3, owner=member, actor=member, version=1
    )
    result = review_gate(review)
    assert result.outcome == GateOutcome.BLOCKED
    (reason,) = [r for r in result.blockers if r.rule == "minimum:backup"]
    assert "Q3 restore drill" in reason.message
    assert "missed its RPO target" in reason.message and "overran its RTO target" in reason.message
    assert "failed validation" in reason.message
    (finding,) = Finding.objects.filter(review=review, source=FindingSource.EVIDENCE)
    assert finding.level == "P0" and finding.title.startswith("No tested restore path")
    assert finding.evidence.kind == EvidenceKind.RESTORE_DRILL


def test_a_failed_drill_beside_a_passing_one_opens_a_p1_and_the_passing_one_counts(review, member):
    drill(
        review, member, title="Good drill", lost=timedelta(minutes=5), took=timedelta(minutes=20), valid=True
    )
    drill(review, member, title="Slow drill", lost=timedelta(minutes=5), took=timedelta(hours=3), valid=True)
    (finding,) = Finding.objects.filter(review=review, source=FindingSource.EVIDENCE)
    assert finding.level == "P1" and "Slow drill" in finding.title
    row = next(r for r in scorecard(review) if r.category.code == "backup")
    assert row.evidence.supporting == 1 and [f.title for f in row.evidence.failed] == ["Slow drill"]


def test_a_records_finding_is_opened_once(review, member):
    from evidence.services import judge_record

    item_ = drill(review, member)
    judge_record(item_, actor=member)
    assert Finding.objects.filter(review=review, evidence=item_).count() == 1


def test_a_load_test_over_its_target_and_a_failed_rehearsal_open_p1s(review, member):
    now = timezone.now()
    evidence_services.add_load_test(
        review=review,
        actor=member,
        scenario="Month-end",
        environment="perf",
        started_at=now - timedelta(hours=2),
        ended_at=now - timedelta(hours=1),
        throughput_per_s=900,
        p50_ms=40,
        p95_ms=420,
        p99_ms=900,
        saturation_point="CPU at 1,000 TPS",
        target_p95_ms=200,
    )
    evidence_services.add_migration_rehearsal(
        review=review,
        actor=member,
        migration="0042_balances_currency",
        phase="migrate",
        environment="staging",
        dataset="snapshot of 1 Nov",
        started_at=now - timedelta(hours=2),
        ended_at=now - timedelta(hours=1),
        lock_behaviour="ACCESS EXCLUSIVE for 2 s",
        validation_query="select count(*) from balance where currency is null",
        validation_passed=False,
    )
    levels = dict(
        Finding.objects.filter(review=review, source=FindingSource.EVIDENCE).values_list(
            "category__code", "level"
        )
    )
    assert levels == {"capacity": "P1", "migration": "P1"}
    answer_critical(review, member)
    for code in ("capacity", "migration"):
        services.set_score(review=review, category=category(review, code), score=2, actor=member)
    rows = {r.category.code: r for r in scorecard(review)}
    assert rows["capacity"].effective == 1 and rows["migration"].effective == 1


def test_a_runbook_never_tested_is_not_fresh_evidence_and_opens_a_dated_p2(review, member):
    evidence_services.add_runbook(
        review=review, actor=member, name="Lock storm", owner="mia", last_tested=None
    )
    (finding,) = Finding.objects.filter(review=review, source=FindingSource.EVIDENCE)
    assert finding.level == "P2" and finding.owner == member and finding.due_date is not None
    services.set_score(review=review, category=category(review, "runbooks"), score=2, actor=member)
    row = next(r for r in scorecard(review) if r.category.code == "runbooks")
    assert row.effective == 1 and "never been tested" in " ".join(row.counted_down)
    now = timezone.now()
    evidence_services.add_runbook_test(
        review=review,
        actor=member,
        runbook_name="Lock storm",
        scenario="Lock storm on the primary",
        environment="staging",
        started_at=now - timedelta(hours=2),
        ended_at=now - timedelta(hours=1),
        passed=True,
    )
    row = next(r for r in scorecard(review) if r.category.code == "runbooks")
    assert row.effective == 2 and not row.evidence.failed  # tested now: the runbook counts


# --- What a 3 needs


def test_a_3_counts_as_2_until_it_has_an_owner_a_control_a_test_and_a_runbook(review, member):
    answer_critical(review, member)
    cat = category(review, "capacity")
    attach(review, "capacity", member)
    services.set_score(review=review, category=cat, score=3, actor=member)
    row = next(r for r in scorecard(review) if r.category.code == "capacity")
    assert row.effective == 2 and "a runbook" in row.counted_down[0] and "an owner" in row.counted_down[0]
    for shows in ("test", "runbook"):
        evidence_services.add_link(
            review=review,
            category=cat,
            title=shows,
            url=f"https://ci.example.com/{shows}",
            shows=shows,
            actor=member,
        )
    services.set_score(review=review, category=cat, score=3, owner=member, actor=member, version=1)
    row = next(r for r in scorecard(review) if r.category.code == "capacity")
    assert row.effective == 3 and not row.counted_down


# --- Reproduction 3: release flags are answered, not defaulted


def test_reproduction_a_review_without_release_flags_is_not_decidable(system, architect, member):
    review = services.start_review(system=system, release_scope="Ledger 3.1", actor=architect)
    assert review.schema_changing is None and review.production_traffic is None
    score_all(review, member, 2)
    result = review_gate(review)
    assert result.outcome == GateOutcome.INCOMPLETE
    assert {r.rule for r in result.pending} >= {"release:schema_changing", "release:production_traffic"}
    with pytest.raises(ValidationError, match="changes the schema"):
        services.record_decision(
            review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
        )


def test_the_chair_answers_the_flags_at_the_meetings_first_step(client, system, architect, member):
    review = services.start_review(system=system, release_scope="Ledger 3.1", actor=architect)
    score_all(review, member, 2)
    client.force_login(architect)
    page = client.get(reverse("meeting_step", args=[review.pk, 1])).content.decode()
    assert "Not answered yet" in page and 'value="yes" checked' not in page
    response = client.post(
        reverse("meeting_scope", args=[review.pk]),
        {"release_scope": "Ledger 3.1", "schema_changing": "yes", "production_traffic": "no", "version": 1},
        **HX,
    )
    assert response.status_code == 200
    review.refresh_from_db()
    assert (review.schema_changing, review.production_traffic) == (True, False)
    assert review_gate(review).outcome == GateOutcome.APPROVED


def test_the_start_form_preselects_nothing_and_keeps_an_unanswered_flag_unanswered(client, system, architect):
    client.force_login(architect)
    url = reverse("review_create", args=[system.slug])
    form = client.get(url).content.decode()
    assert 'name="schema_changing" value="yes"' in form and "checked" not in form
    client.post(url, {"release_scope": "Ledger 3.2", "schema_changing": "no"})
    review = Review.objects.get(release_scope="Ledger 3.2")
    assert review.schema_changing is False and review.production_traffic is None


def test_a_factory_review_answers_both_flags():
    review = ReviewFactory()
    assert review.schema_changing is True and review.production_traffic is True


# --- A finding opened by a failed record is fixed only by a record of its kind that passes


def _future_drill(review, actor, *, valid, lost=timedelta(hours=3), title="Drill ahead of the clock"):
    """A drill dated a few minutes ahead (the services accept a small clock skew)."""
    now = timezone.now()
    return evidence_services.add_restore_drill(
        review=review,
        actor=actor,
        title=title,
        database="ledger",
        backup_source="pgbackrest s3",
        target_environment="restore-staging",
        requested_recovery_point=now - timedelta(hours=6),
        actual_recovery_point=now - timedelta(hours=6) - lost,
        started_at=now - timedelta(minutes=20),
        ended_at=now + timedelta(minutes=4),
        rpo_target_minutes=15,
        rto_target_minutes=60,
        validation_queries="select 1",
        validation_passed=valid,
    )


def _resolve(finding, actor, note="fixed the restore script"):
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
        note=note,
    )


def test_a_failed_drill_is_not_the_fix_of_its_own_finding_nor_is_a_link(approved, member):
    _future_drill(approved, member, valid=False)
    (opened,) = Finding.objects.filter(review=approved, source=FindingSource.EVIDENCE)
    assert review_gate(approved).outcome == GateOutcome.BLOCKED
    with pytest.raises(services.ServiceError, match="restore drill that passes"):
        _resolve(opened, member)
    attach(approved, "backup", member, title="Runbook updated")  # a link shows no restore
    with pytest.raises(services.ServiceError, match="restore drill that passes"):
        _resolve(opened, member)
    drill(approved, member, title="Failed again", valid=False)  # another failing drill neither
    with pytest.raises(services.ServiceError):
        _resolve(Finding.objects.get(pk=opened.pk), member)
    opened.refresh_from_db()
    assert opened.status == "open" and review_gate(approved).outcome == GateOutcome.BLOCKED


def test_a_passing_drill_after_the_finding_is_its_fix(approved, member):
    drill(approved, member, valid=False)
    opened = Finding.objects.filter(review=approved, source=FindingSource.EVIDENCE).first()
    _future_drill(approved, member, valid=True, lost=timedelta(minutes=5), title="Drill after the fix")
    fixed = _resolve(opened, member)
    assert fixed.status == "resolved" and fixed.resolution == "fixed"


def _judged_mix(review, actor):
    """Items of every judged built-in kind, passing and failing, fresh and stale, beside links: written
    straight to the tables (no findings opened), as the counting of gatefacts.evidence_facts sees them."""
    from evidence.models import Evidence, LoadTest, MigrationRehearsal, Runbook, RunbookTest

    now = timezone.now()
    cats = list(review.catalogue.categories.order_by("number")[:3])

    def item(kind, n, days):
        return Evidence.objects.create(
            review=review,
            category=cats[n % 3],
            kind=kind,
            title=f"{kind} {n}",
            url="https://ci.example.com/x" if kind == EvidenceKind.LINK else "",
            shows="test" if kind == EvidenceKind.LINK and n % 2 else "",
            added_by=actor,
            observed_at=now - timedelta(days=days),
        )

    for n, (p95, target, days) in enumerate(
        [(80, 100, 1), (400, 100, 1), (80, None, 1), (100, 100, 2), (400, 100, 400), (80, 100, 400)]
    ):
        LoadTest.objects.create(
            evidence=item(EvidenceKind.LOAD_TEST, n, days),
            scenario="s",
            environment="e",
            started_at=now - timedelta(hours=2),
            ended_at=now - timedelta(hours=1),
            throughput_per_s=10,
            p50_ms=10,
            p95_ms=p95,
            p99_ms=500,
            target_p95_ms=target,
            saturation_point="CPU",
        )
    for n, (valid, days) in enumerate([(True, 1), (False, 1), (True, 900)]):
        MigrationRehearsal.objects.create(
            evidence=item(EvidenceKind.MIGRATION_REHEARSAL, n, days),
            migration="0042",
            phase="expand",
            environment="e",
            started_at=now - timedelta(hours=2),
            ended_at=now - timedelta(hours=1),
            lock_behaviour="none",
            validation_query="select 1",
            validation_passed=valid,
        )
    runbooks = [
        Runbook.objects.create(
            evidence=item(EvidenceKind.RUNBOOK, n, days), name=f"rb {n}", owner="dba", last_tested=tested
        )
        for n, (tested, days) in enumerate([(now.date(), 1), (None, 1), (None, 2), (None, 3), (None, 900)])
    ]
    for n, (runbook, passed) in enumerate([(runbooks[2], True), (runbooks[3], False), (None, False)]):
        RunbookTest.objects.create(
            evidence=item(EvidenceKind.RUNBOOK_TEST, n, 1),
            runbook=runbook,
            runbook_name="rb",
            scenario="s",
            environment="e",
            started_at=now - timedelta(hours=2),
            ended_at=now - timedelta(hours=1),
            passed=passed,
        )
    for n in range(4):
        item(EvidenceKind.LINK, n, n * 300)
    drill(review, actor)  # failed, through the service: restore drills are read row by row


def test_evidence_facts_counted_in_sql_are_those_of_each_items_own_verdict(review, member):
    """The judged items that support readiness are counted in SQL (SUPPORTS_IN_SQL), the others read row
    by row: together the facts of every item's verdict.of, read one by one."""
    from evidence import freshness, verdict
    from evidence.models import TYPED_RECORDS, Evidence
    from reviews import gatefacts

    _judged_mix(review, member)
    now = timezone.now()
    expected: dict = {}
    for e in (
        Evidence.objects.filter(review=review).select_related(*TYPED_RECORDS).order_by("observed_at", "id")
    ):
        count, fresh, supporting, shows, failed, incomplete = expected.setdefault(
            e.category_id, [0, 0, 0, set(), [], []]
        )
        judged = verdict.of(e)
        described = (e.pk, judged.why)
        if not judged.supports and not judged.incomplete:
            failed.append(described)
        stale = freshness.is_stale(e.kind, e.observed_at, now)
        slot = expected[e.category_id]
        slot[0] += 1
        if not stale:
            slot[1] += 1
            if judged.incomplete:
                incomplete.append(described)
            if judged.supports:
                slot[2] += 1
                shows.update(verdict.shows(e.kind, e.shows))
    facts = gatefacts.evidence_facts([review.pk], now=now)
    got = {
        category_id: [
            f.count,
            f.fresh,
            f.supporting,
            set(f.shows),
            [(x.evidence_id, x.why) for x in f.failed],
            [(x.evidence_id, x.why) for x in f.incomplete],
        ]
        for (review_id, category_id), f in facts.items()
    }
    assert got == expected
    assert sum(len(v[4]) for v in got.values()) == 9  # the mix has failures for the test to see
    # And SQL counts exactly the items of those kinds that support readiness (so only failures are read).
    sql_kinds = [EvidenceKind.LOAD_TEST, EvidenceKind.MIGRATION_REHEARSAL, EvidenceKind.RUNBOOK]
    sql_kinds.append(EvidenceKind.RUNBOOK_TEST)
    judged = Evidence.objects.filter(review=review, kind__in=sql_kinds).select_related(*TYPED_RECORDS)
    assert set(
        Evidence.objects.filter(gatefacts.SUPPORTS_IN_SQL, review=review).values_list("pk", flat=True)
    ) == {e.pk for e in judged if verdict.of(e).supports}
