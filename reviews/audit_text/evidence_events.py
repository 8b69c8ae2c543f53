"""Sentences for evidence: links, files, probe results and typed records added, imported, carried, gone
stale, downloaded."""

from __future__ import annotations

from .. import labels
from .sentences import Event, Said, said, says

# Evidence


def _kind(e: Event) -> str:
    return labels.label("evidence_kind", e.get("kind")).lower() or "evidence"


@says("evidence.add", "api.evidence.add")
def _evidence_add(e: Event) -> Said:
    title = e.quoted(e.get("title") or e.repr)
    where = f" to {e.category()}" if e.get("category") else ""
    if e.ev.action.startswith("api."):
        token = f" (token {e.quoted(e.after['token_name'])})" if e.after.get("token_name") else ""
        return said(f"{e.who} added the evidence {title} through the API{token}", ["token_name"], ["token"])
    if e.get("probe_id"):
        return said(
            f"{e.by_run()} added the result of the probe {e.quoted(e.text('probe_id'))}{where}",
            ["title", "kind", "category", "probe_run", "probe_id"],
            ["notes", "url", "file", "shows", "observed_at"],
        )
    return said(f"{e.who} added the {_kind(e)} {title}{where}", ["title", "kind", "category"])


@says("evidence.carry")
def _evidence_carry(e: Event) -> Said:
    return said(
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
    return said(
        f"{e.who} recorded the restore drill {e.quoted(e.repr)}" + (f": {', '.join(facts)}" if facts else ""),
        ["rpo_minutes", "rto_minutes", "passed"],
    )


@says("evidence.runbook_test")
def _runbook_test(e: Event) -> Said:
    verdict = ""
    if "passed" in e.after:
        verdict = ": it worked as written" if e.after["passed"] else ": it did not work as written"
    name = e.after.get("runbook") or e.repr
    return said(
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
    return said(
        f"{e.who} recorded a rehearsal of the migration {e.quoted(name)}"
        + (f": {', '.join(facts)}" if facts else ""),
        ["migration", "runtime_seconds", "longest_lock_ms", "validation_passed"],
    )


@says("evidence.load_test")
def _load_test(e: Event) -> Said:
    facts = [f"{k.split('_')[0]} {e.after[k]} ms" for k in ("p50_ms", "p95_ms", "p99_ms") if e.after.get(k)]
    if "passed" in e.after:
        facts.append("p95 within target" if e.after["passed"] else "p95 over its target")
    return said(
        f"{e.who} recorded the load test {e.quoted(e.repr)}" + (f": {', '.join(facts)}" if facts else ""),
        ["p50_ms", "p95_ms", "p99_ms", "passed"],
    )


@says("evidence.stale")
def _evidence_stale(e: Event) -> Said:
    days = e.after.get("max_age_days")
    older = f": older than {days} days" if days else ""
    return said(
        f"The {_kind(e)} {e.quoted(e.repr)} went stale{older}",
        ["kind", "category", "max_age_days", "stale_at", "observed_at"],
    )


@says("evidence.record")
def _declared_record(e: Event) -> Said:
    state = e.get("verdict")
    why = f" ({e.text('why')})" if e.get("why") else ""
    verdict = {"complete": ": complete", "incomplete": f": incomplete{why}", "failing": f": failing{why}"}
    return said(
        f"{e.who} recorded the {_kind(e)} {e.quoted(e.repr)}{verdict.get(state, '')}",
        ["kind", "verdict", "why"],
    )


@says("evidence.import")
def _evidence_import(e: Event) -> Said:
    rows, kind = e.get("rows"), _kind(e)
    count = f"{rows:,} {kind}{'' if rows == 1 else 's'}" if isinstance(rows, int) else f"{kind} records"
    file = f" from the file {e.quoted(e.after['file'])}" if e.after.get("file") else ""
    return said(f"{e.who} imported {count}{file}", ["kind", "rows", "file"])


@says("evidence.download")
def _evidence_download(e: Event) -> Said:
    file = f"the file {e.quoted(e.after['file'])} of " if e.after.get("file") else "the file of "
    return said(f"{e.who} downloaded {file}the evidence {e.quoted(e.repr)}", ["file"])
