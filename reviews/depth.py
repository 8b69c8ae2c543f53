"""The review's depth where the meeting walks it (steps 3–10): the invariant inventory with its SQL checks and
constraint coverage, write paths and the concurrency test matrix, forecasts, migration plans beside their
rehearsals, recovery objectives against restore drills, signals, dashboards and alert rules, the privacy
inventory beside the PII probe, and the required runbooks with the probes that run their diagnostics.

`depth_for_review` reads it all in a fixed number of queries, whatever the number of records: the review's
records in one, then at most one each for the invariant checks, the probes' latest results on the system's
targets and the PII probe's results of the review's runs. Everything else is plain Python over those rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Case, CharField, F, JSONField, OuterRef, Subquery, Value, When, Window
from django.db.models.functions import Cast, Concat, Lower, RowNumber

from evidence import kinds
from evidence.kinds import declared
from evidence.kinds.runbooks import DIAGNOSTIC_PROBES, REQUIRED_RUNBOOKS
from evidence.models import Evidence, EvidenceKind
from evidence.verdict import Verdict

from .models import AGENDA_STEPS, Review

DEPTH_STEPS = (3, 4, 5, 6, 7, 8, 9, 10)
PII_PROBE = "privacy.pii-columns-unclassified"
# Probes whose findings name constraints (details[].data.constraint): what they say of an invariant's one.
CONSTRAINT_PROBES = {
    "migration.unvalidated-constraints": "left NOT VALID",
    "query-index.fk-without-index": "a foreign key without a supporting index",
}
# The typed records each step reads beyond the kinds declared for it.
OTHER_KINDS = {
    6: (EvidenceKind.MIGRATION_REHEARSAL,),
    7: (EvidenceKind.RESTORE_DRILL,),
    10: (EvidenceKind.RUNBOOK, EvidenceKind.RUNBOOK_TEST),
}
OTHER_GUIDES = {
    EvidenceKind.MIGRATION_REHEARSAL: "migration_rehearsal",
    EvidenceKind.RESTORE_DRILL: "restore_drill",
    EvidenceKind.RUNBOOK: "runbook",
    EvidenceKind.RUNBOOK_TEST: "runbook_test",
}
RELATED = {
    EvidenceKind.MIGRATION_REHEARSAL: "migration_rehearsal",
    EvidenceKind.RESTORE_DRILL: "restore_drill",
    EvidenceKind.RUNBOOK: "runbook",
    EvidenceKind.RUNBOOK_TEST: "runbook_test",
}
CELL_LABELS = {**dict(declared.RESULTS), "missing": "Missing"}
STATUS_LABELS = {"pass": "Pass", "warn": "Warn", "fail": "Fail", "skipped": "Skipped", "error": "Error"}


def _plural(n: int, word: str, words: str = "") -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"


def _name(text: str) -> str:
    """How names are compared: case and spacing do not matter."""
    return " ".join(str(text or "").split()).casefold()


def _minutes(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" + (f" {rest} min" if rest else "")


# --- What a step shows


@dataclass(frozen=True)
class Entry:
    """One typed record of the review, judged."""

    evidence: Evidence
    data: dict
    verdict: Verdict

    @property
    def spec(self) -> kinds.Spec:
        return kinds.KINDS[self.evidence.kind]

    @property
    def state(self) -> str:
        return self.verdict.state

    @property
    def complete(self) -> bool:
        return self.verdict.supports

    @property
    def title(self) -> str:
        return self.evidence.title

    @property
    def summary(self) -> str:
        return self.spec.summary(self.data)

    @property
    def rows(self) -> list[tuple[str, str]]:
        return self.spec.rows(self.data)

    @property
    def name(self) -> str:
        """The title without its kind ("Invariant: ", "Privacy: "), for a list under the kind's heading: every
        declared kind's title starts with one."""
        return self.title.split(": ", 1)[-1]


@dataclass(frozen=True)
class RecordLink:
    kind: str
    label: str  # "Record an invariant"
    guide: str


