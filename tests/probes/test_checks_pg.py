"""Every probe against the real PostgreSQL: it finds its planted problem and passes on the clean twin."""

from __future__ import annotations

import pytest
from psycopg import sql

from probes.engine import run_probes
from probes.registry import Status, all_probes

from .conftest import connect

F, W, P, S = Status.FAIL, Status.WARN, Status.PASS, Status.SKIPPED

# probe id -> (status on the planted database, objects its items must name); "{app}" etc. are role names.
PLANTED = {
    "schema.tables-without-primary-key": (F, ["public.no_pk_table", "public.dup_values"]),
    "query-index.fk-without-index": (W, ["public.orders (customer_id)"]),
    "query-index.duplicate-indexes": (F, ["index public.orders_created_b", "index public.payments_order"]),
    "query-index.unused-indexes": (W, ["index public.big_scan_tag_idx"]),
    "query-index.seq-scan-suspects": (W, ["public.big_scan"]),
    "migration.invalid-indexes": (F, ["index public.dup_values_v_key"]),
    "migration.unvalidated-constraints": (W, ["public.orders (orders_total_positive)"]),
    "migration.lock-timeout-unset": (F, ["role {app}"]),
    "capacity.sequence-exhaustion": (F, ["sequence public.small_seq", "sequence public.int_ids_id_seq"]),
    "capacity.dead-tuples": (W, ["public.churn"]),
    "capacity.vacuum-age": (W, ["public.churn"]),
    "capacity.connection-saturation": (F, ["role {app}"]),
    "capacity.xid-wraparound": (W, ["database {planted}"]),
    "data-model.money-in-float": (F, ["public.payments.amount", "public.payments.fee"]),
    "data-model.free-text-status": (W, ["public.orders.status"]),
    "data-model.idempotency-key-not-unique": (W, ["public.payments.idempotency_key"]),
    "data-model.audit-table-writable": (F, ["public.audit_log"]),
    "schema.timestamp-without-time-zone": (W, ["public.orders"]),
    "security.app-role-superuser": (F, ["role {su}"]),
    "security.app-role-bypassrls": (F, ["role {app}"]),
    "security.app-role-owns-objects": (F, ["role {app}"]),
    "security.tenant-tables-without-rls": (F, ["public.invoices", "public.documents", "app.accounts"]),
    "security.public-create-on-schema": (F, ["schema public"]),
    "security.password-encryption": (F, ["setting password_encryption"]),
    "security.security-definer-search-path": (F, ["function public.bump()"]),
    "privacy.pii-columns-unclassified": (F, ["public.customers.email", "public.customers.phone"]),
    "privacy.pii-in-publications": (F, ["public.customers.email"]),
    "integration.replica-identity": (F, ["public.no_pk_table"]),
    "backup.unlogged-tables": (W, ["public.cache_entries"]),
    "ownership.undocumented-tables": (W, ["schema public", "schema app"]),
    "transaction.statement-timeout-unset": (F, ["role {app}"]),
    "transaction.idle-in-transaction-timeout-unset": (F, ["role {app}"]),
    "transaction.long-transactions": (W, ["pid {holder}"]),
    "transaction.idle-in-transaction": (W, ["pid {holder}"]),
    "transaction.blocked-sessions": (W, ["pid {waiter}"]),
    "transaction.deadlocks": (W, ["database {planted}"]),
    "observability.slow-query-log": (W, ["setting log_min_duration_statement"]),
    "observability.lock-wait-logging": (W, ["setting log_lock_waits"]),
}

# Numbers, not judgements: PASS on both, with the numbers in the summary.
INFORMATIONAL = {
    "query-index.index-usage",
    "capacity.database-size",
    "capacity.table-index-size",
    "backup.critical-table-row-counts",
}

