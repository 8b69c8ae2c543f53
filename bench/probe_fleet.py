"""Benchmark of a fleet of probe targets: targets probed per minute per worker process.

Builds N small target databases on the local server (fleet_t_0001 … by CREATE DATABASE … TEMPLATE
fleet_t_tpl), registers them through probes.services as targets with a schedule, connecting as a
least-privilege probe role (fleet_t_probe: pg_monitor, pg_read_all_data, as the README says), then
measures
  - the floor: one process running the same probes back to back, one connection per target:
    probes.engine.run_probes (each probe in its read-only transaction with its timeouts, evaluated),
    nothing stored, no queue;
  - the raw SQL: the probes' statements alone back to back over one connection per target, no
    transaction, timeouts or evaluation (bench/probes_suite.py's floor): what the isolation costs;
  - the fleet: real `celery -A readiness worker -Q <probe queue> -c 1` processes (1, 2, 4 of them)
    draining the N runs the scheduled task (probes.tasks.run_scheduled_probes, as beat runs it) queued;
    throughput from the runs' own timestamps (first start to last finish).

    .venv/bin/python bench/probe_fleet.py [--targets 500] [--workers 1,2,4] [--keep]

The app's database is fleet_t_app (created afresh, migrated). Redis database 11. Every fleet_t*
database and the role are dropped at the end unless --keep (a later run reuses what exists).
Not a test: figures go to bench/results/probe_fleet.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
from psycopg import sql

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

APP_DB = "fleet_t_app"
TEMPLATE = "fleet_t_tpl"
ROLE = "fleet_t_probe"
ROLE_PASSWORD = "fleet-bench-not-a-secret-7Q"
REDIS_URL = "redis://127.0.0.1:6379/11"
QUEUE = f"fleet-bench-probes-{uuid.uuid4().hex[:8]}"
DEFAULT_QUEUE = f"fleet-bench-default-{uuid.uuid4().hex[:8]}"
POOL = os.environ.get("FLEET_BENCH_POOL", "prefork")  # prefork: the one pool with time limits
ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}

# The environment of this process and of the workers: production settings on the app database.
ENV = {
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{APP_DB}",
    "DJANGO_SETTINGS_MODULE": "readiness.settings",
    "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "testserver",
    "PROBE_ENCRYPTION_KEYS": "bQ8xLZ3sV0p0o0yJ2mJ8nWm3lq8d5l7F3d1b9Q1x5aQ=",
    "PROBE_ALLOWED_HOSTS": "127.0.0.1:5432",
    "PROBE_REQUIRE_AUTH": "",  # the local server trusts local connections: no password is asked
    "CELERY_BROKER_URL": REDIS_URL,
    "PROBE_QUEUE": QUEUE,
    "CELERY_DEFAULT_QUEUE": DEFAULT_QUEUE,
    "LOG_LEVEL": "INFO",  # the workers say " ready." at INFO
    "PYTHONWARNINGS": "ignore",
}

SCHEMA = """
create table customers (id bigint primary key, email text not null, created_at timestamptz not null);
create table orders (id bigint primary key, customer_id bigint not null references customers (id),
                     status text not null check (status in ('new', 'paid')), total numeric(12, 2));
create index orders_customer_id_idx on orders (customer_id);
create table order_lines (id bigint primary key, order_id bigint not null references orders (id),
                          sku text not null, qty int not null check (qty > 0));
