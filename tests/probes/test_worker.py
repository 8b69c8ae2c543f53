"""The run path through real Celery workers on Redis: the message carries the run id only, a
redelivered message stores nothing twice, and a worker process killed (SIGKILL) mid-run is recovered by
the sweeper with every probe's result stored exactly once."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import kombu.pools
import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.signals import before_task_publish, task_postrun
from django.conf import settings as django_settings
from django.db import connection, connections
from django.utils import timezone

from probes import registry, services, tasks  # noqa: F401  (tasks: registers the tasks with the app)
from probes.models import ProbeResult, ProbeRun, RunState
from readiness.celery import app

from . import test_targets as shared
from .test_targets import PASSWORD, server

# Fixtures shared with test_targets.
make_target, target, target_db = shared.make_target, shared.target, shared.target_db

REDIS_URL = "redis://127.0.0.1:6379/15"
BASE_DIR = Path(__file__).resolve().parents[2]

pytestmark = [
    # serialized_rollback: the flush after each test would otherwise drop the catalogue that migrations load.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning"),
]


def _reset_connections_cache():
    """The app caches its broker connection pool and routing; rebuild them from the changed conf."""
    kombu.pools.reset()  # closes every pooled connection and forgets the pools
    app._pool = None
    app.__dict__.pop("amqp", None)


@pytest.fixture
def queue():
    """A queue of this test alone, so a suite running next to this one never eats its messages."""
    name = f"readiness-probe-test-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(name, *client.keys(f"*{name}*"))  # the queue and kombu's bindings of its exchange
    for tag, payload in client.hgetall("unacked").items():  # what a killed worker had prefetched
        if name.encode() in payload:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)
    client.close()


@pytest.fixture
def broker(settings, queue):
    keys = ("broker_url", "task_always_eager", "task_default_queue", "task_routes", "result_backend")
    saved = {key: app.conf[key] for key in keys}
    settings.CELERY_BROKER_URL = REDIS_URL
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.update(
        broker_url=REDIS_URL,
        task_always_eager=False,
        task_default_queue=queue,
        task_routes={},  # runs too (PROBE_QUEUE in production) go to this test's queue
        result_backend=None,
    )
    _reset_connections_cache()
    yield queue
    app.conf.update(saved)
    _reset_connections_cache()


@pytest.fixture
def published():
    """Every task message as it goes to the broker: headers and body, as serialised."""
    messages = []

    def record(sender=None, body=None, headers=None, **kwargs):
        messages.append({"task": sender, "body": body, "headers": headers})

    before_task_publish.connect(record, weak=False)
    yield messages
    before_task_publish.disconnect(record)


def _close_worker_connections(**kwargs):
    connections.close_all()  # the worker thread's own connections, so the test database can be flushed


@contextmanager
def threaded_worker(queue: str):
    task_postrun.connect(_close_worker_connections, weak=False)
    try:
        with start_worker(
            app, pool="threads", concurrency=1, perform_ping_check=False, queues=[queue], shutdown_timeout=60
        ):
            yield
    finally:
        task_postrun.disconnect(_close_worker_connections)


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s")


def finished(run_id: int):
    run = ProbeRun.objects.get(pk=run_id)
    return run if run.state in (RunState.DONE, RunState.FAILED) else None


def plan(target) -> list[str]:
    return [p.id for p in registry.all_probes()] + [
        c.probe_id for c in target.invariant_checks.order_by("pk")
    ]


def test_a_run_goes_through_a_real_worker_and_its_message_carries_only_the_run_id(
    broker, published, target, member
):
    with threaded_worker(broker):
        run = services.start_probe_run(target=target, actor=member)
        run = wait_for(lambda: finished(run.pk))
    assert run.state == RunState.DONE, run.error
    assert sorted(run.results.values_list("probe_id", flat=True)) == sorted(plan(target))

    (message,) = [m for m in published if m["task"] == "probes.tasks.run_probe_run"]
    args, kwargs, _embed = message["body"]
    assert list(args) == [run.pk] and kwargs == {}
    wire = json.dumps(message, default=str)
    assert PASSWORD not in wire and "postgresql://" not in wire


def test_a_redelivered_message_stores_each_result_once(broker, target, member):
    with threaded_worker(broker):
        run = services.start_probe_run(target=target, actor=member)
        tasks.run_probe_run.delay(run.pk)  # the broker delivers the same run again
        tasks.run_probe_run.delay(run.pk)
        run = wait_for(lambda: finished(run.pk))
        time.sleep(0.5)  # let the extra deliveries be consumed
    assert run.state == RunState.DONE
    ids = list(ProbeResult.objects.filter(run=run).values_list("probe_id", flat=True))
    assert len(ids) == len(set(ids)) == len(plan(target))


def test_two_workers_racing_for_one_run_store_each_result_once(target, member):
    run = ProbeRun.objects.create(target=target, started_by=member)
    outcomes = []

    def work():
        try:
            outcomes.append(services.execute_run(run.pk))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # The loser finds the run claimed, or its target held by the winner (probes.services.target_lock).
    assert sorted(outcomes)[0] == "done" and sorted(outcomes)[1] in ("not claimed", "target busy")
    ids = list(ProbeResult.objects.filter(run=run).values_list("probe_id", flat=True))
    assert len(ids) == len(set(ids)) == len(plan(target))


def _worker_process(queue: str, log: Path) -> subprocess.Popen:
    """`celery -A readiness worker` in its own process, on the test database and this test's queue."""
    s = server()
    auth = f"{s['user']}:{s['password']}" if s["password"] else s["user"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "readiness.settings_test",
        "DATABASE_URL": f"postgres://{auth}@{s['host']}:{s['port']}/{connection.settings_dict['NAME']}",
        "CELERY_BROKER_URL": REDIS_URL,
        "PYTHONWARNINGS": "ignore",
    }
    with log.open("w") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "readiness", "worker", "--pool", "solo",
                "--queues", queue, "--hostname", f"{queue}@%h", "--without-heartbeat", "--without-mingle",
                "--without-gossip", "--loglevel", "WARNING",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def test_a_worker_killed_mid_run_is_recovered_by_the_sweeper_with_each_result_stored_once(
    broker, target, member, architect, tmp_path
):
    # A check that takes a few seconds gives a window in which the worker is surely mid-run.
    fast = services.add_invariant_check(
        target=target, name="entries exist", actor=architect, sql="SELECT id FROM ledger_entry WHERE id < 0"
    )
    slow = services.add_invariant_check(
        target=target,
        name="slow invariant",
        actor=architect,
        sql="SELECT slept FROM (SELECT pg_sleep(3)::text AS slept) AS s WHERE slept = 'never'",
    )
    expected = plan(target)
    log = tmp_path / "worker.log"
    worker = _worker_process(broker, log)
    try:
        run = services.start_probe_run(target=target, actor=member)
        try:
            wait_for(
                lambda: ProbeRun.objects.filter(
                    pk=run.pk, current_probe=slow.probe_id, state=RunState.RUNNING
                ).exists(),
                timeout=90,
            )
        except AssertionError:
            raise AssertionError("the worker never reached the slow check:\n" + log.read_text()[-4000:])
        os.kill(worker.pid, signal.SIGKILL)  # the worker dies in the middle of the run
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    assert worker.returncode == -signal.SIGKILL

    run.refresh_from_db()
    assert run.state == RunState.RUNNING
    stored_before = list(run.results.order_by("pk").values_list("pk", "probe_id"))
    assert sorted(p for _, p in stored_before) == sorted(p for p in expected if p != slow.probe_id)
    assert fast.probe_id in dict((p, pk) for pk, p in stored_before)

    with threaded_worker(broker):
        later = timezone.now() + services.heartbeat_stale_after() + timedelta(seconds=1)
        assert services.sweep_stale_runs(now=later) == {"requeued": 1, "failed": 0}
        run = wait_for(lambda: finished(run.pk), timeout=90)
    assert run.state == RunState.DONE, run.error
    assert run.attempts == 2 and run.progress_done == run.progress_total == len(expected)
    results = list(run.results.order_by("pk").values_list("pk", "probe_id"))
    assert sorted(p for _, p in results) == sorted(expected)  # every probe, each exactly once
    assert results[: len(stored_before)] == stored_before  # the stored ones were kept, not re-run
    assert results[-1][1] == slow.probe_id


def test_the_sweeper_task_is_what_beat_schedules():
    schedule = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert "probes.tasks.sweep_stale_runs" in schedule
    assert "probes.tasks.sweep_stale_runs" in app.tasks
