"""The runbooks every system needs before production, and the probes that run each one's diagnostic
queries: runbook coverage (which exist, which were tested, when) reads these."""

from __future__ import annotations

# (code, name): the minimum set. A Runbook says which one it covers (Runbook.covers).
REQUIRED_RUNBOOKS: tuple[tuple[str, str], ...] = (
    ("slow_query_storm", "Slow query storm"),
    ("lock_storm", "Lock storm or deadlock spike"),
    ("pool_exhaustion", "Connection pool exhaustion"),
    ("disk_full", "Disk full or storage pressure"),
    ("wal_growth", "WAL or archive growth"),
    ("replication_lag", "Replication lag"),
    ("failed_backup", "Failed backup"),
    ("restore_request", "Restore request"),
    ("failed_migration", "Failed migration or backfill"),
    ("data_correctness", "Data correctness incident"),
    ("security_incident", "Security or credential incident"),
    ("noisy_neighbor", "Tenant noisy neighbour"),
    ("cdc_lag", "CDC or outbox lag"),
    ("failover", "Failover or promotion"),
)
REQUIRED_NAMES = dict(REQUIRED_RUNBOOKS)

# The probes whose queries are a runbook's first diagnostics: the probe runs them against the target,
# so on-call can read the answer instead of typing the query during the incident.
DIAGNOSTIC_PROBES: dict[str, tuple[str, ...]] = {
    "slow_query_storm": ("query-index.top-statements", "query-index.seq-scan-suspects"),
    "lock_storm": ("transaction.blocked-sessions", "transaction.long-transactions", "transaction.deadlocks"),
    "pool_exhaustion": ("capacity.connection-saturation", "transaction.idle-in-transaction"),
    "disk_full": ("capacity.database-size", "capacity.table-index-size", "capacity.dead-tuples"),
    "wal_growth": ("backup.last-archived-age", "backup.archiver-failures", "replication.inactive-slots"),
    "replication_lag": ("replication.lag", "replication.inactive-slots"),
    "failed_backup": ("backup.wal-archiving", "backup.archiver-failures"),
    "restore_request": ("backup.critical-table-row-counts",),
    "failed_migration": ("migration.invalid-indexes", "migration.unvalidated-constraints"),
    "data_correctness": (),
    "security_incident": ("security.app-role-superuser", "security.hba-auth-methods"),
    "noisy_neighbor": ("query-index.top-statements", "capacity.connection-saturation"),
    "cdc_lag": ("replication.inactive-slots", "integration.replica-identity"),
    "failover": ("replication.lag",),
}

# The runbook template's fields beyond name, severity, symptoms, safe and forbidden actions, owner and
# last test: all texts.
RUNBOOK_TEMPLATE_FIELDS = (
    "dashboards",
    "diagnostic_queries",
    "actions_requiring_approval",
    "rollback_recovery",
    "communication",
    "evidence_to_capture",
    "postmortem_questions",
)
