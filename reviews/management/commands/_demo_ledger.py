"""What the demo's Ledger 3.0 review holds beyond links and scores: its inventories and plans (records of
every kind declared in evidence.kinds), its runbooks written in the whole template and the game days
that tested them. Plain data for `manage.py demo`; dates are counted back from the day it runs.

A few records are left as a real team would leave them mid-review: an invariant only the application
holds, a concurrency test not run yet, a column of personal data whose masking nobody wrote down, and a
concurrency test that failed (it opens its finding). Four required runbooks are not covered."""

from __future__ import annotations

from datetime import date, timedelta

WIKI = "https://wiki.example.com"
GIT = "https://git.example.com"
GRAFANA = "https://grafana.example.com"

LEDGER_WIKI = f"{WIKI}/payments/ledger"
LEDGER_GIT = f"{GIT}/payments/ledger"
DASHBOARD = f"{GRAFANA}/d/ledger-db/ledger-database-workload"
RUNBOOKS = f"{LEDGER_WIKI}/runbooks"

ON_CALL = "Payments on-call (PagerDuty: ledger-primary), then Mia Hamm, then Linus Pauling"


def records(today: date) -> list[tuple[str, str, dict]]:
    """(username, kind, values) of each record, in the order of the meeting's steps."""

    def ago(days: int) -> date:
        return today - timedelta(days=days)

    return [
        # Step 3: the invariant inventory.
        (
            "mia",
            "invariant",
            {
                "invariant": "The postings of a journal entry sum to zero in each currency.",
                "rule_type": "aggregate",
                "enforced_by": "The posting service writes both legs in one transaction; a deferred "
                "constraint trigger checks the sum per currency at commit.",
                "in_database": "yes",
                "constraint": "posting_balanced_per_currency (deferred constraint trigger)",
                "failure": "Money is created or destroyed: balances disagree with their postings and the "
                "financial statements are wrong.",
                "test": "Negative SQL test commits an unbalanced FX entry and expects the trigger to "
                "reject it; property test of FX conversions in CI.",
                "sql_check": "Unbalanced journal entries",
            },
        ),
        (
            "mia",
            "invariant",
            {
                "invariant": "A client's idempotency key books at most one journal entry.",
                "rule_type": "uniqueness",
                "enforced_by": "UNIQUE (client_id, idempotency_key) on journal_entry; a retry replays the "
                "stored response.",
                "in_database": "yes",
                "constraint": "journal_entry_client_idempotency_key",
                "failure": "A retried posting is booked twice.",
                "test": "Chaos retry test: the same posting retried 10 times books one entry.",
            },
        ),
        (
            "mia",
            "invariant",
            {
                "invariant": "A balance equals the sum of its account's postings in that currency.",
                "rule_type": "aggregate",
                "enforced_by": "The balance row is updated in the posting transaction under a row lock "
                "(SELECT … FOR UPDATE, balances in (account_id, currency) order).",
                "in_database": "no",
                "failure": "Customers see money they do not have; payouts pay out money that is not there.",
                "test": "Nightly reconciliation of balances against postings; concurrent posting test.",
                "sql_check": "Balance differs from postings",
            },
        ),
        (
            "ada",
            "invariant",
            {
                "invariant": "Every posting's currency is one the ledger supports (ISO 4217, listed in "
                "the currency table).",
                "rule_type": "domain",
                "enforced_by": "Validation in ledger-api before the posting is written.",
                "in_database": "no",
                "failure": "Postings in an unknown currency that no FX rate converts; balances that "
                "cannot be reported.",
            },
        ),
        # Step 4: the critical write paths and the concurrency test matrix.
        (
            "mia",
            "write_path",
            {
                "command": "PostJournalEntry",
                "tables": "journal_entry, posting, balance, outbox",
                "invariants": "Entry balanced per currency; one entry per idempotency key; balance equals "
                "the sum of its postings.",
                "transaction": "One transaction: the entry with its idempotency key, its postings, the "
                "balance updates and the outbox row.",
                "idempotency": "(client_id, idempotency_key) unique; a replay returns the stored response "
                "with the original entry id.",
                "lock_order": "Balance rows FOR UPDATE in ascending (account_id, currency) order.",
                "isolation": "explicit_lock",
                "retry": "Serialization failures and deadlocks (40001, 40P01) are retried 3 times with "
                "jitter: safe, because a retry with the same key is a replay.",
                "after_commit": "The client retries with the same key and receives the stored response.",
                "events": "journal_entry.booked through the transactional outbox, relayed to Kafka.",
                "failure": "Everything rolls back together: no entry, no postings, no balance change, no "
                "outbox row.",
            },
        ),
        (
            "mia",
            "write_path",
            {
                "command": "ConvertCurrency",
                "tables": "journal_entry, posting, balance, outbox (reads fx_rate)",
                "invariants": "Both balances of the account change together; the entry records the FX "
                "rate version it used.",
                "transaction": "One transaction, as PostJournalEntry, with the FX rate read at a fixed "
                "version.",
                "idempotency": "The idempotency key design of PostJournalEntry.",
                "lock_order": "Locks the target currency's balance only; the source balance is read "
                "without a lock (see the failed concurrency test).",
                "isolation": "read_committed",
                "retry": "As PostJournalEntry.",
                "after_commit": "The client retries with the same key and receives the stored response.",
                "events": "journal_entry.booked through the outbox.",
                "failure": "Rolls back whole.",
            },
        ),
        (
            "mia",
            "write_path",
            {
                "command": "ReverseJournalEntry",
                "tables": "journal_entry, posting, balance, outbox",
                "invariants": "An entry is reversed at most once; a reversal is itself a balanced entry.",
                "transaction": "One transaction: the reversing entry, its postings, the balances and the "
                "outbox row; the original entry is locked first.",
                "idempotency": "Keyed by the id of the entry it reverses (unique reversal_of).",
                "lock_order": "The original journal_entry row, then balance rows in (account_id, "
                "currency) order.",
                "isolation": "explicit_lock",
                "retry": "Deadlocks retried 3 times; a unique violation on reversal_of returns the "
                "existing reversal.",
                "after_commit": "The correction workflow shows the reversal by the original entry's id.",
                "events": "journal_entry.reversed through the outbox.",
                "failure": "Rolls back whole; the correction stays open in the workflow.",
            },
        ),
        (
            "mia",
            "concurrency_test",
            {
                "scenario": "retried_10x",
                "write_path": "PostJournalEntry",
                "result": "passed",
                "ran_on": ago(3),
            },
        ),
        (
            "mia",
            "concurrency_test",
            {
                "scenario": "same_target_twice",
                "description": "Two postings debit the same account at once",
                "write_path": "PostJournalEntry",
                "result": "passed",
                "ran_on": ago(3),
            },
        ),
        (
            "mia",
            "concurrency_test",
            {
                "scenario": "transition_race",
                "description": "Two reversals of the same entry race",
                "write_path": "ReverseJournalEntry",
                "expected": "The second reversal returns the first",
                "result": "passed",
                "ran_on": ago(3),
            },
        ),
        (
            "mia",
            "concurrency_test",
            {
                "scenario": "publish_failure",
                "write_path": "PostJournalEntry",
                "result": "passed",
                "ran_on": ago(3),
            },
        ),
        (
            "mia",
            "concurrency_test",
            {
                "scenario": "deadlock",
                "description": "Transfers between two accounts in opposite directions",
                "write_path": "PostJournalEntry",
                "result": "passed",
                "ran_on": ago(3),
            },
        ),
        (
            "mia",
            "concurrency_test",
            {"scenario": "retried_10x", "write_path": "ConvertCurrency", "result": "not_run"},
        ),
        (
            "mia",
            "concurrency_test",
            {
                "scenario": "same_target_twice",
                "description": "Two conversions from the same EUR balance at once",
                "write_path": "ConvertCurrency",
                "result": "failed",
                "ran_on": ago(2),
            },
        ),
        # Step 5: capacity forecasts.
        (
            "mia",
            "forecast",
            {
                "subject": "rows",
                "scope": "posting",
                "current": "36.4 M rows",
                "in_12_months": "71 M rows",
                "peak": "1.4 M postings a day at month end",
                "basis": "12 months of growth (+4.5% a month) plus FX accounts, which book two postings "
                "per conversion.",
                "owner": "Mia Hamm",
            },
        ),
        (
            "mia",
            "forecast",
            {
                "subject": "storage",
                "current": "1.8 TB data, 220 GB of WAL a day",
                "in_12_months": "3.4 TB data, 410 GB of WAL a day",
                "basis": "Row forecast × 52 bytes per posting and its indexes; WAL measured per posting.",
                "owner": "Mia Hamm",
            },
        ),
        (
            "mia",
            "forecast",
            {
                "subject": "qps",
                "current": "2,100 TPS at peak",
                "in_12_months": "3,900 TPS at peak",
                "peak": "Month-end batch: 1.6× the daily peak",
                "basis": "Merchant onboarding plan for the year and last year's month-end curve.",
                "owner": "Mia Hamm",
            },
        ),
        (
            "linus",
            "forecast",
            {
                "subject": "pool",
                "current": "120 connections (6 pods × 20); max_connections 300",
                "in_12_months": "200 connections (10 pods × 20)",
                "basis": "Pods scale with TPS; pgBouncer in transaction mode planned before 250.",
                "owner": "Linus Pauling",
            },
        ),
        (
            "linus",
            "forecast",
            {
                "subject": "backup",
                "current": "1.8 TB full backup in 3 h 10 min; restore measured at 43 min",
                "in_12_months": "3.4 TB; restore about 80 min, over the 60-minute RTO",
                "basis": "Drill timings scaled by size; WAL replay scales with the write rate.",
                "owner": "Linus Pauling",
            },
        ),
        # Step 6: the migration plans of the release.
        (
            "linus",
            "migration_plan",
            {
                "migration": "0311_currency_expand",
                "phase": "expand",
                "backward_compatible": "yes",
                "forward_compatible": "yes",
                "locks": "ADD COLUMN currency char(3) NULL: ACCESS EXCLUSIVE for milliseconds, "
                "lock_timeout 2 s. CREATE INDEX CONCURRENTLY: no write block.",
                "runtime": "41 min on 2× production data (38 of them building the index)",
                "pausable": "yes",
                "progress": "pg_stat_progress_create_index on the migration dashboard.",
                "rollback": "Drop the new index and column; nothing reads them before the backfill.",
                "validation_query": "select indexrelid::regclass from pg_index where not indisvalid;",
                "consumers": "Debezium connector (a new nullable column; the schema registry accepts "
                "it); warehouse balances contract v2.",
            },
        ),
        (
            "linus",
            "migration_plan",
            {
                "migration": "0312_balance_backfill",
                "phase": "migrate",
                "backward_compatible": "yes",
                "forward_compatible": "yes",
                "locks": "Row locks on every balance row for the whole UPDATE: one transaction.",
                "runtime": "4 min on 2× production data (1.8 M balance rows)",
                "pausable": "no",
                "progress": "None while it runs: it is one statement.",
                "rollback": "Roll forward: run it again; the old balance rows stay until the contract "
                "migration of 3.1.",
                "validation_query": "select account_id from balance b\n"
                "where b.amount_minor <> (select coalesce(sum(p.amount_minor), 0) from posting p\n"
                "  where p.account_id = b.account_id and p.currency = b.currency);",
                "consumers": "The warehouse receives 1.8 M balance updates through CDC in one burst.",
            },
        ),
        # Step 7: the recovery objectives the restore drills are measured against.
        (
            "linus",
            "recovery_objectives",
            {
                "rpo_minutes": 5,
                "rto_minutes": 60,
                "pitr_window": "14 days",
                "backup_retention": "35 days of daily backups; 12 monthly backups kept 7 years for "
                "bookkeeping law",
                "restore_targets": ["cluster", "database", "table"],
                "restore_authority": "The payments on-call lead with the ledger's owner (Linus Pauling)",
                "restore_validation": "Row counts of account, journal_entry and posting against the "
                "source at the recovery point; no unbalanced entry; every entry has its audit event; "
                "balance checksums per currency match.",
            },
        ),
        # Step 8: signals, dashboards and alert rules.
        (
            "mia",
            "signal",
            {
                "area": "query",
                "signals": "Posting p95 and p99 latency, calls and rows per statement, slow query log "
                "over 200 ms",
                "source": "pg_stat_statements through postgres_exporter; ledger-api histograms",
                "baseline": "Posting p95 21 ms (objective 40 ms)",
                "owner": "Mia Hamm",
            },
        ),
        (
            "mia",
            "signal",
            {
                "area": "locking",
                "signals": "Lock wait time, blocked sessions, deadlocks per minute",
                "source": "postgres_exporter (pg_locks, pg_stat_database)",
                "baseline": "Fewer than 3 blocked sessions at the month-end peak; 0 deadlocks a day",
                "owner": "Mia Hamm",
            },
        ),
        (
            "linus",
            "signal",
            {
                "area": "replication",
                "signals": "Replay lag in bytes and seconds, WAL retained by each slot",
                "source": "postgres_exporter (pg_stat_replication, pg_replication_slots)",
                "baseline": "Lag under 1 s; slots retain under 5 GB",
                "owner": "Linus Pauling",
            },
        ),
        (
            "linus",
            "signal",
            {
                "area": "backup",
                "signals": "Last successful backup, last archived WAL, archiver failures, drill age",
                "source": "pgBackRest info and pg_stat_archiver",
                "baseline": "Archive under 60 s behind; a full backup every 7 days",
                "owner": "Linus Pauling",
            },
        ),
        (
            "ada",
            "signal",
            {
                "area": "business",
                "signals": "Entries booked per minute, unbalanced entries, outbox rows pending",
                "source": "ledger-api metrics and the reconciliation job",
                "baseline": "0 unbalanced entries; outbox under 500 pending",
                "owner": "Ada Lovelace",
            },
        ),
        (
            "mia",
            "dashboard",
            {
                "dashboard": "workload",
                "name": "Ledger database workload",
                "link": DASHBOARD,
                "owner": "Mia Hamm",
            },
        ),
        (
            "mia",
            "dashboard",
            {
                "dashboard": "locks",
                "name": "Ledger locks and contention",
                "link": f"{GRAFANA}/d/ledger-locks/ledger-locks-and-contention",
                "owner": "Mia Hamm",
            },
        ),
        (
            "linus",
            "dashboard",
            {
                "dashboard": "backup",
                "name": "Ledger backup and restore",
                "link": f"{GRAFANA}/d/ledger-backup/ledger-backup-and-restore",
                "owner": "Linus Pauling",
            },
        ),
        (
            "linus",
            "dashboard",
            {
                "dashboard": "migration",
                "name": "Ledger 3.0 migration and backfill",
                "link": f"{GRAFANA}/d/ledger-migration/ledger-migration-and-backfill",
                "owner": "Linus Pauling",
            },
        ),
        (
            "mia",
            "alert_rule",
            {
                "name": "Ledger write latency above objective",
                "condition": "Posting p95 > 40 ms for 10 min AND active connections > baseline p95 AND "
                "lock wait time rising",
                "impact": "Payments and transfers are slow or time out; payout batches queue up.",
                "threshold_basis": "slo",
                "runbook_link": f"{RUNBOOKS}/lock-storm",
                "dashboard_link": DASHBOARD,
                "escalation": ON_CALL,
            },
        ),
        (
            "linus",
            "alert_rule",
            {
                "name": "WAL archiving behind",
                "condition": "Last archived WAL older than 5 min OR archiver failures rising for 10 min",
                "impact": "Point-in-time recovery has a gap: the 5-minute RPO cannot be kept.",
                "threshold_basis": "slo",
                "runbook_link": f"{RUNBOOKS}/failed-backup",
                "dashboard_link": f"{GRAFANA}/d/ledger-backup/ledger-backup-and-restore",
                "escalation": ON_CALL,
            },
        ),
        # Step 9: the privacy inventory.
        (
            "ada",
            "privacy_field",
            {
                "table": "public.account",
                "column": "holder_name",
                "classification": "confidential",
                "contains_pii": "yes",
                "purpose": "Names the account holder on statements and payouts.",
                "retention": "10 years after the account closes (bookkeeping law)",
                "legal_hold": "A hold blocks the purge of the account and its postings",
                "masking": "Initials in support tools and logs; in full only in ledger-api",
                "export_policy": "not_allowed",
                "downstream": "Account search index; warehouse (hashed)",
                "erasure": "anonymize",
            },
        ),
        (
            "ada",
            "privacy_field",
            {
                "table": "public.account",
                "column": "iban",
                "classification": "restricted",
                "contains_pii": "yes",
                "purpose": "Pays out to the holder's bank account.",
                "retention": "10 years after the account closes (bookkeeping law)",
                "legal_hold": "A hold blocks the purge of the account",
                "export_policy": "not_allowed",
                "downstream": "Payouts (through ledger-api); warehouse (last four characters)",
                "erasure": "anonymize",
            },
        ),
        (
            "ada",
            "privacy_field",
            {
                "table": "public.posting",
                "column": "description",
                "classification": "internal",
                "contains_pii": "yes",
                "purpose": "The payer's reference, shown on the statement; may hold names.",
                "retention": "As its journal entry",
                "legal_hold": "As its journal entry",
                "masking": "Cut to 40 characters in logs",
                "export_policy": "allowed",
                "downstream": "Warehouse, CDC",
                "erasure": "retain",
            },
        ),
        (
            "ada",
            "privacy_field",
            {
                "table": "public.journal_entry",
                "column": "client_id",
                "classification": "internal",
                "contains_pii": "no",
                "purpose": "Which client system booked the entry (idempotency).",
                "retention": "As the entry",
                "export_policy": "allowed",
                "downstream": "Warehouse",
            },
        ),
    ]


