"""A target that stops answering cannot stall the workers: its run fails within the time limit while a run
on a healthy target completes, and the sweeper keeps running on its own queue.

The end-to-end test starts the two workers as docker-compose.yml does (one per queue, the probe worker
on the prefork pool, the only pool where the soft time limit works) in their own processes on the test
database and a Redis database of this module alone (13), with a real TCP proxy in front of PostgreSQL
that stops forwarding mid-run.
"""

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

import kombu.pools
import pytest
import redis
import yaml
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from probes import engine, registry, services, tasks
from probes.models import ProbeRun, RunState
from probes.registry import Result, Status
from readiness.celery import app
from schedules.models import ScheduleRun, ScheduleRunState

from . import test_targets as shared
from .stalling_proxy import StallingProxy
from .test_targets import server

target_db = shared.target_db  # a session-wide database to probe, shared with test_targets

REDIS_URL = "redis://127.0.0.1:6379/13"
BASE_DIR = Path(__file__).resolve().parents[2]
SWEEPER = "probes.tasks.sweep_stale_runs"

# The workers' limits, small enough for a test: a run may take DEADLINE_S; a probe still waiting on its
# target is interrupted INTERRUPT_S later (the soft time limit) and its worker child killed KILL_S after
# that (the hard limit). One probe of a target that answers takes at most 1 s + 2 s.
DEADLINE_S, INTERRUPT_S, KILL_S = 10, 2, 20
WORKER_LIMITS = {
    "PROBE_RUN_DEADLINE_S": str(DEADLINE_S),
    "PROBE_RUN_INTERRUPT_GRACE_S": str(INTERRUPT_S),
    "PROBE_RUN_KILL_GRACE_S": str(KILL_S),
    "PROBE_STATEMENT_TIMEOUT_MS": "1000",
    "PROBE_CONNECT_TIMEOUT_S": "2",
}
STALL_MARKER = "readiness-test-stall-here"


def register_target(system, actor, *, name: str, port: int, dbname: str):
    """A target on 127.0.0.1:`port` (the proxy, or PostgreSQL itself): the one place in this module that
    knows how a target is registered. Every target is registered before its proxy stalls, so a check
    that connects at registration goes through."""
    return services.create_target(
        system=system, name=name, dsn=shared.dsn_for(dbname, port=str(port)), actor=actor
    )


@pytest.fixture(autouse=True)
def _proxy_ports_allowed(settings):
    """The proxies listen on loopback ports of their own: allowed here as an admin would list them."""
    settings.PROBE_ALLOWED_HOSTS = [*settings.PROBE_ALLOWED_HOSTS, "127.0.0.1"]


# --- Routing and the workers' commands


def test_probe_runs_go_to_the_probe_queue_and_every_other_task_to_the_default_queue():
    app.loader.import_default_modules()  # every app's tasks.py, as a worker imports them
    ours = sorted(name for name in app.tasks if not name.startswith("celery."))
    assert (
        "probes.tasks.run_probe_run" in ours
        and SWEEPER in ours
        and "reviews.tasks.render_decision_pdf" in ours
    )
    queues = {name: app.amqp.router.route({}, name)["queue"].name for name in ours}
    assert queues.pop("probes.tasks.run_probe_run") == django_settings.PROBE_QUEUE == "probes"
    assert queues.pop("probes.tasks.test_target_connection") == "probes"
    assert set(queues.values()) == {django_settings.CELERY_TASK_DEFAULT_QUEUE} == {"celery"}
    beat = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert beat <= set(queues), "a scheduled task would wait behind probe runs"


def test_the_probe_run_task_has_soft_and_hard_time_limits_past_the_run_deadline():
    task = tasks.run_probe_run
    assert django_settings.PROBE_RUN_DEADLINE_S < task.soft_time_limit < task.time_limit
    assert task.soft_time_limit == django_settings.PROBE_RUN_SOFT_TIME_LIMIT_S
    assert task.time_limit == django_settings.PROBE_RUN_TIME_LIMIT_S


