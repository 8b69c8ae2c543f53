"""Many targets, several workers: a target is probed by one worker at a time, a slow target holds one
worker slot and no other target's run, a run past its time limit is recorded as failed with the reason,
results are written in bulk, and scheduled runs go to the queue longest-waiting first.

The worker tests start `celery -A readiness worker` processes (prefork, as docker-compose.yml runs the
probe worker) on the test database and Redis database 11 (this module's alone). A "slow" target is a
database of its own with a table the test holds an ACCESS EXCLUSIVE lock on: its probes (those that
size tables, and an invariant check reading it) wait for the lock.
"""

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from psycopg import sql

from probes import registry, services, tasks
from probes.models import ProbeResult, ProbeRun, ProbeTarget, RunState
from readiness.celery import app

from ..brokers import reset_broker_connections
from . import test_targets as shared
from .test_targets import admin_connect, dsn_for, server

make_target, target, target_db = shared.make_target, shared.target, shared.target_db

REDIS_URL = "redis://127.0.0.1:6379/11"
BASE_DIR = Path(__file__).resolve().parents[2]
LOCKED_TABLE = "held_by_the_test"


def plan(target) -> list[str]:
    return [p.id for p in registry.all_probes()] + [
        c.probe_id for c in target.invariant_checks.order_by("pk")
    ]


# --- Results in bulk, scheduling order (in-process)


@pytest.mark.django_db
def test_a_run_writes_its_results_in_one_insert_whatever_the_number_of_probes(target, member):
    run = ProbeRun.objects.create(target=target, started_by=member)
    with CaptureQueriesContext(connection) as queries:
        assert services.execute_run(run.pk) == "done"
    inserts = [q["sql"] for q in queries if q["sql"].startswith('INSERT INTO "probes_proberesult"')]
    probes = len(plan(target))
    assert probes >= 20 and run.results.count() == probes
    assert len(inserts) == 1
    # Row by row it was two statements per probe (the INSERT and the progress UPDATE).
    assert len(queries) < 20, [q["sql"][:80] for q in queries]


@pytest.mark.django_db
def test_the_schedule_queues_the_longest_waiting_targets_first(system, architect, target_db):
    now = timezone.now()
    made = {
        name: services.create_target(
            system=system, name=name, dsn=dsn_for(target_db), actor=architect, schedule_hours=hours
        )
        for name, hours in (("due an hour ago", 1), ("never ran", 24), ("due a day ago", 1), ("not due", 24))
    }
    for name, ran_hours_ago in (("due an hour ago", 2), ("due a day ago", 25), ("not due", 1)):
        ProbeRun.objects.create(
            target=made[name], state=RunState.DONE, created_at=now - timedelta(hours=ran_hours_ago)
        )
    assert [t.name for t in services.due_targets(now)] == ["never ran", "due a day ago", "due an hour ago"]


@pytest.mark.django_db
def test_a_scheduled_run_may_wait_behind_the_fleet_before_the_sweeper_resends_it(
    settings, system, architect, target_db, django_capture_on_commit_callbacks
):
    settings.PROBE_RUN_DEADLINE_S, settings.PROBE_SCHEDULED_QUEUE_WAIT_S = 60, 3600
    target = services.create_target(
        system=system, name="fleet", dsn=dsn_for(target_db), actor=architect, schedule_hours=1
    )
    with django_capture_on_commit_callbacks(execute=False):
        (start,) = services.start_due_runs(timezone.now())
    assert start.run.state == RunState.QUEUED
    assert services.sweep_stale_runs(now=timezone.now() + timedelta(seconds=120)) == {
        "requeued": 0,
        "failed": 0,
    }
    with django_capture_on_commit_callbacks(execute=False):
        counts = services.sweep_stale_runs(now=timezone.now() + timedelta(seconds=3700))
    assert counts == {"requeued": 1, "failed": 0}
    assert ProbeTarget.objects.get(pk=target.pk).runs.get().attempts == 2


@pytest.mark.django_db
def test_a_run_whose_target_another_worker_holds_is_not_claimed(target, member):
    run = ProbeRun.objects.create(target=target, started_by=member)
    with admin_connect(connection.settings_dict["NAME"]) as other_worker:
        key = [services.runs.TARGET_LOCK_CLASS, target.pk]
        assert other_worker.execute("select pg_try_advisory_lock(%s, %s)", key).fetchone()[0]
        assert services.execute_run(run.pk) == "target busy"
        run.refresh_from_db()
        assert run.state == RunState.QUEUED and run.claim_token is None
    assert services.execute_run(run.pk) == "done"  # its session ended, and the lock with it


# --- Real workers


