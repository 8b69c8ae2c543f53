"""Spreadsheet imports: the inventories teams keep in CSV or YAML files today (invariants, write paths,
the privacy inventory, signals, dashboards, alert rules, concurrency tests, runbooks), read, checked row
by row with every error listed, and stored whole or not at all.

A file becomes rows (`read`), the rows become evidence through the services that add one record by hand
(`import_rows`: evidence.typed.add_record, evidence.services.add_runbook), in one transaction that a
single bad row rolls back."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, timedelta

import yaml
from django.db import transaction
from django.utils import timezone

from reviews import audit, csv_export
from reviews.models import Review
from reviews.services import ServiceError

from . import kinds, services, typed
from .kinds.spec import CHOICE, DATE, INT, MULTI, URL, YESNO, Field
from .models import Evidence

MAX_BYTES = 1_000_000
MAX_ROWS = 2_000
FORMATS = {".csv": "csv", ".yaml": "yaml", ".yml": "yaml"}

RUNBOOK = "runbook"


@dataclass(frozen=True)
class RowError:
    """One thing wrong with a file: the row as the user sees it (0: the file as a whole), the column as
    the file names it ("" for none) and what to do about it."""

    row: int
    column: str
    message: str


class ImportRefused(ServiceError):
    """Nothing was stored; `errors` lists every reason, row by row."""

    def __init__(self, errors: list[RowError]):
        self.errors = sorted(errors, key=lambda e: e.row)
        super().__init__([e.message for e in self.errors] or ["Nothing was imported."])


@dataclass
class Sheet:
    """What a file of one kind holds: its columns, the fields naming a row, and its words."""

    kind: str
    label: str  # "Invariant"
    columns: tuple[Field, ...]
    key: tuple[str, ...]
    guide: str
    lookup: dict[str, str] = field(init=False)  # a header as written, normalised -> column name

    def __post_init__(self):
        # Names first: where a label reads like another column's name, the name wins.
        self.lookup = {}
        for c in self.columns:
            self.lookup.setdefault(_normal(c.name), c.name)
        for c in self.columns:
            self.lookup.setdefault(_normal(c.label), c.name)

    @property
    def by_name(self) -> dict[str, Field]:
        return {c.name: c for c in self.columns}

    def words(self, count: int) -> str:
        """ "12 invariants", "1 alert rule"."""
        return f"{count:,} {self.label.lower()}{'' if count == 1 else 's'}"

    @property
    def template_name(self) -> str:
        """The template's file name: "write-paths.csv"."""
        return f"{self.kind.replace('_', '-')}s.csv"

    def header(self) -> list[str]:
        """The template's header: each column's label, or its name where the label means another column."""
        return [c.label if self.lookup[_normal(c.label)] == c.name else c.name for c in self.columns]

    def column(self, header: str) -> str | None:
        return self.lookup.get(_normal(header))


def _normal(header: str) -> str:
    return " ".join(str(header).replace("_", " ").split()).casefold()


def _declared_sheet(spec: kinds.Spec) -> Sheet:
    url = Field("url", spec.url_label or "Link", URL, required=spec.url_required, help="Where it lives.")
    return Sheet(spec.kind, spec.label, (*spec.fields, url), spec.key, spec.guide)


SHEETS: dict[str, Sheet] = {
    kind: _declared_sheet(spec) for kind, spec in kinds.ALL.items() if spec.importable
}


def sheet_for(kind: str) -> Sheet:
    sheet = SHEETS.get(kind)
    if sheet is None:
        raise ImportRefused([RowError(0, "", "Choose what the file holds: " + ", ".join(SHEETS) + ".")])
    return sheet


# --- Reading a file into rows


@dataclass
class Row:
    number: int  # as the user sees it: the CSV's line in a spreadsheet (the header is 1), the YAML's item
    values: dict[str, object]  # column name -> the raw value
    spelled: dict[str, str]  # column name -> the header as the file writes it
    unread: frozenset[str] = frozenset()  # columns whose value was refused as it was read (said already)