def _compose_workers() -> dict[str, list[str]]:
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    return {
        name: service["command"]
        for name, service in compose["services"].items()
        if service.get("command", [])[:4] == ["celery", "-A", "readiness", "worker"]
    }


def _option(command: list[str], *names: str) -> str | None:
    for i, word in enumerate(command):
        if word in names:
            return command[i + 1]
    return None


def test_docker_compose_runs_one_worker_per_queue_and_probes_on_the_prefork_pool():
    workers = _compose_workers()
    queues = {name: _option(command, "-Q", "--queues") for name, command in workers.items()}
    assert sorted(queues.values()) == ["celery", "probes"], queues
    probe_worker = next(command for name, command in workers.items() if queues[name] == "probes")
    assert _option(probe_worker, "-P", "--pool") == "prefork"  # soft time limits work only there


# --- A run whose target is slow stops at its deadline, whatever the pool


@pytest.mark.django_db
def test_a_run_stops_at_its_deadline_between_probes_keeping_what_it_stored(
    settings, system, architect, target_db
):
    settings.PROBE_RUN_DEADLINE_S = 1
    target = register_target(system, architect, name="slow", port=int(server()["port"]), dbname=target_db)
    slow = services.add_invariant_check(
        target=target,
        name="slow invariant",
        actor=architect,
        sql="SELECT slept FROM (SELECT pg_sleep(1.5)::text AS slept) AS s WHERE slept = 'never'",
    )
    run = ProbeRun.objects.create(target=target, started_by=architect)

    assert services.execute_run(run.pk) == "failed"

    run.refresh_from_db()
    assert run.state == RunState.FAILED
    assert "the target answers too slowly to finish in time" in run.error
    assert "Results already stored are kept" in run.error
    stored = set(run.results.values_list("probe_id", flat=True))
    assert stored == {p.id for p in registry.all_probes()}  # everything before the slow check
    assert slow.probe_id not in stored  # its late answer is not stored


@pytest.mark.django_db
def test_a_probe_interrupted_by_the_soft_time_limit_fails_the_run_with_the_reason(
    settings, monkeypatch, system, architect, target_db
):
    settings.PROBE_STATEMENT_TIMEOUT_MS, settings.PROBE_CONNECT_TIMEOUT_S = 100, 0
    target = register_target(
        system, architect, name="stops answering", port=int(server()["port"]), dbname=target_db
    )
    first, second, *_ = registry.all_probes()
    closed = []

    def stops_answering(conninfo, **kwargs):
        try:
            for probe in (first, second):
                yield Result(probe.id, probe.category, probe.severity, Status.PASS, summary="fine")
            time.sleep(0.3)  # longer than a probe of a target that answers may take
            raise SoftTimeLimitExceeded()  # as the worker raises it in the waiting probe
        finally:
            closed.append(True)

    monkeypatch.setattr(engine, "iter_probes", stops_answering)
    run = ProbeRun.objects.create(target=target, started_by=architect)

    assert services.execute_run(run.pk) == "failed"

    run.refresh_from_db()
    assert run.state == RunState.FAILED and run.claim_token is None
    assert run.error.startswith("The target stopped answering; the run was stopped after 0 s")
    assert set(run.results.values_list("probe_id", flat=True)) == {first.id, second.id}
    assert closed == [True]


@pytest.mark.django_db
def test_the_sweeper_leaves_a_running_run_past_its_deadline_to_its_worker_until_the_hard_limit(
    system, architect, target_db
):
    target = register_target(system, architect, name="slow", port=int(server()["port"]), dbname=target_db)
    now = timezone.now()
    run = ProbeRun.objects.create(
        target=target, started_by=architect, state=RunState.RUNNING, heartbeat_at=now, deadline=now
    )
    attempts = run.attempts
    grace = services.worker_stops_it_within()
    assert grace == timedelta(
        seconds=django_settings.PROBE_RUN_TIME_LIMIT_S - django_settings.PROBE_RUN_DEADLINE_S
    )
    # Its worker fails it itself within the time limits: no second worker on the same target meanwhile.
    assert services.sweep_stale_runs(now=now + grace - timedelta(seconds=1)) == {"requeued": 0, "failed": 0}
    assert services.sweep_stale_runs(now=now + grace + timedelta(seconds=1)) == {"requeued": 1, "failed": 0}
    run.refresh_from_db()
    assert run.state == RunState.QUEUED and run.attempts == attempts + 1