def runbooks(today: date, drill_day: date) -> list[dict]:
    """The Ledger's runbooks: most in the whole template; one that only names its essentials; one of the
    team's own that covers no required runbook. Each was tested (`last_tested`), so none opens a finding."""

    def ago(days: int) -> date:
        return today - timedelta(days=days)

    return [
        {
            "by": "mia",
            "name": "Lock storm or deadlock spike on postings",
            "covers": "lock_storm",
            "owner": "Mia Hamm",
            "last_tested": ago(20),
            "severity": "SEV2",
            "symptoms": "p95 posting latency above its objective; blocked sessions rising; deadlocks "
            "above baseline.",
            "dashboards": "Ledger locks and contention; Ledger database workload.",
            "diagnostic_queries": "Blocked sessions and who blocks them; long transactions; deadlocks "
            "recorded (the probes run them on the ledger).",
            "immediate_safe_actions": "Identify the blocker tree (blocked sessions and who blocks them); "
            "pause the balance backfill; shed batch payout traffic.",
            "actions_requiring_approval": "Terminating a blocking session of ledger-api (the incident "
            "lead); failing over (the failover owner).",
            "actions_forbidden": "Do not kill sessions randomly without the blocker tree. Do not run "
            "VACUUM FULL during the incident. Do not create indexes blindly. Do not restart the primary "
            "without the failover owner's approval.",
            "rollback_recovery": "Resume the backfill and payout batches one at a time once blocked "
            "sessions stay under baseline for 15 minutes.",
            "communication": "Status page after 10 minutes of degraded postings; #payments-incidents "
            "every 30 minutes.",
            "evidence_to_capture": "The blocker tree, pg_stat_activity and pg_locks snapshots, the "
            "deadlock log lines.",
            "postmortem_questions": "Which lock order was broken, by which command, and why did no "
            "test catch it?",
            "url": f"{RUNBOOKS}/lock-storm",
        },
        {
            "by": "linus",
            "name": "Restore request for the ledger",
            "covers": "restore_request",
            "owner": "Linus Pauling",
            "last_tested": drill_day,
            "severity": "SEV1",
            "symptoms": "Data loss or corruption that the correction workflow cannot repair.",
            "dashboards": "Ledger backup and restore.",
            "diagnostic_queries": "Row counts of critical tables; unbalanced journal entries; entries "
            "without an audit event.",
            "immediate_safe_actions": "Stop writers (ledger-api maintenance mode); record the last good "
            "point in time.",
            "actions_requiring_approval": "Any restore to production (the ledger's owner and the "
            "payments on-call lead).",
            "actions_forbidden": "Do not restore over the primary. Do not skip the validation queries.",
            "rollback_recovery": "Restore to a new cluster, validate, then switch ledger-api over; the "
            "old primary is kept read-only for 14 days.",
            "communication": "Finance and customer support before writers stop; status page.",
            "evidence_to_capture": "The recovery point chosen, the validation results, the timings.",
            "postmortem_questions": "How did the data go wrong, and what would have caught it earlier?",
            "url": f"{RUNBOOKS}/restore-request",
        },
        {
            "by": "mia",
            "name": "Slow query storm on the ledger",
            "covers": "slow_query_storm",
            "owner": "Mia Hamm",
            "last_tested": ago(45),
            "severity": "SEV2",
            "symptoms": "Statement p95 above baseline across many statements; CPU of the primary high.",
            "dashboards": "Ledger database workload; query performance.",
            "diagnostic_queries": "Top statements by total time; sequential-scan suspects.",
            "immediate_safe_actions": "Find the statement whose calls or plan changed; move statement "
            "reads to the replica; cancel (not terminate) runaway reports.",
            "actions_requiring_approval": "Building an index concurrently during the incident.",
            "actions_forbidden": "Do not reset pg_stat_statements. Do not raise work_mem globally.",
            "rollback_recovery": "Roll back the release that changed the statement.",
            "communication": "#payments-incidents every 30 minutes.",
            "evidence_to_capture": "The plans before and after; pg_stat_statements snapshots.",
            "postmortem_questions": "Why did the plan change, and which access pattern lacked its index?",
            "url": f"{RUNBOOKS}/slow-query-storm",
        },
        {
            "by": "linus",
            "name": "Connection pool exhaustion",
            "covers": "pool_exhaustion",
            "owner": "Linus Pauling",
            "last_tested": ago(60),
            "severity": "SEV2",
            "symptoms": "ledger-api waits for connections; active connections at the pool limit.",
            "dashboards": "Ledger database workload.",
            "diagnostic_queries": "Connection saturation; idle-in-transaction sessions.",
            "immediate_safe_actions": "Terminate sessions idle in a transaction for over 5 minutes; "
            "scale ledger-api down to the pool it was sized for.",
            "actions_requiring_approval": "Raising max_connections (needs a restart).",
            "actions_forbidden": "Do not raise every pod's pool size at once.",
            "rollback_recovery": "Return the pod count and pool sizes to the sized values.",
            "communication": "#payments-incidents.",
            "evidence_to_capture": "pg_stat_activity by state and application.",
            "postmortem_questions": "What held connections, and why did the pool not shed load?",
            "url": f"{RUNBOOKS}/pool-exhaustion",
        },
        {
            # Only its essentials: the rest of the template is still to be written.
            "by": "linus",
            "name": "Ledger disk filling up",
            "covers": "disk_full",
            "owner": "Linus Pauling",
            "last_tested": ago(150),
            "severity": "SEV1",
            "symptoms": "Data volume above 80%.",
            "immediate_safe_actions": "Grow the volume; check WAL retained by slots.",
            "actions_forbidden": "Do not delete files from the data directory.",
        },
        {
            "by": "linus",
            "name": "WAL or archive growth",
            "covers": "wal_growth",
            "owner": "Linus Pauling",
            "last_tested": ago(75),
            "severity": "SEV2",
            "symptoms": "pg_wal growing; archive behind; a slot retaining WAL.",
            "dashboards": "Ledger backup and restore; replication.",
            "diagnostic_queries": "Age of the last archived WAL; archiver failures; replication slots "
            "retaining WAL.",
            "immediate_safe_actions": "Fix the archive command's destination; grow the WAL volume.",
            "actions_requiring_approval": "Dropping a replication slot (its consumer's owner).",
            "actions_forbidden": "Do not delete WAL files by hand.",
            "rollback_recovery": "Recreate the slot and resnapshot its consumer if it was dropped.",
            "communication": "Data platform when a CDC slot is involved.",
            "evidence_to_capture": "pg_stat_archiver, slot positions, volume graphs.",
            "postmortem_questions": "Why did no alert fire before the volume filled?",
            "url": f"{RUNBOOKS}/wal-growth",
        },
        {
            "by": "linus",
            "name": "Replication lag on the ledger replicas",
            "covers": "replication_lag",
            "owner": "Linus Pauling",
            "last_tested": ago(30),
            "severity": "SEV3",
            "symptoms": "Replay lag over 1 s; statements on replicas show old balances.",
            "dashboards": "Replication and failover.",
            "diagnostic_queries": "Replication lag; replication slots retaining WAL.",
            "immediate_safe_actions": "Route balance reads to the primary; pause reports on the replica.",
            "actions_requiring_approval": "Rebuilding a replica.",
            "actions_forbidden": "Do not fail over to a lagging replica.",
            "rollback_recovery": "Route reads back once lag stays under 1 s for 15 minutes.",
            "communication": "#payments-incidents.",
            "evidence_to_capture": "Lag graphs, long queries on the replica.",
            "postmortem_questions": "What held the replay back?",
            "url": f"{RUNBOOKS}/replication-lag",
        },
        {
            "by": "linus",
            "name": "Failed ledger backup",
            "covers": "failed_backup",
            "owner": "Linus Pauling",
            "last_tested": drill_day,
            "severity": "SEV2",
            "symptoms": "The backup job failed or archiving is behind (alert: WAL archiving behind).",
            "dashboards": "Ledger backup and restore.",
            "diagnostic_queries": "WAL archiving configured; WAL archiver failures.",
            "immediate_safe_actions": "Start a differential backup by hand; check repository space.",
            "actions_requiring_approval": "Changing the retention of the repository.",
            "actions_forbidden": "Do not expire backups to make room.",
            "rollback_recovery": "Run the missed full backup in the next low-traffic window.",
            "communication": "The ledger's owner; finance if the PITR window shrank.",
            "evidence_to_capture": "pgBackRest logs and info.",
            "postmortem_questions": "How long was the RPO at risk?",
            "url": f"{RUNBOOKS}/failed-backup",
        },
        {
            "by": "linus",
            "name": "Failed migration or backfill",
            "covers": "failed_migration",
            "owner": "Linus Pauling",
            "last_tested": ago(5),
            "severity": "SEV2",
            "symptoms": "A migration times out on its lock; the backfill fails or runs past its window.",
            "dashboards": "Ledger 3.0 migration and backfill.",
            "diagnostic_queries": "Invalid indexes left by failed migrations; constraints left NOT VALID.",
            "immediate_safe_actions": "Let the lock timeout abort it; cancel the backfill statement.",
            "actions_requiring_approval": "Running a migration outside its window.",
            "actions_forbidden": "Do not raise lock_timeout to get it through.",
            "rollback_recovery": "Drop an invalid index and build it again concurrently; the backfill "
            "runs again from the start.",
            "communication": "The release channel; #payments-incidents if postings slowed.",
            "evidence_to_capture": "The migration log, lock waits, the statement's runtime.",
            "postmortem_questions": "Did the rehearsal run on data like production's?",
            "url": f"{RUNBOOKS}/failed-migration",
        },
        {
            "by": "linus",
            "name": "Ledger failover",
            "covers": "failover",
            "owner": "Linus Pauling",
            "last_tested": ago(100),
            "severity": "SEV1",
            "symptoms": "The primary is down or unreachable; writes fail.",
            "dashboards": "Replication and failover.",
            "diagnostic_queries": "Replication lag of each candidate.",
            "immediate_safe_actions": "Fence the old primary; promote the least-lagging replica.",
            "actions_requiring_approval": "Promotion (the failover owner).",
            "actions_forbidden": "Do not promote a replica lagging over the RPO. Do not let the old "
            "primary take writes again.",
            "rollback_recovery": "Rebuild the old primary as a replica.",
            "communication": "Status page at once; finance when postings resume.",
            "evidence_to_capture": "Timeline, lag at promotion, postings lost if any.",
            "postmortem_questions": "Was data lost, and how much of the RTO did DNS take?",
            "url": f"{RUNBOOKS}/failover",
        },
        {
            # The team's own: it covers none of the required runbooks.
            "by": "ada",
            "name": "FX rate feed stale",
            "covers": "",
            "owner": "Ada Lovelace",
            "last_tested": ago(40),
            "severity": "SEV3",
            "symptoms": "The newest FX rate version is older than 15 minutes.",
            "immediate_safe_actions": "Stop ConvertCurrency (feature flag); postings in one currency "
            "continue.",
            "actions_forbidden": "Do not enter rates by hand.",
            "url": f"{RUNBOOKS}/fx-rate-feed",
        },
    ]