@dataclass
class Table:
    rows: list[Row]
    errors: list[RowError]
    missing: frozenset[str] = frozenset()  # required columns the file does not have


def read(*, name: str, content: bytes, sheet: Sheet) -> Table:
    """The rows of a CSV or YAML file of `sheet`'s kind. Refuses (ImportRefused) a file it cannot read
    at all; lists the errors of a file it can read (unknown or repeated columns, rows of the wrong
    shape) in the table."""
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    fmt = FORMATS.get(suffix)
    if fmt is None:
        raise _refused("Give a .csv, .yaml or .yml file.")
    if len(content) > MAX_BYTES:
        raise _refused(
            f"The file is larger than {MAX_BYTES // 1_000_000} MB: split it into smaller files and import "
            "each."
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _refused("The file is not UTF-8 text: save it as CSV UTF-8 (or YAML in UTF-8) and try again.")
    table = _read_csv(text, sheet) if fmt == "csv" else _read_yaml(text, sheet)
    if not table.rows and not table.errors:
        raise _refused("The file has no rows.")
    return table


def _refused(message: str) -> ImportRefused:
    return ImportRefused([RowError(0, "", message)])


def _too_many() -> ImportRefused:
    return _refused(f"The file has more than {MAX_ROWS:,} rows: split it and import each part.")


def _read_csv(text: str, sheet: Sheet) -> Table:
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    # A cell as long as the file reads, to be refused by its column's own limit with the row and column.
    csv.field_size_limit(max(csv.field_size_limit(), MAX_BYTES))
    records: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for number, cells in enumerate(reader, start=1):
            if number > 1 and not any(cell.strip() for cell in cells):
                continue  # an empty line of the spreadsheet
            records.append((number, cells))
            if len(records) - 1 > MAX_ROWS:
                raise _too_many()
    except csv.Error as err:
        raise _refused(f"Line {reader.line_num} cannot be read as CSV ({err}).")
    if not records:
        return Table([], [])
    _, header = records[0]
    errors: list[RowError] = []
    columns: dict[int, str] = {}  # position -> column name
    spelled: dict[str, str] = {}
    for position, text_ in enumerate(header):
        title = text_.strip()
        if not title:
            if any(position < len(cells) and cells[position].strip() for _, cells in records[1:]):
                errors.append(RowError(1, f"column {position + 1}", "This column has values but no name."))
            continue
        name = sheet.column(title)
        if name is None:
            errors.append(RowError(1, title, _unknown(sheet)))
        elif name in spelled:
            errors.append(RowError(1, title, f"Repeats the column “{spelled[name]}”."))
        else:
            columns[position] = name
            spelled[name] = title
    missing = frozenset(
        c.name for c in sheet.columns if c.required and not c.wanted and c.name not in spelled
    )
    for name in sorted(missing, key=list(sheet.by_name).index):
        label = sheet.by_name[name].label
        errors.append(RowError(1, label, f"This column is missing: every {sheet.label.lower()} needs it."))
    rows = []
    for number, cells in records[1:]:
        extra = [cell for position, cell in enumerate(cells) if position >= len(header) and cell.strip()]
        if extra:
            errors.append(
                RowError(number, "", f"This row has {len(cells)} cells; the header names {len(header)}.")
            )
        values = {
            name: cells[position] if position < len(cells) else "" for position, name in columns.items()
        }
        rows.append(Row(number, values, spelled))
    return Table(rows, errors, missing)


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing aliases: a spreadsheet's rows need none, and a few nested aliases expand
    into billions of values (a "YAML bomb")."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "uses an alias (*name): write each value out", event.start_mark
            )
        return super().compose_node(parent, index)


