"""The typed records kept in models of their own (evidence.models), each declared once: restore drills,
runbooks, runbook tests, migration rehearsals, load tests, access patterns, derived stores and the
capacity envelope. Their verdicts are the functions of evidence.verdict; a runbook's also reads its passing
tests, so it stays there (evidence.verdict.of, reviews.gatefacts).

How long each stays fresh (evidence.freshness, over which settings.EVIDENCE_MAX_AGE_DAYS may say more):
- restore drill 90 days: a restore drill must have been performed recently; a quarter is the common drill
  cadence.
- load test and runbook test 180 days: data shape and runbooks drift over a half-year.
- runbook 180 days: a runbook's age is its last test, the same as a test's.
- migration rehearsal 30 days: a rehearsal measures one migration on the data of its day; the data grows
  and the migration changes between releases, so a rehearsal older than a release cycle no longer says how
  this release's migration behaves.
- access pattern and capacity envelope 180 days: both describe the workload (its queries, its growth),
  which drifts over a half-year like a load test's; an envelope's age is its review date.
- derived store 365 days: an inventory entry changes when the integration does; a yearly look keeps the
  freshness contract and the rebuild procedure honest.

The finding a failing record opens: a failed restore drill is "no tested restore path" (P0) unless another
drill of the review passed, then a serious finding (evidence.services.judge_record); a failed rehearsal or
a load test over its target is serious (outage, performance collapse); an untested runbook, or one whose
test failed, is moderate.
"""

from __future__ import annotations

from .. import verdict
from ..verdict import TEST, Verdict
from .declared import PHASES
from .runbooks import REQUIRED_RUNBOOKS
from .spec import (
    BOOL,
    CHOICE,
    DATE,
    DATETIME,
    FLOAT,
    INT,
    LINE,
    MAX_MEASUREMENT,
    TEXT,
    Field,
    Spec,
    moment,
    short,
)

SPAN = "It cannot end before it started."


def _measure(name: str, label: str, **options) -> Field:
    """A measurement: a number from 0 to MAX_MEASUREMENT."""
    return Field(name, label, FLOAT, max_value=MAX_MEASUREMENT, **options)


def _span(data: dict, message: str = SPAN) -> dict[str, str]:
    started, ended = moment(data.get("started_at")), moment(data.get("ended_at"))
    if started is not None and ended is not None and ended < started:
        return {"ended_at": message}
    return {}


def _took(data: dict) -> str:
    return verdict.duration(moment(data["ended_at"]) - moment(data["started_at"]))


def _ms(value: float) -> str:
    return f"{value:g}"


def _runtime_seconds(row) -> int:
    return int((row.ended_at - row.started_at).total_seconds())


# --- Backup, restore & DR


def _check_restore_drill(data: dict) -> dict[str, str]:
    errors = _span(data, "The drill cannot end before it started.")
    requested, actual = (
        moment(data.get("requested_recovery_point")),
        moment(data.get("actual_recovery_point")),
    )
    if requested is not None and actual is not None and actual > requested:
        errors["actual_recovery_point"] = "The actual recovery point cannot be later than the one requested."
    return errors


def _judge_restore_drill(data: dict) -> Verdict:
    return verdict.restore_drill(
        rpo_achieved=moment(data["requested_recovery_point"]) - moment(data["actual_recovery_point"]),
        rpo_target_minutes=data["rpo_target_minutes"],
        rto_achieved=moment(data["ended_at"]) - moment(data["started_at"]),
        rto_target_minutes=data["rto_target_minutes"],
        validation_passed=data["validation_passed"],
    )


def _restore_drill_summary(data: dict) -> str:
    lost = moment(data["requested_recovery_point"]) - moment(data["actual_recovery_point"])
    judged = _judge_restore_drill(data)
    return (
        f"RPO {verdict.duration(lost)} (target {data['rpo_target_minutes']} min) · "
        f"RTO {_took(data)} (target {data['rto_target_minutes']} min) · "
        + ("passed" if judged.supports else "did not pass")
    )


