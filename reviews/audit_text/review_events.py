"""Sentences for what happens to systems, reviews, the meeting, scores, the checklist, findings,
loosening, exceptions, decisions and the audit trail itself."""

from __future__ import annotations

import re

from .. import labels
from ..models import AGENDA_STEPS
from .sentences import LEVEL_TITLE, Event, Said, capital, said, says, strip_prefix
from .values import label_of, value_text

# Systems, reviews, the meeting


@says("system.create", "system.update")
def _system(e: Event) -> Said:
    verb = "added" if e.ev.action.endswith("create") else "edited"
    return said(f"{e.who} {verb} the system {e.quoted(e.get('name') or e.repr)}", ["name"], ["slug"])


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
            ("scores", "score below a minimum", "scores below a minimum"),
        )
        if (n := carried.get(key))
    ]
    if parts:
        sentence += ", carrying over " + ", ".join(parts) + " from the last decision"
    return said(sentence, ["release_scope", "carried"], ["state", "current_step"])


@says("review.update")
def _review_update(e: Event) -> Said:
    return said(f"{e.who} edited the scope of the review {e.quoted(e.get('release_scope') or e.repr)}")


@says("review.overdue")
def _review_overdue(e: Event) -> Said:
    days = e.get("days_overdue")
    system = e.text("system") if e.get("system") else e.repr
    when = f", due {e.text('next_review')}" if e.get("next_review") else ""
    late = f" {days} day{'' if days == 1 else 's'}" if isinstance(days, int) else ""
    return said(
        f"The next review of {system} is{late} overdue{when}", ["system", "days_overdue", "next_review"]
    )


@says("meeting.step")
def _meeting_step(e: Event) -> Said:
    step = e.after.get("current_step")
    opened = e.before.get("state") not in (None, "in_meeting") and e.after.get("state") == "in_meeting"
    verb = "opened the meeting at" if opened else "moved the meeting to"
    if not isinstance(step, int) or not 1 <= step <= len(AGENDA_STEPS):
        return said(f"{e.who} {verb} step {step}", ["current_step", "state"])
    return said(f"{e.who} {verb} step {step}: {AGENDA_STEPS[step - 1]}", ["current_step", "state"])


# Scores and the checklist


def _score_category(e: Event) -> str:
    match = re.match(r"^(.*): \d+$", e.repr)
    return match.group(1) if match else e.repr


@says("score.set")
def _score(e: Event) -> Said:
    category = _score_category(e)
    if not e.before:
        return said(f"{e.who} scored {category} {e.after.get('score')}", ["score"])
    if e.before.get("score") != e.after.get("score"):
        return said(
            f"{e.who} changed the score of {category}: {e.before.get('score')} → {e.after.get('score')}"
            + _loosened(e),
            ["score"],
            ["score_raise", "proposed_by", "confirmed_by"],
        )
    return said(f"{e.who} updated the score of {category} ({e.after.get('score')})", ["score"])


@says("score.carry")
def _score_carry(e: Event) -> Said:
    return said(
        f"{e.who} carried the score of {_score_category(e)} ({e.after.get('score')}) over from the last "
        "decision, where it was below its minimum",
        ["score", "category", "from_review"],
    )


@says("score.clear")
def _score_clear(e: Event) -> Said:
    return said(f"{e.who} took back the score of {_score_category(e)} ({e.before.get('score')})", ["score"])


RAISE = re.compile(r"^Raise (.*) from (\d) to (\d)")
RAISE_TERMS = ("from_score", "to_score", "category")


def _raise_summary(e: Event) -> str:
    match = RAISE.match(e.repr)
    if match:
        return f"raise {match.group(1)} from {match.group(2)} to {match.group(3)}"
    return f"raise a score from {e.get('from_score')} to {e.get('to_score')}"


@says("score_raise.propose")
def _raise_propose(e: Event) -> Said:
    why = f": {e.quoted(e.get('reason'))}" if e.get("reason") else ""
    return said(
        f"{e.who} proposed to {_raise_summary(e)}{why}", [*RAISE_TERMS, "reason"], ["state", "proposed_by"]
    )


