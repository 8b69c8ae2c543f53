"""The review's depth in the decision record (schema /7): each inventory and plan with its verdict in the
JSON the digest covers, the coverage an auditor asks for (required runbooks, the concurrency matrix,
signals, forecasts, recovery objectives), the PDF's "Inventories and plans", the decision page, and
older records that still verify and render."""

import io
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from evidence import kinds, typed
from evidence import services as evidence_services
from evidence.kinds.declared import REQUIRED_FORECASTS, REQUIRED_SCENARIOS, SIGNAL_AREAS
from evidence.kinds.runbooks import REQUIRED_RUNBOOKS
from reviews import audit, record_depth, record_sections, records, services
from reviews.models import Decision
from tests.evidence.declared_samples import SAMPLES
from tests.factories import score_all

pytestmark = pytest.mark.django_db

RUNBOOK_TEMPLATE = {
    "severity": "SEV2",
    "symptoms": "Lock waits climb; blocked sessions over 20",
    "dashboards": "https://grafana.example.com/d/locks",
    "diagnostic_queries": "SELECT * FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
    "immediate_safe_actions": "Cancel the blocking statement's query, not its session",
    "actions_requiring_approval": "Terminating a session of the batch role",
    "actions_forbidden": "Restarting the primary",
    "rollback_recovery": "Re-run the cancelled batch from its checkpoint",
    "communication": "#incident channel, status page after 15 min",
    "evidence_to_capture": "pg_locks snapshot, the blocking query's plan",
    "postmortem_questions": "Why did the batch take a table lock?",
}


def walk(value, path="record"):
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from walk(item, f"{path}.{i}")


def build_deep(review, *, architect, member):
    """A review holding a record of every declared kind (complete), a failed and a not-run concurrency
    test, a signal without its baseline, two recovery objectives (the later one counts), and runbooks:
    one tested by date, one tested by a passing runbook test, one never tested, one covering no required
    runbook. Decided by the architect."""
    score_all(review, member, owner=member)
    made = {
        kind: typed.add_record(review=review, actor=member, kind=kind, **SAMPLES[kind]) for kind in SAMPLES
    }
    failed = typed.add_record(
        review=review,
        actor=member,
        kind="concurrency_test",
        **{**SAMPLES["concurrency_test"], "scenario": "same_target_twice", "result": "failed"},
    )
    not_run = typed.add_record(
        review=review,
        actor=member,
        kind="concurrency_test",
        **{**SAMPLES["concurrency_test"], "scenario": "deadlock", "result": "not_run", "ran_on": ""},
    )
    bare_signal = typed.add_record(
        review=review, actor=member, kind="signal", **{**SAMPLES["signal"], "area": "storage", "baseline": ""}
    )
    later_objectives = typed.add_record(
        review=review,
        actor=member,
        kind="recovery_objectives",
        **{**SAMPLES["recovery_objectives"], "rpo_minutes": 1, "rto_minutes": 30},
    )
    today = timezone.localdate()
    lock_storm = evidence_services.add_runbook(
        review=review,
        actor=member,
        name="Lock storm runbook",
        owner="mia",
        last_tested=today - timedelta(days=10),
        covers="lock_storm",
        **RUNBOOK_TEMPLATE,
    )
    failover = evidence_services.add_runbook(
        review=review, actor=member, name="Failover runbook", owner="mia", last_tested=None, covers="failover"
    )
    now = timezone.now()
    evidence_services.add_runbook_test(
        review=review,
        actor=member,
        runbook_name="Failover runbook",
        scenario="Primary killed during peak",
        environment="staging",
        started_at=now - timedelta(days=3, hours=1),
        ended_at=now - timedelta(days=3),
        passed=True,
    )
    disk_full = evidence_services.add_runbook(
        review=review,
        actor=member,
        name="Disk full runbook",
        owner="mia",
        last_tested=None,
        covers="disk_full",
    )
    warmup = evidence_services.add_runbook(
        review=review, actor=member, name="Cache warm-up runbook", owner="mia", last_tested=today
    )
    decision = services.record_decision(
        review=review, actor=architect, next_review=today + timedelta(days=90)
    )
    return SimpleNamespace(
        decision=decision,
        made=made,
        failed=failed,
        not_run=not_run,
        bare_signal=bare_signal,
        later_objectives=later_objectives,
        lock_storm=lock_storm,
        failover=failover,
        disk_full=disk_full,
        warmup=warmup,
        test_day=(now - timedelta(days=3)).date().isoformat(),
    )


