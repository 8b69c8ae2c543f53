"""What the review holds, where the meeting walks it (reviews.depth): each step's content from real records
added through the services, the SQL check's last result, the PII probe and the constraint probes from a real
probe run on a real target database, restore drills against the objectives, runbook coverage, a fixed
number of queries; and the meeting steps and the review page that show it, as three people."""

from datetime import date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from psycopg import sql

from evidence import services as evidence_services
from evidence import typed
from evidence.kinds import declared
from evidence.kinds.runbooks import DIAGNOSTIC_PROBES, REQUIRED_RUNBOOKS
from probes import services as probe_services
from probes.models import ProbeResult, RunState
from reviews import depth
from tests.evidence.declared_samples import SAMPLES
from tests.probes.conftest import probe_role  # noqa: F401 (the least-privilege role probes connect as)
from tests.probes.test_targets import admin_connect, dsn_for

pytestmark = pytest.mark.django_db


def add(review, actor, kind, **changes):
    return typed.add_record(review=review, actor=actor, kind=kind, **{**SAMPLES[kind], **changes})


def at(days_ago: float, hour: int = 10) -> datetime:
    return timezone.now().replace(hour=hour, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)


def drill(
    review, actor, *, lost_min: int, took_min: int, rpo_target: int, rto_target: int, passed=True, db="ledger"
):
    start = at(3)
    return evidence_services.add_restore_drill(
        review=review,
        actor=actor,
        title=f"Restore drill of {db}",
        database=db,
        backup_source="pgBackRest full + WAL",
        target_environment="staging",
        requested_recovery_point=start - timedelta(hours=1),
        actual_recovery_point=start - timedelta(hours=1, minutes=lost_min),
        started_at=start,
        ended_at=start + timedelta(minutes=took_min),
        rpo_target_minutes=rpo_target,
        rto_target_minutes=rto_target,
        validation_queries="SELECT count(*) FROM ledger_entry",
        validation_passed=passed,
    )


def rehearsal(review, actor, migration, *, passed=True):
    start = at(2)
    return evidence_services.add_migration_rehearsal(
        review=review,
        actor=actor,
        migration=migration,
        phase="expand",
        environment="staging",
        dataset="snapshot of 1 Nov, 1.2 TB",
        started_at=start,
        ended_at=start + timedelta(minutes=38),
        lock_behaviour="SHARE UPDATE EXCLUSIVE on cases while validating",
        validation_query="SELECT count(*) FROM cases WHERE status IS NULL",
        validation_passed=passed,
    )


def runbook(review, actor, name, covers, last_tested=None):
    return evidence_services.add_runbook(
        review=review, actor=actor, name=name, owner="dba-team", last_tested=last_tested, covers=covers
    )


def runbook_test(review, actor, name, *, passed=True, days_ago=4):
    start = at(days_ago)
    return evidence_services.add_runbook_test(
        review=review,
        actor=actor,
        runbook_name=name,
        scenario="A lock storm on the primary",
        environment="staging",
        started_at=start,
        ended_at=start + timedelta(minutes=25),
        passed=passed,
    )


# --- Step 3: invariants, their SQL checks and constraint coverage


def test_the_invariant_inventory_lists_each_record_with_its_verdict_and_the_constraint_coverage(
    review, member
):
    add(review, member, "invariant")  # a transition, held by the database
    add(
        review,
        member,
        "invariant",
        invariant="Every ledger entry has an account.",
        rule_type="required",
        in_database="no",
        constraint="",
        test="",
        sql_check="",
    )
    add(
        review,
        member,
        "invariant",
        invariant="One open case per debtor.",
        rule_type="uniqueness",
        sql_check="",
    )
    step = depth.depth_for_review(review, steps=(3,)).step(3)
    by_text = {row.entry.data["invariant"]: row for row in step.invariants}
    assert len(by_text) == 3
    required = by_text["Every ledger entry has an account."]
    assert required.entry.state == "incomplete"  # a required value held only by the application, no test
    assert "NOT NULL" in required.entry.verdict.why
    assert by_text["One open case per debtor."].entry.state == "complete"
    coverage = {c.code: c for c in step.coverage}
    assert [c.code for c in step.coverage] == [code for code, _ in declared.RULE_TYPES]
    assert (coverage["required"].count, coverage["required"].in_database) == (1, 0)
    assert (coverage["transition"].count, coverage["transition"].in_database) == (1, 1)
    assert (coverage["uniqueness"].count, coverage["uniqueness"].in_database) == (1, 1)
    assert coverage["temporal"].count == 0
    assert coverage["referential"].preferred == declared.PREFERRED_ENFORCEMENT["referential"]
    assert step.summary == "3 invariants, 2 complete · 2 held by the database"


