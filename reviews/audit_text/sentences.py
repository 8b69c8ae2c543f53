"""How an audit action becomes a sentence ("Linus Pauling signed the exception for the P1 “Backfill …”"):
the event as the builders see it, the registry they join with @says, the admin's sentences, and a
readable one for an action nobody wrote a sentence for. The others are in review_events,
evidence_events and probe_events."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .. import labels
from .names import Names
from .values import cut, value_text

NOBODY = "Readiness"  # who did what nobody did by hand: the worker, the scheduler, a command

# What an object type is called in a sentence about it.
OBJECT_NAMES = {
    "reviews.team": "team",
    "reviews.membership": "membership",
    "reviews.installationauditor": "installation-wide auditor",
    "sso.grouprolemapping": "group role mapping",
    "reviews.system": "system",
    "reviews.catalogueversion": "catalogue version",
    "reviews.category": "category",
    "reviews.checklistitem": "checklist item",
    "reviews.review": "review",
    "reviews.categoryscore": "score",
    "reviews.checklistanswer": "checklist answer",
    "reviews.finding": "finding",
    "reviews.loosening": "loosening",
    "reviews.riskexception": "exception",
    "reviews.claim": "claim",
    "reviews.decision": "decision",
    "reviews.auditevent": "audit trail",
    "evidence.evidence": "evidence",
    "probes.probetarget": "probe target",
    "probes.invariantcheck": "invariant check",
    "probes.proberun": "probe run",
    "api.apitoken": "API token",
}
VERBS = {"create": "added", "update": "edited", "delete": "deleted", "add": "added"}

LEVEL_TITLE = re.compile(r"^(P[0-3]) (.+)$", re.S)


@dataclass
class Said:
    """What a sentence builder returns: the sentence, the fields it told (not repeated below it), and
    fields not worth listing at all."""

    sentence: str
    told: frozenset[str] = frozenset()
    quiet: frozenset[str] = frozenset()


class Event:
    """An event with the helpers the sentence builders use."""

    def __init__(self, ev, names: Names):
        self.ev = ev
        self.names = names
        self.before = ev.before if isinstance(ev.before, dict) else {}
        self.after = ev.after if isinstance(ev.after, dict) else {}
        self.who = names.user(ev.actor_id) if ev.actor_id else NOBODY
        self.repr = ev.object_repr or ""

    def get(self, key, default=None):
        """The value after the event, else before it."""
        if key in self.after:
            return self.after[key]
        return self.before.get(key, default)

    def text(self, key) -> str:
        return value_text(key, self.get(key), object_type=self.ev.object_type, names=self.names)

    def quoted(self, text: str) -> str:
        return f"“{cut(text, 120)}”"

    def finding(self) -> str:
        """The finding an event is about: "the P1 “Backfill in one transaction”"."""
        level, title = self.get("level"), self.get("title")
        if not (level and title):
            match = LEVEL_TITLE.match(strip_prefix(self.repr, "Exception for "))
            level, title = (match.group(1), match.group(2)) if match else ("", self.repr)
        return f"the {level} {self.quoted(title)}" if level else self.quoted(title)

    def category(self) -> str:
        value = self.get("category")
        return value_text("category", value, names=self.names) if value not in (None, "") else ""

    def by_run(self) -> str:
        """Who did it, for what a probe run did: "Probe run #3 (started by Mia Hamm)"."""
        run = self.get("probe_run")
        if run is None:
            return self.who
        return f"Probe run #{run}" + (f" (started by {self.who})" if self.ev.actor_id else "")


def strip_prefix(text: str, prefix: str) -> str:
    return text[len(prefix) :] if text.startswith(prefix) else text


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


SENTENCES: dict[str, Callable[[Event], Said]] = {}


def says(*actions: str):
    def register(fn: Callable[[Event], Said]):
        for action in actions:
            SENTENCES[action] = fn
        return fn

    return register


def said(sentence: str, told: Iterable[str] = (), quiet: Iterable[str] = ()) -> Said:
    return Said(sentence, frozenset(told), frozenset(quiet))


# API tokens and the admin


@says("api_token.create", "api_token.revoke")
def _api_token(e: Event) -> Said:
    verb = "created" if e.ev.action.endswith("create") else "revoked"
    return said(f"{e.who} {verb} the API token {e.quoted(e.get('name') or e.repr)}", ["name"], ["revoked_at"])


@says("membership.create", "membership.update", "membership.delete")
def _membership(e: Event) -> Said:
    user, team = e.text("user"), e.text("team")
    # A role set at single sign-on from the provider's groups claim (sso.services) says so.
    via = ", from the groups the single sign-on provider sent" if e.get("via") == "groups claim" else ""
    told = ["user", "team", "role", "via"]
    if e.ev.action.endswith("delete"):
        return said(f"{e.who} removed {user} from {team}{via}", told)
    role = e.text("role")
    if e.ev.action.endswith("update") and e.before.get("role") != e.after.get("role"):
        was = value_text("role", e.before.get("role"))
        return said(f"{e.who} changed the role of {user} in {team}: {was} → {role}{via}", told)
    return said(f"{e.who} made {user} {role} of {team}{via}", told)


@says("grouprolemapping.create", "grouprolemapping.update", "grouprolemapping.delete")
def _group_role_mapping(e: Event) -> Said:
    group, team = e.quoted(str(e.get("group") or "")), e.text("team")
    if e.ev.action.endswith("delete"):
        return said(f"{e.who} deleted the single sign-on mapping of the group {group} to {team}", ["group"])
    if e.ev.action.endswith("update"):
        return said(f"{e.who} edited the single sign-on mapping of the group {group}")
    return said(f"{e.who} mapped the group {group} to {e.text('role')} of {team}", ["group", "team", "role"])


@says("installationauditor.create", "installationauditor.delete")
def _installation_auditor(e: Event) -> Said:
    user = e.text("user")
    if e.ev.action.endswith("delete"):
        return said(f"{e.who} withdrew the installation-wide auditor role of {user}", ["user", "granted_at"])
    return said(f"{e.who} made {user} an installation-wide auditor", ["user", "granted_at"])


def generic(e: Event) -> Said:
    """An action nobody wrote a sentence for: what was done to what, and which fields changed."""
    thing, _, verb = e.ev.action.rpartition(".")
    what = OBJECT_NAMES.get(e.ev.object_type) or labels.humanize(thing or e.ev.object_type).lower()
    name = f" {e.quoted(e.repr)}" if e.repr else ""
    if verb in VERBS:
        return said(f"{e.who} {VERBS[verb]} the {what}{name}", ["name"])
    return said(f"{e.who}: {labels.humanize(verb or thing).lower()}, {what}{name}")
