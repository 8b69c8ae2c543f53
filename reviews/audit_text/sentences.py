"""One sentence per audit action ("Linus Pauling signed the exception for the P1 “Backfill …”"), and a
readable one for an action nobody wrote a sentence for."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .. import labels
from ..models import AGENDA_STEPS
from .names import Names
from .values import cut, label_of, value_text

NOBODY = "Readiness"  # who did what nobody did by hand: the worker, the scheduler, a command

# What an object type is called in a sentence about it.
OBJECT_NAMES = {
    "reviews.team": "team",
    "reviews.membership": "membership",
    "reviews.installationauditor": "installation-wide auditor",
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
            match = LEVEL_TITLE.match(_strip(self.repr, "Exception for "))
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


def _strip(text: str, prefix: str) -> str:
    return text[len(prefix) :] if text.startswith(prefix) else text


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


SENTENCES: dict[str, Callable[[Event], Said]] = {}


def says(*actions: str):
    def register(fn: Callable[[Event], Said]):
        for action in actions:
            SENTENCES[action] = fn
        return fn

    return register


def _said(sentence: str, told: Iterable[str] = (), quiet: Iterable[str] = ()) -> Said:
    return Said(sentence, frozenset(told), frozenset(quiet))


# Systems, reviews, the meeting


@says("system.create", "system.update")
def _system(e: Event) -> Said:
    verb = "added" if e.ev.action.endswith("create") else "edited"
    return _said(f"{e.who} {verb} the system {e.quoted(e.get('name') or e.repr)}", ["name"], ["slug"])


@says("review.start")
def _review_start(e: Event) -> Said:
    sentence = f"{e.who} started the review {e.quoted(e.get('release_scope') or e.repr)}"
    carried = e.get("carried") or {}
    parts = [
        f"{n} {what if n == 1 else plural}"
        for key, what, plural in (
            ("findings", "finding", "findings"),
            ("exceptions", "exception", "exceptions"),
            ("evidence", "evidence item", "evidence items"),
        )
        if (n := carried.get(key))
    ]
    if parts:
        sentence += ", carrying over " + ", ".join(parts) + " from the last decision"
    return _said(sentence, ["release_scope", "carried"], ["state", "current_step"])


@says("review.update")
def _review_update(e: Event) -> Said:
    return _said(f"{e.who} edited the scope of the review {e.quoted(e.get('release_scope') or e.repr)}")


@says("review.overdue")
def _review_overdue(e: Event) -> Said:
    days = e.get("days_overdue")
    system = e.text("system") if e.get("system") else e.repr
    when = f", due {e.text('next_review')}" if e.get("next_review") else ""
    late = f" {days} day{'' if days == 1 else 's'}" if isinstance(days, int) else ""
    return _said(
        f"The next review of {system} is{late} overdue{when}", ["system", "days_overdue", "next_review"]
    )


@says("meeting.step")
def _meeting_step(e: Event) -> Said:
    step = e.after.get("current_step")
    opened = e.before.get("state") not in (None, "in_meeting") and e.after.get("state") == "in_meeting"
    verb = "opened the meeting at" if opened else "moved the meeting to"
    if not isinstance(step, int) or not 1 <= step <= len(AGENDA_STEPS):
        return _said(f"{e.who} {verb} step {step}", ["current_step", "state"])
    return _said(f"{e.who} {verb} step {step}: {AGENDA_STEPS[step - 1]}", ["current_step", "state"])


# Scores and the checklist


def _score_category(e: Event) -> str:
    match = re.match(r"^(.*): \d+$", e.repr)
    return match.group(1) if match else e.repr


@says("score.set")
def _score(e: Event) -> Said:
    category = _score_category(e)
    if not e.before:
        return _said(f"{e.who} scored {category} {e.after.get('score')}", ["score"])
    if e.before.get("score") != e.after.get("score"):
        return _said(
            f"{e.who} changed the score of {category}: {e.before.get('score')} → {e.after.get('score')}",
            ["score"],
        )
    return _said(f"{e.who} updated the score of {category} ({e.after.get('score')})", ["score"])


@says("checklist.answer")
def _answer(e: Event) -> Said:
    item = e.names.items.get(int(e.ev.object_id)) if e.ev.object_id.isdigit() else None
    item = item or e.repr.rsplit(":", 1)[0]
    item = e.quoted(item.rstrip("."))
    if not e.before:
        return _said(f"{e.who} answered {item}: {e.text('answer')}", ["answer"])
    if e.before.get("answer") != e.after.get("answer"):
        was = value_text("answer", e.before.get("answer"))
        return _said(f"{e.who} changed the answer to {item}: {was} → {e.text('answer')}", ["answer"])
    return _said(f"{e.who} updated the answer to {item} ({e.text('answer')})", ["answer"])


# Findings


def _loosened(e: Event) -> str:
    """A finding changed through a confirmed loosening says whose proposal it was."""
    if e.after.get("confirmed_by") is None:
        return ""
    proposer = e.names.user(e.after.get("proposed_by"))
    return f", as {proposer} proposed and {e.names.user(e.after['confirmed_by'])} confirmed"


LOOSENING_CHAIN = ("loosening", "proposed_by", "confirmed_by", "reason")
FINDING_TOLD = ("level", "title", "category")


@says("finding.add")
def _finding_add(e: Event) -> Said:
    where = f" in {e.category()}" if e.get("category") else ""
    return _said(
        f"{e.by_run()} raised {e.finding()}{where}",
        [*FINDING_TOLD, "probe_run"],
        ["status", "resolution", "resolution_note", "probe_key"],
    )


@says("finding.open")
def _finding_open(e: Event) -> Said:
    where = f" in {e.category()}" if e.get("category") else ""
    origin = {"checklist": " (a critical checklist item answered No)", "evidence": " (evidence that failed)"}
    return _said(
        f"{e.who} opened {e.finding()}{where}{origin.get(e.get('source'), '')}",
        [*FINDING_TOLD, "source"],
        ["status", "resolution", "resolution_note"],
    )


@says("finding.reopen")
def _finding_reopen(e: Event) -> Said:
    return _said(f"{e.by_run()} reopened {e.finding()}", ["status", "probe_run"], ["probe_key"])


@says("finding.update", "finding.regrade", "finding.resolve")
def _finding_update(e: Event) -> Said:
    b, a = e.before, e.after
    extra = ["probe_run", *LOOSENING_CHAIN]
    quiet = ["probe_key"]
    if b.get("level") and a.get("level") and b["level"] != a["level"]:
        title = e.quoted(a.get("title") or e.repr)
        sentence = f"{e.by_run()} regraded {title} from {b['level']} to {a['level']}"
        return _said(sentence + _loosened(e), ["level", *extra], quiet)
    status_was, status = b.get("status"), a.get("status")
    if status != status_was and status == "resolved":
        how = {"fixed": " as fixed", "not_an_issue": " as not an issue"}.get(a.get("resolution") or "", "")
        why = f": {a['reason']}" if e.ev.action == "finding.resolve" and a.get("reason") else ""
        sentence = f"{e.by_run()} resolved {e.finding()}{how}{why}"
        return _said(sentence + _loosened(e), ["status", "resolution", *extra], quiet)
    if status != status_was and status == "accepted":
        return _said(f"{e.who} closed {e.finding()} as accepted" + _loosened(e), ["status", *extra], quiet)
    if status != status_was and status == "open":
        return _said(f"{e.by_run()} reopened {e.finding()}", ["status", *extra], quiet)
    return _said(f"{e.by_run()} edited {e.finding()}" + _loosened(e), extra, quiet)


@says("finding.carry")
def _finding_carry(e: Event) -> Said:
    return _said(
        f"{e.who} carried {e.finding()} over from the review {e.text('from_review')}",
        ["from_review", "from_finding", "level", "status"],
    )


@says("finding.resolve_later")
def _finding_resolve_later(e: Event) -> Said:
    return _said(
        f"{_capital(e.finding())} was resolved later, in the review {e.text('resolved_in_review')}",
        ["resolved_in_review", "resolved_by_finding", "resolved_at"],
    )


@says("claim.add")
def _claim(e: Event) -> Said:
    return _said(f"{e.who} added the claim {e.quoted(e.get('claim') or e.repr)}", ["claim"])


# Loosening


def _loosening_summary(e: Event) -> str:
    kind = e.get("kind")
    title = e.repr
    for label in labels._vocabularies()["loosening_kind"].values():
        title = _strip(title, f"{label} of ")
    match = LEVEL_TITLE.match(title)
    level, title = (match.group(1), match.group(2)) if match else (e.get("from_level") or "", title)
    quoted = e.quoted(title)
    if kind == "lower_level":
        return f"lower {quoted} from {e.get('from_level')} to {e.get('to_level')}"
    what = "accepted" if kind == "accept" else "not an issue"
    lowered = (
        f" at {e.get('to_level')}" if e.get("to_level") and e.get("to_level") != e.get("from_level") else ""
    )
    return f"close the {level} {quoted} as {what}{lowered}"


LOOSENING_TERMS = ("kind", "from_level", "from_status", "to_level", "to_status", "to_resolution", "finding")


@says("loosening.propose")
def _loosening_propose(e: Event) -> Said:
    return _said(f"{e.who} proposed to {_loosening_summary(e)}", LOOSENING_TERMS, ["state", "proposed_by"])


@says("loosening.confirm", "loosening.reject", "loosening.withdraw")
def _loosening_decide(e: Event) -> Said:
    verb = {"confirm": "confirmed", "reject": "rejected", "withdraw": "withdrew"}[
        e.ev.action.rsplit(".", 1)[1]
    ]
    proposer = e.names.user(e.get("proposed_by"))
    whose = "their own" if e.ev.action.endswith("withdraw") else f"{proposer}’s"
    return _said(
        f"{e.who} {verb} {whose} proposal to {_loosening_summary(e)}",
        [*LOOSENING_TERMS, "state", "decided_by", "proposed_by", "reason"],
    )


# Exceptions


def _exception_of(e: Event) -> str:
    return f"the exception for {e.finding()}"


EXCEPTION_QUIET = ("state", "signer", "signed_at", "signed_digest")


@says("exception.request")
def _exception_request(e: Event) -> Said:
    until = f" until {e.text('expires_at')}" if e.get("expires_at") else ""
    return _said(f"{e.who} requested an exception for {e.finding()}{until}", ["expires_at"], EXCEPTION_QUIET)


@says("exception.sign", "exception.reject", "exception.revoke")
def _exception_decide(e: Event) -> Said:
    verb = {"sign": "signed", "reject": "rejected", "revoke": "revoked"}[e.ev.action.rsplit(".", 1)[1]]
    until = f", valid until {e.text('expires_at')}" if verb == "signed" and e.get("expires_at") else ""
    return _said(f"{e.who} {verb} {_exception_of(e)}{until}", ["expires_at"], EXCEPTION_QUIET)


@says("exception.edit")
def _exception_edit(e: Event) -> Said:
    return _said(f"{e.who} edited the terms of {_exception_of(e)}", (), EXCEPTION_QUIET)


@says("exception.void")
def _exception_void(e: Event) -> Said:
    why = f" ({e.after['why']})" if e.after.get("why") else ""
    return _said(f"{e.who} voided the signature on {_exception_of(e)}{why}", ["why"], EXCEPTION_QUIET)


@says("exception.expire")
def _exception_expire(e: Event) -> Said:
    return _said(
        f"{_capital(_exception_of(e))} expired on {e.text('expires_at')}",
        ["expires_at"],
        EXCEPTION_QUIET,
    )


@says("exception.carry")
def _exception_carry(e: Event) -> Said:
    signer = f", signed by {e.text('signer')}" if e.get("signer") else ""
    return _said(
        f"{e.who} carried {_exception_of(e)} over from the review {e.text('from_review')}{signer},"
        f" until {e.text('expires_at')}",
        ["from_review", "from_exception", "signer", "expires_at"],
    )


# Decisions and the audit trail itself


@says("decision.record", "decision.import")
def _decision(e: Event) -> Said:
    outcome, gate = e.after.get("outcome"), e.after.get("gate_outcome")
    verb = "imported an earlier decision" if e.ev.action.endswith("import") else "recorded the decision"
    stricter = (
        f", stricter than the gate’s {labels.label('outcome', gate)}" if gate and gate != outcome else ""
    )
    return _said(
        f"{e.who} {verb}: {labels.label('outcome', outcome)}{stricter}",
        ["outcome", "gate_outcome"],
        ["recorded_at"],
    )


@says("decision.download")
def _decision_download(e: Event) -> Said:
    fmt = str(e.after.get("format") or "").upper()
    return _said(
        f"{e.who} downloaded the decision record{f' ({fmt})' if fmt else ''}", ["format"], ["digest"]
    )


@says("decision.pdf")
def _decision_pdf(e: Event) -> Said:
    pages, size = e.after.get("pages"), e.after.get("size")
    facts = []
    if isinstance(pages, int):
        facts.append(f"{pages} page{'' if pages == 1 else 's'}")
    if isinstance(size, int):
        facts.append(f"{size / 1024:.0f} KB")
    tail = f" ({', '.join(facts)})" if facts else ""
    return _said(f"{e.who} rendered the decision record as a PDF{tail}", ["pages", "size"], ["render_ms"])


@says("audit.export")
def _audit_export(e: Event) -> Said:
    what = "the audit trail of this review" if e.ev.review_id else "the audit trail"
    filters = e.after.get("filters") or {}
    told = ", ".join(f"{label_of(k)} {v}" for k, v in filters.items() if v and k != "page")
    return _said(
        f"{e.who} exported {what} as {str(e.after.get('format') or 'CSV').upper()}"
        + (f", filtered by {told}" if told else ""),
        ["format", "filters"],
    )


@says("audit.redact")
def _audit_redact(e: Event) -> Said:
    n = len(e.after.get("events") or [])
    why = f": {e.after['reason']}" if e.after.get("reason") else ""
    return _said(f"{e.who} redacted {n} audit event{'' if n == 1 else 's'}{why}", ["events", "reason"])


# Evidence


def _kind(e: Event) -> str:
    return labels.label("evidence_kind", e.get("kind")).lower() or "evidence"


@says("evidence.add", "api.evidence.add")
def _evidence_add(e: Event) -> Said:
    title = e.quoted(e.get("title") or e.repr)
    where = f" to {e.category()}" if e.get("category") else ""
    if e.ev.action.startswith("api."):
        token = f" (token {e.quoted(e.after['token_name'])})" if e.after.get("token_name") else ""
        return _said(f"{e.who} added the evidence {title} through the API{token}", ["token_name"], ["token"])
    if e.get("probe_id"):
        return _said(
            f"{e.by_run()} added the result of the probe {e.quoted(e.text('probe_id'))}{where}",
            ["title", "kind", "category", "probe_run", "probe_id"],
            ["notes", "url", "file", "shows", "observed_at"],
        )
    return _said(f"{e.who} added the {_kind(e)} {title}{where}", ["title", "kind", "category"])


@says("evidence.carry")
def _evidence_carry(e: Event) -> Said:
    return _said(
        f"{e.who} carried the evidence {e.quoted(e.repr)} over from the review {e.text('from_review')}",
        ["from_review", "from_evidence"],
    )


@says("evidence.restore_drill")
def _restore_drill(e: Event) -> Said:
    facts = []
    for key, name in (("rpo_minutes", "RPO"), ("rto_minutes", "RTO")):
        minutes = e.after.get(key)
        if isinstance(minutes, int | float):
            facts.append(f"{name} {labels.duration(round(minutes * 60))}")
    if "passed" in e.after:
        facts.append("passed" if e.after["passed"] else "did not pass")
    return _said(
        f"{e.who} recorded the restore drill {e.quoted(e.repr)}" + (f": {', '.join(facts)}" if facts else ""),
        ["rpo_minutes", "rto_minutes", "passed"],
    )


@says("evidence.runbook_test")
def _runbook_test(e: Event) -> Said:
    verdict = ""
    if "passed" in e.after:
        verdict = ": it worked as written" if e.after["passed"] else ": it did not work as written"
    name = e.after.get("runbook") or e.repr
    return _said(
        f"{e.who} recorded a test of the runbook {e.quoted(name)}{verdict}",
        ["runbook", "passed"],
        ["linked_runbook"],
    )


@says("evidence.migration_rehearsal")
def _migration_rehearsal(e: Event) -> Said:
    facts = []
    if isinstance(e.after.get("runtime_seconds"), int):
        facts.append(f"ran {labels.duration(e.after['runtime_seconds'])}")
    if isinstance(e.after.get("longest_lock_ms"), int | float):
        facts.append(f"longest lock {e.after['longest_lock_ms']:g} ms")
    if "validation_passed" in e.after:
        facts.append("validated" if e.after["validation_passed"] else "validation failed")
    name = e.after.get("migration") or e.repr
    return _said(
        f"{e.who} recorded a rehearsal of the migration {e.quoted(name)}"
        + (f": {', '.join(facts)}" if facts else ""),
        ["migration", "runtime_seconds", "longest_lock_ms", "validation_passed"],
    )


@says("evidence.load_test")
def _load_test(e: Event) -> Said:
    facts = [f"{k.split('_')[0]} {e.after[k]} ms" for k in ("p50_ms", "p95_ms", "p99_ms") if e.after.get(k)]
    if "passed" in e.after:
        facts.append("p95 within target" if e.after["passed"] else "p95 over its target")
    return _said(
        f"{e.who} recorded the load test {e.quoted(e.repr)}" + (f": {', '.join(facts)}" if facts else ""),
        ["p50_ms", "p95_ms", "p99_ms", "passed"],
    )


@says("evidence.stale")
def _evidence_stale(e: Event) -> Said:
    days = e.after.get("max_age_days")
    older = f": older than {days} days" if days else ""
    return _said(
        f"The {_kind(e)} {e.quoted(e.repr)} went stale{older}",
        ["kind", "category", "max_age_days", "stale_at", "observed_at"],
    )


@says("evidence.download")
def _evidence_download(e: Event) -> Said:
    file = f"the file {e.quoted(e.after['file'])} of " if e.after.get("file") else "the file of "
    return _said(f"{e.who} downloaded {file}the evidence {e.quoted(e.repr)}", ["file"])


# Probes


def _target(e: Event) -> str:
    return e.quoted(e.get("name") or e.repr.split(" · ", 1)[-1])


@says("probe_target.create", "probe_target.update")
def _probe_target(e: Event) -> Said:
    verb = "registered" if e.ev.action.endswith("create") else "edited"
    connection = ", with new connection details" if e.after.get("connection_changed") else ""
    return _said(f"{e.who} {verb} the probe target {_target(e)}{connection}", ["name", "connection_changed"])


@says("probe_target.test_request")
def _probe_target_test_request(e: Event) -> Said:
    return _said(f"{e.who} asked for a connection test of {_target(e)}")


@says("probe_target.test")
def _probe_target_test(e: Event) -> Said:
    told = ["ok", "server_version", "current_user", "is_superuser", "error"]
    if e.after.get("ok"):
        version = f" to PostgreSQL {e.after['server_version']}" if e.after.get("server_version") else ""
        role = f" as {e.after['current_user']}" if e.after.get("current_user") else ""
        superuser = ", a superuser" if e.after.get("is_superuser") else ""
        return _said(f"The connection test of {_target(e)} connected{version}{role}{superuser}", told)
    error = f": {cut(e.after['error'])}" if e.after.get("error") else ""
    return _said(f"The connection test of {_target(e)} failed{error}", told)


@says("probe_target.rotate_secret")
def _probe_target_rotate(e: Event) -> Said:
    return _said(f"{e.who} re-encrypted the credentials of the probe target {_target(e)}")


@says("invariant.create", "invariant.delete")
def _invariant(e: Event) -> Said:
    verb = "added" if e.ev.action.endswith("create") else "deleted"
    return _said(f"{e.who} {verb} the invariant check {e.quoted(e.get('name') or e.repr)}", ["name"])


@says("probe_run.start", "probe_run.schedule", "api.probe_run.start")
def _probe_run_start(e: Event) -> Said:
    run = _lower_first(e.repr) or "a probe run"
    review = f" for the review {e.text('review')}" if e.get("review") else ""
    if e.ev.action == "probe_run.schedule":
        return _said(f"The schedule started {run}{review}", ["target", "review"])
    api = ""
    if e.ev.action.startswith("api."):
        api = " through the API" + (
            f" (token {e.quoted(e.after['token_name'])})" if e.after.get("token_name") else ""
        )
    return _said(f"{e.who} started {run}{review}{api}", ["target", "review", "token_name"], ["token"])


def _run(e: Event) -> str:
    return e.repr or "A probe run"


@says("probe_run.finish")
def _probe_run_finish(e: Event) -> Said:
    results = e.after.get("results") or {}
    words = {"pass": "passed", "fail": "failed", "warn": "warned", "skipped": "skipped", "error": "errors"}
    counts = [
        f"{results[k]} {words[k]}" for k in ("pass", "fail", "warn", "skipped", "error") if results.get(k)
    ]
    applied = "; results applied to the review" if e.after.get("applied_to_review") else ""
    state = e.after.get("state")
    verb = "finished" if state in (None, "done") else labels.label("run_state", state).lower()
    return _said(
        f"{_run(e)} {verb}" + (f": {', '.join(counts)}" if counts else "") + applied,
        ["state", "results", "applied_to_review"],
    )


@says("probe_run.fail")
def _probe_run_fail(e: Event) -> Said:
    error = f": {cut(e.after['error'])}" if e.after.get("error") else ""
    return _said(f"{_run(e)} failed{error}", ["state", "error"])


@says("probe_run.requeue")
def _probe_run_requeue(e: Event) -> Said:
    attempt = f" (attempt {e.after['attempt']})" if e.after.get("attempt") else ""
    reason = f": {e.after['reason']}" if e.after.get("reason") else ""
    return _said(f"{_run(e)} was queued again{attempt}{reason}", ["attempt", "reason"])


# API tokens and the admin


@says("api_token.create", "api_token.revoke")
def _api_token(e: Event) -> Said:
    verb = "created" if e.ev.action.endswith("create") else "revoked"
    return _said(
        f"{e.who} {verb} the API token {e.quoted(e.get('name') or e.repr)}", ["name"], ["revoked_at"]
    )


@says("membership.create", "membership.update", "membership.delete")
def _membership(e: Event) -> Said:
    user, team = e.text("user"), e.text("team")
    if e.ev.action.endswith("delete"):
        return _said(f"{e.who} removed {user} from {team}", ["user", "team", "role"])
    role = e.text("role")
    if e.ev.action.endswith("update") and e.before.get("role") != e.after.get("role"):
        was = value_text("role", e.before.get("role"))
        return _said(
            f"{e.who} changed the role of {user} in {team}: {was} → {role}", ["user", "team", "role"]
        )
    return _said(f"{e.who} made {user} {role} of {team}", ["user", "team", "role"])


@says("installationauditor.create", "installationauditor.delete")
def _installation_auditor(e: Event) -> Said:
    user = e.text("user")
    if e.ev.action.endswith("delete"):
        return _said(f"{e.who} withdrew the installation-wide auditor role of {user}", ["user", "granted_at"])
    return _said(f"{e.who} made {user} an installation-wide auditor", ["user", "granted_at"])


def generic(e: Event) -> Said:
    """An action nobody wrote a sentence for: what was done to what, and which fields changed."""
    thing, _, verb = e.ev.action.rpartition(".")
    what = OBJECT_NAMES.get(e.ev.object_type) or labels.humanize(thing or e.ev.object_type).lower()
    name = f" {e.quoted(e.repr)}" if e.repr else ""
    if verb in VERBS:
        return _said(f"{e.who} {VERBS[verb]} the {what}{name}", ["name"])
    return _said(f"{e.who}: {labels.humanize(verb or thing).lower()}, {what}{name}")