class Part:
    """One step's part of the depth; `number` is its meeting step."""

    number: int

    @property
    def links(self) -> list[RecordLink]:
        return record_links(self.number)

    @property
    def guide(self) -> dict[str, str]:
        """{kind: its place in the guide}, for the step's headings."""
        return {link.kind: link.guide for link in self.links}


@dataclass(frozen=True)
class Result:
    """A probe's latest result on one target."""

    target: str
    status: str  # pass, warn, fail, skipped, error
    at: object  # datetime
    summary: str = ""
    run_id: int | None = None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)


@dataclass(frozen=True)
class CheckState:
    """An invariant check the invariant names, and its last result (None: it never ran)."""

    check_id: int
    name: str
    target: str
    result: Result | None


@dataclass(frozen=True)
class InvariantRow:
    entry: Entry
    sql_check: str
    checks: tuple[CheckState, ...]  # empty while the named check is not registered on a target
    constraint: str
    mentions: tuple[str, ...]  # what the schema probes said of the constraint


@dataclass(frozen=True)
class CoverageRow:
    code: str
    label: str
    count: int
    in_database: int
    preferred: str
    database_rule: bool  # the database can hold this kind of rule


@dataclass
class Invariants(Part):
    number: int
    entries: list[Entry]
    invariants: list[InvariantRow]
    coverage: list[CoverageRow]
    summary: str


@dataclass(frozen=True)
class Cell:
    state: str  # passed, failed, not_run, missing
    entry: Entry | None = None

    @property
    def label(self) -> str:
        return CELL_LABELS[self.state]

    @property
    def ran_on(self) -> str:
        return (self.entry.data.get("ran_on") or "") if self.entry else ""


@dataclass(frozen=True)
class MatrixRow:
    scenario: str
    label: str
    expected: str
    cells: tuple[Cell, ...]
    required: bool


@dataclass
class Writes(Part):
    number: int
    write_paths: list[Entry]
    tests: list[Entry]
    columns: list[str]  # the write paths named; "" for a test naming none
    matrix: list[MatrixRow]
    passed: int
    required_cells: int
    summary: str

    @property
    def column_labels(self) -> list[str]:
        """A column's write path; "" is a test naming none, or the whole matrix while nothing is recorded."""
        blank = "No write path named" if self.tests or self.write_paths else "Any write path"
        return [c or blank for c in self.columns]


@dataclass(frozen=True)
class Coverage:
    code: str
    label: str
    entries: tuple[Entry, ...]
    required: bool = True


@dataclass
class Forecasts(Part):
    number: int
    entries: list[Entry]
    coverage: list[Coverage]
    covered: int
    required: int
    summary: str


@dataclass(frozen=True)
class PlanRow:
    entry: Entry
    rehearsals: tuple[Evidence, ...]


@dataclass
class Migrations(Part):
    number: int
    plans: list[PlanRow]
    unplanned: list[Evidence]  # rehearsals of a migration no plan names
    summary: str


@dataclass(frozen=True)
class DrillRow:
    evidence: Evidence
    rpo_achieved: timedelta
    rto_achieved: timedelta
    rpo_met: bool | None  # against the objectives; None without objectives
    rto_met: bool | None
    looser: tuple[
        str, ...
    ]  # its own targets looser than the objectives: "RPO target 30 min (objective 5 min)"

    @property
    def drill(self):
        return self.evidence.restore_drill

    @property
    def meets(self) -> bool:
        return bool(self.rpo_met and self.rto_met and self.drill.validation_passed)

    @property
    def rpo_words(self) -> str:
        return _minutes(self.rpo_achieved)

    @property
    def rto_words(self) -> str:
        return _minutes(self.rto_achieved)


@dataclass
class Recovery(Part):
    number: int
    objectives: Entry | None
    older: int  # earlier records of the objectives, superseded by the latest
    drills: list[DrillRow]
    summary: str


@dataclass
class Observability(Part):
    number: int
    signals: list[Coverage]
    dashboards: list[Coverage]
    other_dashboards: list[Entry]
    alerts: list[Entry]
    summary: str


@dataclass(frozen=True)
class PrivacyRow:
    entry: Entry
    column: str  # schema.table.column
    flagged: bool  # the PII probe flags it as unclassified


@dataclass(frozen=True)
class Flagged:
    column: str
    message: str
    target: str