@pytest.fixture
def deep(review, architect, member):
    return build_deep(review, architect=architect, member=member)


def entries(record):
    return {e["id"]: e for row in record["scorecard"] for e in row["evidence"]}


# --- the JSON ---------------------------------------------------------------------------------------


def test_each_declared_record_is_in_the_json_with_its_values_and_verdict(deep):
    record = deep.decision.record
    assert record["schema"] == "readiness.decision/7"
    by_id = entries(record)
    for kind, item in deep.made.items():
        entry = by_id[item.pk]
        assert entry["kind"] == kind
        spec = kinds.KINDS[kind]
        held = entry["record"]
        assert set(held) == {"data", "verdict", "why", "summary"}
        assert set(held["data"]) == set(spec.names)
        assert held["verdict"] == "complete" and held["why"] == "", (kind, held)
        assert held["summary"] == spec.summary(item.record.data)
    assert by_id[deep.made["recovery_objectives"].pk]["record"]["data"]["rpo_minutes"] == "5"  # text
    assert by_id[deep.made["recovery_objectives"].pk]["record"]["data"]["restore_targets"] == [
        "database",
        "table",
    ]
    assert by_id[deep.failed.pk]["record"]["verdict"] == "failing"
    assert "did not hold" in by_id[deep.failed.pk]["record"]["why"]
    assert by_id[deep.not_run.pk]["record"]["verdict"] == "incomplete"
    assert by_id[deep.bare_signal.pk]["record"] == {
        **by_id[deep.bare_signal.pk]["record"],
        "verdict": "incomplete",
        "why": "does not say baseline or threshold",
    }


def test_runbook_entries_hold_the_whole_template_and_what_they_cover(deep):
    by_id = entries(deep.decision.record)
    book = by_id[deep.lock_storm.pk]["runbook"]
    assert book["covers"] == "lock_storm" and book["name"] == "Lock storm runbook" and book["owner"] == "mia"
    for name, value in RUNBOOK_TEMPLATE.items():
        assert book[name] == value, name
    assert by_id[deep.warmup.pk]["runbook"]["covers"] == ""
    (test,) = [e for e in by_id.values() if e["kind"] == "runbook_test"]
    assert test["runbook_test"]["runbook_id"] == deep.failover.pk and test["runbook_test"]["passed"] is True


def test_the_depth_section_sums_up_coverage_for_auditors(deep):
    depth = deep.decision.record["depth"]
    runbooks = {r["code"]: r for r in depth["runbooks"]}
    assert [r["code"] for r in depth["runbooks"]] == [code for code, _ in REQUIRED_RUNBOOKS]
    lock = runbooks["lock_storm"]
    assert lock["exists"] and lock["tested"]
    assert lock["last_tested"] == (timezone.localdate() - timedelta(days=10)).isoformat()
    assert lock["runbooks"] == [{"id": deep.lock_storm.pk, "name": "Lock storm runbook"}]
    assert runbooks["failover"]["tested"] and runbooks["failover"]["last_tested"] == deep.test_day
    assert runbooks["disk_full"] == {
        **runbooks["disk_full"],
        "exists": True,
        "tested": False,
        "last_tested": None,
    }
    assert runbooks["cdc_lag"] == {**runbooks["cdc_lag"], "exists": False, "tested": False, "runbooks": []}
    assert depth["other_runbooks"] == [
        {
            "id": deep.warmup.pk,
            "name": "Cache warm-up runbook",
            "last_tested": timezone.localdate().isoformat(),
        }
    ]

    matrix = {c["scenario"]: c for c in depth["concurrency"]}
    assert list(matrix) == list(REQUIRED_SCENARIOS)
    assert matrix["retried_10x"]["result"] == "passed" and matrix["retried_10x"]["ran_on"] == "2026-11-20"
    assert (
        matrix["same_target_twice"]["result"] == "failed"
        and matrix["same_target_twice"]["verdict"] == "failing"
    )
    assert matrix["deadlock"]["result"] == "not_run"
    assert matrix["lock_timeout"] == {
        **matrix["lock_timeout"],
        "tests": 0,
        "result": None,
        "verdict": "missing",
    }

    signals = {s["area"]: s for s in depth["signals"]}
    assert list(signals) == [code for code, _ in SIGNAL_AREAS]
    assert signals["locking"]["verdict"] == "complete" and signals["storage"]["verdict"] == "incomplete"
    assert signals["backup"] == {**signals["backup"], "records": 0, "verdict": "missing"}
    forecasts = {f["subject"]: f for f in depth["forecasts"]}
    assert list(forecasts) == list(REQUIRED_FORECASTS) and "cost" not in forecasts
    assert forecasts["rows"]["verdict"] == "complete" and forecasts["storage"]["verdict"] == "missing"

    objectives = depth["recovery_objectives"]
    assert objectives["id"] == deep.later_objectives.pk and objectives["earlier"] == 1
    assert objectives["data"]["rpo_minutes"] == "1" and objectives["verdict"] == "complete"

    counts = {k["kind"]: k for k in depth["kinds"]}
    assert set(counts) == set(kinds.KINDS)
    assert counts["concurrency_test"] == {
        "kind": "concurrency_test",
        "plural": "Concurrency tests",
        "count": 3,
        "complete": 1,
        "incomplete": 1,
        "failing": 1,
    }