def test_an_sql_check_named_but_not_registered_says_so(review, member):
    add(review, member, "invariant", sql_check="no such check")
    row = depth.depth_for_review(review, steps=(3,)).step(3).invariants[0]
    assert row.sql_check == "no such check" and row.checks == ()


# --- A real probe run on a real target database: the invariant check's last result, the PII probe,
# the constraint probes and the runbooks' diagnostics


@pytest.fixture(scope="module")
def depth_db(probe_role):  # noqa: F811
    """Customers with an email and a phone column (both PII-looking, unclassified), and cases holding one
    closed case with a decision under a CHECK constraint left NOT VALID."""
    name = f"readiness_depth_target_{timezone.now():%H%M%S%f}"
    with admin_connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with admin_connect(name) as conn:
            conn.execute("CREATE TABLE customers (id bigint PRIMARY KEY, email text, phone text)")
            conn.execute(
                "CREATE TABLE cases (id bigint PRIMARY KEY, status text NOT NULL, decision_id bigint)"
            )
            conn.execute("INSERT INTO cases VALUES (1, 'closed', 7), (2, 'open', NULL)")
            conn.execute(
                "ALTER TABLE cases ADD CONSTRAINT cases_closed_has_no_decision "
                "CHECK (status <> 'closed' OR decision_id IS NULL) NOT VALID"
            )
        yield name
    finally:
        with admin_connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def probed(review, system, architect, member, depth_db, django_capture_on_commit_callbacks):
    """The system's target with the invariant check the sample invariant names, and a finished run of every
    probe for the review (Celery runs eagerly in tests: the run happens at commit)."""
    target = probe_services.create_target(
        system=system, name="production primary", dsn=dsn_for(depth_db), actor=architect
    )
    check = probe_services.add_invariant_check(
        target=target,
        name="Closed cases with decisions",  # the invariant names it in lower case
        sql="SELECT id FROM cases WHERE status = 'closed' AND decision_id IS NOT NULL",
        actor=architect,
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = probe_services.start_probe_run(target=target, actor=member, review=review)
    run.refresh_from_db()
    assert run.state == RunState.DONE, run.error
    return target, check, run


def test_an_invariants_sql_check_shows_its_last_result(review, member, probed):
    target, check, run = probed
    add(review, member, "invariant")  # sql_check "closed cases with decisions"
    row = depth.depth_for_review(review, steps=(3,)).step(3).invariants[0]
    (found,) = row.checks
    assert (found.check_id, found.target) == (check.pk, "production primary")
    stored = ProbeResult.objects.get(run=run, probe_id=check.probe_id)
    assert found.result.status == "fail" == stored.status  # the closed case with a decision breaks it
    assert found.result.at == stored.created_at and found.result.summary == stored.summary
    assert found.result.run_id == run.pk


def test_the_last_result_is_the_latest_run_of_the_check(
    review, member, probed, depth_db, django_capture_on_commit_callbacks
):
    target, check, first = probed
    with admin_connect(depth_db) as conn:
        conn.execute("UPDATE cases SET decision_id = NULL WHERE id = 1")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            second = probe_services.start_probe_run(target=target, actor=member, review=review)
        add(review, member, "invariant")
        (found,) = depth.depth_for_review(review, steps=(3,)).step(3).invariants[0].checks
        assert found.result.run_id == second.pk and found.result.status == "pass"
    finally:
        with admin_connect(depth_db) as conn:  # the NOT VALID constraint refuses the row as it was
            conn.execute("ALTER TABLE cases DROP CONSTRAINT cases_closed_has_no_decision")
            conn.execute("UPDATE cases SET decision_id = 7 WHERE id = 1")
            conn.execute(
                "ALTER TABLE cases ADD CONSTRAINT cases_closed_has_no_decision "
                "CHECK (status <> 'closed' OR decision_id IS NULL) NOT VALID"
            )


def test_the_constraint_an_invariant_names_is_shown_with_what_the_schema_probes_say_of_it(
    review, member, probed
):
    add(review, member, "invariant")  # constraint cases_closed_has_no_decision, left NOT VALID
    add(
        review,
        member,
        "invariant",
        invariant="Amounts are positive.",
        constraint="amount_positive",
        sql_check="",
    )
    rows = {r.constraint: r for r in depth.depth_for_review(review, steps=(3,)).step(3).invariants}
    (mention,) = rows["cases_closed_has_no_decision"].mentions
    assert "NOT VALID" in mention and "production primary" in mention and "public.cases" in mention
    assert rows["amount_positive"].mentions == ()


def test_the_pii_probe_flags_columns_the_privacy_inventory_does_not_hold(review, member, probed):
    add(review, member, "privacy_field")  # public.customers.email
    add(review, member, "privacy_field", table="billing.invoices", column="iban")  # not flagged by the probe
    step = depth.depth_for_review(review, steps=(9,)).step(9)
    (result,) = step.probe
    assert result.status == "fail" and result.target == "production primary"
    assert [f.column for f in step.uncovered] == ["public.customers.phone"]
    flagged = {row.column: row.flagged for row in step.rows}
    assert flagged == {"public.customers.email": True, "billing.invoices.iban": False}
    assert step.summary == "2 privacy fields, 2 complete · 1 flagged column not in the inventory"


def test_a_table_named_without_its_schema_is_matched_in_public(review, member, probed):
    add(review, member, "privacy_field", table="customers", column="PHONE")
    add(review, member, "privacy_field", table='"public"."customers"', column="email")
    step = depth.depth_for_review(review, steps=(9,)).step(9)
    assert step.uncovered == [] and all(row.flagged for row in step.rows)


def test_the_pii_probe_is_read_from_the_reviews_own_runs(review, member, system, architect, probed):
    from tests.factories import ReviewFactory

    other = ReviewFactory(system=system, created_by=architect, chair=architect, release_scope="Ledger 3.1")
    add(other, member, "privacy_field")
    step = depth.depth_for_review(other, steps=(9,)).step(9)
    assert step.probe == [] and step.uncovered == []
    assert "has not run for this review" in step.summary


def test_runbook_coverage_with_tests_and_the_probes_that_run_its_diagnostics(review, member, probed):
    target, check, run = probed
    runbook(review, member, "Lock storm", "lock_storm")  # never tested itself, but a passing test is linked
    runbook_test(review, member, "Lock storm", days_ago=4)
    runbook(review, member, "Disk full", "disk_full", last_tested=date.today() - timedelta(days=20))
    runbook(review, member, "Pool exhausted", "pool_exhaustion")
    runbook_test(review, member, "Pool exhausted", passed=False)
    runbook(review, member, "Vendor outage", "")
    step = depth.depth_for_review(review, steps=(10,)).step(10)
    rows = {row.code: row for row in step.rows}
    assert list(rows) == [code for code, _ in REQUIRED_RUNBOOKS]
    assert rows["lock_storm"].tested and rows["lock_storm"].tested_on == at(4).date()
    assert rows["disk_full"].tested and rows["disk_full"].tested_on == date.today() - timedelta(days=20)
    assert rows["pool_exhaustion"].runbooks and not rows["pool_exhaustion"].tested  # its test failed
    assert not rows["failover"].runbooks and not rows["failover"].tested
    assert [r.runbook.name for r in step.others] == ["Vendor outage"]
    assert (step.covered, step.tested) == (3, 2)
    assert step.summary == "3 of 14 required runbooks · 2 tested"
    # The probes of each runbook's diagnostics, with their latest result on the target.
    disk = {d.probe_id: d for d in rows["disk_full"].diagnostics}
    assert list(disk) == list(DIAGNOSTIC_PROBES["disk_full"])
    stored = dict(ProbeResult.objects.filter(run=run).values_list("probe_id", "status"))
    for probe_id, diagnostic in disk.items():
        (result,) = diagnostic.results
        assert result.target == "production primary" and result.status == stored[probe_id]
        assert diagnostic.title != probe_id  # the probe's title
    assert rows["data_correctness"].diagnostics == ()


def test_probe_results_of_another_system_are_not_shown(review, member, probed, other_team, outsider):
    from tests.factories import ReviewFactory, SystemFactory

    elsewhere = SystemFactory(team=other_team, name="Identity", slug="identity")
    theirs = ReviewFactory(system=elsewhere, created_by=outsider, chair=outsider)
    add(theirs, outsider, "invariant")
    whole = depth.depth_for_review(theirs)
    assert whole.step(3).invariants[0].checks == () and whole.step(3).invariants[0].mentions == ()
    assert all(not d.results for row in whole.step(10).rows for d in row.diagnostics)
    assert whole.step(9).probe == []


# --- Step 4: write paths and the concurrency test matrix


def test_the_concurrency_matrix_shows_the_latest_result_per_scenario_and_write_path(review, member):
    add(review, member, "write_path")  # CloseCase
    add(review, member, "write_path", command="ReopenCase", after_commit="")
    add(review, member, "concurrency_test", scenario="retried_10x", result="failed", ran_on="2026-11-01")
    add(review, member, "concurrency_test", scenario="retried_10x", result="passed", ran_on="2026-11-20")
    add(review, member, "concurrency_test", scenario="deadlock", result="not_run", ran_on="")
    add(
        review,
        member,
        "concurrency_test",
        scenario="transition_race",
        write_path="ReopenCase",
        result="passed",
    )
    add(
        review,
        member,
        "concurrency_test",
        scenario="same_target_twice",
        write_path="MergeCases",
        result="passed",
    )
    add(
        review,
        member,
        "concurrency_test",
        scenario="other",
        description="Clock skew between app servers",
        expected="Ordering by the database clock",
        result="passed",
    )
    step = depth.depth_for_review(review, steps=(4,)).step(4)
    assert [e.data["command"] for e in step.write_paths] == ["ReopenCase", "CloseCase"]
    assert {e.data["command"]: e.state for e in step.write_paths} == {
        "CloseCase": "complete",
        "ReopenCase": "incomplete",
    }
    assert step.columns == ["ReopenCase", "CloseCase", "MergeCases"]
    matrix = {row.scenario if row.required else row.label: row for row in step.matrix}
    assert [r.scenario for r in step.matrix] == [*declared.REQUIRED_SCENARIOS, "other"]
    states = {code: [c.state for c in row.cells] for code, row in matrix.items()}
    assert states["retried_10x"] == ["missing", "passed", "missing"]  # the newer run, not the failed one
    assert matrix["retried_10x"].cells[1].ran_on == "2026-11-20"
    assert states["deadlock"] == ["missing", "not_run", "missing"]
    assert states["transition_race"] == ["passed", "missing", "missing"]
    assert states["same_target_twice"] == ["missing", "missing", "passed"]
    assert states["lock_timeout"] == ["missing"] * 3
    assert states["Clock skew between app servers"] == ["missing", "passed", "missing"]
    assert matrix["Clock skew between app servers"].expected == "Ordering by the database clock"
    assert matrix["deadlock"].expected == declared.EXPECTED["deadlock"]
    assert (step.passed, step.required_cells) == (3, 18)
    assert step.summary == "2 write paths, 1 complete · matrix 3 of 18 passed"


def test_with_nothing_recorded_the_matrix_lists_every_required_scenario_as_missing(review):
    step = depth.depth_for_review(review, steps=(4,)).step(4)
    assert step.column_labels == ["Any write path"]
    assert [(r.scenario, [c.state for c in r.cells]) for r in step.matrix] == [
        (code, ["missing"]) for code in declared.REQUIRED_SCENARIOS
    ]
    assert step.summary == "no write paths recorded · matrix 0 of 6 passed"


# --- Step 5: forecasts


def test_forecast_coverage_says_which_required_forecasts_exist(review, member):
    add(review, member, "forecast")  # rows
    add(review, member, "forecast", subject="rows", scope="case_events")
    add(review, member, "forecast", subject="cost", scope="")
    step = depth.depth_for_review(review, steps=(5,)).step(5)
    coverage = {c.code: c for c in step.coverage}
    assert len(coverage["rows"].entries) == 2 and coverage["rows"].required
    assert coverage["cost"].entries and not coverage["cost"].required
    assert not coverage["storage"].entries
    assert (step.covered, step.required) == (1, len(declared.REQUIRED_FORECASTS))
    assert step.summary == "3 forecasts · 1 of 11 required forecasts"


# --- Step 6: migration plans beside their rehearsals


def test_migration_plans_stand_beside_rehearsals_of_the_same_migration(review, member):
    add(review, member, "migration_plan")  # 0042_cases_status
    add(review, member, "migration_plan", migration="0043_drop_legacy", backward_compatible="no")
    rehearsal(review, member, "0042_CASES_STATUS ")
    rehearsal(review, member, "0041_add_index")
    step = depth.depth_for_review(review, steps=(6,)).step(6)
    plans = {row.entry.data["migration"]: row for row in step.plans}
    assert [r.migration_rehearsal.migration for r in plans["0042_cases_status"].rehearsals] == [
        "0042_CASES_STATUS"
    ]
    assert plans["0043_drop_legacy"].rehearsals == ()
    assert plans["0043_drop_legacy"].entry.state == "failing"
    assert [r.migration_rehearsal.migration for r in step.unplanned] == ["0041_add_index"]
    assert step.summary == "2 migration plans, 1 complete · 1 rehearsed · 1 rehearsal without a plan"


# --- Step 7: restore drills measured against the recovery objectives


def test_restore_drills_are_measured_against_the_latest_recovery_objectives(review, member):
    add(review, member, "recovery_objectives", rpo_minutes=30, rto_minutes=240)  # superseded
    add(review, member, "recovery_objectives")  # RPO 5 min, RTO 60 min
    drill(review, member, lost_min=3, took_min=45, rpo_target=5, rto_target=60, db="ledger")
    drill(review, member, lost_min=12, took_min=50, rpo_target=15, rto_target=60, db="archive")
    drill(review, member, lost_min=2, took_min=95, rpo_target=5, rto_target=120, db="cases")
    step = depth.depth_for_review(review, steps=(7,)).step(7)
    assert (step.objectives.data["rpo_minutes"], step.objectives.data["rto_minutes"]) == (5, 60)
    assert step.older == 1
    drills = {d.drill.database: d for d in step.drills}
    assert (drills["ledger"].rpo_met, drills["ledger"].rto_met, drills["ledger"].meets) == (True, True, True)
    assert drills["ledger"].looser == ()
    # It met its own 15-minute target but not the objective of 5; its target is flagged as looser.
    assert (
        drills["archive"].drill.rpo_met and drills["archive"].rpo_met is False and not drills["archive"].meets
    )
    assert drills["archive"].looser == ("RPO target 15 min (objective 5 min)",)
    assert drills["cases"].rto_met is False and drills["cases"].rto_words == "95 min"
    assert drills["cases"].looser == ("RTO target 120 min (objective 60 min)",)
    assert step.summary == "RPO 5 min, RTO 60 min · 3 restore drills, 1 meets them"


def test_without_recovery_objectives_drills_are_listed_and_the_step_says_so(review, member):
    drill(review, member, lost_min=3, took_min=45, rpo_target=5, rto_target=60)
    step = depth.depth_for_review(review, steps=(7,)).step(7)
    assert step.objectives is None
    (row,) = step.drills
    assert row.rpo_met is None and row.rto_met is None and row.looser == ()
    assert step.summary == "no recovery objectives · 1 restore drill"


def test_a_drill_that_failed_validation_does_not_meet_the_objectives(review, member):
    add(review, member, "recovery_objectives")
    drill(review, member, lost_min=1, took_min=10, rpo_target=5, rto_target=60, passed=False)
    (row,) = depth.depth_for_review(review, steps=(7,)).step(7).drills
    assert row.rpo_met and row.rto_met and not row.meets


# --- Step 8: signals, dashboards, alert rules


def test_signals_and_dashboards_cover_their_areas_and_alert_rules_carry_their_verdicts(review, member):
    add(review, member, "signal")  # locking
    add(review, member, "signal", area="replication", baseline="")
    add(review, member, "dashboard")  # locks
    add(review, member, "dashboard", dashboard="other", name="Tenant billing")
    add(review, member, "alert_rule")
    add(review, member, "alert_rule", name="Disk 90 % full", threshold_basis="static")
    step = depth.depth_for_review(review, steps=(8,)).step(8)
    assert len(step.signals) == len(declared.SIGNAL_AREAS) == 10
    covered = [c.code for c in step.signals if c.entries]
    assert covered == ["replication", "locking"] or sorted(covered) == ["locking", "replication"]
    assert [c.code for c in step.dashboards if c.entries] == ["locks"]
    assert "other" not in [c.code for c in step.dashboards]
    assert [e.name for e in step.other_dashboards] == ["Tenant billing"]
    assert {e.data["name"]: e.state for e in step.alerts} == {
        "Write latency over SLO": "complete",
        "Disk 90 % full": "incomplete",
    }
    assert step.summary == "signals in 2 of 10 areas · dashboards 1 of 10 · 2 alert rules, 1 complete"


# --- A fixed number of queries


def fill(review, member, n: int) -> None:
    for i in range(n):
        add(
            review, member, "invariant", invariant=f"Rule {i}", constraint=f"rule_{i}", sql_check=f"check {i}"
        )
        add(review, member, "write_path", command=f"Command{i}")
        add(review, member, "concurrency_test", write_path=f"Command{i}", scenario="deadlock")
        add(review, member, "forecast", scope=f"table {i}")
        add(review, member, "migration_plan", migration=f"00{i}_change")
        rehearsal(review, member, f"00{i}_change")
        add(review, member, "recovery_objectives")
        drill(review, member, lost_min=i, took_min=30, rpo_target=5, rto_target=60)
        add(review, member, "signal", area=declared.SIGNAL_AREAS[i % 10][0])
        add(review, member, "dashboard", name=f"Board {i}")
        add(review, member, "alert_rule", name=f"Alert {i}")
        add(review, member, "privacy_field", column=f"col_{i}")
        runbook(review, member, f"Runbook {i}", REQUIRED_RUNBOOKS[i % 14][0])
        runbook_test(review, member, f"Runbook {i}")


def count(review, **kwargs) -> int:
    with CaptureQueriesContext(connection) as ctx:
        whole = depth.depth_for_review(review, **kwargs)
        for part in whole.steps.values():  # everything the templates read is already there
            str(part.__dict__)
    return len(ctx.captured_queries)


def test_the_depth_takes_a_fixed_number_of_queries_whatever_the_number_of_records(
    review, member, probed, django_assert_max_num_queries
):
    with django_assert_max_num_queries(4):
        depth.depth_for_review(review)
    empty = count(review)
    fill(review, member, 2)
    few = count(review)
    fill(review, member, 12)
    with django_assert_max_num_queries(4):
        many = depth.depth_for_review(review)
    assert len(many.step(3).invariants) == 14 and len(many.step(7).drills) == 14
    assert count(review) == few <= 4 and empty <= few
    assert count(review, summaries=True) == 2  # the records and the PII probe's results


def test_one_step_reads_only_what_it_shows(review, member):
    fill(review, member, 1)
    assert count(review, steps=(4,)) == 1
    assert count(review, steps=(9,)) == 2


# --- The meeting steps and the review page


@pytest.fixture
def held(review, member):
    add(review, member, "invariant")
    add(review, member, "write_path")
    add(review, member, "concurrency_test")
    add(review, member, "forecast")
    add(review, member, "migration_plan")
    add(review, member, "recovery_objectives")
    drill(review, member, lost_min=12, took_min=45, rpo_target=15, rto_target=60)
    add(review, member, "signal")
    add(review, member, "alert_rule")
    add(review, member, "privacy_field")
    runbook(review, member, "Lock storm", "lock_storm", last_tested=date.today() - timedelta(days=3))
    return review


EXPECTED_ON_STEP = {
    3: [
        "A closed case cannot receive a new enforcement decision.",
        "Constraint coverage",
        "Temporal non-overlap",
    ],
    4: ["CloseCase", "Concurrency test matrix", "One effect, the same response", "Passed", "Missing"],
    5: ["Row growth per core table", "120 M rows"],
    6: ["0042_cases_status", "Not rehearsed on production-like data yet."],
    7: [
        "RPO 5 min, RTO 60 min",
        "misses the 5 min objective",
        "Its own targets are looser than the objectives",
    ],
    8: ["Write latency over SLO", "Locks and contention", "Vacuum and maintenance"],
    9: ["customers.email", "The PII probe has not run for this review"],
    10: ["Lock storm or deadlock spike", "Failover or promotion", "missing"],
}
RECORD_LINK = {
    3: "Record an invariant",
    4: "Record a concurrency test",
    5: "Record a forecast",
    6: "Record a migration rehearsal",
    7: "Record the recovery objectives",
    8: "Record an alert rule",
    9: "Record a privacy field",
    10: "Record a runbook test",
}


@pytest.mark.parametrize("step", depth.DEPTH_STEPS)
def test_each_meeting_step_shows_what_the_review_holds_and_offers_to_record_more(client, member, held, step):
    client.force_login(member)
    page = client.get(reverse("meeting_step", args=[held.pk, step])).content.decode()
    assert f'id="depth-{step}"' in page
    for text in EXPECTED_ON_STEP[step]:
        assert text in page, text
    assert RECORD_LINK[step] in page
    kind = {3: "invariant", 7: "recovery_objectives", 10: "runbook_test"}.get(step)
    if kind:
        assert reverse("evidence_create", args=[held.pk, kind]) in page


@pytest.mark.parametrize("step", [3, 7, 10])
def test_the_auditor_reads_the_step_without_record_links(client, auditor, held, step):
    client.force_login(auditor)
    response = client.get(reverse("meeting_step", args=[held.pk, step]))
    assert response.status_code == 200
    page = response.content.decode()
    assert f'id="depth-{step}"' in page and EXPECTED_ON_STEP[step][0] in page
    assert RECORD_LINK[step] not in page and "/evidence/new/" not in page


def test_another_teams_user_gets_404_on_the_steps_and_the_review_page(client, outsider, held):
    client.force_login(outsider)
    for step in (3, 7, 10):
        assert client.get(reverse("meeting_step", args=[held.pk, step])).status_code == 404
    response = client.get(held.get_absolute_url())
    assert response.status_code == 404 and b"closed case" not in response.content


def test_the_review_page_summarises_each_step_with_a_link_to_it(client, auditor, held):
    client.force_login(auditor)
    page = client.get(held.get_absolute_url()).content.decode()
    assert 'id="depth"' in page and "Review depth" in page
    for n in depth.DEPTH_STEPS:
        assert reverse("meeting_step", args=[held.pk, n]) in page
    assert "1 invariant, 1 complete · 1 held by the database" in page
    assert "RPO 5 min, RTO 60 min · 1 restore drill, 0 meet them" in page
    assert "1 of 14 required runbooks · 1 tested" in page


@pytest.mark.parametrize("step", [3, 4, 7, 9, 10])
def test_a_steps_queries_do_not_grow_with_the_records(client, member, review, step, probed):
    client.force_login(member)
    url = reverse("meeting_step", args=[review.pk, step])
    fill(review, member, 1)
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    fill(review, member, 6)
    with CaptureQueriesContext(connection) as many:
        page = client.get(url).content.decode()
    assert len(many.captured_queries) == len(few.captured_queries)
    assert f'id="depth-{step}"' in page


def test_the_review_pages_queries_do_not_grow_with_the_records(client, member, review, probed):
    client.force_login(member)
    url = review.get_absolute_url()
    fill(review, member, 1)
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    fill(review, member, 6)
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_steps_show_what_the_probes_found(client, auditor, member, review, probed):
    add(review, member, "invariant")
    add(review, member, "privacy_field")
    client.force_login(auditor)
    step3 = client.get(reverse("meeting_step", args=[review.pk, 3])).content.decode()
    assert (
        "“Closed cases with decisions” " in step3
        and '<span class="probe-status probe-fail">Fail</span>' in step3
    )
    assert "the probes found it left NOT VALID on production primary (public.cases)" in step3
    step9 = client.get(reverse("meeting_step", args=[review.pk, 9])).content.decode()
    flagged = step9.split("Flagged as personal data and not in the privacy inventory:", 1)[1].split("</ul>")[
        0
    ]
    assert "<code>public.customers.phone</code>" in flagged and "email" not in flagged
    assert "The PII probe flags <code>public.customers.email</code>" in step9