# --- The end-to-end run through real workers


def _reset_connections_cache():
    kombu.pools.reset()
    app._pool = None
    app.__dict__.pop("amqp", None)  # the router is built from task_routes with it


@pytest.fixture
def queues(settings, monkeypatch):
    """This test's own queues, routed as settings route the real ones, on Redis database 13; and the
    workers' time limits, which travel in the task message (the publisher's task sets them)."""
    task = tasks.run_probe_run._get_current_object()
    monkeypatch.setattr(task, "soft_time_limit", DEADLINE_S + INTERRUPT_S)
    monkeypatch.setattr(task, "time_limit", DEADLINE_S + INTERRUPT_S + KILL_S)
    monkeypatch.setattr(task, "_exec_options", None)  # Celery caches them at the first publish
    suffix = uuid.uuid4().hex[:10]
    names = {"probes": f"readiness-hang-probes-{suffix}", "default": f"readiness-hang-default-{suffix}"}
    keys = ("broker_url", "task_always_eager", "task_default_queue", "task_routes", "result_backend")
    saved = {key: app.conf[key] for key in keys}
    settings.CELERY_BROKER_URL = REDIS_URL
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.update(
        broker_url=REDIS_URL,
        task_always_eager=False,
        task_default_queue=names["default"],
        task_routes={"probes.tasks.run_probe_run": {"queue": names["probes"]}},
        result_backend=None,
    )
    _reset_connections_cache()
    yield names
    app.conf.update(saved)
    _reset_connections_cache()
    client = redis.Redis.from_url(REDIS_URL)
    for name in names.values():
        client.delete(name, *client.keys(f"*{name}*"))
    client.delete("unacked", "unacked_index")  # this Redis database is this module's alone
    client.close()


def _worker_command(queue: str, pool: str, concurrency: int) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "readiness", "worker", "--pool", pool,
        "--concurrency", str(concurrency), "--queues", queue, "--hostname", f"{queue}@%h",
        "--without-heartbeat", "--without-mingle", "--without-gossip", "--loglevel", "INFO",
    ]  # fmt: skip