def _read_yaml(text: str, sheet: Sheet) -> Table:
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader: plain data only)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or "not valid YAML"
        raise _refused(f"The file cannot be read as YAML{where}: {problem}.")
    except RecursionError:
        raise _refused("The file cannot be read as YAML: it is nested too deeply.")
    if data is None:
        return Table([], [])
    if isinstance(data, dict) and set(data) == {"rows"}:
        data = data["rows"]
    if not isinstance(data, list):
        raise _refused(
            "Give a list of rows, one mapping of column: value per row (or a mapping rows: [...])."
        )
    if len(data) > MAX_ROWS:
        raise _too_many()
    errors: list[RowError] = []
    rows = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            errors.append(RowError(number, "", "Give the row as a mapping of column: value."))
            continue
        values: dict[str, object] = {}
        spelled: dict[str, str] = {}
        unread: set[str] = set()
        for key, value in item.items():
            title = _scalar_text(key)
            name = sheet.column(title) if title is not None else None
            if name is None:
                errors.append(RowError(number, str(title or "?")[:80], _unknown(sheet)))
            elif name in spelled:
                errors.append(RowError(number, title, f"Repeats the column “{spelled[name]}”."))
            else:
                value, error = _yaml_value(sheet.by_name[name], value)
                spelled[name] = title
                if error:
                    errors.append(RowError(number, title, error))
                    unread.add(name)
                else:
                    values[name] = value
        rows.append(Row(number, values, spelled, frozenset(unread)))
    return Table(rows, errors)


def _unknown(sheet: Sheet) -> str:
    return f"Not a column of {sheet.label.lower()}s. The columns are: " + ", ".join(sheet.header()) + "."


_SCALARS = (str, int, float, bool, date)


def _scalar_text(value) -> str | None:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _yaml_value(column: Field, value) -> tuple[object, str]:
    """YAML's own types, as the column reads them: `yes` is a boolean and 2026-01-15 a date to YAML,
    42 a number; a text column takes them as written. Nested lists and mappings are refused before
    anything reads them whole."""
    if value is None:
        return None, ""
    if column.type == MULTI and isinstance(value, list):
        if not all(isinstance(part, _SCALARS) for part in value):
            return None, "Give a list of names."
        return [_scalar_text(part) for part in value], ""
    if not isinstance(value, _SCALARS):
        return None, "Give one value here, not a list or a mapping."
    if column.type in (INT, YESNO, DATE) or isinstance(value, str):
        return value, ""
    return _scalar_text(value), ""


# --- Storing the rows


def import_rows(*, review: Review, actor, sheet: Sheet, table: Table, file_name: str) -> list[Evidence]:
    """Every row of `table` as evidence of the review, through the service that adds one by hand, in one
    transaction with one audit event for the import; or, when any row or the file is wrong, nothing, and
    ImportRefused with every error."""
    errors = list(table.errors)
    stored: list[Evidence] = []
    with transaction.atomic():
        try:
            review = services._locked_review(review, actor)
        except ServiceError as err:
            raise ImportRefused([RowError(0, "", message) for message in err.messages])
        seen: dict[tuple, int] = {}
        for row in table.rows:
            clean, row_errors = _clean(sheet, row.values)
            for name, message in row_errors.items():
                if name in row.unread or (name in table.missing and message == "Required."):
                    continue  # said already: for the cell as it was read, or once for the header
                errors.append(RowError(row.number, _spelled(sheet, row, name), message))
            if row_errors or row.unread:
                continue
            key = tuple(_normal(str(clean.get(name) or "")) for name in sheet.key)
            if any(key):
                if key in seen:
                    errors.append(
                        RowError(row.number, _spelled(sheet, row, sheet.key[0]), f"Repeats row {seen[key]}.")
                    )
                    continue
                seen[key] = row.number
            try:
                stored.append(_store(review=review, actor=actor, sheet=sheet, clean=clean, raw=row.values))
            except ServiceError as err:
                for name, messages in _by_field(err).items():
                    for message in messages:
                        errors.append(RowError(row.number, _spelled(sheet, row, name), message))
        if errors:
            transaction.set_rollback(True)
        else:
            audit.record(
                actor=actor,
                action="evidence.import",
                obj=review,
                review=review,
                after={"kind": sheet.kind, "rows": len(stored), "file": file_name.replace("\x00", "")[:200]},
            )
    if errors:
        raise ImportRefused(errors)
    return stored


