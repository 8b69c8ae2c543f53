"""One stored value of an audit event as a person reads it, with its field's label."""

from __future__ import annotations

import re

from .. import labels
from ..models import AGENDA_STEPS
from .names import (
    CATEGORY_FIELDS,
    EVIDENCE_FIELDS,
    FINDING_FIELDS,
    PERSON_FIELDS,
    REVIEW_FIELDS,
    SYSTEM_FIELDS,
    TARGET_FIELDS,
    TEAM_FIELDS,
    Names,
)

TEXT_MAX = 160  # longer texts are cut in a change or a detail

FIELD_LABELS = {
    "answer": "answer",
    "compensating_control": "compensating control",
    "connection_changed": "connection changed",
    "current_step": "meeting step",
    "db_user": "database role",
    "dbname": "database",
    "decision_note": "note on the decision",
    "due_date": "due date",
    "evidence_note": "evidence note",
    "expires_at": "expiry",
    "from_level": "level before",
    "from_status": "status before",
    "idempotency_key": "idempotency key",
    "max_age_days": "stale after (days)",
    "next_review": "next review",
    "next_review_date": "next review date",
    "observed_at": "observed",
    "production_traffic": "production traffic",
    "release_scope": "release scope",
    "resolution_note": "resolution note",
    "revoked_at": "revoked",
    "row_cap": "row limit",
    "schedule_hours": "schedule (hours)",
    "schema_changing": "schema-changing",
    "scope_notes": "scope notes",
    "scope_read": "may read",
    "scope_run_probes": "may run probes",
    "scope_write_evidence": "may add evidence",
    "shows": "what it shows",
    "signed_at": "signed",
    "signed_digest": "digest of the signed terms",
    "slug": "short name",
    "source_of_truth": "source of truth",
    "sql": "SQL",
    "sslmode": "SSL mode",
    "to_level": "level after",
    "to_resolution": "resolution after",
    "to_status": "status after",
    "token_name": "API token",
    "url": "link",
}

# The vocabulary (reviews.labels) of a field that holds a code, by field, or by field and object type.
FIELD_VOCABULARY = {
    "answer": "answer",
    "environment": "environment",
    "from_status": "finding_status",
    "to_status": "finding_status",
    "gate_outcome": "outcome",
    "outcome": "outcome",
    "resolution": "resolution",
    "to_resolution": "resolution",
    "role": "role",
    "source": "finding_origin",
}
TYPED_VOCABULARY = {
    ("state", "reviews.riskexception"): "exception_state",
    ("state", "reviews.review"): "review_state",
    ("state", "reviews.loosening"): "loosening_state",
    ("state", "probes.proberun"): "run_state",
    ("status", "reviews.finding"): "finding_status",
    ("kind", "evidence.evidence"): "evidence_kind",
    ("kind", "reviews.loosening"): "loosening_kind",
}

ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
HEX_DIGEST = re.compile(r"^[0-9a-f]{40,64}$")


def cut(text: str, limit: int = TEXT_MAX) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _moment(text: str) -> str:
    """An ISO time as "2027-01-02 13:14 UTC" (a date stays a date)."""
    return labels.isotime(text)


def value_text(key: str, value, *, object_type: str = "", names: Names | None = None) -> str:
    """One stored value as a person reads it; "—" for none."""
    names = names or Names()
    if value is None or value == "" or value == {} or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key in PERSON_FIELDS:
        return names.user(value) or "—"
    if key in CATEGORY_FIELDS:
        return names.lookup("categories", value)
    if key in REVIEW_FIELDS:
        return f"“{names.lookup('reviews', value)}”"
    if key in TEAM_FIELDS:
        return names.lookup("teams", value)
    if key in SYSTEM_FIELDS:
        return names.lookup("systems", value)
    if key in EVIDENCE_FIELDS:
        return f"“{names.lookup('evidence', value)}”"
    if key in FINDING_FIELDS:
        return names.lookup("findings", value)
    if key in TARGET_FIELDS:
        return names.lookup("targets", value)
    if key == "current_step" and isinstance(value, int) and 1 <= value <= len(AGENDA_STEPS):
        return f"{value}. {AGENDA_STEPS[value - 1]}"
    if key == "probe_run":
        return f"#{value}"
    if key == "probe_id":
        return labels.probe_title(str(value))
    vocabulary = TYPED_VOCABULARY.get((key, object_type)) or FIELD_VOCABULARY.get(key)
    if vocabulary and isinstance(value, str):
        return labels.label(vocabulary, value)
    if isinstance(value, dict):
        return cut("; ".join(f"{label_of(k)} {value_text(k, v, names=names)}" for k, v in value.items()))
    if isinstance(value, list):
        return cut(", ".join(value_text(key, v, object_type=object_type, names=names) for v in value))
    if isinstance(value, str):
        if ISO_DATETIME.match(value):
            return _moment(value)
        if HEX_DIGEST.match(value):
            return value[:12] + "…"
        return cut(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def label_of(key: str) -> str:
    return FIELD_LABELS.get(key) or key.replace("_", " ")
