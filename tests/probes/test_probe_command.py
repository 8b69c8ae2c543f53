"""`manage.py probe` for pipelines: output formats and exit codes (0 clean, 1 P0/P1 failed, 2 cannot run)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from probes.registry import all_probes

from .conftest import dsn

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("probe", *args, stdout=out)
    except SystemExit as exc:
        return int(exc.code), out.getvalue()
    return 0, out.getvalue()


def test_list_prints_the_registry():
    code, out = run("--list")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[-1] == f"{len(all_probes())} probes"
    assert any(line.split()[:3] == ["security.app-role-superuser", "security", "P0"] for line in lines)
    code, out = run("--list", "--format", "json")
    assert {p["id"] for p in json.loads(out)} == {p.id for p in all_probes()}


def test_json_on_the_planted_database_fails_the_pipeline(env, activity):
    params = json.dumps(env.planted_params)
    code, out = run("--dsn", env.dsn(env.planted), "--format", "json", "--params", params)
    assert code == 1
    results = json.loads(out)
    assert len(results) == len(all_probes())
    for r in results:
        assert {"id", "category", "severity", "status", "summary", "details"} <= set(r)
    superuser = next(r for r in results if r["id"] == "security.app-role-superuser")
    assert superuser["status"] == "fail" and superuser["details"][0]["object"] == f"role {env.su}"


def test_exit_code_is_zero_when_no_p0_or_p1_probe_fails(env):
    # A P2 failure (free-text status on the planted database) does not fail the pipeline.
    code, out = run(
        "--dsn", env.dsn(env.planted), "--only", "data-model.free-text-status,capacity.database-size"
    )
    assert code == 0
    assert "no P0/P1 probe failed" in out
    # Roles are cluster-wide: without app_roles the planted BYPASSRLS role would count for the clean twin too.
    params = json.dumps(env.clean_params)
    code, _ = run(
        "--dsn", env.dsn(env.clean), "--only", "schema,security.app-role-bypassrls", "--params", params
    )
    assert code == 0


def test_text_output_groups_by_category_with_a_tally(env):
    code, out = run("--dsn", env.dsn(env.planted), "--only", "schema,query-index.fk-without-index")
    assert code == 1  # tables without a primary key: P1
    assert "\nschema\n" in out and "\nquery-index\n" in out
    assert "FAIL  P1  schema.tables-without-primary-key" in out
    assert "- public.no_pk_table: no primary key" in out
    assert out.strip().endswith(
        "3 probes: 0 pass, 2 warn, 1 fail, 0 skipped, 0 error; 1 P0/P1 probe(s) failed"
    )


def test_skipped_probes_print_their_fix(env):
    _, out = run("--dsn", env.dsn(env.planted), "--only", "query-index.top-statements")
    assert "SKIP" in out and "fix: CREATE EXTENSION pg_stat_statements;" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--dsn", dsn("postgres", password="Hunter2-secret", port=1)],
            "cannot connect to postgres@127.0.0.1:1/postgres",
        ),
        (["--dsn", dsn("postgres"), "--only", "no.such-probe"], "unknown probe id(s): no.such-probe"),
        (["--dsn", dsn("postgres"), "--params", "{not json"], "--params is not valid JSON"),
        (["--dsn", dsn("postgres"), "--params", '{"*": 3}'], "--params must map"),
        ([], "--dsn is required"),
    ],
)
def test_bad_arguments_and_connection_errors_exit_2(args, message):
    with pytest.raises(CommandError) as caught:
        call_command("probe", *args, stdout=io.StringIO())
    assert caught.value.returncode == 2
    assert message in str(caught.value)
    assert "Hunter2-secret" not in str(caught.value)


def test_the_real_process_exit_codes(env):
    environment = {
        **os.environ,
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "readiness.settings",
        # The production defaults allow no host and refuse a trust login: the test server is local, trust.
        "PROBE_ALLOWED_HOSTS": "127.0.0.1:5432,127.0.0.1:1",
        "PROBE_REQUIRE_AUTH": "",
    }

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "probe", *args],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )

    unreachable = manage(
        "--dsn", dsn("postgres", password="Hunter2-secret", port=1), "--connect-timeout-s", "2"
    )
    assert unreachable.returncode == 2
    assert "cannot connect" in unreachable.stderr and "Hunter2-secret" not in unreachable.stderr
    failing = manage(
        "--dsn", env.dsn(env.planted), "--only", "schema.tables-without-primary-key", "--format", "json"
    )
    assert failing.returncode == 1
    assert json.loads(failing.stdout)[0]["status"] == "fail"
    passing = manage("--dsn", env.dsn(env.clean), "--only", "schema.tables-without-primary-key")
    assert passing.returncode == 0, passing.stderr
    assert manage("--no-such-flag").returncode == 2
