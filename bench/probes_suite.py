"""Benchmark of the probe suite on a catalog of 1,000 tables and 3,000 indexes (issue 3, item 10).

Reports the median wall time of N runs of
  - the suite: probes.engine.run_probes, as a Celery task or `manage.py probe` runs it;
  - the floor: the same SQL statements with the same parameters, back to back over one psycopg
    connection, no per-probe transaction, timeouts or evaluation (connect time included in both);
  - check_postgres (Debian package check-postgres): its comparable actions, each as its own process,
    the way a pipeline runs them.

    .venv/bin/python bench/probes_suite.py [--runs 5] [--rebuild] [--admin-dsn postgres://postgres@127.0.0.1/postgres]

Not a test: figures go to BENCHMARKS.md ("Probe suite").
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from probes.engine import effective_params, run_probes  # noqa: E402
from probes.registry import all_probes  # noqa: E402

DB = "readiness_bench_probes"
TABLES = 1000
INDEXES_PER_TABLE = 3  # primary key + 2
FK_EVERY = 10  # every 10th table references the one before it
ROWS_PER_TABLE = 100

# check_postgres actions that look at what the suite looks at, with the thresholds they insist on.
CHECK_POSTGRES_ACTIONS: list[tuple[str, list[str]]] = [
    ("txn_wraparound", []),
    ("autovac_freeze", []),
    ("sequence", []),
    ("txn_idle", ["--warning=5 minutes", "--critical=10 minutes"]),
    ("txn_time", ["--warning=5 minutes", "--critical=10 minutes"]),
    ("query_time", ["--warning=5 minutes", "--critical=10 minutes"]),
    ("locks", []),
    ("backends", []),
    ("database_size", ["--warning=100 GB", "--critical=200 GB"]),
    ("table_size", ["--warning=10 GB", "--critical=20 GB"]),
    ("index_size", ["--warning=10 GB", "--critical=20 GB"]),
    ("relation_size", ["--warning=10 GB", "--critical=20 GB"]),
    ("last_vacuum", []),
    ("last_autovacuum", []),
    ("last_analyze", []),
    ("bloat", []),
    ("replication_slots", ["--warning=1 GB", "--critical=2 GB"]),
    ("archive_ready", []),
    ("dbstats", []),
    ("disabled_triggers", []),
]


def with_db(dsn: str, db: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def build(admin_dsn: str, rebuild: bool) -> str:
    target = with_db(admin_dsn, DB)
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        exists = admin.execute("select 1 from pg_database where datname = %s", [DB]).fetchone()
        if exists and not rebuild:
            with psycopg.connect(target) as conn:
                done = conn.execute(
                    "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                    "where n.nspname = 'bench' and c.relkind = 'r'"
                ).fetchone()[0]
            if done == TABLES:
                return target
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(DB)))
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(DB)))
    started = time.perf_counter()
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("create schema bench")
        for i in range(1, TABLES + 1):
            name = f"t{i:04d}"
            fk = f"references bench.t{i - 1:04d} (id)" if i % FK_EVERY == 0 else ""
            conn.execute(
                f"""
                create table bench.{name} (
                  id bigserial primary key, tenant_id int not null, parent_id bigint {fk},
                  status text not null check (status in ('new', 'done')), amount numeric(12, 2),
                  created_at timestamptz not null default now(), note text);
                create index {name}_tenant_created on bench.{name} (tenant_id, created_at);
                create index {name}_parent on bench.{name} (parent_id);
                insert into bench.{name} (tenant_id, parent_id, status, amount, note)
                  select g % 10, null, 'new', g, 'row ' || g from generate_series(1, {ROWS_PER_TABLE}) g;
                """
            )
        conn.execute("analyze")
    print(
        f"built {DB}: {TABLES} tables, {TABLES * INDEXES_PER_TABLE} indexes in "
        f"{time.perf_counter() - started:.0f} s"
    )
    return target


def time_suite(target: str) -> float:
    started = time.perf_counter()
    results = run_probes(target)
    elapsed = time.perf_counter() - started
    errors = [r for r in results if r.status.value == "error"]
    if errors:
        raise SystemExit(f"probe errors in the benchmark: {[(r.probe_id, r.summary) for r in errors]}")
    return elapsed


def floor_statements(target: str) -> list[tuple[str, dict]]:
    with psycopg.connect(target) as conn:
        extensions = {r[0] for r in conn.execute("select extname from pg_extension")}
        role = conn.execute("select current_user").fetchone()[0]
    return [
        (p.sql, {**effective_params(p), "probe_role": role})
        for p in all_probes()
        if not p.requires_extension or p.requires_extension in extensions  # the suite skips the others
    ]


def time_floor(target: str, statements: list[tuple[str, dict]]) -> float:
    started = time.perf_counter()
    with psycopg.connect(target, autocommit=True) as conn, conn.cursor() as cur:
        for statement, params in statements:
            cur.execute(statement, params)
            cur.fetchall()
    return time.perf_counter() - started


def time_check_postgres(admin_dsn: str) -> float | None:
    exe = shutil.which("check_postgres") or shutil.which("check_postgres.pl")
    if not exe:
        return None
    parts = urlsplit(admin_dsn)
    conn_args = [
        f"--host={parts.hostname or '127.0.0.1'}",
        f"--port={parts.port or 5432}",
        f"--dbuser={parts.username or 'postgres'}",
        f"--dbname={DB}",
    ]
    started = time.perf_counter()
    for action, extra in CHECK_POSTGRES_ACTIONS:
        command = [exe, f"--action={action}", *conn_args, *extra]
        done = subprocess.run(command, capture_output=True, text=True)  # noqa: S603 - our own arguments
        if done.returncode == 3 and "ERROR" in done.stdout + done.stderr:
            raise SystemExit(f"check_postgres {action} failed: {done.stdout} {done.stderr}")
    return time.perf_counter() - started


def machine() -> str:
    cpu = "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            "?",
        )
    ram = "?"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = int(meminfo.read_text().split()[1])
        ram = f"{kb / 1024 / 1024:.0f} GiB"
    return f"{os.cpu_count()} CPUs ({cpu}), {ram} RAM, {platform.system()} {platform.release()}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--admin-dsn", default=os.environ.get("BENCH_ADMIN_DSN", "postgres://postgres@127.0.0.1/postgres")
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()

    target = build(args.admin_dsn, args.rebuild)
    with psycopg.connect(target) as conn:
        version = conn.execute("select current_setting('server_version')").fetchone()[0]
        tables, indexes = conn.execute(
            "select count(*) filter (where c.relkind = 'r'), count(*) filter (where c.relkind = 'i') "
            "from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'bench'"
        ).fetchone()
    statements = floor_statements(target)
    time_suite(target)  # warm the caches once for both
    time_floor(target, statements)
    suite, floor, cp = [], [], []
    for _ in range(args.runs):
        suite.append(time_suite(target))
        floor.append(time_floor(target, statements))
        cp_time = time_check_postgres(args.admin_dsn)
        if cp_time is not None:
            cp.append(cp_time)
    s, f = statistics.median(suite), statistics.median(floor)
    print(f"machine: {machine()}; PostgreSQL {version}; {time.strftime('%Y-%m-%d')}")
    print(
        f"catalog: {tables} tables, {indexes} indexes in schema bench; {len(all_probes())} probes, "
        f"{len(statements)} statements in the floor; median of {args.runs} runs"
    )
    print("| measure | median | min | max |")
    print("| --- | --- | --- | --- |")
    print(f"| suite (run_probes) | {s:.3f} s | {min(suite):.3f} s | {max(suite):.3f} s |")
    print(f"| floor (same SQL, one connection) | {f:.3f} s | {min(floor):.3f} s | {max(floor):.3f} s |")
    if cp:
        c = statistics.median(cp)
        print(
            f"| check_postgres, {len(CHECK_POSTGRES_ACTIONS)} actions | {c:.3f} s | {min(cp):.3f} s | "
            f"{max(cp):.3f} s |"
        )
    print(f"suite / floor = {s / f:.2f}x (target <= 1.3x); suite < 5 s: {s < 5}")
    if cp:
        print(f"check_postgres / suite = {statistics.median(cp) / s:.1f}x")


if __name__ == "__main__":
    main()