def import_file(*, review: Review, actor, kind: str, file_name: str, content: bytes) -> list[Evidence]:
    """Read and store a file of `kind` (see `read` and `import_rows`)."""
    sheet = sheet_for(kind)
    table = read(name=file_name, content=content, sheet=sheet)
    return import_rows(review=review, actor=actor, sheet=sheet, table=table, file_name=file_name)


def _clean(sheet: Sheet, raw: dict) -> tuple[dict, dict[str, str]]:
    """The row's values checked column by column (a declared kind's own `clean`, its checks across
    fields included): every error, by column."""
    spec = kinds.get(sheet.kind)
    values: dict = {}
    errors: dict[str, str] = {}
    if spec is not None:
        values, errors = spec.clean({k: v for k, v in raw.items() if k != "url"})
        columns = [sheet.by_name["url"]]
    else:
        columns = list(sheet.columns)
    for column in columns:
        value, error = column.clean(raw.get(column.name))
        if not error and column.required and column.is_empty(value):
            error = "Required."
        if error:
            errors[column.name] = error
        values[column.name] = value
    return values, errors


def _store(*, review: Review, actor, sheet: Sheet, clean: dict, raw: dict) -> Evidence:
    # The service runs in a savepoint of the import's transaction: a row it refuses leaves nothing behind.
    values = {name: value for name, value in raw.items() if name != "url"}
    return typed.add_record(review=review, actor=actor, kind=sheet.kind, url=clean["url"], **values)


def _by_field(err: ServiceError) -> dict[str, list[str]]:
    if hasattr(err, "error_dict"):
        return {("" if name == "__all__" else name): messages for name, messages in err.message_dict.items()}
    return {"": err.messages}


def _spelled(sheet: Sheet, row: Row, name: str) -> str:
    """A column as the file names it; one it does not have by its label; "" for the row as a whole."""
    if name in row.spelled:
        return row.spelled[name]
    column = sheet.by_name.get(name)
    return column.label if column is not None else name


# --- Templates: a header row and one example row per kind


def _recent(days: int) -> str:
    return (timezone.localdate() - timedelta(days=days)).isoformat()