def test_a_failing_declared_record_is_listed_as_failed_evidence_and_an_incomplete_one_is_not(deep):
    failed = {e["id"]: e for e in deep.decision.record["failed_evidence"]}
    assert deep.failed.pk in failed and "did not hold" in failed[deep.failed.pk]["why"]
    assert deep.not_run.pk not in failed and deep.bare_signal.pk not in failed
    assert deep.disk_full.pk in failed  # a runbook never tested, as before


def test_the_deep_record_is_plain_json_and_its_digest_verifies(deep):
    for path, value in walk(deep.decision.record):
        assert type(value) in (dict, list, str, int, bool, type(None)), path
    stored = Decision.objects.get(pk=deep.decision.pk)
    check = records.verify_stored(stored)
    assert check.matches and check.chain_ok, check.lines()
    assert records.verify_given(stored.record, claimed=stored.digest, decision=stored).matches
    forged = {**stored.record, "depth": {**stored.record["depth"], "runbooks": []}}
    result = records.verify_given(forged, claimed=None, decision=stored)
    assert not result.matches and any(d.path.startswith("depth.runbooks") for d in result.differences)


def test_depth_reads_the_entries_alone_latest_by_observed_time_and_only_passing_tests():
    def declared(pk, kind, observed, verdict="complete", **data):
        return {
            "id": pk,
            "kind": kind,
            "observed_at": observed,
            "record": {"data": data, "verdict": verdict, "why": "", "summary": ""},
        }

    record = {
        "scorecard": [
            {
                "evidence": [
                    # Added later (higher id) but ran earlier: the newer run counts.
                    declared(
                        9,
                        "concurrency_test",
                        "2026-11-01T00:00:00+00:00",
                        "failing",
                        scenario="deadlock",
                        result="failed",
                    ),
                    declared(
                        3,
                        "concurrency_test",
                        "2026-11-02T00:00:00+01:00",
                        scenario="deadlock",
                        result="passed",
                    ),
                    {
                        "id": 4,
                        "kind": "runbook",
                        "observed_at": "2026-11-01T00:00:00+00:00",
                        "runbook": {"name": "Lag", "covers": "replication_lag", "last_tested": None},
                    },
                    {
                        "id": 5,
                        "kind": "runbook_test",
                        "observed_at": "2026-11-03T00:00:00+00:00",
                        "runbook_test": {
                            "runbook_id": 4,
                            "passed": False,
                            "ended_at": "2026-11-03T00:00:00+00:00",
                        },
                    },
                ]
            }
        ]
    }
    depth = record_sections.depth(record)
    deadlock = next(c for c in depth["concurrency"] if c["scenario"] == "deadlock")
    assert deadlock["result"] == "passed" and deadlock["latest_id"] == 3 and deadlock["tests"] == 2
    lag = next(r for r in depth["runbooks"] if r["code"] == "replication_lag")
    assert lag["exists"] and not lag["tested"] and lag["last_tested"] is None  # a failed test is no test


# --- the PDF ----------------------------------------------------------------------------------------


def pdf_text(data: bytes) -> tuple[list[str], str]:
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]
    return pages, re.sub(r"\s+", " ", " ".join(pages))