@contextmanager
def worker(queue: str, queues: dict[str, str], log: Path, *, pool: str = "prefork", concurrency: int = 1):
    """`celery -A readiness worker` in its own process group, on the test database, consuming `queue`;
    waits until it is ready, and stops it (and its pool's children) on leaving."""
    s = server()
    auth = f"{s['user']}:{s['password']}" if s["password"] else s["user"]
    env = {
        **os.environ,
        **WORKER_LIMITS,
        "DJANGO_SETTINGS_MODULE": "readiness.settings_test",
        "DATABASE_URL": f"postgres://{auth}@{s['host']}:{s['port']}/{connection.settings_dict['NAME']}",
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_DEFAULT_QUEUE": queues["default"],
        "PROBE_QUEUE": queues["probes"],
        "PROBE_ALLOWED_HOSTS": "127.0.0.1",
        "PYTHONWARNINGS": "ignore",
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            _worker_command(queue, pool, concurrency),
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        try:
            wait_for(lambda: " ready." in log.read_text() or process.poll() is not None, timeout=90)
        except AssertionError:
            raise AssertionError(f"the worker on {queue} did not start:\n{log.read_text()[-4000:]}")
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


def sweeps() -> list[ScheduleRun]:
    return list(ScheduleRun.objects.filter(task=SWEEPER, state=ScheduleRunState.DONE))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning")
def test_a_hung_target_fails_its_run_within_the_time_limit_while_a_healthy_run_and_the_sweeper_complete(
    queues, system, architect, target_db, tmp_path
):
    s = server()
    with (
        StallingProxy((s["host"], int(s["port"])), stall_on=STALL_MARKER.encode()) as proxy,
        ExitStack() as stack,
    ):
        hung = register_target(
            system, architect, name="behind a dying network", port=proxy.port, dbname=target_db
        )
        # Run after every registered probe: the path dies mid-run, with results stored before it.
        stalled_check = services.add_invariant_check(
            target=hung,
            name="stalls the proxy",
            actor=architect,
            sql=f"SELECT '{STALL_MARKER}' AS marker WHERE false",
        )
        healthy = register_target(system, architect, name="healthy", port=int(s["port"]), dbname=target_db)
        logs = {name: tmp_path / f"{name}.log" for name in queues}
        stack.enter_context(worker(queues["probes"], queues, logs["probes"], concurrency=2))
        stack.enter_context(worker(queues["default"], queues, logs["default"]))

        def log_tail() -> str:
            return "\n".join(f"--- {name}\n{log.read_text()[-3000:]}" for name, log in logs.items())

        hung_run = services.start_probe_run(target=hung, actor=architect)
        if not proxy.stalled.wait(60):
            raise AssertionError("the hung run never reached the check that stalls the proxy\n" + log_tail())
        assert ProbeRun.objects.get(pk=hung_run.pk).state == RunState.RUNNING

        healthy_run = services.start_probe_run(target=healthy, actor=architect)
        tasks.sweep_stale_runs.delay()
        try:
            healthy_run = wait_for(lambda: finished(healthy_run.pk), timeout=60)
            (sweep,) = wait_for(sweeps, timeout=60)
            hung_run = wait_for(lambda: finished(hung_run.pk), timeout=DEADLINE_S + INTERRUPT_S + 30)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{log_tail()}")
        stopped_after = time.monotonic() - proxy.stalled_at

    assert healthy_run.state == RunState.DONE, healthy_run.error
    assert healthy_run.results.count() == len(registry.all_probes())
    # The other run and the sweeper finished while the hung run was still waiting on its target.
    assert healthy_run.finished_at < hung_run.finished_at
    assert sweep.finished_at < hung_run.finished_at
    assert sweep.counts == {"requeued": 0, "failed": 0}  # the hung run is not stale yet

    assert hung_run.state == RunState.FAILED
    assert re.search(r"The target stopped answering; the run was stopped after \d+ s", hung_run.error)
    assert "Results already stored are kept" in hung_run.error
    ran = (hung_run.finished_at - hung_run.started_at).total_seconds()
    # Stopped by the soft time limit: after the deadline, well before the worker child would be killed.
    assert DEADLINE_S <= ran < DEADLINE_S + INTERRUPT_S + KILL_S / 2, (ran, hung_run.error)
    assert stopped_after < DEADLINE_S + INTERRUPT_S + KILL_S / 2
    stored = set(hung_run.results.values_list("probe_id", flat=True))
    assert stored == {p.id for p in registry.all_probes()}  # what was stored before the path died is kept
    assert stalled_check.probe_id not in stored
    assert hung_run.progress_done == len(stored) and hung_run.claim_token is None


@pytest.mark.django_db
def test_the_sweeper_handles_a_hung_targets_stale_run_without_contacting_the_target(
    system, architect, target_db
):
    s = server()
    with StallingProxy((s["host"], int(s["port"]))) as proxy:
        hung = register_target(
            system, architect, name="behind a dead network", port=proxy.port, dbname=target_db
        )
        proxy.stall()
        contacted = proxy.connections  # registering may have connected; from here on nothing may
        run = services.start_probe_run(target=hung, actor=architect)  # enqueued only on commit: never here
        later = time.monotonic()
        counts = services.sweep_stale_runs(now=run.deadline + timedelta(seconds=1))
        took = time.monotonic() - later
    assert counts == {"requeued": 1, "failed": 0}
    assert proxy.connections == contacted and took < 5  # only the app's own database was touched