# Server-wide settings a test database cannot change (or, for a standby, cannot plant): the same
# verdict on both databases, and the one this cluster's real configuration calls for. See
# test_server_wide_probes_tell_the_truth_about_this_cluster.
SERVER_WIDE = {
    "backup.data-checksums",
    "backup.wal-archiving",
    "backup.archiver-failures",
    "backup.last-archived-age",
    "security.ssl",
    "security.hba-auth-methods",
    "observability.pg-stat-statements",
    "capacity.autovacuum-disabled",
    "replication.lag",
}

# Tested on their own below.
SEPARATE = {"replication.inactive-slots", "query-index.top-statements"}


def _names(env) -> dict[str, str]:
    return {"app": env.app, "su": env.su, "planted": env.planted, **{k: str(v) for k, v in env.pids.items()}}


def test_every_probe_is_covered_by_this_module():
    ids = {p.id for p in all_probes()}
    covered = set(PLANTED) | INFORMATIONAL | SERVER_WIDE | SEPARATE
    assert ids == covered, {"untested": ids - covered, "unknown": covered - ids}


@pytest.mark.parametrize("probe_id", sorted(PLANTED))
def test_probe_finds_its_planted_problem(probe_id, env, planted_results):
    status, objects = PLANTED[probe_id]
    result = planted_results[probe_id]
    named = {i.object for i in result.items}
    assert result.status is status, result.summary
    for obj in objects:
        assert obj.format(**_names(env)) in named, (obj, named)


@pytest.mark.parametrize("probe_id", sorted(set(PLANTED) | INFORMATIONAL))
def test_probe_passes_on_the_clean_twin(probe_id, clean_results):
    result = clean_results[probe_id]
    assert result.status is P, (result.summary, result.items)
    assert not result.items


@pytest.mark.parametrize("probe_id", sorted(INFORMATIONAL))
def test_informational_probes_pass_with_numbers(probe_id, planted_results):
    result = planted_results[probe_id]
    assert result.status is P
    assert any(ch.isdigit() for ch in result.summary)
    assert result.rows


def test_blocked_session_names_the_blocking_pid(env, planted_results):
    result = planted_results["transaction.blocked-sessions"]
    (item,) = result.items
    assert item.data["blocked_pid"] == env.pids["waiter"]
    assert env.pids["holder"] in item.data["blocking_pids"]
    assert f"pid {env.pids['holder']}" in result.summary
    assert f"pid {env.pids['holder']}" in item.message


def test_long_transaction_probe_reports_age_user_and_query(env, planted_results):
    items = {i.object: i for i in planted_results["transaction.long-transactions"].items}
    holder = items[f"pid {env.pids['holder']}"]
    assert holder.data["seconds"] >= 1
    assert holder.data["usename"] == env.app
    assert "update app.accounts set balance = balance + ? where id = ? and ? is not null" in holder.message


@pytest.mark.parametrize(
    "probe",
    ["transaction.long-transactions", "transaction.idle-in-transaction", "transaction.blocked-sessions"],
)
def test_statement_text_is_kept_without_its_literals(planted_results, probe):
    result = planted_results[probe]
    assert result.items and result.rows
    kept = repr(result.as_json()) + repr(result.rows)
    assert "alice@example.com" not in kept
    assert "where id = ?" in kept


def test_money_fk_and_sequence_items_carry_their_evidence(planted_results):
    seq = {i.object: i for i in planted_results["capacity.sequence-exhaustion"].items}
    assert seq["sequence public.small_seq"].data["limit"] == 32767
    # a bigint-capable identity sequence is limited by the integer column it feeds
    assert seq["sequence public.int_ids_id_seq"].data["limit"] == 2147483647
    assert "public.int_ids.id (integer)" in seq["sequence public.int_ids_id_seq"].message
    fk = planted_results["query-index.fk-without-index"].items[0]
    assert fk.data["references"] == "customers" and fk.data["columns"] == ["customer_id"]


def test_tenant_rls_not_forced_is_a_warning_and_missing_rls_a_failure(planted_results):
    items = {i.object: i.status for i in planted_results["security.tenant-tables-without-rls"].items}
    assert items["public.invoices"] is F
    assert items["public.documents"] is W