@dataclass
class Privacy(Part):
    number: int
    rows: list[PrivacyRow]
    probe: list[Result]  # the PII probe's latest result of the review's runs, per target
    flagged: int  # columns the probe flags
    uncovered: list[Flagged]  # flagged columns the inventory does not hold
    summary: str


@dataclass(frozen=True)
class Diagnostic:
    probe_id: str
    title: str
    results: tuple[Result, ...]  # latest per target of the system


@dataclass(frozen=True)
class RunbookRow:
    code: str
    name: str
    runbooks: tuple[Evidence, ...]
    tested: bool
    tested_on: date | None
    diagnostics: tuple[Diagnostic, ...]


@dataclass
class Runbooks(Part):
    number: int
    rows: list[RunbookRow]
    others: list[Evidence]  # runbooks that cover none of the required ones
    probed: bool  # any diagnostic probe has a result on a target of the system
    covered: int
    tested: int
    summary: str


@dataclass
class Depth:
    review: Review
    steps: dict[int, object]

    def step(self, number: int):
        return self.steps.get(number)

    @property
    def summaries(self) -> list[tuple[int, str, str]]:
        """(step, title, summary) for the review page."""
        return [(n, AGENDA_STEPS[n - 1], self.steps[n].summary) for n in DEPTH_STEPS if n in self.steps]


# --- Reading


def _kinds_for(steps: Iterable[int]) -> list[str]:
    wanted = set(steps)
    out = [spec.kind for spec in kinds.KINDS.values() if spec.step in wanted]
    for n in wanted:
        out.extend(OTHER_KINDS.get(n, ()))
    return out


def record_links(step: int) -> list[RecordLink]:
    """The "Record a …" links of a step: one for each kind of record it walks."""
    links = [RecordLink(s.kind, s.add_title, s.guide) for s in kinds.KINDS.values() if s.step == step]
    for kind in OTHER_KINDS.get(step, ()):
        label = EvidenceKind(kind).label.lower()
        links.append(RecordLink(kind, f"Record a {label}", OTHER_GUIDES[kind]))
    return links


def _entries(review: Review, steps: Iterable[int]) -> dict[str, list]:
    """The review's records of the steps' kinds, newest first, by kind: one query."""
    wanted = _kinds_for(steps)
    related = ["record"] + [RELATED[k] for k in RELATED if k in wanted]
    items = (
        Evidence.objects.filter(review=review, kind__in=wanted)
        .select_related(*related)
        .order_by("-observed_at", "-id")
    )
    by_kind: dict[str, list] = {k: [] for k in wanted}
    for e in items:
        if e.kind in kinds.KINDS:
            record = getattr(e, "record", None)
            if record is None:  # an evidence row whose record was never written: nothing to show
                continue
            spec = kinds.KINDS[e.kind]
            by_kind[e.kind].append(Entry(e, record.data, spec.verdict(record.data)))
        elif getattr(e, RELATED[e.kind], None) is not None:
            by_kind[e.kind].append(e)
    return by_kind


def _latest_first(*partition: str) -> Window:
    """1 for the newest result of each partition: portable where DISTINCT ON is PostgreSQL's own (the
    quick start runs on SQLite)."""
    return Window(
        RowNumber(), partition_by=[F(p) for p in partition], order_by=[F("created_at").desc(), F("id").desc()]
    )


def _latest_results(review: Review, probe_ids: Iterable[str], *, with_details: Iterable[str] = ()) -> list:
    """The latest result of each probe on each target of the review's system: one query."""
    from probes.models import ProbeResult  # probes builds on reviews, not the reverse

    ids = sorted(set(probe_ids))
    if not ids:
        return []
    details = list(with_details)
    return list(
        ProbeResult.objects.filter(run__target__system_id=review.system_id, probe_id__in=ids)
        .annotate(
            wanted_details=Case(
                When(probe_id__in=details, then="details"), default=Value(None), output_field=JSONField()
            )
        )
        .annotate(_rank=_latest_first("run__target_id", "probe_id"))
        .filter(_rank=1)
        .order_by("run__target_id", "probe_id")
        .values(
            "probe_id", "status", "summary", "created_at", "run_id", "run__target__name", "wanted_details"
        )
    )


