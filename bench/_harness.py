"""What the Django benchmarks share: the environment for a throwaway PostgreSQL database, creating it
afresh, a statement counter and p50/p95 timing.

    from _harness import setup
    setup("readiness_bench")  # before importing anything of Django's or the project's
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def setup(database: str, *, test_client: bool = True) -> None:
    """Production settings on `database` (unless DATABASE_URL says otherwise), then django.setup().
    `test_client`: let Django's test client in (it speaks plain HTTP to host "testserver")."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{database}")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readiness.settings")
    os.environ.setdefault("STATIC_ROOT", os.path.join(tempfile.gettempdir(), "readiness-bench-static"))
    if test_client:
        os.environ.setdefault("ALLOWED_HOSTS", "testserver")
        os.environ.setdefault("SECURE_COOKIES", "0")
        os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    import django

    django.setup()


def ensure_database() -> None:
    """Drop and create the configured database (the benchmark then migrates it)."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"] or "postgres",
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db["NAME"]}"')


class QueryCount:
    """Counts statements sent to the database (CaptureQueriesContext loses them at request_started)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)

    def __enter__(self):
        from django.db import connection

        self._cm = connection.execute_wrapper(self)
        self._cm.__enter__()
        return self

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def timed(fn, runs: int) -> tuple[float, float]:
    """p50 and p95 of `runs` calls, in milliseconds."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return percentiles(samples)


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p95 of timings."""
    samples = sorted(samples)
    return statistics.median(samples), samples[max(int(len(samples) * 0.95) - 1, 0)]
