"""Probe runs in-process (Celery eager): enqueue with the id only, claim once, store each result once,
resume after a worker died, the sweeper, failures with a clear reason. The real worker is in
test_worker.py."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from probes import engine, registry, services, tasks
from probes.models import ProbeResult, ProbeRun, RunState
from probes.services import runs
from reviews.models import ReviewState
from reviews.services import ServiceError

from . import test_targets as shared
from .test_targets import PASSWORD, dsn_for

# Fixtures shared with test_targets.
make_target, target, target_db = shared.make_target, shared.target, shared.target_db

pytestmark = pytest.mark.django_db


def plan(target) -> list[str]:
    return [p.id for p in registry.all_probes()] + [
        c.probe_id for c in target.invariant_checks.order_by("pk")
    ]


def start(target, actor, capture, review=None) -> ProbeRun:
    """Start a run and let on_commit fire: with CELERY_TASK_ALWAYS_EAGER the task runs right here."""
    with capture(execute=True):
        run = services.start_probe_run(target=target, actor=actor, review=review)
    run.refresh_from_db()
    return run


def test_starting_a_run_enqueues_its_id_and_nothing_else(target, member, django_capture_on_commit_callbacks):
    with mock.patch.object(tasks.run_probe_run, "delay") as delay:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            run = services.start_probe_run(target=target, actor=member)
        delay.assert_not_called()  # only once the transaction commits
        for callback in callbacks:
            callback()
    delay.assert_called_once_with(run.pk)
    assert PASSWORD not in repr(delay.call_args)
    assert run.state == RunState.QUEUED and run.attempts == 1 and run.deadline > timezone.now()


def test_a_run_stores_one_result_per_probe_and_finishes(target, member, django_capture_on_commit_callbacks):
    run = start(target, member, django_capture_on_commit_callbacks)
    assert run.state == RunState.DONE, run.error
    ids = list(run.results.values_list("probe_id", flat=True))
    assert sorted(ids) == sorted(plan(target))
    assert run.progress_done == run.progress_total == len(ids) >= 1
    assert run.current_probe == "" and run.started_at and run.finished_at >= run.started_at
    assert run.claim_token is None


def test_running_the_task_again_stores_nothing_twice(target, member, django_capture_on_commit_callbacks):
    run = start(target, member, django_capture_on_commit_callbacks)
    before = list(run.results.order_by("pk").values_list("pk", "probe_id"))
    assert tasks.run_probe_run(run.pk) == "not claimed"
    assert list(run.results.order_by("pk").values_list("pk", "probe_id")) == before


def test_storing_the_same_result_twice_keeps_the_first(target, member):
    run = ProbeRun.objects.create(target=target, started_by=member, state=RunState.RUNNING)
    first = registry.Result("x.probe", "schema", "P1", registry.Status.FAIL, "first")
    services.store_result(run, first, title="X")
    services.store_result(run, registry.Result("x.probe", "schema", "P1", registry.Status.PASS, "second"))
    assert list(ProbeResult.objects.filter(run=run).values_list("summary", flat=True)) == ["first"]


def test_only_one_caller_claims_a_run(target, member):
    run = ProbeRun.objects.create(target=target, started_by=member)
    tokens = [runs._claim(run.pk) for _ in range(3)]
    assert len([t for t in tokens if t]) == 1


def test_a_worker_that_died_mid_run_is_resumed_by_the_sweeper_and_each_probe_stored_once(
    target, member, settings, django_capture_on_commit_callbacks
):
    """The in-process twin of test_worker's SIGKILL test: the "worker" dies after k stored results."""
    settings.PROBE_RESULT_FLUSH_S = 0  # each result written as it comes
    with django_capture_on_commit_callbacks(execute=False):
        run = services.start_probe_run(target=target, actor=member)
    k = max(1, len(plan(target)) // 2)
    real_write = runs._Batch.write
    stored = []

    def dying_write(batch):
        if batch.rows and len(stored) == k:
            raise KeyboardInterrupt("worker killed")
        stored.extend(row.probe_id for row in batch.rows)
        real_write(batch)

    with mock.patch.object(runs._Batch, "write", dying_write), pytest.raises(KeyboardInterrupt):
        services.execute_run(run.pk)
    run.refresh_from_db()
    assert run.state == RunState.RUNNING and run.results.count() == k
    first_k = list(run.results.order_by("pk").values_list("pk", "probe_id"))

    # A redelivered message does not take over while the worker's heartbeat is fresh.
    assert services.execute_run(run.pk) == "not claimed"

    asked = []
    real_iter = engine.iter_probes

    def spy(conninfo, **kw):
        asked.append(list(kw.get("only") or []))
        return real_iter(conninfo, **kw)

    later = timezone.now() + services.heartbeat_stale_after() + timedelta(seconds=1)
    with mock.patch.object(engine, "iter_probes", spy), django_capture_on_commit_callbacks(execute=True):
        assert services.sweep_stale_runs(now=later) == {"requeued": 1, "failed": 0}
    run.refresh_from_db()
    assert run.state == RunState.DONE, run.error
    assert run.attempts == 2
    assert not set(asked[0]) & set(stored), "the resumed worker re-ran probes already stored"
    ids = list(run.results.values_list("probe_id", flat=True))
    assert sorted(ids) == sorted(plan(target))
    assert list(run.results.order_by("pk").values_list("pk", "probe_id"))[:k] == first_k


def test_a_redelivered_task_takes_over_a_run_whose_worker_went_silent(target, member):
    run = ProbeRun.objects.create(
        target=target,
        started_by=member,
        state=RunState.RUNNING,
        heartbeat_at=timezone.now() - services.heartbeat_stale_after() - timedelta(seconds=5),
        started_at=timezone.now() - timedelta(minutes=5),
    )
    assert tasks.run_probe_run(run.pk) == "done"
    run.refresh_from_db()
    assert run.state == RunState.DONE and run.results.count() == len(plan(target))


def test_a_worker_that_lost_its_claim_stops_writing(target, member):
    run = ProbeRun.objects.create(target=target, started_by=member)
    token = runs._claim(run.pk)
    ProbeRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    with mock.patch.object(tasks.run_probe_run, "delay"):
        services.sweep_stale_runs()
    assert runs._report(run.pk, token, current_probe="x") is False
    assert runs._finish(run.pk, token) == "lost claim"


def test_the_sweeper_requeues_a_queued_run_past_its_deadline_then_fails_it_with_the_reason(
    target, member, settings, django_capture_on_commit_callbacks
):
    settings.PROBE_RUN_MAX_ATTEMPTS = 3
    with django_capture_on_commit_callbacks(execute=False):
        run = services.start_probe_run(target=target, actor=member)  # the message is "lost"
    with mock.patch.object(tasks.run_probe_run, "delay") as delay:
        for attempt in (2, 3):
            later = timezone.now() + services.run_deadline() * (3 * attempt)
            with django_capture_on_commit_callbacks(execute=True):
                assert services.sweep_stale_runs(now=later) == {"requeued": 1, "failed": 0}
            run.refresh_from_db()
            assert (run.state, run.attempts) == (RunState.QUEUED, attempt)
        later = timezone.now() + services.run_deadline() * 20
        assert services.sweep_stale_runs(now=later) == {"requeued": 0, "failed": 1}
    assert [c.args for c in delay.call_args_list] == [(run.pk,), (run.pk,)]
    run.refresh_from_db()
    assert run.state == RunState.FAILED and run.finished_at
    assert "Gave up after 3 attempts" in run.error and "no worker started it" in run.error


def test_the_sweeper_leaves_healthy_and_finished_runs_alone(target, member, make_target):
    queued = ProbeRun.objects.create(
        target=target, started_by=member, deadline=timezone.now() + timedelta(minutes=5)
    )
    other = make_target(name="staging")
    running = ProbeRun.objects.create(
        target=other,
        started_by=member,
        state=RunState.RUNNING,
        heartbeat_at=timezone.now(),
        deadline=timezone.now() + timedelta(minutes=5),
    )
    ProbeRun.objects.create(target=other, started_by=member, state=RunState.DONE, deadline=timezone.now())
    assert tasks.sweep_stale_runs() == {"requeued": 0, "failed": 0}
    assert ProbeRun.objects.get(pk=queued.pk).state == RunState.QUEUED
    assert ProbeRun.objects.get(pk=running.pk).state == RunState.RUNNING


def test_an_unreachable_host_fails_the_run_with_a_clear_error(
    make_target, member, django_capture_on_commit_callbacks
):
    target = make_target(dsn=dsn_for("postgres", port="1"))
    run = start(target, member, django_capture_on_commit_callbacks)
    assert run.state == RunState.FAILED
    assert run.error.startswith("Unreachable host")
    assert PASSWORD not in run.error
    assert run.results.count() == 0


def test_an_undecryptable_dsn_fails_the_run_and_says_what_to_do(
    target, member, settings, django_capture_on_commit_callbacks
):
    from cryptography.fernet import Fernet

    settings.PROBE_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    settings.SECRET_KEY = "another-secret-key-so-the-derived-key-changes-too-0123456789"
    run = start(target, member, django_capture_on_commit_callbacks)
    assert run.state == RunState.FAILED and "cannot be decrypted" in run.error


def test_one_active_run_per_target(target, member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        services.start_probe_run(target=target, actor=member)
        with pytest.raises(ServiceError, match="already queued"):
            services.start_probe_run(target=target, actor=member)


def test_a_run_cannot_be_started_for_a_decided_review_or_another_systems_review(target, member, review):
    from tests.factories import ReviewFactory

    review.state = ReviewState.DECIDED
    review.save()
    with pytest.raises(ServiceError, match="decided"):
        services.start_probe_run(target=target, actor=member, review=review)
    elsewhere = ReviewFactory()
    with pytest.raises(ServiceError, match="another system"):
        services.start_probe_run(target=target, actor=member, review=elsewhere)


def test_a_run_whose_review_was_decided_meanwhile_stores_results_but_changes_no_finding_or_evidence(
    target, member, review, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        run = services.start_probe_run(target=target, actor=member, review=review)
    review.state = ReviewState.DECIDED
    review.save()
    assert tasks.run_probe_run(run.pk) == "done"
    run.refresh_from_db()
    assert run.state == RunState.DONE and run.results.count() == len(plan(target))
    assert run.applied_to_review is False
    assert not review.evidence.exists() and not review.findings.exists()