def _result(row: dict) -> Result:
    return Result(row["run__target__name"], row["status"], row["created_at"], row["summary"], row["run_id"])


# --- Step 3


def _invariant_checks(review: Review, names: set[str]) -> dict[str, list[CheckState]]:
    """The system's invariant checks of those names, each with its last result: one query."""
    from probes.models import InvariantCheck, ProbeResult

    if not names:
        return {}
    latest = ProbeResult.objects.filter(
        run__target_id=OuterRef("target_id"),
        probe_id=Concat(Value("invariant."), Cast(OuterRef("pk"), output_field=CharField())),
    ).order_by("-created_at", "-id")
    checks = (
        InvariantCheck.objects.filter(target__system_id=review.system_id)
        .annotate(lowered=Lower("name"))
        .filter(lowered__in=sorted(names))
        .annotate(
            last_status=Subquery(latest.values("status")[:1]),
            last_at=Subquery(latest.values("created_at")[:1]),
            last_summary=Subquery(latest.values("summary")[:1]),
            last_run=Subquery(latest.values("run_id")[:1]),
        )
        .values("pk", "name", "target__name", "last_status", "last_at", "last_summary", "last_run")
        .order_by("target__name", "name")
    )
    out: dict[str, list[CheckState]] = {}
    for c in checks:
        result = (
            Result(c["target__name"], c["last_status"], c["last_at"], c["last_summary"] or "", c["last_run"])
            if c["last_status"]
            else None
        )
        out.setdefault(_name(c["name"]), []).append(CheckState(c["pk"], c["name"], c["target__name"], result))
    return out


def _constraint_mentions(rows: list[dict]) -> dict[str, list[str]]:
    """{constraint name: what the latest constraint probes say of it}."""
    out: dict[str, list[str]] = {}
    for row in rows:
        words = CONSTRAINT_PROBES.get(row["probe_id"])
        if not words:
            continue
        for item in row["wanted_details"] or []:
            name = ((item or {}).get("data") or {}).get("constraint")
            if name:
                where = str(item.get("object") or "").split(" (", 1)[0]  # "public.cases (its_name)"
                text = f"{words} on {row['run__target__name']}" + (f" ({where})" if where else "")
                bucket = out.setdefault(_name(name), [])
                if text not in bucket:
                    bucket.append(text)
    return out


def invariants_step(
    review: Review, entries: list[Entry], probe_rows: list[dict] | None, *, checks: bool = True
) -> Invariants:
    names = {_name(e.data.get("sql_check")) for e in entries if e.data.get("sql_check")}
    found = _invariant_checks(review, names) if checks else {}
    mentions = _constraint_mentions(probe_rows or [])
    rows = [
        InvariantRow(
            e,
            e.data.get("sql_check") or "",
            tuple(found.get(_name(e.data.get("sql_check")), ())) if e.data.get("sql_check") else (),
            e.data.get("constraint") or "",
            tuple(mentions.get(_name(e.data.get("constraint")), ())) if e.data.get("constraint") else (),
        )
        for e in entries
    ]
    coverage = []
    for code, label in declared.RULE_TYPES:
        of_kind = [e for e in entries if e.data.get("rule_type") == code]
        coverage.append(
            CoverageRow(
                code,
                label,
                len(of_kind),
                sum(1 for e in of_kind if e.data.get("in_database") == "yes"),
                declared.PREFERRED_ENFORCEMENT[code],
                code in declared.DATABASE_RULES,
            )
        )
    complete = sum(1 for e in entries if e.complete)
    held = sum(1 for e in entries if e.data.get("in_database") == "yes")
    summary = (
        f"{_plural(len(entries), 'invariant')}, {complete} complete · {held} held by the database"
        if entries
        else "no invariants recorded"
    )
    return Invariants(3, entries, rows, coverage, summary)


# --- Step 4


