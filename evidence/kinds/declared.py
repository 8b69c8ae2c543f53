"""The inventories, plans and definitions a review holds as typed records, each declared once: the
invariant inventory and its constraint coverage, critical write paths, the concurrency test matrix,
migration plans, recovery objectives, observability signals, dashboards and alert rules, the privacy
inventory and capacity forecasts."""

from __future__ import annotations

from ..verdict import TEST, Verdict
from .spec import CHOICE, DATE, INT, LINE, MULTI, NO, TEXT, URL, YES, YESNO, Field, Spec, short

# --- Step 3: invariants and how each is enforced.

RULE_TYPES = (
    ("required", "Required value"),
    ("domain", "Domain value"),
    ("uniqueness", "Uniqueness"),
    ("referential", "Referential integrity"),
    ("temporal", "Temporal non-overlap"),
    ("aggregate", "Cross-row aggregate"),
    ("transition", "Workflow transition"),
    ("side_effect", "External side effect"),
)
# The enforcement each kind of rule is best given (constraint coverage).
PREFERRED_ENFORCEMENT = {
    "required": "NOT NULL",
    "domain": "a CHECK constraint, a reference table or an enum",
    "uniqueness": "a UNIQUE constraint or a partial unique index",
    "referential": "a foreign key",
    "temporal": "an exclusion constraint or a transactional guard",
    "aggregate": "a parent lock, a materialized invariant row or a serializable transaction",
    "transition": "a transition table and a transaction guard",
    "side_effect": "an outbox and an idempotency key",
}
# Rules the database itself can hold: enforced only by the application, they are not yet covered.
DATABASE_RULES = frozenset({"required", "domain", "uniqueness", "referential"})


def _judge_invariant(data: dict) -> Verdict | None:
    if data.get("rule_type") in DATABASE_RULES and data.get("in_database") == NO:
        rule = dict(RULE_TYPES)[data["rule_type"]].lower()
        return Verdict(
            False,
            f"is a {rule} held only by the application; the database can hold it with "
            f"{PREFERRED_ENFORCEMENT[data['rule_type']]}",
            incomplete=True,
        )
    return None


INVARIANT = Spec(
    kind="invariant",
    label="Invariant",
    plural="Invariants",
    category="data-model",
    step=3,
    guide="invariant-inventory",
    description="A business rule the data must never break: where it is enforced, what breaks if it is "
    "violated, and how it is tested.",
    fields=(
        Field("invariant", "Invariant", TEXT, help="e.g. A closed case cannot receive a new decision."),
        Field("rule_type", "Kind of rule", CHOICE, choices=RULE_TYPES),
        Field(
            "enforced_by",
            "Enforced by",
            TEXT,
            help="e.g. application guard + state transition transaction + CHECK constraint.",
        ),
        Field("in_database", "Held by the database", YESNO, help="A constraint, index or trigger holds it."),
        Field(
            "constraint",
            "Constraint",
            LINE,
            required=False,
            help="The constraint, index or trigger that holds it, e.g. cases_closed_has_no_decision.",
        ),
        Field("failure", "Failure if violated", TEXT, help="e.g. a decision after closure."),
        Field(
            "test",
            "Test",
            TEXT,
            required=False,
            wanted=True,
            help="e.g. concurrent transition test + negative SQL test.",
        ),
        Field(
            "sql_check",
            "SQL check",
            LINE,
            required=False,
            max_length=120,
            help="The name of the invariant check that looks for rows breaking it.",
        ),
    ),
    title=lambda d: "Invariant: " + short(d["invariant"], 180),
    summary=lambda d: (
        f"{dict(RULE_TYPES).get(d['rule_type'], '')} · enforced by {short(d['enforced_by'], 60)}"
        + (f" ({d['constraint']})" if d.get("constraint") else "")
        + f" · test: {short(d.get('test'), 50) or 'none'}"
    ),
    judge=_judge_invariant,
    max_age_days=365,
    importable=True,
    key=("invariant",),
)

# --- Step 4: critical write paths and the concurrency test matrix.

ISOLATION = (
    ("read_committed", "Read committed"),
    ("repeatable_read", "Repeatable read"),
    ("serializable", "Serializable"),
    ("explicit_lock", "Explicit lock"),
)

