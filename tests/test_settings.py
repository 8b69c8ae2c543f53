"""Settings read from the environment."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from readiness.env import env_bool, env_int, parse_database_url


def test_postgres_url_becomes_a_django_database():
    db = parse_database_url("postgres://app:s%40cret@db.internal:6543/ready?sslmode=require")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "app", "s@cret", "db.internal", "6543", "ready",
    )  # fmt: skip
    assert db["OPTIONS"] == {"sslmode": "require"}


def test_sqlite_url_keeps_an_absolute_path():
    assert (
        parse_database_url("sqlite:////var/lib/readiness/db.sqlite3")["NAME"]
        == "/var/lib/readiness/db.sqlite3"
    )


def test_unknown_scheme_is_refused_with_a_clear_message():
    with pytest.raises(ImproperlyConfigured, match="mysql"):
        parse_database_url("mysql://x@y/z")


def test_booleans_and_integers_are_checked(monkeypatch):
    monkeypatch.setenv("FLAG", "yes")
    assert env_bool("FLAG") is True
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG"):
        env_bool("FLAG")
    monkeypatch.setenv("COUNT", "ten")
    with pytest.raises(ImproperlyConfigured, match="COUNT"):
        env_int("COUNT", 1)


def test_secret_key_is_required_without_debug():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    command = [sys.executable, "-c", "import readiness.settings"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr
