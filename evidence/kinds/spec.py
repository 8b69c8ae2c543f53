"""One declarative description per kind of typed record: its fields, how its values are checked, its
verdict, its freshness, its title and summary. Services, forms, API schemas, imports and the decision
record all read the same description (evidence.kinds.KINDS), so a kind is declared once.

Pure Python: no Django import here, so the rules are tested without a database.

Values travel in three shapes:
- raw: what a form, a JSON payload or a spreadsheet row gives (strings, numbers, booleans, lists);
- clean: `Spec.clean(raw)` checks and converts them, and lists every error by field;
- stored: the clean values as JSON (dates as ISO text), which is what verdicts and summaries read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from ..verdict import Verdict

LINE, TEXT, CHOICE, MULTI, YESNO, INT, DATE, URL = (
    "line",
    "text",
    "choice",
    "multi",
    "yesno",
    "int",
    "date",
    "url",
)
TYPES = (LINE, TEXT, CHOICE, MULTI, YESNO, INT, DATE, URL)

YES, NO = "yes", "no"
YESNO_CHOICES = ((YES, "Yes"), (NO, "No"))

# Spreadsheet spellings of yes and no.
_YES_WORDS = {"yes", "y", "true", "1", "x"}
_NO_WORDS = {"no", "n", "false", "0"}

MAX_INT = 2_147_483_647


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
    min_value: int = 0
    max_value: int = MAX_INT
    # Asked for, but a record without it is kept as incomplete rather than refused (the verdict says so).
    wanted: bool = False

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
        return str(value)

    def clean(self, raw) -> tuple[object, str]:
        """(the stored value, "" or the error). An empty value is None for a number or a date, [] for a
        list, "" for the rest; whether it may be empty is the caller's question."""
        if self.type == MULTI:
            return self._clean_multi(raw)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return (None if self.type in (INT, DATE) else ""), ""
        if self.type == INT:
            return self._clean_int(raw)
        if self.type == DATE:
            return self._clean_date(raw)
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

    def is_empty(self, value) -> bool:
        return value in (None, "", [])


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
    check: Callable[[dict], dict[str, str]] | None = None  # checks across fields: {field: error}
    max_age_days: int | None = 365
    shows: frozenset[str] = frozenset({"control"})
    failing_level: str | None = None  # the finding a failing record opens; None: it never fails
    observed: str = ""  # the DATE field that says when it was observed; "" means when it was added
    url_required: bool = False
    importable: bool = False  # rows of it come in from spreadsheets (evidence.imports)
    key: tuple[str, ...] = ()  # the fields that name one row of the inventory, e.g. (table, column)
    description: str = ""  # one sentence for forms and the API
    article: str = ""  # "the" for a record a system has one of; "" for a or an
    extra: Mapping[str, object] = field(default_factory=dict)

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
        """(stored values, {field: error}). Every field is checked; unknown names are errors."""
        values: dict = {}
        errors: dict[str, str] = {}
        for name in raw:
            if name not in self.by_name:
                errors[name] = f"{self.label} has no field {name!r}."
        for f in self.fields:
            value, error = f.clean(raw.get(f.name))
            if not error and f.required and not f.wanted and f.is_empty(value):
                error = "Required."
            if error:
                errors[f.name] = error
            values[f.name] = value
        if not errors and self.check is not None:
            errors.update(self.check(values))
        return values, errors

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
        """The stored values for the decision record: text (no floats), lists as lists."""
        out: dict = {}
        for f in self.fields:
            value = data.get(f.name)
            if f.type == MULTI:
                out[f.name] = list(value or [])
            elif value is None:
                out[f.name] = None
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


def short(text: str, limit: int = 80) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
