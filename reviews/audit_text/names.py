"""What the audit events point at, by name: people, categories, reviews, teams, systems, evidence,
findings, probe targets and checklist items, read in at most one query per kind."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from .. import labels

# Fields whose value is the id of a person, a category, a review, …: resolved to a name.
PERSON_FIELDS = {
    "added_by",
    "answered_by",
    "approver",
    "chair",
    "confirmed_by",
    "created_by",
    "decided_by",
    "edited_by",
    "owner",
    "proposed_by",
    "requested_by",
    "signer",
    "started_by",
    "user",
}
CATEGORY_FIELDS = {"category"}
REVIEW_FIELDS = {"review", "from_review", "resolved_in_review"}
TEAM_FIELDS = {"team"}
SYSTEM_FIELDS = {"system"}
EVIDENCE_FIELDS = {"evidence"}
FINDING_FIELDS = {"finding", "from_finding", "resolved_by_finding"}
TARGET_FIELDS = {"target"}


@dataclass
class Names:
    """Display names by id (and categories and systems also by code and slug). Missing ones fall back to
    "#id", so an event whose object is gone still reads."""

    users: dict[int, str] = field(default_factory=dict)
    categories: dict[Any, str] = field(default_factory=dict)
    reviews: dict[int, str] = field(default_factory=dict)
    teams: dict[int, str] = field(default_factory=dict)
    systems: dict[Any, str] = field(default_factory=dict)
    evidence: dict[int, str] = field(default_factory=dict)
    findings: dict[int, str] = field(default_factory=dict)
    targets: dict[int, str] = field(default_factory=dict)
    items: dict[int, str] = field(default_factory=dict)  # checklist answer id → its item's text

    def user(self, value) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, int):
            return self.users.get(value, f"user #{value}")
        return str(value)  # a username, where an event kept one

    def lookup(self, kind: str, value) -> str:
        if value is None or value == "":
            return ""
        table = getattr(self, kind)
        return table.get(value) or (f"#{value}" if isinstance(value, int) else str(value))


def _ids(values: Iterable) -> set[int]:
    return {v for v in values if isinstance(v, int) and not isinstance(v, bool)}


def _texts(values: Iterable) -> set[str]:
    return {v for v in values if isinstance(v, str) and v}


def load_names(events: list) -> Names:
    """Everything the events name, in one query per kind of thing that occurs (none for absent kinds)."""
    from django.contrib.auth import get_user_model

    from evidence.models import Evidence

    from ..models import Category, ChecklistAnswer, Finding, Review, System, Team

    wanted: dict[str, list] = {}
    for ev in events:
        for data in (ev.before, ev.after):
            if not isinstance(data, dict):
                continue
            for key, value in data.items():
                wanted.setdefault(key, []).append(value)
    users = _ids(ev.actor_id for ev in events)
    for key in PERSON_FIELDS:
        users |= _ids(wanted.get(key, ()))
    names = Names()
    if users:
        names.users = {
            pk: labels.full_name(first, last, username)
            for pk, first, last, username in get_user_model()
            .objects.filter(pk__in=users)
            .values_list("pk", "first_name", "last_name", "username")
        }
    category_values = [v for k in CATEGORY_FIELDS for v in wanted.get(k, ())]
    if category_values:
        ids, codes = _ids(category_values), _texts(category_values)
        for pk, code, name in (
            Category.objects.filter(Q(pk__in=ids) | Q(code__in=codes))
            .order_by("version__number")
            .values_list("pk", "code", "name")
        ):
            names.categories[pk] = name
            names.categories[code] = name  # by code: the newest catalogue's name
    simple = (
        ("reviews", REVIEW_FIELDS, Review.objects, "release_scope"),
        ("teams", TEAM_FIELDS, Team.objects, "name"),
        ("evidence", EVIDENCE_FIELDS, Evidence.objects, "title"),
        ("targets", TARGET_FIELDS, None, "name"),
    )
    for kind, keys, manager, column in simple:
        ids = _ids(v for k in keys for v in wanted.get(k, ()))
        if not ids:
            continue
        if manager is None:
            from probes.models import ProbeTarget

            manager = ProbeTarget.objects
        setattr(names, kind, dict(manager.filter(pk__in=ids).values_list("pk", column)))
    system_values = [v for k in SYSTEM_FIELDS for v in wanted.get(k, ())]
    if system_values:
        for pk, slug, name in System.objects.filter(
            Q(pk__in=_ids(system_values)) | Q(slug__in=_texts(system_values))
        ).values_list("pk", "slug", "name"):
            names.systems[pk] = names.systems[slug] = name
    finding_ids = _ids(v for k in FINDING_FIELDS for v in wanted.get(k, ()))
    if finding_ids:
        names.findings = {
            pk: f"{level} “{title}”"
            for pk, level, title in Finding.objects.filter(pk__in=finding_ids).values_list(
                "pk", "level", "title"
            )
        }
    answers = {
        int(ev.object_id) for ev in events if ev.action == "checklist.answer" and ev.object_id.isdigit()
    }
    if answers:
        names.items = dict(ChecklistAnswer.objects.filter(pk__in=answers).values_list("pk", "item__text"))
    return names
