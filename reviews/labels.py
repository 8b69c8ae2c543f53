"""Words for the codes the app stores: one place that turns an enumeration value, a probe id, a user or an
age into what pages, the PDF and the CSV show people (the models' TextChoices labels where there are)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache

from django.utils import timezone

# Where a finding came from, as a page says it beside the finding ("Person" alone read as a field name).
FINDING_ORIGIN = {
    "manual": "Raised by a person",
    "probe": "From a probe",
    "checklist": "From the checklist",
    "evidence": "From failed evidence",
}

# A gate reason's status, for a screen reader and the PDF's "item by item" table.
REASON_STATUS = {
    "blocks": "Blocks",
    "exception": "On an exception",
    "pending": "Not yet known",
    "met": "Met",
}


@cache
def _vocabularies() -> dict[str, dict[str, str]]:
    # Imported here: reviews is imported by the other apps' models, which this module reads.
    from evidence.models import EvidenceKind, MigrationPhase, Pagination
    from probes.models import Environment, ResultStatus, RunState

    from .gate import GateOutcome
    from .models import (
        Answer,
        ExceptionState,
        FindingStatus,
        Level,
        LooseningKind,
        LooseningState,
        Outcome,
        Resolution,
        ReviewState,
        Role,
    )

    def of(choices) -> dict[str, str]:
        return {str(value): str(label) for value, label in choices.choices}

    outcomes = of(Outcome)
    return {
        "evidence_kind": of(EvidenceKind),
        "migration_phase": of(MigrationPhase),
        "pagination": of(Pagination),
        "environment": of(Environment),
        "result_status": of(ResultStatus),
        "run_state": of(RunState),
        "answer": of(Answer),
        "exception_state": of(ExceptionState),
        "finding_status": of(FindingStatus),
        "level": of(Level),
        "loosening_kind": of(LooseningKind),
        "loosening_state": of(LooseningState),
        "outcome": {**outcomes, GateOutcome.INCOMPLETE.value: "Not yet decidable"},
        "resolution": of(Resolution),
        "review_state": of(ReviewState),
        "role": of(Role),
        "finding_origin": FINDING_ORIGIN,
        "reason_status": REASON_STATUS,
    }


def humanize(code) -> str:
    """A code nobody labelled, readable: "capacity_envelope" → "Capacity envelope"."""
    text = str(code).replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:]


def label(vocabulary: str, value) -> str:
    """The label of `value` in a vocabulary ("evidence_kind", "outcome", "role", …); an unknown value
    readable all the same; "" for no value."""
    if value is None or value == "":
        return ""
    value = getattr(value, "value", value)
    words = _vocabularies().get(vocabulary)
    if words is None:
        raise KeyError(f"no vocabulary {vocabulary!r}")
    return words.get(str(value)) or humanize(value)


@cache
def _probe_titles() -> dict[str, str]:
    from probes.registry import all_probes

    return {p.id: p.title for p in all_probes()}


def probe_title(probe_id: str, default: str = "") -> str:
    """A probe's title ("Index usage") for its id ("query-index.index-usage"); an invariant check, which
    has no entry in the registry, by `default` or "Invariant check"."""
    title = _probe_titles().get(probe_id)
    if title:
        return title
    if default:
        return default
    return "Invariant check" if probe_id.startswith("invariant.") else humanize(probe_id.rsplit(".", 1)[-1])


def finding_origin(finding) -> str:
    """Where a finding came from: "Raised by a person", "From probe “SSL for client connections”", …"""
    if finding.source == "probe" and finding.probe_key:
        probe_id = finding.probe_key.split(":", 1)[0]
        if not probe_id.startswith("invariant."):
            return f"From probe “{probe_title(probe_id)}”"
        return "From an invariant check"
    return label("finding_origin", finding.source)


def person_name(user) -> str:
    """A user's full name, else their username; "" for nobody."""
    if user is None or user == "":
        return ""
    return user.get_full_name() or user.get_username()


def full_name(first: str, last: str, username: str) -> str:
    """What person_name says, from the columns (for lists read with values_list)."""
    return f"{first} {last}".strip() or username


def age(moment: datetime | date | None, now: datetime | None = None, *, suffix: str = "old") -> str:
    """How long ago, read naturally: "just now", "5 minutes old", "3 days old", "2 weeks old",
    "4 months old" (suffix "ago" for events)."""
    if moment is None:
        return ""
    now = now or timezone.now()
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, datetime.min.time(), tzinfo=now.tzinfo)
    elif timezone.is_naive(moment) and timezone.is_aware(now):
        moment = timezone.make_aware(moment)
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        return "just now"
    for unit, size, until in (
        ("minute", 60, 3600),
        ("hour", 3600, 86400),
        ("day", 86400, 14 * 86400),
        ("week", 7 * 86400, 61 * 86400),
        ("month", 30.44 * 86400, 730 * 86400),
        ("year", 365.25 * 86400, None),
    ):
        if until is None or seconds < until:
            n = int(seconds // size)
            return f"{n} {unit}{'' if n == 1 else 's'} {suffix}"
    return ""  # not reached


def isotime(value):
    """An ISO 8601 time as "2026-11-25 14:03 UTC"; a date, or anything else, unchanged."""
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        return value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(value) -> str:
    """A duration as "45 s", "43 min" or "2 h 03 min" (seconds, or a timedelta)."""
    if isinstance(value, timedelta):
        value = int(round(value.total_seconds()))
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        return "" if value is None else str(value)
    if value < 60:
        return f"{value} s"
    minutes = round(value / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
