"""One declarative description per kind of typed record: its fields, how its values are checked, its
verdict, its freshness, its title and summary. Services, forms, API schemas, imports and the decision
record all read the same description (evidence.kinds.KINDS), so a kind is declared once.

Pure Python: no Django import here, so the rules are tested without a database.

Values travel in three shapes:
- raw: what a form, a JSON payload or a spreadsheet row gives (strings, numbers, booleans, lists,
  dates and aware datetimes);
- clean: `Spec.clean(raw)` checks and converts them, and lists every error by field;
- stored: the clean values as JSON (dates and times as ISO text), which is what verdicts and summaries
  read.

A kind is kept in one of two places: the JSON of an `evidence.models.Record` (the inventories declared in
evidence.kinds.declared), or a model of its own (`Spec.model`, the measured records of
evidence.kinds.measured: restore drills, load tests …), whose columns are its fields. `Spec.python` turns
stored values into the columns' Python values, `Spec.read` a model row back into stored values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from ..verdict import Verdict

LINE, TEXT, CHOICE, MULTI, YESNO, INT, DATE, URL, FLOAT, DATETIME, BOOL = (
    "line",
    "text",
    "choice",
    "multi",
    "yesno",
    "int",
    "date",
    "url",
    "float",
    "datetime",
    "bool",
)
TYPES = (LINE, TEXT, CHOICE, MULTI, YESNO, INT, DATE, URL, FLOAT, DATETIME, BOOL)
# Types whose empty value is None rather than "" or [].
_NONE_WHEN_EMPTY = (INT, FLOAT, DATE, DATETIME, BOOL)

YES, NO = "yes", "no"
YESNO_CHOICES = ((YES, "Yes"), (NO, "No"))

# Spreadsheet spellings of yes and no.
_YES_WORDS = {"yes", "y", "true", "1", "x"}
_NO_WORDS = {"no", "n", "false", "0"}
# A ticked box: what an HTML checkbox posts.
_ON, _OFF = "on", "off"

MAX_INT = 2_147_483_647
# Measurements above this are typing mistakes, not measurements.
MAX_MEASUREMENT = 1e12
# Times outside these years are typing mistakes (and some do not fit the database once made UTC).
FIRST_YEAR, LAST_YEAR = 1970, 2100
# A comma in a number only as a thousands separator: "1,234.5" but not "1,5".
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")


@dataclass(frozen=True)
class Field:
    """One value of a typed record."""

    name: str
    label: str
    type: str = LINE
    required: bool = True
    help: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    max_length: int = 0  # 0: 200 for a line, 5,000 for a text, 500 for a URL
    min_value: int | float = 0  # for a number (int or float)
    max_value: int | float = MAX_INT
    # Asked for, but a record without it is kept as incomplete rather than refused (the verdict says so).
    wanted: bool = False
    empty: str = ""  # for a choice that may be left empty: the words for no choice, e.g. "Another runbook"

    def __post_init__(self):
        if self.type not in TYPES:
            raise ValueError(f"unknown field type {self.type!r}")
        if self.type in (CHOICE, MULTI) and not self.choices:
            raise ValueError(f"{self.name}: a choice needs its choices")

    @property
    def limit(self) -> int:
        return self.max_length or {TEXT: 5000, URL: 500}.get(self.type, 200)

    @property
    def all_choices(self) -> tuple[tuple[str, str], ...]:
        return YESNO_CHOICES if self.type == YESNO else self.choices

    def label_of(self, value) -> str:
        """The words for a stored value: a choice's label, a list's labels joined, yes/no."""
        if value in (None, "", []):
            return ""
        names = dict(self.all_choices)
        if self.type == MULTI:
            return ", ".join(names.get(v, v) for v in value)
        if self.type in (CHOICE, YESNO):
            return names.get(value, value)
        if self.type == BOOL:
            return "Yes" if value else "No"
        if self.type == FLOAT:
            return _number(value)
        return str(value)

    def clean(self, raw) -> tuple[object, str]:
        """(the stored value, "" or the error). An empty value is None for a number, a date, a time or a
        yes/no box, [] for a list, "" for the rest; whether it may be empty is the caller's question."""
        if self.type == MULTI:
            return self._clean_multi(raw)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return (None if self.type in _NONE_WHEN_EMPTY else ""), ""
        if self.type == INT:
            return self._clean_int(raw)
        if self.type == FLOAT:
            return self._clean_float(raw)
        if self.type == DATE:
            return self._clean_date(raw)
        if self.type == DATETIME:
            return self._clean_datetime(raw)
        if self.type == BOOL:
            return self._clean_bool(raw)
        if self.type == YESNO:
            if isinstance(raw, bool):
                return (YES if raw else NO), ""
            word = str(raw).strip().lower()
            if word in _YES_WORDS:
                return YES, ""
            if word in _NO_WORDS:
                return NO, ""
            return "", "Answer yes or no."
        if not isinstance(raw, str):
            return "", "Give text."
        value = raw.strip() if self.type in (LINE, CHOICE, URL) else raw.strip("\n\r")
        if self.type == CHOICE:
            return self._clean_choice(value)
        if len(value) > self.limit:
            return "", f"At most {self.limit:,} characters."
        if self.type == URL and not (value.startswith("https://") or value.startswith("http://")):
            return "", "Give a full http:// or https:// address."
        if "\x00" in value:
            return "", "Text cannot hold a NUL character."
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate ("\ud800" in JSON): PostgreSQL refuses it
                return "", "Text must be valid Unicode."
        return value, ""

    def _clean_choice(self, value: str) -> tuple[str, str]:
        by_label = {label.lower(): code for code, label in self.choices}
        codes = {code for code, _ in self.choices}
        if value in codes:
            return value, ""
        if value.lower() in by_label:  # a spreadsheet may say "Serializable" for serializable
            return by_label[value.lower()], ""
        return "", "Choose one of: " + ", ".join(code for code, _ in self.choices) + "."

    def _clean_multi(self, raw) -> tuple[list[str], str]:
        if raw is None or raw == "":
            return [], ""
        if isinstance(raw, str):
            raw = [part for part in raw.replace(";", ",").split(",")]
        if not isinstance(raw, list | tuple):
            return [], "Give a list."
        chosen = []
        for part in raw:
            if not isinstance(part, str):
                return [], "Give a list of names."
            if not part.strip():
                continue
            code, error = self._clean_choice(part.strip())
            if error:
                return [], error
            if code not in chosen:
                chosen.append(code)
        order = [code for code, _ in self.choices]
        return sorted(chosen, key=order.index), ""

    def _clean_int(self, raw) -> tuple[int | None, str]:
        if isinstance(raw, bool):
            return None, "Give a whole number."
        if isinstance(raw, float):
            if not math.isfinite(raw) or raw != int(raw):
                return None, "Give a whole number."
            raw = int(raw)
        if isinstance(raw, str):
            try:
                raw = int(raw.strip().replace(",", "").replace("_", ""))
            except ValueError:
                return None, "Give a whole number."
        if not isinstance(raw, int):
            return None, "Give a whole number."
        if not self.min_value <= raw <= self.max_value:
            return None, f"Give a number from {self.min_value:,} to {self.max_value:,}."
        return raw, ""

    def _clean_date(self, raw) -> tuple[str | None, str]:
        if isinstance(raw, datetime):
            return raw.date().isoformat(), ""
        if isinstance(raw, date):
            return raw.isoformat(), ""
        if not isinstance(raw, str):  # 20261120 reads as a date once it is text: a number is not one
            return None, "Give a date as YYYY-MM-DD."
        try:
            return date.fromisoformat(str(raw).strip()).isoformat(), ""
        except ValueError:
            return None, "Give a date as YYYY-MM-DD."

    def _clean_float(self, raw) -> tuple[float | None, str]:
        wrong = None, "Give a number."
        if isinstance(raw, bool):
            return wrong
        if isinstance(raw, str):
            text = raw.strip().replace("_", "")
            if "," in text:
                if not _THOUSANDS.match(text):
                    return None, "Give a number with a point for decimals, e.g. 1234.5."
                text = text.replace(",", "")
            try:
                raw = float(text)
            except ValueError:
                return wrong
        if isinstance(raw, int):
            try:
                raw = float(raw)
            except OverflowError:
                return wrong
        if not isinstance(raw, float) or not math.isfinite(raw):
            return wrong
        if not self.min_value <= raw <= self.max_value:
            return None, f"Give a number from {_number(self.min_value)} to {_number(self.max_value)}."
        return raw, ""

    def _clean_datetime(self, raw) -> tuple[str | None, str]:
        if isinstance(raw, str):
            try:
                raw = datetime.fromisoformat(raw.strip())
            except ValueError:
                return None, "Give a time as YYYY-MM-DDTHH:MM with its offset, e.g. 2026-03-31T14:30+02:00."
        if not isinstance(raw, datetime):
            return None, "Give a date and a time."
        if raw.utcoffset() is None:
            return None, "Give the time with its offset from UTC, e.g. 2026-03-31T14:30+02:00."
        if not FIRST_YEAR <= raw.year <= LAST_YEAR:
            return None, f"Give a time between {FIRST_YEAR} and {LAST_YEAR}."
        return raw.isoformat(), ""

    def _clean_bool(self, raw) -> tuple[bool | None, str]:
        if isinstance(raw, bool):
            return raw, ""
        word = str(raw).strip().lower()
        if word in _YES_WORDS or word == _ON:
            return True, ""
        if word in _NO_WORDS or word == _OFF:
            return False, ""
        return None, "Answer yes or no."

    def is_empty(self, value) -> bool:
        return value in (None, "", [])

    def python(self, value):
        """The stored value as its column holds it: a date or an aware datetime for those types."""
        if value is None:
            return None
        if self.type == DATE:
            return date.fromisoformat(value)
        if self.type == DATETIME:
            return datetime.fromisoformat(value)
        return value

    def stored(self, value):
        """A column's value as it is stored (the inverse of `python`)."""
        if self.type == DATETIME and isinstance(value, datetime):
            return value.isoformat()
        if self.type == DATE and isinstance(value, date):
            return value.isoformat()
        if self.type == FLOAT and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value