create index order_lines_order_id_idx on order_lines (order_id);
insert into customers select g, 'c' || g || '@example.org', now() from generate_series(1, 100) g;
insert into orders select g, 1 + g % 100, 'new', g from generate_series(1, 300) g;
insert into order_lines select g, 1 + g % 300, 'sku-' || g % 17, 1 from generate_series(1, 900) g;
analyze;
"""


def admin(dbname: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(**{**ADMIN, "dbname": dbname}, autocommit=True)


def target_name(i: int) -> str:
    return f"fleet_t_{i:04d}"


def dsn(dbname: str) -> str:
    return f"postgresql://{ROLE}:{ROLE_PASSWORD}@127.0.0.1:5432/{dbname}"


def build_targets(n: int) -> float:
    """The role, the template and N databases from it (those that exist are kept)."""
    started = time.perf_counter()
    with admin() as conn:
        if not conn.execute("select 1 from pg_roles where rolname = %s", [ROLE]).fetchone():
            conn.execute(
                sql.SQL("create role {} login password {}").format(
                    sql.Identifier(ROLE), sql.Literal(ROLE_PASSWORD)
                )
            )
            conn.execute(sql.SQL("grant pg_monitor, pg_read_all_data to {}").format(sql.Identifier(ROLE)))
        existing = {
            r[0] for r in conn.execute("select datname from pg_database where datname like 'fleet_t_%'")
        }
        if TEMPLATE not in existing:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(TEMPLATE)))
            with admin(TEMPLATE) as tpl:
                tpl.execute(SCHEMA)
                # What the README suggests for the pg_hba.conf probe.
                tpl.execute(
                    sql.SQL(
                        "grant select on pg_hba_file_rules to {r}; "
                        "grant execute on function pg_hba_file_rules() to {r}"
                    ).format(r=sql.Identifier(ROLE))
                )
        for i in range(1, n + 1):
            if target_name(i) not in existing:
                conn.execute(
                    sql.SQL("create database {} template {}").format(
                        sql.Identifier(target_name(i)), sql.Identifier(TEMPLATE)
                    )
                )
    return time.perf_counter() - started


def drop_all() -> None:
    with admin() as conn:
        names = [r[0] for r in conn.execute("select datname from pg_database where datname like 'fleet_t_%'")]
        for name in sorted(names, key=lambda x: x == TEMPLATE):
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(ROLE)))


def setup_django() -> None:
    os.environ.update(ENV)
    with admin() as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(APP_DB)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(APP_DB)))
    from _harness import setup

    setup(APP_DB)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def register(n: int):
    """A team, an architect, a system and N targets, each scheduled hourly, through the services."""
    from django.contrib.auth import get_user_model

    from probes import services
    from reviews.models import Membership, Role, System, Team

    team = Team.objects.create(name="Fleet", slug="fleet")
    user = get_user_model().objects.create_user("fleet-architect", password="x")
    Membership.objects.create(user=user, team=team, role=Role.ARCHITECT)
    system = System.objects.create(team=team, name="Fleet", slug="fleet", source_of_truth="bench")
    started = time.perf_counter()
    for i in range(1, n + 1):
        services.create_target(
            system=system, name=target_name(i), dsn=dsn(target_name(i)), actor=user, schedule_hours=1
        )
    return time.perf_counter() - started


def purge_queues() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for name in (QUEUE, DEFAULT_QUEUE):
        client.delete(name, *client.keys(f"*{name}*"))
    client.close()


def floor_statements() -> list[tuple[str, dict]]:
    from probes.engine import effective_params
    from probes.registry import all_probes

    with psycopg.connect(dsn(target_name(1))) as conn:
        extensions = {r[0] for r in conn.execute("select extname from pg_extension")}
    return [
        (p.sql, {**effective_params(p), "probe_role": ROLE})
        for p in all_probes()
        if not p.requires_extension or p.requires_extension in extensions  # the engine skips the others
    ]


def time_raw(n: int) -> float:
    statements = floor_statements()
    started = time.perf_counter()
    for i in range(1, n + 1):
        with psycopg.connect(dsn(target_name(i)), autocommit=True) as conn, conn.cursor() as cur:
            for statement, params in statements:
                cur.execute(statement, params)
                cur.fetchall()
    return time.perf_counter() - started


def time_engine(n: int) -> float:
    from probes.engine import run_probes

    started = time.perf_counter()
    for i in range(1, n + 1):
        errors = [r for r in run_probes(dsn(target_name(i))) if r.status.value == "error"]
        if errors:
            raise SystemExit(f"probe errors: {[(r.probe_id, r.summary) for r in errors]}")
    return time.perf_counter() - started


def time_in_process(n: int) -> float:
    """The fleet's work without Celery: probes.services.execute_run back to back in this process, on one
    new run of every target (claim, probes, results in bulk, finish with its audit record)."""
    from probes import services
    from probes.models import ProbeRun, ProbeTarget

    runs = [ProbeRun.objects.create(target=t) for t in ProbeTarget.objects.order_by("pk")[:n]]
    started = time.perf_counter()
    for run in runs:
        if services.execute_run(run.pk) != "done":
            raise SystemExit(f"run {run.pk} did not finish: {ProbeRun.objects.get(pk=run.pk).error}")
    return time.perf_counter() - started


def start_worker(name: str, log: Path) -> subprocess.Popen:
    command = [
        str(ROOT / ".venv/bin/celery"), "-A", "readiness", "worker", "-Q", QUEUE, "-c", "1", "-P", POOL,
        "-n", f"{name}@%h", "--without-heartbeat", "--without-mingle", "--without-gossip", "-l", "INFO",
    ]  # fmt: skip
    with log.open("w") as out:
        return subprocess.Popen(  # noqa: S603 - our own arguments
            command,
            cwd=ROOT,
            env={**os.environ, **ENV},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def drain(workers: int, n: int, logdir: Path) -> dict:
    """Start the workers, let the scheduled task queue a run of every target, wait for all to finish."""
    from django.db.models import Count, Max, Min, Q
    from django.utils import timezone

    from probes import tasks
    from probes.models import ProbeResult, ProbeRun, RunState

    # Every target becomes due again: its last run two hours back.
    ProbeRun.objects.update(created_at=timezone.now() - timedelta(hours=2))
    before = set(ProbeRun.objects.values_list("pk", flat=True))
    logs = [logdir / f"worker-{workers}-{k}.log" for k in range(workers)]
    procs = [start_worker(f"fleet{workers}-{k}", log) for k, log in enumerate(logs)]
    try:
        deadline = time.monotonic() + 120
        while not all(" ready." in log.read_text() for log in logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit(
                    "a worker did not start:\n" + "\n".join(log.read_text()[-2000:] for log in logs)
                )
            time.sleep(0.2)
        scheduled = time.perf_counter()
        counts = tasks.run_scheduled_probes()
        scheduled = time.perf_counter() - scheduled
        if counts.get("started") != n:
            raise SystemExit(f"the scheduled task started {counts}, not {n} runs")
        runs = ProbeRun.objects.exclude(pk__in=before)
        deadline = time.monotonic() + max(1800, n * 5)
        while runs.filter(state__in=[RunState.QUEUED, RunState.RUNNING]).exists():
            if time.monotonic() > deadline:
                raise SystemExit("the runs did not finish in time")
            time.sleep(1)
    finally:
        for p in procs:
            stop(p)
    span = runs.aggregate(first=Min("started_at"), last=Max("finished_at"), created=Min("created_at"))
    seconds = (span["last"] - span["first"]).total_seconds()
    states = dict(runs.values_list("state").annotate(c=Count("pk")))
    errors = ProbeResult.objects.filter(run__in=runs, status="error").count()
    per_run = set(runs.annotate(c=Count("results")).values_list("c", flat=True))
    busy = runs.filter(~Q(state=RunState.DONE)).values_list("error", flat=True)[:3]
    if states != {RunState.DONE: n} or errors:
        raise SystemExit(f"{workers} workers: states {states}, {errors} error results, e.g. {list(busy)}")
    total = n / seconds * 60
    return {
        "workers": workers,
        "seconds": round(seconds, 2),
        "targets_per_min": round(total, 1),
        "per_worker": round(total / workers, 1),
        "schedule_s": round(scheduled, 2),
        "results_per_run": sorted(per_run),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def machine() -> str:
    from probes_suite import machine as describe

    return describe()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", type=int, default=500)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--keep", action="store_true", help="keep the fleet_t* databases and the role")
    parser.add_argument(
        "--in-process", action="store_true", help="also time execute_run back to back without Celery"
    )
    parser.add_argument("--out", default=str(BENCH / "results" / "probe_fleet.json"))
    args = parser.parse_args()
    n = args.targets
    worker_counts = [int(w) for w in args.workers.split(",")]
    logdir = Path(os.environ.get("READINESS_VAR_DIR") or tempfile.gettempdir()) / "probe-fleet-logs"
    logdir.mkdir(parents=True, exist_ok=True)
    try:
        built = build_targets(n)
        print(f"{n} target databases ready in {built:.0f} s", flush=True)
        setup_django()
        registered = register(n)
        purge_queues()  # the connection tests that registration queued: not part of the measure
        print(f"{n} targets registered in {registered:.1f} s", flush=True)

        time_engine(min(n, 10))  # warm up
        time_raw(min(n, 10))
        raw_s = time_raw(n)
        raw = n / raw_s * 60
        print(f"raw SQL, back to back: {n} targets in {raw_s:.1f} s = {raw:.0f} targets/min", flush=True)

        in_process = None
        if args.in_process:
            in_process_s = time_in_process(n)
            in_process = n / in_process_s * 60
            print(
                f"execute_run back to back, no Celery: {n} runs in {in_process_s:.1f} s "
                f"= {in_process:.0f}/min"
            )

        fleet = []
        for w in worker_counts:
            # The floor right before each series: the machine is shared, its load drifts.
            floor_s = time_engine(n)
            floor = n / floor_s * 60
            print(
                f"floor (the engine, back to back): {n} targets in {floor_s:.1f} s = {floor:.0f} targets/min"
            )
            result = drain(w, n, logdir)
            result["floor"] = round(floor, 1)
            fleet.append(result)
            print(
                f"{w} worker(s): {n} runs in {result['seconds']} s = "
                f"{result['targets_per_min']} targets/min, "
                f"{result['per_worker']} per worker (scheduling took {result['schedule_s']} s; "
                f"load {result['load']})",
                flush=True,
            )
    finally:
        purge_queues()
        if not args.keep:
            drop_all()
            with admin() as conn:
                conn.execute(
                    sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(APP_DB))
                )

    by = {r["workers"]: r for r in fleet}
    one = by.get(1)
    ratios = []
    if one:
        ratio = one["per_worker"] / one["floor"]
        ratios.append(
            {
                "name": "per worker ÷ floor (1 worker)",
                "value": round(ratio, 2),
                "target": "≥ 0.8",
                "met": ratio >= 0.8,
            }
        )
        for w in worker_counts:
            if w > 1:
                r = by[w]["per_worker"] / by[w]["floor"]
                ratios.append(
                    {
                        "name": f"per worker ÷ floor ({w} workers)",
                        "value": round(r, 2),
                        "target": "≥ 0.8",
                        "met": r >= 0.8,
                    }
                )
        ratios.append(
            {
                "name": "per worker ÷ raw SQL (1 worker)",
                "value": round(one["per_worker"] / raw, 2),
                "target": "reference",
                "met": None,
            }
        )
        for w in worker_counts:
            if w > 1:
                s = by[w]["targets_per_min"] / one["targets_per_min"]
                ratios.append(
                    {
                        "name": f"throughput {w} workers ÷ 1 worker",
                        "value": round(s, 2),
                        "target": f"near {w} (linear)",
                        "met": s >= 0.8 * w,
                    }
                )
    doc = {
        "benchmark": "probe_fleet",
        "command": "bench/probe_fleet.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load": "; ".join(f"{r['workers']} workers: {r['load']}" for r in fleet),
        "targets": n,
        "series": [
            {
                "label": "targets/min per worker",
                "x_label": "workers",
                "y_label": "targets/min",
                "points": [[r["workers"], r["per_worker"]] for r in fleet],
            },
            {
                "label": "targets/min, all workers",
                "x_label": "workers",
                "y_label": "targets/min",
                "points": [[r["workers"], r["targets_per_min"]] for r in fleet],
            },
            {
                "label": "floor",
                "x_label": "workers",
                "y_label": "targets/min",
                "points": [[r["workers"], r["floor"]] for r in fleet],
            },
            {
                "label": "raw SQL, no isolation (reference)",
                "x_label": "workers",
                "y_label": "targets/min",
                "points": [[w, round(raw, 1)] for w in worker_counts],
            },
        ],
        "ratios": ratios,
        "details": {
            "fleet": fleet,
            "raw_sql_s": round(raw_s, 2),
            "in_process_per_min": round(in_process, 1) if in_process else None,
        },
        "notes": "",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(ratios, indent=2, ensure_ascii=False))
    print(f"median per-worker rate: {statistics.median(r['per_worker'] for r in fleet):.1f} targets/min")


if __name__ == "__main__":
    main()