RESTORE_DRILL = Spec(
    kind="restore_drill",
    label="Restore drill",
    plural="Restore drills",
    category="backup",
    step=7,
    guide="restore-drill",
    description="A restore actually performed: what was restored from where, how much data it lost and how "
    "long it took against the targets, and how the restored data was validated.",
    fields=(
        Field("database", "Database"),
        Field("backup_source", "Backup source"),
        Field("target_environment", "Target environment"),
        Field("requested_recovery_point", "Requested recovery point", DATETIME),
        Field("actual_recovery_point", "Actual recovery point", DATETIME),
        Field("started_at", "Start time", DATETIME),
        Field("ended_at", "End time", DATETIME),
        Field(
            "rpo_target_minutes",
            "RPO target (minutes)",
            INT,
            max_value=10_000_000,
            help="Maximum acceptable data loss, in minutes.",
        ),
        Field(
            "rto_target_minutes",
            "RTO target (minutes)",
            INT,
            max_value=10_000_000,
            help="Maximum acceptable recovery time, in minutes.",
        ),
        Field("validation_queries", "Validation queries", TEXT, max_length=20000),
        Field("validation_passed", "Validation passed", BOOL),
        Field("validation_result", "Validation result", TEXT, required=False, max_length=10000),
        Field("issues_found", "Issues found", TEXT, required=False, max_length=10000),
        Field("follow_up_owner", "Follow-up owner", LINE, required=False, max_length=120),
        Field("next_drill_date", "Next drill date", DATE, required=False),
    ),
    title=lambda d: "Restore drill",
    titled=True,
    summary=_restore_drill_summary,
    judge=_judge_restore_drill,
    check=_check_restore_drill,
    max_age_days=90,
    shows=frozenset({TEST}),
    failing_level="P0",
    observed="ended_at",
    url_label="Link to the report",
    model="restore_drill",
    audit="evidence.restore_drill",
    audit_after=lambda d, row: {
        "rpo_minutes": row.rpo_achieved.total_seconds() / 60,
        "rto_minutes": row.rto_achieved.total_seconds() / 60,
        "passed": row.passed,
    },
)

# --- Runbooks & incident response

RUNBOOK = Spec(
    kind="runbook",
    label="Runbook",
    plural="Runbooks",
    category="runbooks",
    step=10,
    guide="runbook",
    description="What on-call follows in an incident: symptoms, dashboards, diagnostic queries, safe, "
    "approved and forbidden actions, rollback, communication, evidence to capture, postmortem questions, "
    "its owner and when it was last tested.",
    fields=(
        Field("name", "Name"),
        Field(
            "covers",
            "Required runbook it covers",
            CHOICE,
            required=False,
            choices=REQUIRED_RUNBOOKS,
            empty="Another runbook",
        ),
        Field("severity", "Severity", LINE, required=False, max_length=40),
        Field("symptoms", "Symptoms", TEXT, required=False),
        Field("dashboards", "Dashboards", TEXT, required=False),
        Field("diagnostic_queries", "Diagnostic queries", TEXT, required=False, max_length=20000),
        Field("immediate_safe_actions", "Immediate safe actions", TEXT, required=False),
        Field("actions_requiring_approval", "Actions requiring approval", TEXT, required=False),
        Field("actions_forbidden", "Actions forbidden", TEXT, required=False),
        Field("rollback_recovery", "Rollback or recovery", TEXT, required=False),
        Field("communication", "Customer and stakeholder communication", TEXT, required=False),
        Field("evidence_to_capture", "Evidence to capture", TEXT, required=False),
        Field("postmortem_questions", "Postmortem questions", TEXT, required=False),
        Field("owner", "Owner", LINE, max_length=120),
        Field("last_tested", "Last tested", DATE, required=False),
    ),
    title=lambda d: d["name"],
    summary=lambda d: f"Owner {d['owner']} · last tested {d.get('last_tested') or 'never'}",
    # judge: none here. A runbook fails when it was never tested, which its passing runbook tests also
    # answer: not a function of its own values (evidence.verdict.runbook, read by verdict.of and gatefacts).
    max_age_days=180,
    shows=frozenset({verdict.RUNBOOK}),
    failing_level="P2",
    observed="last_tested",
    future="The last test cannot be in the future.",
    url_label="Link to the runbook",
    importable=True,
    key=("name",),
    model="runbook",
    audit="",
)


def _judge_runbook_test(data: dict) -> Verdict:
    return verdict.runbook_test(passed=data["passed"])


