"""Invariant checks (seed §6.1, §11.4): a single read-only query, validated before it is saved, run after
the registry's probes in every run; zero rows passes, and the rows it returns are the evidence."""

import pytest
from django.core.exceptions import PermissionDenied

from probes import services
from probes.models import InvariantCheck, RunState
from reviews.models import FindingStatus, Level
from reviews.services import ServiceError

from . import test_targets as shared
from .test_targets import admin_connect

# Fixtures shared with test_targets.
make_target, target, target_db = shared.make_target, shared.target, shared.target_db

pytestmark = pytest.mark.django_db


def add(target, actor, sql, name="entries balance", **kwargs):
    return services.add_invariant_check(target=target, name=name, sql=sql, actor=actor, **kwargs)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_entry SET amount_minor = 0",
        "DELETE FROM ledger_entry",
        "INSERT INTO ledger_entry VALUES (3, 0)",
        "DROP TABLE ledger_entry",
        "SELECT 1; DELETE FROM ledger_entry",
        "SELECT 1; SELECT 2",
        "WITH gone AS (DELETE FROM ledger_entry RETURNING id) SELECT id FROM gone",
        "",
    ],
)
def test_anything_but_one_select_is_refused_before_saving(target, architect, sql):
    with pytest.raises(ServiceError) as err:
        add(target, architect, sql)
    assert err.value.error_dict["sql"]
    assert not InvariantCheck.objects.exists()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id FROM ledger_entry WHERE amount_minor = 0",
        "select e.id from ledger_entry e where e.id < 0;",
        "WITH totals AS (SELECT sum(amount_minor) AS s FROM ledger_entry) SELECT s FROM totals WHERE s <> 0",
    ],
)
def test_a_select_or_with_query_is_accepted(target, architect, sql):
    check = add(target, architect, sql)
    assert check.category == "data-model" and check.severity == Level.P1 and check.row_cap == 100


def test_names_are_unique_per_target_and_settings_are_checked(target, architect):
    add(target, architect, "SELECT 1 WHERE false")
    with pytest.raises(ServiceError) as err:
        add(
            target,
            architect,
            "SELECT 1 WHERE false",
            name="Entries Balance",
            severity="P9",
            row_cap=0,
            category="nope",
        )
    assert set(err.value.error_dict) == {"name", "severity", "row_cap", "category"}


def test_an_auditor_may_not_add_or_delete_checks(target, architect, auditor):
    check = add(target, architect, "SELECT 1 WHERE false")
    with pytest.raises(PermissionDenied):
        add(target, auditor, "SELECT 1 WHERE false", name="other")
    with pytest.raises(PermissionDenied):
        services.delete_invariant_check(check=check, actor=auditor)


def test_checks_run_after_the_probes_and_their_violations_are_the_evidence(
    target, architect, review, target_db, django_capture_on_commit_callbacks
):
    passing = add(target, architect, "SELECT id FROM ledger_entry WHERE id < 0", name="ids are positive")
    broken = add(
        target,
        architect,
        "SELECT id, amount_minor FROM ledger_entry WHERE amount_minor < 0 ORDER BY id",
        name="no negative amounts",
        severity=Level.P0,
        row_cap=1,
    )
    with admin_connect(target_db) as conn:
        conn.execute("INSERT INTO ledger_entry VALUES (3, -5)")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run = services.start_probe_run(target=target, actor=architect, review=review)
    finally:
        with admin_connect(target_db) as conn:
            conn.execute("DELETE FROM ledger_entry WHERE id = 3")
    run.refresh_from_db()
    assert run.state == RunState.DONE, run.error
    results = list(run.results.order_by("pk"))
    assert [r.probe_id for r in results[-2:]] == [passing.probe_id, broken.probe_id]  # after the registry's

    ok, bad = results[-2], results[-1]
    assert ok.status == "pass" and ok.title == "ids are positive"
    assert bad.status == "fail" and bad.severity == Level.P0 and bad.category == "data-model"
    assert len(bad.rows) == 1  # the row cap
    assert bad.rows[0]["amount_minor"] in (-100, -5)
    assert bad.evidence.category.code == "data-model" and bad.evidence.kind == "probe_result"

    finding = review.findings.get(probe_key=f"{broken.probe_id}:")
    assert finding.level == Level.P0 and finding.status == FindingStatus.OPEN
    assert finding.title == "Invariant broken: no negative amounts"


def test_a_failing_check_never_stops_the_run(target, architect, django_capture_on_commit_callbacks):
    add(target, architect, "SELECT id FROM table_that_is_not_there", name="missing table")
    with django_capture_on_commit_callbacks(execute=True):
        run = services.start_probe_run(target=target, actor=architect)
    run.refresh_from_db()
    assert run.state == RunState.DONE
    assert run.results.get(probe_id__startswith="invariant.").status == "error"