def test_the_pdf_lists_each_kind_present_with_its_rows_and_the_coverage(deep):
    document = records.store_decision_pdf(deep.decision.pk)
    pages, text = pdf_text(bytes(document.pdf))
    assert "Inventories and plans" in text
    for kind in SAMPLES:
        plural = kinds.KINDS[kind].plural
        count = deep.decision.record["depth"]["kinds"]
        n = next(k["count"] for k in count if k["kind"] == kind)
        assert f"{plural} ({n})" in text, plural
    for expected in (
        "A closed case cannot receive a new enforcement decision.",  # an invariant, its title
        "CloseCase",
        "public.customers.email",
        "Write latency over SLO",
        "0042_cases_status",
        "Cases DB — locks",
        "120 M rows today → 410 M rows in 12 months",  # a forecast's key values
        "Failing",
        "did not hold",
        "does not say baseline or threshold",
    ):
        assert expected in text, expected
    # The coverage: every required runbook, with what exists and when it was last tested.
    assert "Required runbooks 3 of 14 exist · 2 tested" in text
    for _, name in REQUIRED_RUNBOOKS:
        assert name in text, name
    assert "Lock storm runbook" in text and deep.test_day in text and "missing" in text
    assert "Concurrency test matrix 1 of 6 scenarios passed their latest test" in text
    assert "Not run yet" in text and "One wins; the other gets a conflict" in text
    assert "Signals 1 of 10 areas complete" in text and "Forecasts 1 of 11 required complete" in text
    assert "RPO (minutes) 1" in text and "(the latest of 2)" in text
    assert "Other runbooks: Cache warm-up runbook" in text
    assert "readiness.decision/7" in text
    for n, page in enumerate(pages, start=1):
        assert f"Page {n} of {len(pages)}" in re.sub(r"\s+", " ", page)


def strip_to_6(record: dict) -> dict:
    """The record as schema /6 wrote it: no depth section, no declared records' values, runbooks with
    name, owner and last test only, no runbook tests' details."""
    old = {k: v for k, v in record.items() if k != "depth"}
    old["schema"] = "readiness.decision/6"
    old["scorecard"] = [
        {
            **row,
            "evidence": [
                {
                    **{k: v for k, v in e.items() if k not in ("record", "runbook_test")},
                    **(
                        {"runbook": {k: e["runbook"][k] for k in ("name", "owner", "last_tested")}}
                        if "runbook" in e
                        else {}
                    ),
                }
                for e in row["evidence"]
            ],
        }
        for row in record["scorecard"]
    ]
    return old


def test_a_schema_6_record_still_verifies_renders_and_shows_on_its_page(deep, system, architect, client):
    from tests.factories import ReviewFactory

    earlier = ReviewFactory(system=system, created_by=architect, chair=architect)
    record = strip_to_6(deep.decision.record)
    record["review"] = {**record["review"], "id": earlier.pk}
    at = deep.decision.recorded_at + timedelta(seconds=1)
    record["recorded_at"] = at.isoformat()
    record["previous_digest"] = deep.decision.digest
    old = Decision.objects.create(
        review=earlier,
        system=system,
        outcome=record["outcome"],
        blockers=record["blockers"],
        exceptions=record["exceptions"],
        follow_up=record["follow_up"],
        next_review=deep.decision.next_review,
        approver=architect,
        recorded_at=at,
        record=record,
        digest=services.record_digest(record),
        previous_digest=deep.decision.digest,
    )
    audit.record(
        actor=architect,
        action="decision.record",
        obj=old,
        review=earlier,
        after={"outcome": old.outcome, "digest": old.digest},
    )
    old.refresh_from_db()
    check = records.verify_stored(old)
    assert check.matches and check.chain_ok, check.lines()
    assert record_depth.view(old.record) is None
    pdf, _ = records.render_pdf(old.record, digest=old.digest, decision_id=old.pk)
    _, text = pdf_text(pdf)
    assert "readiness.decision/6" in text and "Inventories and plans" not in text
    client.force_login(architect)
    page = client.get(reverse("decision_detail", args=[old.pk]))
    assert page.status_code == 200 and "Inventories and plans" not in page.content.decode()


# --- the decision page ------------------------------------------------------------------------------


def test_the_decision_page_shows_the_inventories_and_coverage(
    deep, client, architect, auditor, django_assert_max_num_queries
):
    url = reverse("decision_detail", args=[deep.decision.pk])
    client.force_login(architect)
    client.get(url)
    with django_assert_max_num_queries(12):
        page = client.get(url)
    html = page.content.decode()
    assert page.status_code == 200 and "Inventories and plans" in html
    assert "Lock storm runbook" in html and "Connection pool exhaustion" in html
    assert "One wins; the other gets a conflict" in html and "public.customers.email" in html
    assert "does not say baseline or threshold" in html
    client.force_login(auditor)  # reads everything, changes nothing
    assert "Inventories and plans" in client.get(url).content.decode()


def test_another_teams_user_cannot_see_the_decision_page(deep, client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("decision_detail", args=[deep.decision.pk])).status_code == 404