def writes_step(write_paths: list[Entry], tests: list[Entry]) -> Writes:
    columns: list[str] = []
    seen: set[str] = set()
    for e in write_paths:
        if _name(e.data.get("command")) not in seen:
            seen.add(_name(e.data.get("command")))
            columns.append(e.data.get("command") or "")
    for t in tests:
        named = t.data.get("write_path") or ""
        if _name(named) not in seen:
            seen.add(_name(named))
            columns.append(named)
    if not columns:
        columns = [""]  # no write path named: the matrix still lists what is missing
    by_column = {_name(c): i for i, c in enumerate(columns)}
    # The latest test of each (scenario, write path); "other" scenarios by their description.
    latest: dict[tuple[str, str, int], Entry] = {}
    others: list[str] = []
    for t in tests:  # newest first
        scenario = t.data.get("scenario") or "other"
        detail = _name(t.data.get("description")) if scenario == "other" else ""
        if scenario == "other" and detail not in others:
            others.append(detail)
        latest.setdefault((scenario, detail, by_column[_name(t.data.get("write_path"))]), t)
    labels = dict(declared.SCENARIOS)
    matrix = []
    for code in declared.REQUIRED_SCENARIOS:
        cells = tuple(
            Cell(latest[(code, "", i)].data.get("result"), latest[(code, "", i)])
            if (code, "", i) in latest
            else Cell("missing")
            for i in range(len(columns))
        )
        matrix.append(MatrixRow(code, labels[code], declared.EXPECTED[code], cells, True))
    for detail in others:
        cells = tuple(
            Cell(latest[("other", detail, i)].data.get("result"), latest[("other", detail, i)])
            if ("other", detail, i) in latest
            else Cell("missing")
            for i in range(len(columns))
        )
        sample = next(c.entry for c in cells if c.entry is not None)
        description = sample.data.get("description") or "Other"
        matrix.append(MatrixRow("other", description, sample.data.get("expected") or "", cells, False))
    required = [c for r in matrix if r.required for c in r.cells]
    passed = sum(1 for c in required if c.state == "passed")
    complete = sum(1 for e in write_paths if e.complete)
    summary = (
        f"{_plural(len(write_paths), 'write path')}, {complete} complete"
        if write_paths
        else "no write paths recorded"
    ) + f" · matrix {passed} of {len(required)} passed"
    return Writes(4, write_paths, tests, columns, matrix, passed, len(required), summary)


# --- Step 5


def forecasts_step(entries: list[Entry]) -> Forecasts:
    coverage = [
        Coverage(
            code,
            label,
            tuple(e for e in entries if e.data.get("subject") == code),
            code in declared.REQUIRED_FORECASTS,
        )
        for code, label in declared.FORECASTS
    ]
    covered = sum(1 for c in coverage if c.required and c.entries)
    required = len(declared.REQUIRED_FORECASTS)
    summary = f"{_plural(len(entries), 'forecast')} · {covered} of {required} required forecasts"
    return Forecasts(5, entries, coverage, covered, required, summary)


# --- Step 6


def migrations_step(plans: list[Entry], rehearsals: list[Evidence]) -> Migrations:
    by_name: dict[str, list[Evidence]] = {}
    for r in rehearsals:
        by_name.setdefault(_name(r.migration_rehearsal.migration), []).append(r)
    rows = [PlanRow(p, tuple(by_name.get(_name(p.data.get("migration")), ()))) for p in plans]
    planned = {_name(p.data.get("migration")) for p in plans}
    unplanned = [r for r in rehearsals if _name(r.migration_rehearsal.migration) not in planned]
    complete = sum(1 for p in plans if p.complete)
    rehearsed = sum(1 for row in rows if row.rehearsals)
    summary = (
        f"{_plural(len(plans), 'migration plan')}, {complete} complete · {rehearsed} rehearsed"
        if plans
        else "no migration plans recorded"
    )
    if unplanned:
        summary += f" · {_plural(len(unplanned), 'rehearsal')} without a plan"
    return Migrations(6, rows, unplanned, summary)


# --- Step 7


