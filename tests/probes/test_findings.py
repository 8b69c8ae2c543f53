"""What a finished run puts into its review: one evidence item per result, one finding per failing
(probe, object), no duplicates on re-runs, resolution by the run that sees the object pass, and a
person's regrade that survives re-runs.

Most tests drive the real run path (service, task, claim, store, finish) with a scripted engine, so
each outcome is exact; the last one plants a real table without a primary key on a real database.
"""

import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from psycopg import sql

from evidence.models import Evidence
from probes import engine, registry, services
from probes.models import ProbeFinding, ProbeRun, RunState
from probes.registry import Item, Probe, Result, Status, Verdict
from probes.services import findings as findings_module
from reviews import loosening
from reviews import services as review_services
from reviews.models import AuditEvent, Finding, FindingSource, FindingStatus, Level, Resolution
from tests.factories import attach

from . import test_targets as shared
from .test_targets import admin_connect

# Fixtures shared with test_targets.
make_target, target, target_db = shared.make_target, shared.target, shared.target_db

pytestmark = pytest.mark.django_db


def _probe(probe_id: str, category: str, severity: str, title: str) -> Probe:
    return Probe(
        id=probe_id,
        category=category,
        severity=severity,
        title=title,
        checks="What it checks.",
        fix="How to fix it.",
        sql="SELECT 1",
        evaluate=lambda rows, params: Verdict(Status.PASS, "ok"),
    )


FAKE_PROBES = [
    _probe("schema.no-primary-key", "schema", "P1", "Tables without a primary key"),
    _probe("capacity.bloat", "capacity", "P2", "Bloated tables"),
    _probe("security.public-create", "security", "P0", "PUBLIC may create in schema public"),
]


class ScriptedEngine:
    """The engine's iter_probes, answering from `failing` {probe id: [objects]} and `status` overrides."""

    def __init__(self):
        self.failing: dict[str, list[str]] = {p.id: [] for p in FAKE_PROBES}
        self.status: dict[str, Status] = {}

    def iter_probes(self, conninfo, *, only=None, **kwargs):
        for probe in FAKE_PROBES:
            if only is not None and probe.id not in only:
                continue
            objects = self.failing[probe.id]
            status = self.status.get(probe.id) or (Status.FAIL if objects else Status.PASS)
            items = (
                tuple(Item(o, Status.FAIL, f"{o} is wrong") for o in objects) if status == Status.FAIL else ()
            )
            yield Result(
                probe.id, probe.category, probe.severity, status, f"{len(objects)} found", items=items
            )


@pytest.fixture
def scripted(monkeypatch):
    fake = ScriptedEngine()
    monkeypatch.setattr(registry, "all_probes", lambda: list(FAKE_PROBES))
    monkeypatch.setattr(engine, "iter_probes", fake.iter_probes)
    return fake


@pytest.fixture
def run_for(member, django_capture_on_commit_callbacks):
    def run(target, review) -> ProbeRun:
        with django_capture_on_commit_callbacks(execute=True):
            probe_run = services.start_probe_run(target=target, actor=member, review=review)
        probe_run.refresh_from_db()
        assert probe_run.state == RunState.DONE, probe_run.error
        return probe_run

    return run


def probe_findings(review, probe_id="schema.no-primary-key"):
    return {
        f.probe_key.split(":", 1)[1]: f for f in review.findings.filter(probe_key__startswith=f"{probe_id}:")
    }


def test_each_result_becomes_evidence_of_its_category(scripted, target, review, run_for):
    run = run_for(target, review)
    assert run.applied_to_review
    for result in run.results.select_related("evidence__category"):
        evidence = result.evidence
        assert evidence is not None and evidence.review_id == review.pk
        assert evidence.kind == "probe_result"
        assert (
            evidence.category.code == result.category and evidence.category.version_id == review.catalogue_id
        )
        assert evidence.title == result.title
        assert evidence.observed_at == run.finished_at
    assert Evidence.objects.filter(review=review, kind="probe_result").count() == len(FAKE_PROBES)


def test_a_failure_opens_one_finding_per_object_at_the_probes_level(
    scripted, target, review, run_for, member
):
    scripted.failing["schema.no-primary-key"] = ["public.orders", "public.events"]
    run = run_for(target, review)
    findings = probe_findings(review)
    assert set(findings) == {"public.orders", "public.events"}
    for obj, finding in findings.items():
        assert finding.source == FindingSource.PROBE and finding.level == Level.P1
        assert finding.status == FindingStatus.OPEN
        assert finding.category.code == "schema"
        assert obj in finding.title and "Tables without a primary key" in finding.title
        assert finding.probe_link.opened_by_run == run
    events = AuditEvent.objects.filter(action="finding.add", review=review)
    assert events.count() == 2 and all(e.actor == member and e.after["probe_run"] == run.pk for e in events)