EXAMPLES: dict[str, dict[str, str]] = {
    "invariant": {
        "invariant": "A closed case cannot receive a new decision.",
        "rule_type": "Workflow transition",
        "enforced_by": "State transition transaction + CHECK on case status",
        "in_database": "Yes",
        "constraint": "cases_closed_has_no_decision",
        "failure": "A decision after closure; an audit dispute.",
        "test": "Concurrent transition test + negative SQL test",
        "sql_check": "closed cases with decisions",
    },
    "write_path": {
        "command": "CloseCase",
        "tables": "cases, case_events, outbox",
        "invariants": "A case closes once; no decision after closure.",
        "transaction": "One transaction: lock the case, insert the event and the outbox row.",
        "idempotency": "Idempotency key per request; a replay returns the first result.",
        "lock_order": "cases row, then case_events",
        "isolation": "Read committed",
        "retry": "Serialization and deadlock errors, 3 times with jitter: the transaction rolls back whole.",
        "after_commit": "GET /cases/{id}/closure returns the stored result.",
        "events": "CaseClosed through the outbox",
        "failure": "Nothing: the transaction rolls back whole.",
    },
    "concurrency_test": {
        "scenario": "Same command retried 10 times",
        "write_path": "CloseCase",
        "result": "Passed",
        "ran_on": "",  # filled in when the template is made: a week ago
    },
    "signal": {
        "area": "Locking",
        "signals": "Lock wait time, blocked sessions, deadlocks",
        "source": "Prometheus postgres_exporter",
        "baseline": "Lock wait p95 under 50 ms",
        "owner": "dba-team",
    },
    "dashboard": {
        "dashboard": "Locks and contention",
        "name": "Cases DB: locks",
        "link": "https://grafana.example.com/d/locks",
        "owner": "dba-team",
    },
    "alert_rule": {
        "name": "Write latency over SLO",
        "condition": "Write p95 > SLO for 10 min AND active connections > baseline p95",
        "impact": "Case updates time out for investigators",
        "threshold_basis": "An SLO",
        "runbook_link": "https://wiki.example.com/runbooks/lock-storm",
        "dashboard_link": "https://grafana.example.com/d/locks",
        "escalation": "DBA on-call, then the platform lead",
    },
    "privacy_field": {
        "table": "public.customers",
        "column": "email",
        "classification": "Confidential",
        "contains_pii": "Yes",
        "purpose": "Sending case notifications",
        "retention": "2 years after the account closes",
        "legal_hold": "A hold blocks the purge",
        "masking": "Masked in the warehouse and the logs",
        "export_policy": "Not allowed",
        "downstream": "Warehouse (masked), search",
        "erasure": "Anonymize",
    },
    RUNBOOK: {
        "name": "Lock storm on the cases database",
        "covers": "Lock storm or deadlock spike",
        "severity": "SEV2",
        "symptoms": "Write p95 over the SLO; blocked sessions climbing",
        "dashboards": "https://grafana.example.com/d/locks",
        "diagnostic_queries": "SELECT pid, pg_blocking_pids(pid), wait_event, query FROM pg_stat_activity",
        "immediate_safe_actions": "Pause the backfill job; shed the export traffic",
        "actions_requiring_approval": "Terminating sessions other than the backfill",
        "actions_forbidden": "Restarting the primary",
        "rollback_recovery": "Resume the backfill at half the batch size",
        "communication": "Status page after 15 minutes; the case team's channel",
        "evidence_to_capture": "pg_locks and pg_stat_activity snapshots",
        "postmortem_questions": "Which lock order was broken, and by which release?",
        "owner": "dba-team",
        "last_tested": "",  # filled in when the template is made: a month ago
        "url": "https://wiki.example.com/runbooks/lock-storm",
    },
}


def _example_value(column: Field) -> str:
    """For a kind without a written example: a value its column accepts."""
    if column.type in (CHOICE, MULTI):
        return column.choices[0][1]
    if column.type == YESNO:
        return "Yes"
    if column.type == INT:
        return str(max(column.min_value, 1))
    if column.type == DATE:
        return _recent(7)
    if column.type == URL:
        return "https://example.com/"
    return column.help.removeprefix("e.g. ").rstrip(".") if column.help.startswith("e.g. ") else column.label


def template_rows(kind: str) -> list[list[str]]:
    """The header and one example row of a file of `kind`, which imports as it is."""
    sheet = sheet_for(kind)
    example = dict(EXAMPLES.get(kind) or {c.name: _example_value(c) for c in sheet.columns if c.required})
    if kind == "concurrency_test":
        example["ran_on"] = _recent(7)
    if kind == RUNBOOK:
        example["last_tested"] = _recent(30)
    return [sheet.header(), [example.get(c.name, "") for c in sheet.columns]]


def template_csv(kind: str) -> str:
    out = io.StringIO()
    csv_export.writer(out).writerows(template_rows(kind))
    return out.getvalue()


def importable() -> list[tuple[str, str]]:
    """(kind, what the file holds) for the page's choice."""
    return [(kind, f"{sheet.label}s") for kind, sheet in SHEETS.items()]


__all__ = [
    "MAX_BYTES",
    "MAX_ROWS",
    "SHEETS",
    "ImportRefused",
    "RowError",
    "import_file",
    "import_rows",
    "read",
    "template_csv",
]