def recovery_step(objectives: list[Entry], drills: list[Evidence]) -> Recovery:
    latest = objectives[0] if objectives else None
    rows = []
    for e in drills:
        d = e.restore_drill
        rpo, rto = d.rpo_achieved, d.rto_achieved
        if latest is None:
            rows.append(DrillRow(e, rpo, rto, None, None, ()))
            continue
        rpo_goal, rto_goal = latest.data["rpo_minutes"], latest.data["rto_minutes"]
        looser = []
        if d.rpo_target_minutes > rpo_goal:
            looser.append(f"RPO target {d.rpo_target_minutes} min (objective {rpo_goal} min)")
        if d.rto_target_minutes > rto_goal:
            looser.append(f"RTO target {d.rto_target_minutes} min (objective {rto_goal} min)")
        rows.append(
            DrillRow(
                e,
                rpo,
                rto,
                rpo <= timedelta(minutes=rpo_goal),
                rto <= timedelta(minutes=rto_goal),
                tuple(looser),
            )
        )
    if latest is None:
        summary = "no recovery objectives" + (f" · {_plural(len(rows), 'restore drill')}" if rows else "")
    else:
        meeting = sum(1 for r in rows if r.meets)
        summary = f"RPO {latest.data['rpo_minutes']} min, RTO {latest.data['rto_minutes']} min · " + (
            f"{_plural(len(rows), 'restore drill')}, {meeting} meet{'s' if meeting == 1 else ''} them"
            if rows
            else "no restore drill"
        )
    return Recovery(7, latest, max(0, len(objectives) - 1), rows, summary)


# --- Step 8


def observability_step(signals: list[Entry], dashboards: list[Entry], alerts: list[Entry]) -> Observability:
    signal_cover = [
        Coverage(code, label, tuple(e for e in signals if e.data.get("area") == code))
        for code, label in declared.SIGNAL_AREAS
    ]
    dash_cover = [
        Coverage(code, label, tuple(e for e in dashboards if e.data.get("dashboard") == code))
        for code, label in declared.DASHBOARDS
        if code != "other"
    ]
    other = [e for e in dashboards if e.data.get("dashboard") == "other"]
    alerts_complete = sum(1 for e in alerts if e.complete)
    summary = (
        f"signals in {sum(1 for c in signal_cover if c.entries)} of {len(signal_cover)} areas · "
        f"dashboards {sum(1 for c in dash_cover if c.entries)} of {len(dash_cover)} · "
        + (
            f"{_plural(len(alerts), 'alert rule')}, {alerts_complete} complete"
            if alerts
            else "no alert rules"
        )
    )
    return Observability(8, signal_cover, dash_cover, other, alerts, summary)


# --- Step 9


def _column_key(table: str, column: str) -> str:
    """schema.table.column, compared without case or quotes; a table named without schema is in public."""
    table = str(table or "").replace('"', "").strip()
    if "." not in table:
        table = f"public.{table}"
    return _name(f"{table}.{str(column or '').replace(chr(34), '').strip()}")


def _pii_results(review: Review) -> list:
    """The PII probe's latest result in the review's runs, per target: one query."""
    from probes.models import ProbeResult

    return list(
        ProbeResult.objects.filter(run__review=review, probe_id=PII_PROBE)
        .annotate(_rank=_latest_first("run__target_id"))
        .filter(_rank=1)
        .order_by("run__target_id")
        .values("status", "summary", "created_at", "run_id", "run__target__name", "details")
    )


def privacy_step(review: Review, entries: list[Entry]) -> Privacy:
    results = _pii_results(review)
    flagged: dict[str, Flagged] = {}
    for row in results:
        for item in row["details"] or []:
            if not isinstance(item, dict) or item.get("status") not in ("fail", "warn"):
                continue
            column = str(item.get("object") or "")
            flagged.setdefault(
                _name(column), Flagged(column, str(item.get("message") or ""), row["run__target__name"])
            )
    rows = []
    covered: set[str] = set()
    for e in entries:
        key = _column_key(e.data.get("table"), e.data.get("column"))
        covered.add(key)
        rows.append(PrivacyRow(e, f"{e.data.get('table')}.{e.data.get('column')}", key in flagged))
    uncovered = [f for key, f in flagged.items() if key not in covered]
    complete = sum(1 for e in entries if e.complete)
    summary = (
        f"{_plural(len(entries), 'privacy field')}, {complete} complete"
        if entries
        else "no privacy inventory"
    )
    if not results:
        summary += " · the PII probe has not run for this review"
    elif uncovered:
        summary += f" · {_plural(len(uncovered), 'flagged column')} not in the inventory"
    elif flagged:
        summary += " · every flagged column is in the inventory"
    else:
        summary += " · the PII probe flags no column"
    probe = [_result({**r, "probe_id": PII_PROBE}) for r in results]
    return Privacy(9, rows, probe, len(flagged), uncovered, summary)