RUNBOOK_TEST = Spec(
    kind="runbook_test",
    label="Runbook test",
    plural="Runbook tests",
    category="runbooks",
    step=10,
    guide="runbook-test",
    description="A runbook exercised in a drill or game day, and whether its steps recovered the service "
    "as written. It is linked to the review's runbook of that name.",
    fields=(
        Field("runbook_name", "Runbook"),
        Field("scenario", "Scenario", TEXT, help="What was simulated, e.g. a lock storm on the primary."),
        Field("environment", "Environment"),
        Field("started_at", "Start time", DATETIME),
        Field("ended_at", "End time", DATETIME),
        Field("passed", "The runbook worked as written", BOOL),
        Field("issues_found", "Issues found", TEXT, required=False, max_length=10000),
        Field("follow_up_owner", "Follow-up owner", LINE, required=False, max_length=120),
    ),
    title=lambda d: f"Runbook test: {d['runbook_name']}",
    titled=True,
    summary=lambda d: (
        f"{d['runbook_name']} in {d['environment']} · took {_took(d)} · "
        + ("worked as written" if d["passed"] else "did not work as written")
    ),
    judge=_judge_runbook_test,
    check=_span,
    max_age_days=180,
    shows=frozenset({verdict.RUNBOOK, TEST}),
    failing_level="P2",
    observed="ended_at",
    url_label="Link to the report",
    model="runbook_test",
    audit="evidence.runbook_test",
    audit_after=lambda d, row: {
        "runbook": d["runbook_name"],
        "passed": d["passed"],
        "linked_runbook": row.runbook_id,
    },
)

# --- Migration & compatibility


def _judge_migration_rehearsal(data: dict) -> Verdict:
    return verdict.migration_rehearsal(validation_passed=data["validation_passed"])


MIGRATION_REHEARSAL = Spec(
    kind="migration_rehearsal",
    label="Migration rehearsal",
    plural="Migration rehearsals",
    category="migration",
    step=6,
    guide="migration-rehearsal",
    description="A migration rehearsed on production-like data: its runtime, the locks it took and the "
    "validation query that proved the result.",
    fields=(
        Field("migration", "Migration", help="Which migration, e.g. 0042_orders_status."),
        Field("phase", "Phase", CHOICE, choices=PHASES),
        Field("environment", "Environment"),
        Field(
            "dataset",
            "Production-like data",
            max_length=300,
            help="e.g. snapshot of 1 Nov, 1.2 TB",
        ),
        Field("started_at", "Start time", DATETIME),
        Field("ended_at", "End time", DATETIME),
        Field("lock_behaviour", "Lock behaviour", TEXT, help="Which locks, on what, how long."),
        Field("longest_lock_ms", "Longest write-blocking lock (ms)", INT, required=False),
        Field("validation_query", "Validation query", TEXT, max_length=20000),
        Field("validation_passed", "Validation passed", BOOL),
        Field("validation_result", "Validation result", TEXT, required=False, max_length=10000),
        Field("rollback_rehearsed", "Rollback or roll-forward rehearsed too", BOOL, required=False),
        Field("issues_found", "Issues found", TEXT, required=False, max_length=10000),
    ),
    title=lambda d: f"Migration rehearsal: {d['migration']}",
    titled=True,
    summary=lambda d: (
        f"{d['migration']} ({dict(PHASES).get(d['phase'], d['phase']).lower()}) on {d['dataset']} · "
        f"ran {_took(d)}"
        + (f" · longest lock {d['longest_lock_ms']} ms" if d.get("longest_lock_ms") is not None else "")
        + (" · validated" if d["validation_passed"] else " · validation failed")
    ),
    judge=_judge_migration_rehearsal,
    check=_span,
    max_age_days=30,
    shows=frozenset({TEST}),
    failing_level="P1",
    observed="ended_at",
    url_label="Link to the report",
    model="migration_rehearsal",
    audit="evidence.migration_rehearsal",
    audit_after=lambda d, row: {
        "migration": d["migration"],
        "runtime_seconds": _runtime_seconds(row),
        "longest_lock_ms": d["longest_lock_ms"],
        "validation_passed": d["validation_passed"],
    },
)

# --- Capacity, performance & cost


def _check_load_test(data: dict) -> dict[str, str]:
    errors = _span(data)
    p50, p95, p99 = (data.get(name) for name in ("p50_ms", "p95_ms", "p99_ms"))
    if None not in (p50, p95, p99) and not p50 <= p95 <= p99:
        errors["p99_ms"] = "Percentiles must not fall: p50 ≤ p95 ≤ p99."
    return errors


def _judge_load_test(data: dict) -> Verdict:
    return verdict.load_test(p95_ms=data["p95_ms"], target_p95_ms=data.get("target_p95_ms"))