WRITE_PATH = Spec(
    kind="write_path",
    label="Write path",
    plural="Write paths",
    category="transaction",
    step=4,
    guide="write-path",
    description="A critical write command: the tables it writes, its transaction, idempotency, retry, lock "
    "order and what happens when it fails.",
    fields=(
        Field("command", "Command", LINE, help="e.g. CloseCase."),
        Field("tables", "Tables written", LINE, help="e.g. cases, case_events, outbox."),
        Field(
            "invariants",
            "Invariants at risk",
            TEXT,
            required=False,
            wanted=True,
            help="What concurrent requests could violate.",
        ),
        Field("transaction", "Transaction boundary", TEXT, help="What one transaction covers."),
        Field("idempotency", "Idempotency", TEXT, help="Key or fingerprint, and what a replay returns."),
        Field("lock_order", "Lock order", TEXT, help="Which rows it locks, in what order."),
        Field("isolation", "Isolation", CHOICE, choices=ISOLATION),
        Field("retry", "Retry", TEXT, help="Which errors are retried, and why that is safe."),
        Field(
            "after_commit",
            "After commit",
            TEXT,
            required=False,
            wanted=True,
            help="After the commit, before the response: how a client gets the result again.",
        ),
        Field("events", "Events published", TEXT, required=False, help="Outbox or inbox design; or none."),
        Field("failure", "Failure", TEXT, required=False, wanted=True, help="What a failure leaves behind."),
    ),
    title=lambda d: "Write path: " + short(d["command"], 180),
    summary=lambda d: (
        f"writes {short(d['tables'], 60)} · {dict(ISOLATION).get(d['isolation'], '')} · "
        f"idempotency: {short(d['idempotency'], 50)} · retry: {short(d['retry'], 40)}"
    ),
    max_age_days=365,
    importable=True,
    key=("command",),
)

SCENARIOS = (
    ("retried_10x", "Same command retried 10 times"),
    ("same_target_twice", "Two users change the same thing"),
    ("transition_race", "Two transitions race"),
    ("publish_failure", "Event publish fails after commit"),
    ("deadlock", "Deadlock"),
    ("lock_timeout", "Lock timeout"),
    ("other", "Other"),
)
# What each scenario of the matrix must show.
EXPECTED = {
    "retried_10x": "One effect, the same response",
    "same_target_twice": "One wins; the other gets a conflict",
    "transition_race": "The illegal transition is rejected",
    "publish_failure": "The outbox entry stays pending",
    "deadlock": "Retried or failed safely",
    "lock_timeout": "No partial state",
}
REQUIRED_SCENARIOS = tuple(code for code, _ in SCENARIOS if code != "other")
RESULTS = (("passed", "Passed"), ("failed", "Failed"), ("not_run", "Not run yet"))


def _judge_concurrency(data: dict) -> Verdict | None:
    expected = data.get("expected") or EXPECTED.get(data.get("scenario"), "what it expects")
    if data.get("result") == "failed":
        return Verdict(False, f"failed: “{short(expected, 80)}” did not hold")
    if data.get("result") == "not_run":
        return Verdict(False, "has not been run", incomplete=True)
    return None


def _check_concurrency(data: dict) -> dict[str, str]:
    if data.get("scenario") == "other" and not data.get("description"):
        return {"description": "Say what the scenario is."}
    return {}


CONCURRENCY_TEST = Spec(
    kind="concurrency_test",
    label="Concurrency test",
    plural="Concurrency tests",
    category="transaction",
    step=4,
    guide="concurrency-test",
    description="One scenario of the concurrency test matrix (retries, races, deadlocks, timeouts) and its "
    "result.",
    fields=(
        Field("scenario", "Scenario", CHOICE, choices=SCENARIOS),
        Field("description", "Description", LINE, required=False, help="For another scenario, or detail."),
        Field("write_path", "Write path", LINE, required=False, help="The command it exercises."),
        Field("expected", "Expected", LINE, required=False, help="Empty: the scenario's usual test."),
        Field("result", "Result", CHOICE, choices=RESULTS),
        Field("ran_on", "Ran on", DATE, required=False, help="When it last ran (YYYY-MM-DD)."),
    ),
    title=lambda d: (
        "Concurrency test: "
        + short(d.get("description") or dict(SCENARIOS).get(d["scenario"], d["scenario"]), 150)
        + (f" ({short(d['write_path'], 30)})" if d.get("write_path") else "")
    ),
    summary=lambda d: (
        f"expects {short(d.get('expected') or EXPECTED.get(d['scenario'], ''), 60)} · "
        f"{dict(RESULTS).get(d['result'], '').lower()}" + (f" on {d['ran_on']}" if d.get("ran_on") else "")
    ),
    judge=_judge_concurrency,
    check=_check_concurrency,
    max_age_days=180,
    shows=frozenset({TEST}),
    failing_level="P1",
    observed="ran_on",
    importable=True,
    key=("scenario", "write_path", "description"),
)

# --- Step 6: the migration plan.