# --- Step 10


def runbooks_step(runbooks: list[Evidence], tests: list[Evidence], probe_rows: list[dict]) -> Runbooks:
    from probes import registry

    titles = {p.id: p.title for p in registry.all_probes()}
    latest: dict[str, list[Result]] = {}
    for row in probe_rows:
        latest.setdefault(row["probe_id"], []).append(_result(row))
    passing: dict[int, date] = {}
    for t in tests:
        test = t.runbook_test
        if test.passed and test.runbook_id:
            day = test.ended_at.date()
            passing[test.runbook_id] = max(day, passing.get(test.runbook_id, day))
    rows = []
    for code, name in REQUIRED_RUNBOOKS:
        mine = tuple(r for r in runbooks if r.runbook.covers == code)
        days = [d for r in mine for d in (r.runbook.last_tested, passing.get(r.runbook.pk)) if d is not None]
        diagnostics = tuple(
            Diagnostic(pid, titles.get(pid, pid), tuple(latest.get(pid, ())))
            for pid in DIAGNOSTIC_PROBES[code]
        )
        rows.append(RunbookRow(code, name, mine, bool(days), max(days) if days else None, diagnostics))
    others = [r for r in runbooks if not r.runbook.covers]
    covered = sum(1 for r in rows if r.runbooks)
    tested = sum(1 for r in rows if r.tested)
    summary = f"{covered} of {len(rows)} required runbooks · {tested} tested"
    return Runbooks(10, rows, others, bool(latest), covered, tested, summary)


# --- All of it


def depth_for_review(review: Review, steps: Iterable[int] | None = None, *, summaries: bool = False) -> Depth:
    """What steps 3–10 (or those of `steps`) show of the review's records, in at most four queries.

    With `summaries`, only what the steps' summaries say (the review page): the records and the PII
    probe's results, two queries; the invariant checks and the probes' diagnostics are left out."""
    wanted = [n for n in (DEPTH_STEPS if steps is None else steps) if n in DEPTH_STEPS]
    if not wanted:
        return Depth(review, {})
    by_kind = _entries(review, wanted)
    probe_ids: set[str] = set()
    if not summaries and 3 in wanted and any(e.data.get("constraint") for e in by_kind["invariant"]):
        probe_ids |= set(CONSTRAINT_PROBES)
    if not summaries and 10 in wanted:
        probe_ids |= {pid for ids in DIAGNOSTIC_PROBES.values() for pid in ids}
    probe_rows = _latest_results(review, probe_ids, with_details=CONSTRAINT_PROBES)
    out: dict[int, object] = {}
    if 3 in wanted:
        out[3] = invariants_step(review, by_kind["invariant"], probe_rows, checks=not summaries)
    if 4 in wanted:
        out[4] = writes_step(by_kind["write_path"], by_kind["concurrency_test"])
    if 5 in wanted:
        out[5] = forecasts_step(by_kind["forecast"])
    if 6 in wanted:
        out[6] = migrations_step(by_kind["migration_plan"], by_kind[EvidenceKind.MIGRATION_REHEARSAL])
    if 7 in wanted:
        out[7] = recovery_step(by_kind["recovery_objectives"], by_kind[EvidenceKind.RESTORE_DRILL])
    if 8 in wanted:
        out[8] = observability_step(by_kind["signal"], by_kind["dashboard"], by_kind["alert_rule"])
    if 9 in wanted:
        out[9] = privacy_step(review, by_kind["privacy_field"])
    if 10 in wanted:
        out[10] = runbooks_step(by_kind[EvidenceKind.RUNBOOK], by_kind[EvidenceKind.RUNBOOK_TEST], probe_rows)
    return Depth(review, out)