def runbook_tests() -> list[dict]:
    """Game days that followed the Ledger's runbooks: how many days ago each ended, how long it took."""
    return [
        {
            "by": "mia",
            "runbook_name": "Lock storm or deadlock spike on postings",
            "scenario": "A lock storm on the primary: 40 sessions updating the same balances in "
            "opposite orders while the backfill runs.",
            "environment": "perf-staging",
            "days_ago": 20,
            "minutes": 50,
            "passed": True,
            "issues_found": "The blocker tree query needed the application name to tell ledger-api from "
            "the backfill; added.",
            "follow_up_owner": "Mia Hamm",
            "url": f"{LEDGER_WIKI}/game-days/lock-storm",
        },
        {
            "by": "linus",
            "runbook_name": "Ledger failover",
            "scenario": "The primary's host stopped; promotion of the replica in the other zone.",
            "environment": "staging",
            "days_ago": 100,
            "minutes": 35,
            "passed": True,
            "issues_found": "DNS TTL of 60 s held ledger-api on the old primary for 50 s.",
            "follow_up_owner": "Linus Pauling",
            "url": f"{LEDGER_WIKI}/game-days/failover",
        },
        {
            "by": "linus",
            "runbook_name": "Failed migration or backfill",
            "scenario": "The 0311 index build aborted by its lock timeout on a copy of production.",
            "environment": "restore-staging",
            "days_ago": 5,
            "minutes": 70,
            "passed": True,
            "follow_up_owner": "Linus Pauling",
        },
    ]