def _load_test_summary(data: dict) -> str:
    target = data.get("target_p95_ms")
    kept = ""
    if target is not None:
        kept = (
            " · p95 within target"
            if _judge_load_test(data).supports
            else f" · p95 over its {_ms(target)} ms target"
        )
    return (
        f"p50 {_ms(data['p50_ms'])} · p95 {_ms(data['p95_ms'])} · p99 {_ms(data['p99_ms'])} ms "
        f"at {_ms(data['throughput_per_s'])}/s{kept} · saturates: {short(data['saturation_point'])}"
    )


LOAD_TEST = Spec(
    kind="load_test",
    label="Load test",
    plural="Load tests",
    category="capacity",
    step=5,
    guide="load-test",
    description="A production-like load test: its latency percentiles, the throughput it sustained and where "
    "the system saturates.",
    fields=(
        Field("scenario", "Scenario"),
        Field("environment", "Environment"),
        Field("tool", "Tool", LINE, required=False, max_length=80, help="k6, pgbench, Gatling …"),
        Field("data_shape", "Data shape", TEXT, required=False, help="Size, skew, large tenants."),
        Field("started_at", "Start time", DATETIME),
        Field("ended_at", "End time", DATETIME),
        Field("peak_concurrency", "Peak concurrency", INT, required=False),
        _measure("throughput_per_s", "Throughput (per second)"),
        _measure("p50_ms", "p50 (ms)"),
        _measure("p95_ms", "p95 (ms)"),
        _measure("p99_ms", "p99 (ms)"),
        _measure("target_p95_ms", "Target p95 (ms)", required=False, help="The p95 the system must keep."),
        Field("error_rate_percent", "Error rate (%)", FLOAT, required=False, max_value=100),
        Field("saturation_point", "Saturation point", TEXT, help="Measured or estimated."),
        _measure("saturation_throughput_per_s", "Throughput at saturation (per second)", required=False),
        Field("bottleneck", "Bottleneck", LINE, required=False),
    ),
    title=lambda d: f"Load test: {d['scenario']}",
    titled=True,
    summary=_load_test_summary,
    judge=_judge_load_test,
    check=_check_load_test,
    max_age_days=180,
    shows=frozenset({TEST}),
    failing_level="P1",
    observed="ended_at",
    url_label="Link to the report",
    model="load_test",
    audit="evidence.load_test",
    # Strings, not floats: the audit trail's JSON stays the same whatever serialises it.
    audit_after=lambda d, row: {
        "p50_ms": str(d["p50_ms"]),
        "p95_ms": str(d["p95_ms"]),
        "p99_ms": str(d["p99_ms"]),
        "passed": row.passed,
    },
)

# --- Query & index

PAGINATION = (("keyset", "Keyset"), ("offset", "Offset (bounded)"), ("none", "None (bounded result)"))


def _check_access_pattern(data: dict) -> dict[str, str]:
    if data.get("expected_p95_ms") == 0:
        return {"expected_p95_ms": "Give the p95 the query must keep, more than 0 ms."}
    return {}


ACCESS_PATTERN = Spec(
    kind="access_pattern",
    label="Access pattern",
    plural="Access patterns",
    category="query-index",
    step=5,
    guide="access-pattern",
    description="One important query of the workload: who runs it how often, what it filters and sorts on, "
    "how it pages, the p95 it must keep and the index that serves it.",
    fields=(
        Field("query_name", "Query name", help="e.g. Case inbox."),
        Field("actor_name", "Actor", max_length=120, help="Who runs it, e.g. investigator."),
        Field("frequency", "Frequency", max_length=120, help="e.g. 500/min peak."),
        Field(
            "freshness",
            "Freshness",
            required=False,
            help="e.g. must read the primary after an update.",
        ),
        Field("predicate", "Predicate", TEXT, help="e.g. tenant_id, status in (…)."),
        Field("sort", "Sort", required=False, help="e.g. due_at asc, priority desc."),
        Field("pagination", "Pagination", CHOICE, choices=PAGINATION),
        _measure("expected_p95_ms", "Expected p95 (ms)"),
        Field("index", "Index", TEXT, help="The index that serves it."),
        Field(
            "plan_evidence",
            "Plan evidence",
            TEXT,
            required=False,
            max_length=50000,
            help="EXPLAIN ANALYZE on production-like data.",
        ),
    ),
    title=lambda d: f"Access pattern: {d['query_name']}",
    summary=lambda d: (
        f"{d['actor_name']} · {d['frequency']} · "
        f"{dict(PAGINATION).get(d['pagination'], d['pagination']).lower()} pagination · "
        f"p95 under {_ms(d['expected_p95_ms'])} ms · index {short(d['index'])}"
    ),
    check=_check_access_pattern,
    max_age_days=180,
    url_label="Link to the plan",
    key=("query_name",),
    model="access_pattern",
    columns={"actor_name": "actor"},
    audit="",
)

