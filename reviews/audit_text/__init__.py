"""The audit trail in words: each AuditEvent as a sentence ("Ada Lovelace raised the P1 “No PITR” in
Backup, restore & DR") with its changes as labelled before → after values, ids resolved to names.

`describe(events)` reads the names of everything the events point at (`names.load_names`: at most one
query per kind, whatever the number of events); `describe_event(event, names)` is the pure part, one
sentence per action (`sentences`), tested per action."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import evidence_events, probe_events, review_events  # noqa: F401  (importing registers their sentences)
from .actions import ACTION_NAMES, action_choices
from .names import Names, load_names
from .sentences import NOBODY, SENTENCES, Event, Said, generic
from .values import cut, label_of, value_text

__all__ = [
    "ACTION_NAMES",
    "NOBODY",
    "Change",
    "Entry",
    "Names",
    "action_choices",
    "describe",
    "describe_event",
    "load_names",
    "value_text",
]


@dataclass
class Change:
    field: str
    label: str
    before: str
    after: str


@dataclass
class Entry:
    """One event as the pages show it."""

    event: Any
    who: str
    sentence: str
    changes: list[Change] = field(default_factory=list)
    details: list[tuple[str, str]] = field(default_factory=list)  # what a creation or deletion held

    @property
    def text(self) -> str:
        """The whole entry on one line (the CSV's summary)."""
        parts = [f"{c.label}: {c.before} → {c.after}" for c in self.changes]
        parts += [f"{name}: {value}" for name, value in self.details]
        return self.sentence + (". " + "; ".join(parts) if parts else "")


# --- Putting it together


def _changes(e: Event, said: Said) -> list[Change]:
    hidden = said.told | said.quiet
    out = []
    for key in [*e.before, *(k for k in e.after if k not in e.before)]:
        if key in hidden:
            continue
        was, now = e.before.get(key), e.after.get(key)
        if was == now:
            continue
        out.append(
            Change(
                field=key,
                label=label_of(key),
                before=value_text(key, was, object_type=e.ev.object_type, names=e.names),
                after=value_text(key, now, object_type=e.ev.object_type, names=e.names),
            )
        )
    return out


def _details(e: Event, said: Said, data: dict) -> list[tuple[str, str]]:
    hidden = said.told | said.quiet
    return [
        (label_of(key), value_text(key, value, object_type=e.ev.object_type, names=e.names))
        for key, value in data.items()
        if key not in hidden and value not in (None, "", {}, [])
    ]


def describe_event(ev, names: Names) -> Entry:
    """One event in words: its sentence, its changes (an update: fields that differ, before → after) or
    its details (a creation or deletion: what it held, beyond the sentence)."""
    e = Event(ev, names)
    builder = SENTENCES.get(ev.action, generic)
    try:
        said = builder(e)
    except (KeyError, TypeError, ValueError, AttributeError):  # an old event of another shape: still read
        said = generic(e)
    if e.before and e.after and not ev.action.startswith("decision."):
        changes, details = _changes(e, said), []
    else:
        changes, details = [], _details(e, said, e.after or e.before)
    if ev.action.startswith("decision.") and e.after.get("reason"):
        details = [(label, value) for label, value in details if label != "reason"] + [
            ("chair’s reason", cut(e.after["reason"]))
        ]
    return Entry(event=ev, who=e.who, sentence=said.sentence, changes=changes, details=details)


def describe(events: Iterable) -> list[Entry]:
    """Events in words, the names they need read in bulk (a constant number of queries)."""
    events = list(events)
    names = load_names(events)
    return [describe_event(ev, names) for ev in events]