def test_autovacuum_disabled_names_the_planted_table(planted_results, clean_results):
    planted = {i.object for i in planted_results["capacity.autovacuum-disabled"].items}
    clean = {i.object for i in clean_results["capacity.autovacuum-disabled"].items}
    assert "public.churn" in planted
    assert "public.churn" not in clean


def test_server_wide_probes_tell_the_truth_about_this_cluster(
    planted_results, clean_results, cluster_settings
):
    """The clean twin cannot fix what belongs to the server, so these are asserted against the server's
    real configuration, identical on both databases: no false positive, and no false negative either."""
    for results in (planted_results, clean_results):
        checksums = results["backup.data-checksums"]
        assert checksums.status is (P if cluster_settings["data_checksums"] == "on" else F)
        ssl = results["security.ssl"]
        assert ssl.status is (F if cluster_settings["ssl"] == "off" else ssl.status)
        archiving = results["backup.wal-archiving"]
        if cluster_settings["archive_mode"] == "off":
            assert archiving.status is W
            for probe_id in ("backup.archiver-failures", "backup.last-archived-age"):
                skipped = results[probe_id]
                assert skipped.status is S
                assert "archive_mode is off" in skipped.summary
                assert "archive_mode = on" in skipped.fix
        hba = results["security.hba-auth-methods"]
        if "trust" in cluster_settings["hba_methods"]:
            assert hba.status in (W, F)
            assert all("trust" in i.message for i in hba.items if "trust" in i.message) and hba.items
        preloaded = "pg_stat_statements" in cluster_settings["shared_preload_libraries"]
        assert (results["observability.pg-stat-statements"].status is P) == preloaded
        autovacuum = results["capacity.autovacuum-disabled"]
        server_item = "setting autovacuum" in {i.object for i in autovacuum.items}
        assert server_item == (cluster_settings["autovacuum"] != "on")
        assert results["replication.lag"].status is P  # this test cluster streams to no standby
    # the clean twin differs from the planted one only by what the database owns
    assert clean_results["backup.data-checksums"].status is planted_results["backup.data-checksums"].status


def test_top_statements_skips_with_the_fix_for_each_missing_piece(
    planted_results, clean_results, cluster_settings
):
    if "pg_stat_statements" in cluster_settings["shared_preload_libraries"]:
        pytest.skip("pg_stat_statements is preloaded on this cluster")
    missing = planted_results["query-index.top-statements"]
    assert missing.status is S
    assert "not installed" in missing.summary
    assert missing.fix.startswith("CREATE EXTENSION pg_stat_statements;")
    assert "shared_preload_libraries" in missing.fix
    # The clean twin created the extension, but the server has not loaded its library.
    not_loaded = clean_results["query-index.top-statements"]
    assert not_loaded.status is S
    assert "shared_preload_libraries" in not_loaded.summary
    assert not_loaded.fix.startswith("ALTER SYSTEM SET shared_preload_libraries")


def test_inactive_slot_retaining_wal_is_reported(env):
    slot = f"rp_slot_{env.suffix}"
    with connect() as admin:
        admin.execute("select pg_create_physical_replication_slot(%s, true)", [slot])
        try:
            (result,) = run_probes(env.dsn(env.clean), only=["replication.inactive-slots"])
        finally:
            admin.execute("select pg_drop_replication_slot(%s)", [slot])
    assert result.status is W
    (item,) = [i for i in result.items if i.object == f"slot {slot}"]
    assert "inactive physical slot" in item.message
    (after,) = run_probes(env.dsn(env.clean), only=["replication.inactive-slots"])
    assert after.status is P


def test_the_pg_monitor_role_runs_everything_without_error(monitor_results):
    assert len(monitor_results) == len(all_probes())
    for result in monitor_results.values():
        assert result.status is not Status.ERROR, (result.probe_id, result.summary)
        if result.status is S:
            assert result.summary and result.fix, result.probe_id