# --- Integration & derived data

DERIVED_STORE = Spec(
    kind="derived_store",
    label="Derived store",
    plural="Derived stores",
    category="integration",
    step=2,
    guide="derived-store",
    description="A store derived from the system of record: its source, its freshness contract, how it is "
    "rebuilt, who owns it and what happens when it fails.",
    fields=(
        Field("store", "Store", help="e.g. Search index."),
        Field("source", "Source", help="e.g. CDC/outbox."),
        Field("freshness", "Freshness", help="The freshness contract, e.g. < 30 s."),
        Field("rebuild", "Rebuild", TEXT, help="How it is rebuilt from the source, e.g. full reindex."),
        Field("owner", "Owner", max_length=120),
        Field("failure_action", "Failure action", TEXT, help="e.g. disable search, fall back."),
    ),
    title=lambda d: f"Derived store: {d['store']}",
    summary=lambda d: (
        f"from {d['source']} · fresh within {d['freshness']} · rebuild: {short(d['rebuild'], 60)} · "
        f"owner {d['owner']} · on failure: {short(d['failure_action'], 60)}"
    ),
    max_age_days=365,
    key=("store",),
    model="derived_store",
    audit="",
)

# --- Capacity envelope


def _check_capacity_envelope(data: dict) -> dict[str, str]:
    if data.get("target_p95_ms") == 0:
        return {"target_p95_ms": "Give the target p95, more than 0 ms."}
    return {}


def _capacity_envelope_summary(data: dict) -> str:
    target = _ms(data["target_p95_ms"])
    within = data["current_p95_ms"] <= data["target_p95_ms"]
    return (
        f"{data['current_data_size']} → {data['projected_data_size']} in 12 months · "
        f"peak {_ms(data['current_peak_tps'])} → {_ms(data['projected_peak_tps'])} TPS · "
        f"p95 {_ms(data['current_p95_ms'])} ms, "
        + (f"within its {target} ms target" if within else f"over its {target} ms target")
        + f" · acts when: {short(data['saturation_trigger'], 60)}"
    )


CAPACITY_ENVELOPE = Spec(
    kind="capacity_envelope",
    label="Capacity envelope",
    article="the",
    plural="Capacity envelopes",
    category="capacity",
    step=5,
    guide="capacity-envelope",
    description="Today's size, load and latency, where they will be in 12 months, the known bottleneck, "
    "what triggers action and the planned mitigation. It is as old as its review date.",
    fields=(
        Field("current_data_size", "Current data size", max_length=80, help="e.g. 420 GB."),
        Field("projected_data_size", "Projected data size in 12 months", max_length=80, help="e.g. 1.1 TB."),
        _measure("current_peak_tps", "Current peak TPS"),
        _measure("projected_peak_tps", "Projected peak TPS", help="In 12 months."),
        _measure("current_p95_ms", "Current p95 (ms)"),
        _measure("target_p95_ms", "Target p95 (ms)"),
        Field("known_bottleneck", "Known bottleneck", TEXT, required=False),
        Field(
            "saturation_trigger",
            "Saturation trigger",
            TEXT,
            help="What starts the mitigation, e.g. CPU > 70% at peak.",
        ),
        Field("planned_mitigation", "Planned mitigation", TEXT),
        Field("owner", "Owner", max_length=120),
        Field("review_date", "Review date", DATE, help="When the envelope was last reviewed."),
    ),
    title=lambda d: f"Capacity envelope of {d['review_date']}",
    summary=_capacity_envelope_summary,
    check=_check_capacity_envelope,
    max_age_days=180,
    observed="review_date",
    future="The review date cannot be in the future.",
    model="capacity_envelope",
    audit="",
)

MEASURED: tuple[Spec, ...] = (
    RESTORE_DRILL,
    RUNBOOK,
    RUNBOOK_TEST,
    MIGRATION_REHEARSAL,
    LOAD_TEST,
    ACCESS_PATTERN,
    DERIVED_STORE,
    CAPACITY_ENVELOPE,
)