def test_a_probe_finding_says_its_sentence_once_then_the_fix_and_where_it_was_found(
    scripted, target, review, run_for
):
    scripted.failing["schema.no-primary-key"] = ["public.orders"]
    run = run_for(target, review)
    finding = probe_findings(review)["public.orders"]
    # Not the result's summary ("1 found") nor the probe's "What it checks.": they restated the title
    # and the message, so pages said the same thing three times.
    message, fix, source = finding.description.split("\n\n")
    assert (message, fix) == ("public.orders is wrong", "Fix: How to fix it.")
    assert re.fullmatch(
        rf"Found by the probe “[^”]+” on {re.escape(target.name)}, probe run #{run.pk}\.", source
    )


def test_a_p2_probe_finding_gets_the_chair_as_owner_due_in_30_days(scripted, target, review, run_for):
    scripted.failing["capacity.bloat"] = ["public.events"]
    run_for(target, review)
    finding = review.findings.get(probe_key="capacity.bloat:public.events")
    assert finding.level == Level.P2
    assert finding.owner == review.chair
    assert finding.due_date == timezone.localdate() + timedelta(days=30)


def test_a_failure_without_named_objects_is_one_finding_about_the_database(scripted, target, review, run_for):
    scripted.status["security.public-create"] = Status.FAIL
    run_for(target, review)
    finding = review.findings.get(probe_key="security.public-create:")
    assert finding.level == Level.P0 and finding.title == "PUBLIC may create in schema public"


def test_re_running_does_not_duplicate_findings(scripted, target, review, run_for):
    scripted.failing["schema.no-primary-key"] = ["public.orders"]
    run_for(target, review)
    adds = AuditEvent.objects.filter(action="finding.add").count()
    second = run_for(target, review)
    assert review.findings.filter(source=FindingSource.PROBE).count() == 1
    assert AuditEvent.objects.filter(action="finding.add").count() == adds
    assert probe_findings(review)["public.orders"].probe_link.last_seen_run == second


def test_an_object_fixed_before_a_later_run_is_resolved_by_that_run(scripted, target, review, run_for):
    scripted.failing["schema.no-primary-key"] = ["public.orders", "public.events"]
    run_for(target, review)
    scripted.failing["schema.no-primary-key"] = ["public.orders"]  # events got its primary key
    later = run_for(target, review)
    findings = probe_findings(review)
    assert findings["public.orders"].status == FindingStatus.OPEN
    fixed = findings["public.events"]
    assert fixed.status == FindingStatus.RESOLVED and fixed.resolved_at
    assert fixed.probe_link.resolved_by_run == later
    event = AuditEvent.objects.get(action="finding.resolve", object_id=str(fixed.pk))
    assert event.after["probe_run"] == later.pk and event.before["status"] == "open"

    scripted.failing["schema.no-primary-key"] = []  # the probe passes: everything it had found is resolved
    run_for(target, review)
    assert probe_findings(review)["public.orders"].status == FindingStatus.RESOLVED


def test_an_object_that_fails_again_reopens_its_finding(scripted, target, review, run_for):
    scripted.failing["schema.no-primary-key"] = ["public.orders"]
    run_for(target, review)
    scripted.failing["schema.no-primary-key"] = []
    run_for(target, review)
    scripted.failing["schema.no-primary-key"] = ["public.orders"]
    run_for(target, review)
    finding = probe_findings(review)["public.orders"]
    assert finding.status == FindingStatus.OPEN and finding.resolved_at is None
    assert review.findings.count() == 1
    assert AuditEvent.objects.filter(action="finding.reopen", object_id=str(finding.pk)).exists()


def test_a_skipped_or_erroring_probe_resolves_nothing(scripted, target, review, run_for):
    scripted.failing["schema.no-primary-key"] = ["public.orders"]
    run_for(target, review)
    scripted.failing["schema.no-primary-key"] = []
    for status in (Status.SKIPPED, Status.ERROR):
        scripted.status["schema.no-primary-key"] = status
        run_for(target, review)
        assert probe_findings(review)["public.orders"].status == FindingStatus.OPEN


def test_a_persons_regrade_survives_re_runs(scripted, target, review, run_for, architect, lead):
    scripted.failing["schema.no-primary-key"] = ["public.orders"]
    run_for(target, review)
    finding = probe_findings(review)["public.orders"]
    _, proposal = loosening.update_or_propose(
        finding=finding,
        actor=architect,
        version=finding.version,
        title=finding.title,
        description="Append-only event log; a primary key is planned for 4.0.",
        level=Level.P3,
        status=finding.status,
        note="Append-only log",
    )
    run_for(target, review)  # a pending proposal survives a re-run, and the finding keeps its level
    finding.refresh_from_db()
    assert finding.level == Level.P1
    loosening.confirm(loosening=proposal, actor=lead)
    run_for(target, review)
    finding.refresh_from_db()
    assert finding.level == Level.P3 and finding.status == FindingStatus.OPEN
    assert finding.description.startswith("Append-only")
    assert finding.probe_link.probe_level == Level.P1  # what the probe set; the person's level wins