@says("score_raise.confirm", "score_raise.reject", "score_raise.withdraw")
def _raise_decide(e: Event) -> Said:
    verb = {"confirm": "confirmed", "reject": "rejected", "withdraw": "withdrew"}[
        e.ev.action.rsplit(".", 1)[1]
    ]
    proposer = e.names.user(e.get("proposed_by"))
    whose = "their own" if e.ev.action.endswith("withdraw") else f"{proposer}’s"
    return said(
        f"{e.who} {verb} {whose} proposal to {_raise_summary(e)}",
        [*RAISE_TERMS, "state", "decided_by", "proposed_by", "reason"],
    )


@says("checklist.clear")
def _answer_clear(e: Event) -> Said:
    item = e.names.items.get(int(e.ev.object_id)) if e.ev.object_id.isdigit() else None
    item = e.quoted((item or e.repr.rsplit(":", 1)[0]).rstrip("."))
    return said(f"{e.who} took back the answer to {item}", ["answer"])


@says("checklist.answer")
def _answer(e: Event) -> Said:
    item = e.names.items.get(int(e.ev.object_id)) if e.ev.object_id.isdigit() else None
    item = item or e.repr.rsplit(":", 1)[0]
    item = e.quoted(item.rstrip("."))
    if not e.before:
        return said(f"{e.who} answered {item}: {e.text('answer')}", ["answer"])
    if e.before.get("answer") != e.after.get("answer"):
        was = value_text("answer", e.before.get("answer"))
        return said(f"{e.who} changed the answer to {item}: {was} → {e.text('answer')}", ["answer"])
    return said(f"{e.who} updated the answer to {item} ({e.text('answer')})", ["answer"])


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
    return said(
        f"{e.by_run()} raised {e.finding()}{where}",
        [*FINDING_TOLD, "probe_run"],
        ["status", "resolution", "resolution_note", "probe_key"],
    )


@says("finding.open")
def _finding_open(e: Event) -> Said:
    where = f" in {e.category()}" if e.get("category") else ""
    origin = {"checklist": " (a critical checklist item answered No)", "evidence": " (evidence that failed)"}
    return said(
        f"{e.who} opened {e.finding()}{where}{origin.get(e.get('source'), '')}",
        [*FINDING_TOLD, "source"],
        ["status", "resolution", "resolution_note"],
    )


@says("finding.reopen")
def _finding_reopen(e: Event) -> Said:
    return said(f"{e.by_run()} reopened {e.finding()}", ["status", "probe_run"], ["probe_key"])


@says("finding.update", "finding.regrade", "finding.resolve")
def _finding_update(e: Event) -> Said:
    b, a = e.before, e.after
    extra = ["probe_run", *LOOSENING_CHAIN]
    quiet = ["probe_key"]
    if b.get("level") and a.get("level") and b["level"] != a["level"]:
        title = e.quoted(a.get("title") or e.repr)
        sentence = f"{e.by_run()} regraded {title} from {b['level']} to {a['level']}"
        return said(sentence + _loosened(e), ["level", *extra], quiet)
    status_was, status = b.get("status"), a.get("status")
    if status != status_was and status == "resolved":
        how = {"fixed": " as fixed", "not_an_issue": " as not an issue"}.get(a.get("resolution") or "", "")
        why = f": {a['reason']}" if e.ev.action == "finding.resolve" and a.get("reason") else ""
        sentence = f"{e.by_run()} resolved {e.finding()}{how}{why}"
        return said(sentence + _loosened(e), ["status", "resolution", *extra], quiet)
    if status != status_was and status == "accepted":
        return said(f"{e.who} closed {e.finding()} as accepted" + _loosened(e), ["status", *extra], quiet)
    if status != status_was and status == "open":
        return said(f"{e.by_run()} reopened {e.finding()}", ["status", *extra], quiet)
    return said(f"{e.by_run()} edited {e.finding()}" + _loosened(e), extra, quiet)


@says("finding.carry")
def _finding_carry(e: Event) -> Said:
    return said(
        f"{e.who} carried {e.finding()} over from the review {e.text('from_review')}",
        ["from_review", "from_finding", "level", "status"],
    )


@says("finding.resolve_later")
def _finding_resolve_later(e: Event) -> Said:
    return said(
        f"{capital(e.finding())} was resolved later, in the review {e.text('resolved_in_review')}",
        ["resolved_in_review", "resolved_by_finding", "resolved_at"],
    )