def test_the_pg_monitor_role_skips_what_it_cannot_read_with_the_grant_to_fix_it(env, monitor_results):
    hba = monitor_results["security.hba-auth-methods"]
    assert hba.status is S
    assert hba.fix == (
        f"GRANT SELECT ON pg_hba_file_rules TO {env.monitor}; "
        f"GRANT EXECUTE ON FUNCTION pg_hba_file_rules() TO {env.monitor};"
    )
    seq = monitor_results["capacity.sequence-exhaustion"]
    assert seq.status is S
    assert seq.fix == f"GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO {env.monitor};"
    counts = monitor_results["backup.critical-table-row-counts"]
    assert counts.status is P and "estimate" in counts.summary  # no SELECT on the tables: estimates


@pytest.mark.parametrize(
    "probe_id",
    [
        "transaction.blocked-sessions",
        "schema.tables-without-primary-key",
        "security.app-role-bypassrls",
        "data-model.audit-table-writable",
        "transaction.statement-timeout-unset",
        "capacity.connection-saturation",
    ],
)
def test_the_pg_monitor_role_still_finds_the_planted_problems(probe_id, env, monitor_results):
    status, objects = PLANTED[probe_id]
    result = monitor_results[probe_id]
    assert result.status is status
    named = {i.object for i in result.items}
    for obj in objects:
        assert obj.format(**_names(env)) in named


def test_row_counts_count_below_the_cap_and_estimate_above(env):
    params = {
        "backup.critical-table-row-counts": {"critical_tables": ["public.big_scan", "customers", "nope"]}
    }
    (counted,) = run_probes(env.dsn(env.clean), only=["backup.critical-table-row-counts"], params=params)
    rows = {r["table"]: r for r in counted.rows}
    assert rows["big_scan"]["exact_rows"] == 120000
    assert rows["customers"]["exact_rows"] == 2
    assert counted.status is W and [i.object for i in counted.items] == ["nope"]
    params["backup.critical-table-row-counts"]["count_max_bytes"] = 0
    (estimated,) = run_probes(env.dsn(env.clean), only=["backup.critical-table-row-counts"], params=params)
    rows = {r["table"]: r for r in estimated.rows}
    assert rows["big_scan"]["exact_rows"] is None
    assert rows["big_scan"]["estimated_rows"] == 120000  # after ANALYZE
    assert "public.big_scan ~120,000 (estimate)" in estimated.summary


def test_default_app_roles_exclude_superusers_and_the_probe_role(env):
    """Without app_roles, the application roles are the plain login roles: the planted BYPASSRLS role is
    found, the probe's own role and superusers are not taken for the application."""
    (bypass,) = run_probes(env.dsn(env.planted), only=["security.app-role-bypassrls"])
    assert f"role {env.app}" in {i.object for i in bypass.items}
    (superuser,) = run_probes(env.dsn(env.planted), only=["security.app-role-superuser"])
    objects = {i.object for i in superuser.items}
    assert f"role {env.su}" in objects
    assert all(i.status is W for i in superuser.items)  # unconfigured: a warning asking to name them
    assert "role postgres" not in objects  # the bootstrap superuser (and here the probe role)


def test_audit_table_guarded_by_a_trigger_is_only_a_warning(env):
    with connect(env.clean) as conn:
        conn.execute(
            """
            create table guarded_audit (id int primary key, what text);
            create function refuse() returns trigger language plpgsql as
              $$ begin raise exception 'append-only'; end $$;
            create trigger guarded_audit_refuse before update or delete on guarded_audit
              for each row execute function refuse();
            """
        )
        conn.execute(sql.SQL("grant update on guarded_audit to {}").format(sql.Identifier(env.clean_app)))
        try:
            (result,) = run_probes(
                env.dsn(env.clean), only=["data-model.audit-table-writable"], params=env.clean_params
            )
        finally:
            conn.execute("drop table guarded_audit; drop function refuse()")
    assert result.status is W
    assert "trigger" in result.items[0].message