PHASES = (("expand", "Expand"), ("migrate", "Migrate (backfill)"), ("contract", "Contract"))


def _judge_migration_plan(data: dict) -> Verdict | None:
    if data.get("backward_compatible") == NO:
        return Verdict(False, "breaks the application version still running (not backward compatible)")
    return None


MIGRATION_PLAN = Spec(
    kind="migration_plan",
    label="Migration plan",
    plural="Migration plans",
    category="migration",
    step=6,
    guide="migration-plan",
    description="The plan of one production migration: phase, compatibility both ways, locks, runtime, "
    "pause and resume, progress, rollback, validation and the consumers it affects.",
    fields=(
        Field("migration", "Migration", LINE, help="e.g. 0042_orders_status."),
        Field("phase", "Phase", CHOICE, choices=PHASES),
        Field("backward_compatible", "Works with the old application version", YESNO),
        Field(
            "forward_compatible",
            "Works with the new application version",
            YESNO,
            required=False,
            wanted=True,
        ),
        Field("locks", "Locks taken", TEXT, help="Which lock, on what, for how long."),
        Field("runtime", "Runtime on production-sized data", LINE, help="e.g. 40 min on 1.2 TB."),
        Field("pausable", "Can be paused and resumed", YESNO, required=False, wanted=True),
        Field("progress", "How progress is watched", TEXT, required=False, wanted=True),
        Field("rollback", "Rollback or roll-forward", TEXT),
        Field("validation_query", "Validation query", TEXT, max_length=20000),
        Field(
            "consumers",
            "Consumers affected",
            TEXT,
            required=False,
            wanted=True,
            help="Downstream readers: services, CDC, warehouse, reports; or none.",
        ),
    ),
    title=lambda d: "Migration plan: " + short(d["migration"], 180),
    summary=lambda d: (
        f"{dict(PHASES).get(d['phase'], '')} · runs {short(d['runtime'], 40)} · "
        f"locks: {short(d['locks'], 50)} · rollback: {short(d['rollback'], 50)}"
    ),
    judge=_judge_migration_plan,
    max_age_days=90,
    failing_level="P1",
    key=("migration",),
)

# --- Step 7: the system's recovery objectives.

RESTORE_TARGETS = (
    ("cluster", "Whole cluster"),
    ("database", "Database"),
    ("schema", "Schema"),
    ("table", "Table"),
    ("tenant", "Tenant"),
    ("object", "Object"),
)

RECOVERY_OBJECTIVES = Spec(
    kind="recovery_objectives",
    label="Recovery objectives",
    article="the",
    plural="Recovery objectives",
    category="backup",
    step=7,
    guide="recovery-objectives",
    description="The system's recovery objectives, which restore drills are measured against: RPO, RTO, "
    "point-in-time window, retention, what can be restored, who may start a restore, how it is validated.",
    fields=(
        Field("rpo_minutes", "RPO (minutes)", INT, help="Most data it may lose.", max_value=10_000_000),
        Field(
            "rto_minutes",
            "RTO (minutes)",
            INT,
            help="Longest it may take.",
            max_value=10_000_000,
        ),
        Field("pitr_window", "Point-in-time window", LINE, help="How far back, e.g. 14 days."),
        Field("backup_retention", "Backup retention", LINE, help="e.g. 35 days daily, 12 months monthly."),
        Field("restore_targets", "What can be restored", MULTI, choices=RESTORE_TARGETS),
        Field("restore_authority", "Who may start a restore", LINE),
        Field("restore_validation", "How a restore is validated", TEXT),
    ),
    title=lambda d: f"Recovery objectives: RPO {d['rpo_minutes']} min, RTO {d['rto_minutes']} min",
    summary=lambda d: (
        f"RPO {d['rpo_minutes']} min · RTO {d['rto_minutes']} min · "
        f"PITR {short(d['pitr_window'], 30)} · retention {short(d['backup_retention'], 30)} · "
        f"restore authority {short(d['restore_authority'], 40)}"
    ),
    max_age_days=365,
    key=(),
)

# --- Step 8: signals, dashboards and alert rules.

SIGNAL_AREAS = (
    ("query", "Query"),
    ("locking", "Locking"),
    ("connection", "Connections"),
    ("storage", "Storage"),
    ("replication", "Replication"),
    ("transaction", "Transactions"),
    ("vacuum", "Vacuum and maintenance"),
    ("backup", "Backup"),
    ("security", "Security"),
    ("business", "Business"),
)