@says("claim.add")
def _claim(e: Event) -> Said:
    return said(f"{e.who} added the claim {e.quoted(e.get('claim') or e.repr)}", ["claim"])


# Loosening


def _loosening_summary(e: Event) -> str:
    kind = e.get("kind")
    title = e.repr
    for label in labels._vocabularies()["loosening_kind"].values():
        title = strip_prefix(title, f"{label} of ")
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
    return said(f"{e.who} proposed to {_loosening_summary(e)}", LOOSENING_TERMS, ["state", "proposed_by"])


@says("loosening.confirm", "loosening.reject", "loosening.withdraw")
def _loosening_decide(e: Event) -> Said:
    verb = {"confirm": "confirmed", "reject": "rejected", "withdraw": "withdrew"}[
        e.ev.action.rsplit(".", 1)[1]
    ]
    proposer = e.names.user(e.get("proposed_by"))
    whose = "their own" if e.ev.action.endswith("withdraw") else f"{proposer}’s"
    return said(
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
    return said(f"{e.who} requested an exception for {e.finding()}{until}", ["expires_at"], EXCEPTION_QUIET)


@says("exception.sign", "exception.reject", "exception.revoke")
def _exception_decide(e: Event) -> Said:
    verb = {"sign": "signed", "reject": "rejected", "revoke": "revoked"}[e.ev.action.rsplit(".", 1)[1]]
    until = f", valid until {e.text('expires_at')}" if verb == "signed" and e.get("expires_at") else ""
    return said(f"{e.who} {verb} {_exception_of(e)}{until}", ["expires_at"], EXCEPTION_QUIET)


@says("exception.edit")
def _exception_edit(e: Event) -> Said:
    return said(f"{e.who} edited the terms of {_exception_of(e)}", (), EXCEPTION_QUIET)


@says("exception.void")
def _exception_void(e: Event) -> Said:
    why = f" ({e.after['why']})" if e.after.get("why") else ""
    return said(f"{e.who} voided the signature on {_exception_of(e)}{why}", ["why"], EXCEPTION_QUIET)


@says("exception.expire")
def _exception_expire(e: Event) -> Said:
    return said(
        f"{capital(_exception_of(e))} expired on {e.text('expires_at')}",
        ["expires_at"],
        EXCEPTION_QUIET,
    )


@says("exception.carry")
def _exception_carry(e: Event) -> Said:
    signer = f", signed by {e.text('signer')}" if e.get("signer") else ""
    return said(
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
    return said(
        f"{e.who} {verb}: {labels.label('outcome', outcome)}{stricter}",
        ["outcome", "gate_outcome"],
        ["recorded_at"],
    )


@says("decision.download")
def _decision_download(e: Event) -> Said:
    fmt = str(e.after.get("format") or "").upper()
    return said(f"{e.who} downloaded the decision record{f' ({fmt})' if fmt else ''}", ["format"], ["digest"])


@says("decision.pdf")
def _decision_pdf(e: Event) -> Said:
    pages, size = e.after.get("pages"), e.after.get("size")
    facts = []
    if isinstance(pages, int):
        facts.append(f"{pages} page{'' if pages == 1 else 's'}")
    if isinstance(size, int):
        facts.append(f"{size / 1024:.0f} KB")
    tail = f" ({', '.join(facts)})" if facts else ""
    return said(f"{e.who} rendered the decision record as a PDF{tail}", ["pages", "size"], ["render_ms"])


@says("audit.export")
def _audit_export(e: Event) -> Said:
    what = "the audit trail of this review" if e.ev.review_id else "the audit trail"
    filters = e.after.get("filters") or {}
    told = ", ".join(f"{label_of(k)} {v}" for k, v in filters.items() if v and k != "page")
    return said(
        f"{e.who} exported {what} as {str(e.after.get('format') or 'CSV').upper()}"
        + (f", filtered by {told}" if told else ""),
        ["format", "filters"],
    )


@says("audit.redact")
def _audit_redact(e: Event) -> Said:
    n = len(e.after.get("events") or [])
    why = f": {e.after['reason']}" if e.after.get("reason") else ""
    return said(f"{e.who} redacted {n} audit event{'' if n == 1 else 's'}{why}", ["events", "reason"])