@pytest.fixture
def slow_db():
    """A database of its own with a table the test can lock: a check reading it waits for the lock."""
    name = f"fleet_t_slow_{uuid.uuid4().hex[:10]}"
    with admin_connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with admin_connect(name) as conn:
            conn.execute(sql.SQL("CREATE TABLE {} (id int)").format(sql.Identifier(LOCKED_TABLE)))
        yield name
    finally:
        with admin_connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def table_locked(dbname: str):
    with admin_connect(dbname) as conn:
        conn.execute("BEGIN")
        conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(LOCKED_TABLE)))
        yield
        conn.execute("ROLLBACK")


def slow_target(system, architect, dbname: str, name: str = "slow"):
    target = services.create_target(system=system, name=name, dsn=dsn_for(dbname), actor=architect)
    check = services.add_invariant_check(
        target=target, name="waits on the lock", actor=architect, sql=f"SELECT id FROM {LOCKED_TABLE}"
    )
    return target, check


def probe_sessions(dbname: str) -> int:
    with admin_connect() as conn:
        return conn.execute(
            "select count(*) from pg_stat_activity "
            "where datname = %s and application_name = 'readiness-probe'",
            [dbname],
        ).fetchone()[0]


@pytest.fixture
def queue(settings):
    """A queue of this test alone on Redis database 11, with every task routed to it."""
    name = f"readiness-fleet-test-{uuid.uuid4().hex[:10]}"
    keys = ("broker_url", "task_always_eager", "task_default_queue", "task_routes", "result_backend")
    saved = {key: app.conf[key] for key in keys}
    settings.CELERY_BROKER_URL = REDIS_URL
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.update(
        broker_url=REDIS_URL,
        task_always_eager=False,
        task_default_queue=name,
        task_routes={},
        result_backend=None,
    )
    reset_broker_connections()
    yield name
    app.conf.update(saved)
    reset_broker_connections()
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(name, *client.keys(f"*{name}*"))
    client.delete("unacked", "unacked_index")  # this Redis database is this module's alone
    client.close()


# Generous statement and lock timeouts: the slow check waits on the test's lock, not on a timeout.
WORKER_ENV = {
    "PROBE_STATEMENT_TIMEOUT_MS": "120000",
    "PROBE_LOCK_TIMEOUT_MS": "120000",
    "PROBE_BUSY_RETRY_S": "1",
    "PROBE_BUSY_RETRIES": "60",
}


@contextmanager
def worker(queue: str, log: Path, **env_over: str):
    """One `celery -A readiness worker -c 1` process (prefork) on the test database; stopped on leaving."""
    s = server()
    auth = f"{s['user']}:{s['password']}" if s["password"] else s["user"]
    env = {
        **os.environ,
        **WORKER_ENV,
        **env_over,
        "DJANGO_SETTINGS_MODULE": "readiness.settings_test",
        "DATABASE_URL": f"postgres://{auth}@{s['host']}:{s['port']}/{connection.settings_dict['NAME']}",
        "CELERY_BROKER_URL": REDIS_URL,
        "PYTHONWARNINGS": "ignore",
    }
    command = [
        sys.executable, "-m", "celery", "-A", "readiness", "worker", "--pool", "prefork",
        "--concurrency", "1", "--queues", queue, "--hostname", f"{log.stem}-{queue}@%h",
        "--without-heartbeat", "--without-mingle", "--without-gossip", "--loglevel", "INFO",
    ]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        try:
            wait_for(lambda: " ready." in log.read_text() or process.poll() is not None, timeout=90)
        except AssertionError:
            raise AssertionError(f"the worker did not start:\n{log.read_text()[-4000:]}")
        assert process.poll() is None, log.read_text()[-4000:]
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s")


def finished(run_id: int) -> ProbeRun | None:
    run = ProbeRun.objects.get(pk=run_id)
    return run if run.state in (RunState.DONE, RunState.FAILED) else None


def waiting_on_the_lock(run_id: int, dbname: str) -> bool:
    """The run is running and its probe waits for the test's lock (a probe that sizes the table, or the
    check that reads it: whichever comes first)."""
    if not ProbeRun.objects.filter(pk=run_id, state=RunState.RUNNING).exists():
        return False
    with admin_connect() as conn:
        return conn.execute(
            "select exists (select from pg_stat_activity where datname = %s "
            "and application_name = 'readiness-probe' and wait_event_type = 'Lock')",
            [dbname],
        ).fetchone()[0]


def logs_of(tmp_path: Path) -> str:
    return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in sorted(tmp_path.glob("*.log")))


real_db = pytest.mark.django_db(transaction=True, serialized_rollback=True)
no_setex_warning = pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning")