SIGNAL = Spec(
    kind="signal",
    label="Signal",
    plural="Signals",
    category="observability",
    step=8,
    guide="signals",
    description="What is measured in one area (query, locking, storage, replication …), where, against "
    "what baseline, and who owns it.",
    fields=(
        Field("area", "Area", CHOICE, choices=SIGNAL_AREAS),
        Field("signals", "Signals", TEXT, help="e.g. lock wait, blocked sessions, deadlocks."),
        Field("source", "Measured in", LINE, help="e.g. Prometheus postgres_exporter."),
        Field("baseline", "Baseline or threshold", LINE, required=False, wanted=True),
        Field("owner", "Owner", LINE, max_length=120),
    ),
    title=lambda d: f"Signals: {dict(SIGNAL_AREAS).get(d['area'], d['area'])}",
    summary=lambda d: f"{short(d['signals'], 70)} · in {short(d['source'], 40)} · owner {d['owner']}",
    max_age_days=365,
    shows=frozenset({TEST}),
    importable=True,
    key=("area",),
)

DASHBOARDS = (
    ("executive", "Executive health"),
    ("workload", "Database workload"),
    ("query", "Query performance"),
    ("locks", "Locks and contention"),
    ("replication", "Replication and failover"),
    ("storage", "Storage and WAL"),
    ("backup", "Backup and restore"),
    ("tenant_skew", "Tenant skew"),
    ("business", "Business correctness"),
    ("migration", "Migration and backfill"),
    ("other", "Other"),
)

DASHBOARD = Spec(
    kind="dashboard",
    label="Dashboard",
    plural="Dashboards",
    category="observability",
    step=8,
    guide="dashboards",
    description="A dashboard on-call opens, with its link and owner.",
    fields=(
        Field("dashboard", "Dashboard", CHOICE, choices=DASHBOARDS),
        Field("name", "Name", LINE, required=False, help="Its name where it lives."),
        Field("link", "Link", URL),
        Field("owner", "Owner", LINE, max_length=120),
    ),
    title=lambda d: "Dashboard: " + (d.get("name") or dict(DASHBOARDS).get(d["dashboard"], d["dashboard"])),
    summary=lambda d: f"{dict(DASHBOARDS).get(d['dashboard'], '')} · owner {d['owner']}",
    max_age_days=365,
    importable=True,
    key=("dashboard", "name"),
)

THRESHOLD_BASES = (("slo", "An SLO"), ("baseline", "A measured baseline"), ("static", "A fixed number"))


def _judge_alert(data: dict) -> Verdict | None:
    if data.get("threshold_basis") == "static":
        return Verdict(False, "has a fixed threshold, not one from an SLO or a baseline", incomplete=True)
    return None


ALERT_RULE = Spec(
    kind="alert_rule",
    label="Alert rule",
    plural="Alert rules",
    category="observability",
    step=8,
    guide="alert-rules",
    description="An alert: its condition, the user or business impact it stands for, a threshold from an "
    "SLO or a baseline, its runbook and dashboard, and who is paged.",
    fields=(
        Field("name", "Name", LINE),
        Field(
            "condition",
            "Condition",
            TEXT,
            help="e.g. write p95 > SLO for 10 min AND active connections > baseline p95.",
        ),
        Field("impact", "User or business impact", TEXT),
        Field("threshold_basis", "Threshold from", CHOICE, choices=THRESHOLD_BASES),
        Field("runbook_link", "Runbook link", URL, required=False, wanted=True),
        Field("dashboard_link", "Dashboard link", URL, required=False, wanted=True),
        Field("escalation", "Owner and escalation", LINE),
    ),
    title=lambda d: "Alert rule: " + short(d["name"], 180),
    summary=lambda d: (
        f"when {short(d['condition'], 70)} · impact: {short(d['impact'], 50)} · "
        f"pages {short(d['escalation'], 40)}"
    ),
    judge=_judge_alert,
    max_age_days=365,
    shows=frozenset({TEST}),
    importable=True,
    key=("name",),
)

# --- Step 9: the privacy inventory.

CLASSIFICATIONS = (
    ("public", "Public"),
    ("internal", "Internal"),
    ("confidential", "Confidential"),
    ("restricted", "Restricted"),
)
EXPORT_POLICIES = (("allowed", "Allowed"), ("not_allowed", "Not allowed"))
ERASURE = (("delete", "Delete"), ("anonymize", "Anonymize"), ("retain", "Retain with a legal basis"))


def _judge_privacy_field(data: dict) -> Verdict | None:
    if data.get("contains_pii") == YES and data.get("classification") == "public":
        return Verdict(False, "holds personal data but is classified public")
    if data.get("contains_pii") == YES:
        missing = [
            label
            for name, label in (
                ("erasure", "how it is erased"),
                ("legal_hold", "what a legal hold does"),
                ("masking", "where it is masked"),
            )
            if not data.get(name)
        ]
        if missing:
            return Verdict(
                False, "holds personal data but does not say " + " or ".join(missing), incomplete=True
            )
    return None


