"""Sentences for probe targets, invariant checks and probe runs."""

from __future__ import annotations

from .. import labels
from .sentences import Event, Said, lower_first, said, says
from .values import cut

# Probes


def _target(e: Event) -> str:
    return e.quoted(e.get("name") or e.repr.split(" · ", 1)[-1])


@says("probe_target.create", "probe_target.update")
def _probe_target(e: Event) -> Said:
    verb = "registered" if e.ev.action.endswith("create") else "edited"
    connection = ", with new connection details" if e.after.get("connection_changed") else ""
    return said(f"{e.who} {verb} the probe target {_target(e)}{connection}", ["name", "connection_changed"])


@says("probe_target.test_request")
def _probe_target_test_request(e: Event) -> Said:
    return said(f"{e.who} asked for a connection test of {_target(e)}")


@says("probe_target.test")
def _probe_target_test(e: Event) -> Said:
    told = ["ok", "server_version", "current_user", "is_superuser", "error"]
    if e.after.get("ok"):
        version = f" to PostgreSQL {e.after['server_version']}" if e.after.get("server_version") else ""
        role = f" as {e.after['current_user']}" if e.after.get("current_user") else ""
        superuser = ", a superuser" if e.after.get("is_superuser") else ""
        return said(f"The connection test of {_target(e)} connected{version}{role}{superuser}", told)
    error = f": {cut(e.after['error'])}" if e.after.get("error") else ""
    return said(f"The connection test of {_target(e)} failed{error}", told)


@says("probe_target.rotate_secret")
def _probe_target_rotate(e: Event) -> Said:
    return said(f"{e.who} re-encrypted the credentials of the probe target {_target(e)}")


@says("invariant.create", "invariant.delete")
def _invariant(e: Event) -> Said:
    verb = "added" if e.ev.action.endswith("create") else "deleted"
    return said(f"{e.who} {verb} the invariant check {e.quoted(e.get('name') or e.repr)}", ["name"])


@says("probe_run.start", "probe_run.schedule", "api.probe_run.start")
def _probe_run_start(e: Event) -> Said:
    run = lower_first(e.repr) or "a probe run"
    review = f" for the review {e.text('review')}" if e.get("review") else ""
    if e.ev.action == "probe_run.schedule":
        return said(f"The schedule started {run}{review}", ["target", "review"])
    api = ""
    if e.ev.action.startswith("api."):
        api = " through the API" + (
            f" (token {e.quoted(e.after['token_name'])})" if e.after.get("token_name") else ""
        )
    return said(f"{e.who} started {run}{review}{api}", ["target", "review", "token_name"], ["token"])


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
    return said(
        f"{_run(e)} {verb}" + (f": {', '.join(counts)}" if counts else "") + applied,
        ["state", "results", "applied_to_review"],
    )


@says("probe_run.fail")
def _probe_run_fail(e: Event) -> Said:
    error = f": {cut(e.after['error'])}" if e.after.get("error") else ""
    return said(f"{_run(e)} failed{error}", ["state", "error"])


@says("probe_run.requeue")
def _probe_run_requeue(e: Event) -> Said:
    attempt = f" (attempt {e.after['attempt']})" if e.after.get("attempt") else ""
    reason = f": {e.after['reason']}" if e.after.get("reason") else ""
    return said(f"{_run(e)} was queued again{attempt}{reason}", ["attempt", "reason"])
