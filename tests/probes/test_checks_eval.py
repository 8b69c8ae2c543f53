"""The probes' pure evaluations, from rows to verdicts, without a database; and the registry's shape."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from probes.checks.settings import to_ms
from probes.engine import effective_params
from probes.registry import REGISTRY, Status, all_probes

F, W, P, S = Status.FAIL, Status.WARN, Status.PASS, Status.SKIPPED
CATALOGUE = Path(__file__).resolve().parents[2] / "reviews" / "catalogue" / "v1.json"


def evaluate(probe_id: str, rows: list[dict], **overrides):
    probe = {p.id: p for p in all_probes()}[probe_id]
    params = {**effective_params(probe), "probe_role": "probe", **overrides}
    return probe.evaluate(rows, params)


@pytest.fixture(autouse=True, scope="module")
def _registered():
    all_probes()


# --- the registry ------------------------------------------------------------------------------------------


def test_at_least_35_probes_with_stable_ids_in_catalogue_categories():
    probes = all_probes()
    assert len(probes) >= 35
    codes = {c["code"] for c in json.loads(CATALOGUE.read_text())["categories"]}
    for p in probes:
        assert re.fullmatch(r"[a-z-]+\.[a-z0-9-]+", p.id), p.id
        assert p.id.split(".")[0] == p.category, p.id
        assert p.category in codes, p.id
        assert p.severity in ("P0", "P1", "P2", "P3"), p.id
        assert p.title and p.checks and p.fix and p.sql.strip(), p.id
        assert re.fullmatch(r"\d+(\.\d+)?", p.seed), p.id  # a specification section, for engineers
        json.dumps(p.params)  # parameters are stored with targets: JSON only


def test_every_probe_sql_escapes_percent_signs_for_bound_parameters():
    for p in all_probes():
        assert "%" not in re.sub(r"%%|%\(\w+\)s", "", p.sql), p.id
        for name in re.findall(r"%\((\w+)\)s", p.sql):
            assert name in effective_params(p), (p.id, name)


def test_the_issue_lists_are_covered_by_ids():
    ids = {p.id for p in all_probes()}
    for needed in (
        "query-index.top-statements",
        "query-index.index-usage",
        "query-index.seq-scan-suspects",
        "transaction.long-transactions",
        "transaction.blocked-sessions",
        "capacity.dead-tuples",
        "capacity.vacuum-age",
        "capacity.database-size",
        "capacity.table-index-size",
        "schema.tables-without-primary-key",
        "query-index.fk-without-index",
        "query-index.duplicate-indexes",
        "migration.invalid-indexes",
        "query-index.unused-indexes",
        "capacity.sequence-exhaustion",
        "capacity.xid-wraparound",
        "transaction.idle-in-transaction",
        "capacity.connection-saturation",
        "replication.lag",
        "replication.inactive-slots",
        "backup.archiver-failures",
        "backup.last-archived-age",
        "security.app-role-superuser",
        "security.app-role-owns-objects",
        "security.app-role-bypassrls",
        "security.tenant-tables-without-rls",
        "security.public-create-on-schema",
        "security.password-encryption",
        "security.hba-auth-methods",
        "security.ssl",
        "transaction.statement-timeout-unset",
        "migration.lock-timeout-unset",
        "transaction.idle-in-transaction-timeout-unset",
        "backup.data-checksums",
        "data-model.money-in-float",
        "schema.timestamp-without-time-zone",
        "data-model.free-text-status",
        "data-model.audit-table-writable",
        "privacy.pii-columns-unclassified",
        "backup.critical-table-row-counts",
    ):
        assert needed in ids


def test_severities_follow_the_seed_levels():
    assert REGISTRY["security.app-role-superuser"].severity == "P0"
    assert REGISTRY["security.app-role-bypassrls"].severity == "P0"
    assert REGISTRY["security.tenant-tables-without-rls"].severity == "P0"
    assert REGISTRY["schema.tables-without-primary-key"].severity == "P1"
    assert REGISTRY["capacity.xid-wraparound"].severity == "P1"
    assert REGISTRY["capacity.table-index-size"].severity == "P3"


def test_target_params_layer_over_defaults():
    probe = REGISTRY["transaction.long-transactions"]
    params = effective_params(probe, {"*": {"app_roles": ["app"]}, probe.id: {"warn_seconds": 9}})
    assert params["warn_seconds"] == 9 and params["fail_seconds"] == 3600
    assert params["app_roles"] == ["app"] and params["exclude_schemas"] == []


# --- workload ---------------------------------------------------------------------------------------------


def _session(pid, age, key="xact_age_s", state="idle in transaction"):
    return {
        "pid": pid,
        "usename": "app",
        "application_name": "web",
        "state": state,
        key: age,
        "query": "select 1",
    }


@pytest.mark.parametrize(("age", "status"), [(10, P), (301, W), (4000, F)])
def test_long_transactions_grade_by_age(age, status):
    verdict = evaluate("transaction.long-transactions", [_session(42, age)])
    assert verdict.status is status
    if status is not P:
        assert verdict.items[0].object == "pid 42"


def test_idle_in_transaction_uses_its_own_thresholds():
    verdict = evaluate("transaction.idle-in-transaction", [_session(7, 61, key="idle_s")])
    assert verdict.status is W and verdict.items[0].data["pid"] == 7


def test_blocked_sessions_group_blockers_per_blocked_pid_and_name_them():
    rows = [
        {
            "blocked_pid": 10,
            "blocked_user": "a",
            "blocked_query": "update t",
            "waiting_s": 70,
            "blocking_pid": 5,
            "blocking_user": "b",
            "blocking_state": "idle in transaction",
            "blocking_query": "update t",
            "blocking_xact_age_s": 80,
        },
        {
            "blocked_pid": 10,
            "blocked_user": "a",
            "blocked_query": "update t",
            "waiting_s": 70,
            "blocking_pid": 6,
            "blocking_user": "c",
            "blocking_state": "active",
            "blocking_query": "lock t",
            "blocking_xact_age_s": 90,
        },
    ]
    verdict = evaluate("transaction.blocked-sessions", rows)
    assert verdict.status is F
    (item,) = verdict.items
    assert item.object == "pid 10" and item.data["blocking_pids"] == [5, 6]
    assert "pid 5" in verdict.summary and "pid 6" in verdict.summary


def test_blocked_sessions_below_the_threshold_pass():
    row = {
        "blocked_pid": 1,
        "blocked_user": "a",
        "blocked_query": "q",
        "waiting_s": 1,
        "blocking_pid": 2,
        "blocking_user": "b",
        "blocking_state": "active",
        "blocking_query": "q",
        "blocking_xact_age_s": 1,
    }
    assert evaluate("transaction.blocked-sessions", [row]).status is P


def test_connection_saturation_by_scope():
    rows = [
        {"scope": "cluster", "name": "max_connections", "used": 50, "lim": 97},
        {"scope": "database", "name": "shop", "used": 17, "lim": 20},
        {"scope": "role", "name": "web", "used": 10, "lim": 10},
    ]
    verdict = evaluate("capacity.connection-saturation", rows)
    items = {i.object: i.status for i in verdict.items}
    assert items == {"database shop": W, "role web": F}
    assert verdict.status is F


def test_top_statements_warn_on_frequent_slow_ones_only():
    rows = [
        {
            "queryid": 1,
            "calls": 1000,
            "total_exec_ms": 900000,
            "mean_exec_ms": 900,
            "rows": 1,
            "role": "a",
            "sample_query": "select slow",
        },
        {
            "queryid": 2,
            "calls": 3,
            "total_exec_ms": 9000,
            "mean_exec_ms": 3000,
            "rows": 1,
            "role": "a",
            "sample_query": "select rare",
        },
    ]
    verdict = evaluate("query-index.top-statements", rows)
    assert verdict.status is W and [i.object for i in verdict.items] == ["queryid 1"]
    assert evaluate("query-index.top-statements", []).status is P


def test_seq_scan_suspects_need_size_scans_and_more_seq_than_index_scans():
    base = {
        "schema": "public",
        "table": "t",
        "seq_scan": 50,
        "seq_tup_read": 10**7,
        "idx_scan": 3,
        "n_live_tup": 200000,
    }
    assert evaluate("query-index.seq-scan-suspects", [base]).status is W
    assert evaluate("query-index.seq-scan-suspects", [{**base, "idx_scan": 5000}]).status is P
    assert evaluate("query-index.seq-scan-suspects", [{**base, "n_live_tup": 10}]).status is P


# --- indexes ----------------------------------------------------------------------------------------------


def _fk(rows):
    return {
        "schema": "public",
        "table": "orders",
        "constraint": "orders_customer_fk",
        "columns": ["customer_id"],
        "references": "customers",
        "est_rows": rows,
        "live_rows": 0,
    }


def test_fk_without_index_fails_on_large_tables_and_warns_on_small_ones():
    assert evaluate("query-index.fk-without-index", [_fk(5_000_000)]).status is F
    small = evaluate("query-index.fk-without-index", [_fk(10)])
    assert small.status is W and small.items[0].object == "public.orders (customer_id)"


def test_duplicates_keep_the_constraint_index_and_flag_the_rest():
    rows = [
        {
            "schema": "public",
            "table": "t",
            "kind": "duplicate",
            "indexes": ["t_pkey", "t_id_idx", "t_id_idx2"],
            "sizes": [8192, 8192, 8192],
        },
        {"schema": "public", "table": "t", "kind": "prefix", "indexes": ["t_a_b", "t_a"], "sizes": [1, 2]},
    ]
    verdict = evaluate("query-index.duplicate-indexes", rows)
    items = {i.object: i.status for i in verdict.items}
    assert items == {"index public.t_id_idx": F, "index public.t_id_idx2": F, "index public.t_a": W}


def test_unused_indexes_respect_the_size_floor():
    row = {
        "schema": "public",
        "table": "t",
        "index": "t_x",
        "idx_scan": 0,
        "index_bytes": 10,
        "stats_reset": None,
    }
    assert evaluate("query-index.unused-indexes", [row]).status is P
    assert evaluate("query-index.unused-indexes", [{**row, "index_bytes": 10**8}]).status is W


def test_an_index_being_built_is_only_a_warning():
    row = {
        "schema": "public",
        "table": "t",
        "index": "t_x",
        "bytes": 1,
        "definition": "CREATE INDEX",
        "in_progress": True,
    }
    assert evaluate("migration.invalid-indexes", [row]).status is W
    assert evaluate("migration.invalid-indexes", [{**row, "in_progress": False}]).status is F


# --- maintenance ------------------------------------------------------------------------------------------


def _seq(**kw):
    row = {
        "schema": "public",
        "sequence": "s",
        "data_type": "bigint",
        "increment_by": 1,
        "min_value": 1,
        "max_value": 2**63 - 1,
        "cycle": False,
        "readable": True,
        "last_value": 1,
        "table": None,
        "column": None,
        "column_type": None,
        "column_max": None,
    }
    return {**row, **kw}


def test_sequence_limited_by_the_column_it_feeds():
    row = _seq(last_value=2_100_000_000, table="t", column="id", column_type="integer", column_max=2147483647)
    verdict = evaluate("capacity.sequence-exhaustion", [row])
    assert verdict.status is F and verdict.items[0].data["limit"] == 2147483647


def test_descending_and_cycling_sequences():
    falling = _seq(increment_by=-1, min_value=-32768, max_value=-1, last_value=-30000, data_type="smallint")
    assert evaluate("capacity.sequence-exhaustion", [falling]).status is F
    assert evaluate("capacity.sequence-exhaustion", [_seq(cycle=True, last_value=2**63 - 2)]).status is P
    assert evaluate("capacity.sequence-exhaustion", [_seq(last_value=None)]).status is P  # never used


def test_unreadable_sequences_skip_with_a_grant_for_the_probe_role():
    verdict = evaluate("capacity.sequence-exhaustion", [_seq(readable=False, last_value=None, schema="app")])
    assert verdict.status is S
    assert verdict.fix == "GRANT SELECT ON ALL SEQUENCES IN SCHEMA app TO probe;"
    mixed = evaluate("capacity.sequence-exhaustion", [_seq(readable=False), _seq(sequence="t")])
    assert mixed.status is P and "1 not readable" in mixed.summary


@pytest.mark.parametrize(("age", "status"), [(10_000, P), (600_000_000, W), (1_500_000_000, F)])
def test_wraparound_grades_by_age(age, status):
    rows = [{"kind": "database", "name": "shop", "xid_age": age, "mxid_age": 0}]
    assert evaluate("capacity.xid-wraparound", rows).status is status


def test_dead_tuples_need_both_count_and_share():
    row = {
        "schema": "public",
        "table": "t",
        "n_live_tup": 1000,
        "n_dead_tup": 50_000,
        "last_vacuum": None,
        "last_autovacuum": None,
        "last_analyze": None,
        "last_autoanalyze": None,
    }
    assert evaluate("capacity.dead-tuples", [row]).status is W
    assert evaluate("capacity.dead-tuples", [{**row, "n_live_tup": 10**8}]).status is P


def test_vacuum_age():
    row = {
        "schema": "public",
        "table": "t",
        "n_dead_tup": 5000,
        "n_mod_since_analyze": 0,
        "since_vacuum_s": None,
        "since_analyze_s": None,
    }
    assert evaluate("capacity.vacuum-age", [row]).status is W
    assert evaluate("capacity.vacuum-age", [{**row, "since_vacuum_s": 60}]).status is P


def test_autovacuum_off_fails_a_table_opt_out_warns():
    rows = [
        {"scope": "autovacuum", "schema": None, "table": None, "setting": "on"},
        {"scope": "track_counts", "schema": None, "table": None, "setting": "on"},
        {"scope": "table", "schema": "public", "table": "t", "setting": "autovacuum_enabled=false"},
    ]
    assert evaluate("capacity.autovacuum-disabled", rows).status is W
    rows[0]["setting"] = "off"
    assert evaluate("capacity.autovacuum-disabled", rows).status is F


def test_checksums():
    row = {"data_checksums": "on", "datname": "d", "checksum_failures": 0, "checksum_last_failure": None}
    assert evaluate("backup.data-checksums", [row]).status is P
    assert evaluate("backup.data-checksums", [{**row, "checksum_failures": 3}]).status is F
    assert evaluate("backup.data-checksums", [{**row, "data_checksums": "off"}]).status is F


# --- replication and archive ------------------------------------------------------------------------------


def _archiver(**kw):
    row = {
        "archive_mode": "on",
        "archived_count": 10,
        "last_archived_wal": "0001",
        "failed_count": 0,
        "last_archived_time": "2026-01-01T10:00:00+00:00",
        "last_failed_wal": None,
        "last_failed_time": None,
        "stats_reset": None,
        "last_archived_age_s": 30,
    }
    return {**row, **kw}


def test_archiver_off_skips_with_the_setting_to_turn_on():
    for probe_id in ("backup.archiver-failures", "backup.last-archived-age"):
        verdict = evaluate(probe_id, [_archiver(archive_mode="off")])
        assert verdict.status is S and "archive_mode = on" in verdict.fix


def test_archiver_failing_now_fails_and_failing_before_warns():
    now = _archiver(failed_count=2, last_failed_time="2026-01-01T11:00:00+00:00")
    assert evaluate("backup.archiver-failures", [now]).status is F
    before = _archiver(failed_count=2, last_failed_time="2026-01-01T09:00:00+00:00")
    assert evaluate("backup.archiver-failures", [before]).status is W
    assert evaluate("backup.archiver-failures", [_archiver()]).status is P


@pytest.mark.parametrize(("age", "status"), [(30, P), (7200, W), (100_000, F)])
def test_last_archived_age(age, status):
    assert evaluate("backup.last-archived-age", [_archiver(last_archived_age_s=age)]).status is status


@pytest.mark.parametrize(
    ("mode", "command", "status"),
    [("off", "", W), ("on", "", F), ("on", "/bin/true", F), ("on", "pgbackrest archive-push %p", P)],
)
def test_wal_archiving(mode, command, status):
    row = {"archive_mode": mode, "archive_command": command, "archive_library": "", "in_recovery": False}
    assert evaluate("backup.wal-archiving", [row]).status is status


def test_replication_lag_and_slots():
    assert evaluate("replication.lag", []).status is P
    lagging = {
        "name": "replica1",
        "client_addr": "10.0.0.2",
        "state": "streaming",
        "sync_state": "async",
        "replay_lag_bytes": 2 * 1024**3,
        "replay_lag_s": 5,
        "is_standby": False,
    }
    verdict = evaluate("replication.lag", [lagging])
    assert verdict.status is F and verdict.items[0].object == "standby replica1 (10.0.0.2)"
    slot = {
        "slot_name": "cdc",
        "slot_type": "logical",
        "database": "d",
        "active": False,
        "wal_status": "reserved",
        "retained_bytes": 1000,
        "max_slot_wal_keep_size": "-1",
    }
    assert evaluate("replication.inactive-slots", [slot]).status is W
    assert evaluate("replication.inactive-slots", [{**slot, "retained_bytes": 5 * 1024**3}]).status is F
    assert evaluate("replication.inactive-slots", [{**slot, "active": True}]).status is P
    assert evaluate("replication.inactive-slots", [{**slot, "wal_status": "lost"}]).status is F


# --- security and settings --------------------------------------------------------------------------------


def test_superuser_is_a_failure_for_configured_roles_and_a_warning_otherwise():
    rows = [{"rolname": "app", "rolsuper": True, "rolcanlogin": True, "sessions": 3}]
    assert evaluate("security.app-role-superuser", rows, app_roles=["app"]).status is F
    assert evaluate("security.app-role-superuser", rows).status is W
    assert (
        evaluate("security.app-role-superuser", [{**rows[0], "rolsuper": False}], app_roles=["app"]).status
        is P
    )


def test_owned_objects_are_grouped_per_role():
    rows = [
        {"role": "app", "kind": "schema", "name": "app", "count": 1},
        {"role": "app", "kind": "relations", "name": "app", "count": 12},
    ]
    (item,) = evaluate("security.app-role-owns-objects", rows).items
    assert item.object == "role app" and "12 relation(s) in schema app" in item.message


def test_audit_table_writable_by_two_roles_is_one_finding():
    rows = [
        {
            "schema": "public",
            "table": "audit_log",
            "role": r,
            "can_update": True,
            "can_delete": d,
            "can_truncate": False,
            "guard_trigger": False,
        }
        for r, d in (("app", True), ("batch", False))
    ]
    (item,) = evaluate("data-model.audit-table-writable", rows).items
    assert item.status is F and item.data["roles"] == ["app", "batch"]
    assert "role app may UPDATE/DELETE" in item.message


@pytest.mark.parametrize(
    ("rule", "status"),
    [
        ({"type": "host", "address": "0.0.0.0", "auth_method": "trust"}, F),
        ({"type": "local", "address": None, "auth_method": "trust"}, W),
        ({"type": "host", "address": "10.0.0.0", "auth_method": "password"}, F),
        ({"type": "hostssl", "address": "10.0.0.0", "auth_method": "md5"}, W),
        ({"type": "hostssl", "address": "10.0.0.0", "auth_method": "scram-sha-256"}, P),
    ],
)
def test_hba_methods(rule, status):
    row = {
        "line_number": 3,
        "database": ["all"],
        "user_name": ["all"],
        "netmask": None,
        "error": None,
        **rule,
    }
    assert evaluate("security.hba-auth-methods", [row]).status is status


def test_ssl_and_password_hashing():
    ssl = {"ssl": "on", "min_protocol": "TLSv1.2", "cleartext_remote_sessions": 0}
    assert evaluate("security.ssl", [ssl]).status is P
    assert evaluate("security.ssl", [{**ssl, "cleartext_remote_sessions": 4}]).status is W
    assert evaluate("security.ssl", [{**ssl, "ssl": "off"}]).status is F
    assert evaluate("security.password-encryption", [{"password_encryption": "md5"}]).status is F
    assert evaluate("security.password-encryption", [{"password_encryption": "scram-sha-256"}]).status is P


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        ("0", 0),
        ("30s", 30_000),
        ("5min", 300_000),
        ("1500", 1500),
        ("1h", 3_600_000),
        ("250ms", 250),
        ("x", None),
    ],
)
def test_time_settings_are_read_in_milliseconds(value, ms):
    assert to_ms(value) == ms


def _timeouts(db=None, server="0", roles=()):
    rows = [{"scope": "database", "name": "shop", "value": db, "server_value": server}]
    return rows + [{"scope": "role", "name": n, "value": v, "server_value": None} for n, v in roles]


def test_timeout_inherited_from_the_server_or_database():
    assert evaluate("transaction.statement-timeout-unset", _timeouts()).status is F
    assert evaluate("transaction.statement-timeout-unset", _timeouts(db="30s")).status is P
    # a role's own setting beats the database's
    verdict = evaluate("transaction.statement-timeout-unset", _timeouts(db="30s", roles=[("web", "0")]))
    assert verdict.status is F and verdict.items[0].object == "role web"
    verdict = evaluate("transaction.statement-timeout-unset", _timeouts(roles=[("web", "10s")]))
    assert verdict.status is P  # the database default is 0, but the only application role has its own


def test_timeout_too_long_warns_and_unknown_server_default_warns():
    assert evaluate("migration.lock-timeout-unset", _timeouts(db="10min")).status is W
    unknown = evaluate("transaction.idle-in-transaction-timeout-unset", _timeouts(server=None))
    assert unknown.status is W and "cannot tell" in unknown.items[0].message


def test_tenant_rls():
    row = {
        "schema": "public",
        "table": "t",
        "tenant_columns": ["tenant_id"],
        "rls_enabled": False,
        "rls_forced": False,
        "policies": 0,
    }
    assert evaluate("security.tenant-tables-without-rls", [row]).status is F
    assert evaluate("security.tenant-tables-without-rls", [{**row, "rls_enabled": True}]).status is W
    forced = {**row, "rls_enabled": True, "rls_forced": True, "policies": 1}
    assert evaluate("security.tenant-tables-without-rls", [forced]).status is P


def test_pg_stat_statements_presence():
    row = {"shared_preload_libraries": "auto_explain, pg_stat_statements", "installed": True}
    assert evaluate("observability.pg-stat-statements", [row]).status is P
    assert evaluate("observability.pg-stat-statements", [{**row, "installed": False}]).status is W


def test_row_counts_name_missing_critical_tables():
    rows = [{"schema": "public", "table": "orders", "bytes": 1, "estimated_rows": 5, "exact_rows": 7}]
    verdict = evaluate("backup.critical-table-row-counts", rows, critical_tables=["orders", "ledger"])
    assert verdict.status is W and [i.object for i in verdict.items] == ["ledger"]
    assert "public.orders 7" in verdict.summary
    assert evaluate("backup.critical-table-row-counts", rows).status is P