PRIVACY_FIELD = Spec(
    kind="privacy_field",
    label="Privacy field",
    plural="Privacy inventory",
    category="privacy",
    step=9,
    guide="privacy-inventory",
    description="One table column of the privacy inventory: its classification, whether it holds personal "
    "data, why, how long it is kept, legal hold, masking, export, where it flows and how it is erased.",
    fields=(
        Field("table", "Table", LINE, max_length=120, help="schema.table, e.g. public.customers."),
        Field("column", "Column", LINE, max_length=120),
        Field("classification", "Classification", CHOICE, choices=CLASSIFICATIONS),
        Field("contains_pii", "Holds personal data", YESNO),
        Field("purpose", "Purpose", TEXT, help="Why it is collected."),
        Field("retention", "Retention", LINE, help="A duration or a rule."),
        Field("legal_hold", "Legal hold", LINE, required=False, help="Does a hold block the purge?"),
        Field("masking", "Masking", LINE, required=False, help="Where it is masked."),
        Field("export_policy", "Export", CHOICE, required=False, choices=EXPORT_POLICIES),
        Field("downstream", "Flows to", TEXT, required=False, help="Search, CDC, warehouse, logs."),
        Field("erasure", "Erasure", CHOICE, required=False, choices=ERASURE),
    ),
    title=lambda d: f"Privacy: {d['table']}.{d['column']}",
    summary=lambda d: (
        f"{dict(CLASSIFICATIONS).get(d['classification'], '')}"
        + (" · personal data" if d.get("contains_pii") == YES else "")
        + f" · kept {short(d['retention'], 40)}"
        + (f" · erased by {dict(ERASURE).get(d['erasure'], '').lower()}" if d.get("erasure") else "")
    ),
    judge=_judge_privacy_field,
    max_age_days=365,
    failing_level="P1",
    importable=True,
    key=("table", "column"),
)

# --- Step 5: capacity forecasts.

FORECASTS = (
    ("rows", "Row growth per core table"),
    ("indexes", "Index growth per core index"),
    ("storage", "Storage growth with WAL and archive"),
    ("qps", "Query QPS/TPS growth"),
    ("concurrency", "Peak concurrency"),
    ("pool", "Connection pool requirement"),
    ("backup", "Backup size and restore time"),
    ("tenant_skew", "Tenant skew"),
    ("top_tenants", "Largest tenants"),
    ("exports", "Reporting and export volume"),
    ("cdc", "CDC volume"),
    ("cost", "Cost"),
)
REQUIRED_FORECASTS = tuple(code for code, _ in FORECASTS if code != "cost")

FORECAST = Spec(
    kind="forecast",
    label="Forecast",
    plural="Forecasts",
    category="capacity",
    step=5,
    guide="forecasts",
    description="One capacity forecast (rows, storage, QPS, peak concurrency, cost …): today, in 12 "
    "months, at peak, how it was made and who owns it.",
    fields=(
        Field("subject", "Forecast", CHOICE, choices=FORECASTS),
        Field("scope", "Of what", LINE, required=False, help="e.g. the cases table; tenant 42."),
        Field("current", "Today", LINE, help="e.g. 120 M rows."),
        Field("in_12_months", "In 12 months", LINE, help="e.g. 410 M rows."),
        Field("peak", "At peak", LINE, required=False, help="e.g. 3× during the yearly filing week."),
        Field("basis", "How it was forecast", TEXT, required=False, wanted=True),
        Field("owner", "Owner", LINE, max_length=120),
    ),
    title=lambda d: (
        "Forecast: "
        + dict(FORECASTS).get(d["subject"], d["subject"])
        + (f" ({short(d['scope'], 60)})" if d.get("scope") else "")
    ),
    summary=lambda d: (
        f"{short(d['current'], 40)} today → {short(d['in_12_months'], 40)} in 12 months"
        + (f" · peak {short(d['peak'], 40)}" if d.get("peak") else "")
        + f" · owner {d['owner']}"
    ),
    max_age_days=180,
    key=("subject", "scope"),
)

DECLARED: tuple[Spec, ...] = (
    INVARIANT,
    WRITE_PATH,
    CONCURRENCY_TEST,
    FORECAST,
    MIGRATION_PLAN,
    RECOVERY_OBJECTIVES,
    SIGNAL,
    DASHBOARD,
    ALERT_RULE,
    PRIVACY_FIELD,
)