@dataclass(frozen=True)
class Spec:
    """A kind of typed record, declared once."""

    kind: str  # the EvidenceKind value, e.g. "invariant"
    label: str  # "Invariant"
    plural: str  # "Invariants"
    category: str  # the catalogue code it is evidence for
    step: int  # the meeting step that walks it
    guide: str  # its place in the guide (guide.links key)
    fields: tuple[Field, ...]
    title: Callable[[dict], str]  # the evidence's title, from stored values
    summary: Callable[[dict], str]  # one line of what it says, from stored values
    judge: Callable[[dict], Verdict] | None = None  # beyond the wanted fields; None: nothing more
    # Checks across fields: {field: error}. They see None (or "") for a value that is empty or in error.
    check: Callable[[dict], dict[str, str]] | None = None
    max_age_days: int | None = 365
    shows: frozenset[str] = frozenset({"control"})
    failing_level: str | None = None  # the finding a failing record opens; None: it never fails
    observed: str = ""  # the DATE or DATETIME field that says when it was observed; "": when it was added
    # What is said when the observed field is in the future.
    future: str = "Evidence cannot come from the future."
    url_required: bool = False
    url_label: str = "Link"  # the form's label of the link, e.g. "Link to the report"
    # The evidence's title may be given (a `title` beside the fields); empty, it is `title(values)`.
    titled: bool = False
    importable: bool = False  # rows of it come in from spreadsheets (evidence.imports)
    key: tuple[str, ...] = ()  # the fields that name one row of the inventory, e.g. (table, column)
    description: str = ""  # one sentence for forms and the API
    article: str = ""  # "the" for a record a system has one of; "" for a or an
    extra: Mapping[str, object] = field(default_factory=dict)
    # Where it is kept: "" in a Record's JSON; else the related name on Evidence of its own model (e.g.
    # "restore_drill"), whose columns are its fields, named as the fields unless `columns` renames them.
    model: str = ""
    columns: Mapping[str, str] = field(default_factory=dict)
    # Its audit event beside "evidence.add": the action and what it records, from the stored values and
    # the row written (a model row or the Record). None: the kind, its verdict and why. "": no event.
    audit: str = "evidence.record"
    audit_after: Callable[[dict, object], dict] | None = None

    @property
    def add_title(self) -> str:
        """ "Record an invariant", "Record the recovery objectives"."""
        article = self.article or ("an" if self.label[0].lower() in "aeiou" else "a")
        return f"Record {article} {self.label.lower()}"

    @property
    def by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def clean(self, raw: Mapping) -> tuple[dict, dict[str, str]]:
        """(stored values, {field: error}). Every field is checked; unknown names are errors. The checks
        across fields (`check`) run too, on what could be read (a value in error is None or empty), and
        speak only of fields not already in error."""
        values: dict = {}
        errors: dict[str, str] = {}
        for name in raw:
            if name not in self.by_name:
                errors[name] = f"{self.label} has no field {name!r}."
        for f in self.fields:
            value, error = f.clean(raw.get(f.name))
            if not error and f.type == BOOL and value is None and not f.required:
                value = False  # a box left unticked
            if not error and f.required and not f.wanted and f.is_empty(value):
                error = "Required."
            if error:
                errors[f.name] = error
            values[f.name] = value
        if self.check is not None:
            for name, error in self.check(values).items():
                errors.setdefault(name, error)
        return values, errors

    @property
    def stored_in_record(self) -> bool:
        return not self.model

    def column(self, name: str) -> str:
        return self.columns.get(name, name)

    def python(self, data: Mapping) -> dict:
        """{column: value} of a model-kept kind: the stored values as its columns hold them."""
        return {self.column(f.name): f.python(data.get(f.name)) for f in self.fields}

    def read(self, row) -> dict:
        """The stored values of a model row (an object with the columns as attributes)."""
        return {f.name: f.stored(getattr(row, self.column(f.name))) for f in self.fields}

    def verdict(self, data: Mapping) -> Verdict:
        """Failing (from `judge`), else incomplete when a wanted field is empty, else complete."""
        judged = self.judge(dict(data)) if self.judge is not None else None
        if judged is not None and not judged.supports and not judged.incomplete:
            return judged
        missing = [f.label.lower() for f in self.fields if f.wanted and f.is_empty(data.get(f.name))]
        if missing:
            why = "does not say " + _joined(missing)
            if judged is not None and not judged.supports:
                why = f"{why}; {judged.why}"
            return Verdict(False, why, incomplete=True)
        return judged if judged is not None else Verdict(True)

    def texts(self, data: Mapping) -> dict[str, str | list[str] | None]:
        """The stored values for the decision record: text (no floats: 1800.0 is "1800"), lists as lists,
        yes/no boxes as booleans."""
        out: dict = {}
        for f in self.fields:
            value = data.get(f.name)
            if f.type == MULTI:
                out[f.name] = list(value or [])
            elif value is None or f.type == BOOL:
                out[f.name] = value
            elif f.type == FLOAT:
                out[f.name] = str(int(value)) if float(value).is_integer() else repr(float(value))
            else:
                out[f.name] = str(value)
        return out

    def rows(self, data: Mapping) -> list[tuple[str, str]]:
        """(label, words) for each value given, in the declared order: for pages and the PDF."""
        return [
            (f.label, f.label_of(data.get(f.name))) for f in self.fields if not f.is_empty(data.get(f.name))
        ]


def _joined(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def _number(value: float) -> str:
    """1800.0 as "1,800", 99.5 as "99.5", 1e12 as "1,000,000,000,000"."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,}"


def moment(value: str | None) -> datetime | None:
    """A stored DATETIME value as an aware datetime."""
    return datetime.fromisoformat(value) if value else None


def short(text: str, limit: int = 80) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