@real_db
@no_setex_warning
def test_a_slow_target_holds_one_worker_slot_and_no_other_targets_runs(
    queue, system, architect, target_db, slow_db, tmp_path
):
    slow, check = slow_target(system, architect, slow_db)
    fast = [
        services.create_target(system=system, name=f"fast {i}", dsn=dsn_for(target_db), actor=architect)
        for i in range(6)
    ]
    with worker(queue, tmp_path / "a.log"), worker(queue, tmp_path / "b.log"):
        with table_locked(slow_db):
            slow_run = services.start_probe_run(target=slow, actor=architect)
            try:
                wait_for(lambda: waiting_on_the_lock(slow_run.pk, slow_db), timeout=90)
                # Queued after the slow run: with a prefetch of 4 the worker stuck on it would reserve
                # some of them, and they would wait for the lock too.
                runs = [services.start_probe_run(target=t, actor=architect) for t in fast]
                done = [wait_for(lambda r=r: finished(r.pk), timeout=120) for r in runs]
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{logs_of(tmp_path)}")
            assert waiting_on_the_lock(slow_run.pk, slow_db)  # still waiting: everything else went by it
        slow_run = wait_for(lambda: finished(slow_run.pk), timeout=120)  # the lock is released
    assert slow_run.state == RunState.DONE, slow_run.error
    assert [r.state for r in done] == [RunState.DONE] * len(fast), [r.error for r in done]
    assert all(r.results.count() == len(plan(r.target)) for r in done)


@real_db
@no_setex_warning
def test_two_workers_never_probe_one_target_at_once_even_when_a_silent_run_is_taken_over(
    queue, system, architect, slow_db, tmp_path
):
    target, check = slow_target(system, architect, slow_db)
    with worker(queue, tmp_path / "a.log"), worker(queue, tmp_path / "b.log"):
        with table_locked(slow_db):
            run = services.start_probe_run(target=target, actor=architect)
            try:
                wait_for(lambda: waiting_on_the_lock(run.pk, slow_db), timeout=90)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{logs_of(tmp_path)}")
            # Its worker looks dead (no heartbeat for long): the sweeper takes the run from it and sends
            # it again; the other worker gets the message while the first one still probes the target.
            ProbeRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
            assert services.sweep_stale_runs() == {"requeued": 1, "failed": 0}
            seen = []
            until = time.monotonic() + 4
            while time.monotonic() < until:  # the other worker tries, and tries again, every second
                seen.append(probe_sessions(slow_db))
                time.sleep(0.1)
            assert max(seen) == 1, seen
            assert ProbeRun.objects.get(pk=run.pk).state == RunState.QUEUED  # nobody else claimed it
        # The first worker's query returns, its next write finds the run taken: it stops and lets go
        # of the target, and the run's next try resumes it.
        try:
            run = wait_for(lambda: finished(run.pk), timeout=120)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{logs_of(tmp_path)}")
    assert run.state == RunState.DONE, run.error
    assert run.attempts == 2
    ids = list(ProbeResult.objects.filter(run=run).values_list("probe_id", flat=True))
    assert sorted(ids) == sorted(plan(target))  # each probe once
    logs = logs_of(tmp_path)
    assert "Retry in 1s" in logs, logs  # the other worker found the target busy and came back


@real_db
@no_setex_warning
def test_a_run_past_its_time_limit_is_recorded_as_failed_and_lets_go_of_its_target(
    queue, monkeypatch, system, architect, slow_db, tmp_path
):
    deadline, interrupt, kill = 8, 2, 20
    # The limits travel in the message: the publisher's task sets them (as settings do in production).
    task = tasks.run_probe_run._get_current_object()
    monkeypatch.setattr(task, "soft_time_limit", deadline + interrupt)
    monkeypatch.setattr(task, "time_limit", deadline + interrupt + kill)
    monkeypatch.setattr(task, "_exec_options", None)
    target, check = slow_target(system, architect, slow_db)
    limits = {
        "PROBE_RUN_DEADLINE_S": str(deadline),
        "PROBE_RUN_INTERRUPT_GRACE_S": str(interrupt),
        "PROBE_RUN_KILL_GRACE_S": str(kill),
    }
    with worker(queue, tmp_path / "a.log", **limits):
        with table_locked(slow_db):
            run = services.start_probe_run(target=target, actor=architect)
            try:
                run = wait_for(lambda: finished(run.pk), timeout=deadline + interrupt + kill + 60)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{logs_of(tmp_path)}")
        # Its connection was closed: the server ends the session as soon as the lock lets the query go.
        wait_for(lambda: probe_sessions(slow_db) == 0, timeout=30)
    assert run.state == RunState.FAILED
    assert re.search(rf"stopped after \d+ s, its time limit being {deadline} s", run.error), run.error
    ran = (run.finished_at - run.started_at).total_seconds()
    assert deadline <= ran < deadline + interrupt + kill / 2, ran  # the soft limit, not the worker's death
    stored = set(run.results.values_list("probe_id", flat=True))
    assert stored < {p.id for p in registry.all_probes()}  # what came in time is kept; the waiting probe not
    assert check.probe_id not in stored and run.claim_token is None