def test_a_finding_confirmed_as_not_an_issue_stays_closed_on_re_runs(
    scripted, target, review, run_for, member, lead
):
    scripted.failing["schema.no-primary-key"] = ["public.orders"]
    run_for(target, review)
    finding = probe_findings(review)["public.orders"]
    proposal = loosening.propose(
        finding=finding, actor=member, level=finding.level, status=loosening.NOT_AN_ISSUE, reason="A view"
    )
    loosening.confirm(loosening=proposal, actor=lead)
    run_for(target, review)
    finding.refresh_from_db()
    assert (finding.status, finding.resolution) == (FindingStatus.RESOLVED, Resolution.NOT_AN_ISSUE)


def test_a_finding_a_person_resolved_as_fixed_is_reopened_when_it_fails_again(
    scripted, target, review, run_for, member
):
    scripted.failing["schema.no-primary-key"] = ["public.orders"]
    run_for(target, review)
    finding = probe_findings(review)["public.orders"]
    attach(review, finding.category.code, member)
    review_services.update_finding(
        finding=finding,
        actor=member,
        version=finding.version,
        title=finding.title,
        description=finding.description,
        level=finding.level,
        status=FindingStatus.RESOLVED,
        note="Primary key added",
    )
    run_for(target, review)
    finding.refresh_from_db()
    assert (finding.status, finding.resolution, finding.resolution_note) == (FindingStatus.OPEN, "", "")


def test_a_probe_that_still_fails_is_no_evidence_of_the_fix(scripted, target, review, run_for, member):
    scripted.failing["schema.no-primary-key"] = ["public.orders"]
    run_for(target, review)
    run_for(target, review)  # its evidence is newer than the finding, and it still fails
    finding = probe_findings(review)["public.orders"]
    with pytest.raises(review_services.ServiceError) as err:
        review_services.update_finding(
            finding=finding,
            actor=member,
            version=finding.version,
            title=finding.title,
            description=finding.description,
            level=finding.level,
            status=FindingStatus.RESOLVED,
            note="Primary key added",
        )
    assert "evidence of the fix" in err.value.message_dict["status"][0]


def test_only_the_target_that_reported_an_object_resolves_it(scripted, target, review, run_for, make_target):
    staging = make_target(name="staging")
    scripted.failing["schema.no-primary-key"] = ["public.orders"]
    run_for(target, review)
    scripted.failing["schema.no-primary-key"] = []
    run_for(staging, review)  # staging is clean; production still has the problem
    assert probe_findings(review)["public.orders"].status == FindingStatus.OPEN
    run_for(target, review)
    assert probe_findings(review)["public.orders"].status == FindingStatus.RESOLVED


def test_findings_and_evidence_are_written_in_one_transaction(
    scripted, target, review, member, monkeypatch, django_capture_on_commit_callbacks
):
    """If writing the findings fails, the run fails and neither evidence nor findings are left half done."""
    scripted.failing["schema.no-primary-key"] = ["public.orders"]

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(findings_module, "apply_findings", broken)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.start_probe_run(target=target, actor=member, review=review)
    run.refresh_from_db()
    assert run.state == RunState.FAILED and run.results.count() == len(FAKE_PROBES)
    assert not review.evidence.exists() and not review.findings.exists()


# --- The real thing: a table without a primary key on a real database


@pytest.fixture
def planted_table(target_db):
    name = f"planted_{uuid.uuid4().hex[:8]}"
    with admin_connect(target_db) as conn:
        conn.execute(sql.SQL("CREATE TABLE {} (id integer, note text)").format(sql.Identifier(name)))
    yield name
    with admin_connect(target_db) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))


def test_a_real_table_without_primary_key_opens_a_finding_and_adding_the_key_resolves_it(
    target, review, run_for, planted_table, target_db
):
    run = run_for(target, review)
    failing = [
        (r.probe_id, d["object"])
        for r in run.results.filter(status="fail")
        for d in r.details
        if planted_table in d["object"] and d["status"] == "fail"
    ]
    assert failing, "no probe flagged the planted table without a primary key"
    keys = [services.probe_key(probe_id, obj) for probe_id, obj in failing]
    assert review.findings.filter(probe_key__in=keys, status=FindingStatus.OPEN).count() == len(keys)

    with admin_connect(target_db) as conn:
        conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (id)").format(sql.Identifier(planted_table)))
    later = run_for(target, review)
    pk_probe_keys = [k for k in keys if "primary" in k or "pk" in k] or keys
    resolved = Finding.objects.filter(probe_key__in=pk_probe_keys, status=FindingStatus.RESOLVED)
    assert resolved.count() >= 1
    assert all(ProbeFinding.objects.get(finding=f).resolved_by_run == later for f in resolved)
