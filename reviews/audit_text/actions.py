"""Every action the audit trail records, named for the trail's filter."""

from __future__ import annotations

from .. import labels


def action_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """The trail's action filter: groups of (value, label), each group's first value its prefix."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for action, name in ACTION_NAMES.items():
        group = action.split(".", 1)[0]
        groups.setdefault(group, []).append((action, name))
    out = []
    for group, actions in groups.items():
        title = GROUP_NAMES.get(group, labels.humanize(group))
        out.append((title, [(f"{group}.", f"{title}: any"), *actions]))
    return out


GROUP_NAMES = {
    "system": "Systems",
    "review": "Reviews",
    "meeting": "Meeting",
    "score": "Scores",
    "score_raise": "Raises above a minimum",
    "checklist": "Checklist",
    "finding": "Findings",
    "loosening": "Loosening",
    "claim": "Claims",
    "exception": "Exceptions",
    "decision": "Decisions",
    "evidence": "Evidence",
    "probe_target": "Probe targets",
    "invariant": "Invariant checks",
    "probe_run": "Probe runs",
    "api_token": "API tokens",
    "audit": "Audit trail",
    "api": "Through the API",
    "team": "Teams",
    "membership": "Memberships",
    "installationauditor": "Installation-wide auditors",
    "grouprolemapping": "Single sign-on group mappings",
}

# Every action the app records, as the trail's filter names it.
ACTION_NAMES = {
    "system.create": "System added",
    "system.update": "System edited",
    "review.start": "Review started",
    "review.update": "Review scope edited",
    "review.overdue": "Review overdue",
    "meeting.step": "Meeting moved to a step",
    "score.set": "Score set",
    "score.clear": "Score taken back",
    "score.carry": "Score below a minimum carried over",
    "score_raise.propose": "Raise above a minimum proposed",
    "score_raise.confirm": "Raise above a minimum confirmed",
    "score_raise.reject": "Raise above a minimum rejected",
    "score_raise.withdraw": "Raise above a minimum withdrawn",
    "checklist.answer": "Checklist item answered",
    "checklist.clear": "Checklist answer taken back",
    "finding.add": "Finding raised",
    "finding.open": "Finding opened by the checklist or evidence",
    "finding.update": "Finding edited or resolved",
    "finding.regrade": "Finding regraded",
    "finding.reopen": "Finding reopened",
    "finding.resolve": "Finding resolved by a probe run",
    "finding.carry": "Finding carried over",
    "finding.resolve_later": "Finding resolved in a later review",
    "loosening.propose": "Loosening proposed",
    "loosening.confirm": "Loosening confirmed",
    "loosening.reject": "Loosening rejected",
    "loosening.withdraw": "Loosening withdrawn",
    "claim.add": "Claim added",
    "exception.request": "Exception requested",
    "exception.edit": "Exception terms edited",
    "exception.sign": "Exception signed",
    "exception.reject": "Exception rejected",
    "exception.revoke": "Exception revoked",
    "exception.void": "Exception signature voided",
    "exception.expire": "Exception expired",
    "exception.carry": "Exception carried over",
    "decision.record": "Decision recorded",
    "decision.import": "Earlier decision imported",
    "decision.pdf": "Decision PDF rendered",
    "decision.download": "Decision record downloaded",
    "evidence.add": "Evidence added",
    "evidence.carry": "Evidence carried over",
    "evidence.restore_drill": "Restore drill recorded",
    "evidence.runbook_test": "Runbook test recorded",
    "evidence.migration_rehearsal": "Migration rehearsal recorded",
    "evidence.load_test": "Load test recorded",
    "evidence.record": "Inventory record added",
    "evidence.import": "Inventory imported from a file",
    "evidence.stale": "Evidence gone stale",
    "evidence.download": "Evidence file downloaded",
    "probe_target.create": "Probe target registered",
    "probe_target.update": "Probe target edited",
    "probe_target.test_request": "Connection test asked for",
    "probe_target.test": "Connection tested",
    "probe_target.rotate_secret": "Credentials re-encrypted",
    "invariant.create": "Invariant check added",
    "invariant.delete": "Invariant check deleted",
    "probe_run.start": "Probe run started",
    "probe_run.schedule": "Probe run started by the schedule",
    "probe_run.finish": "Probe run finished",
    "probe_run.fail": "Probe run failed",
    "probe_run.requeue": "Probe run queued again",
    "api_token.create": "API token created",
    "api_token.revoke": "API token revoked",
    "api.evidence.add": "Evidence added through the API",
    "api.probe_run.start": "Probe run started through the API",
    "audit.export": "Audit trail exported",
    "audit.redact": "Audit events redacted",
    "team.create": "Team added",
    "team.update": "Team edited",
    "team.delete": "Team deleted",
    "membership.create": "Member added to a team",
    "membership.update": "Member's role changed",
    "membership.delete": "Member removed from a team",
    "installationauditor.create": "Installation-wide auditor added",
    "installationauditor.delete": "Installation-wide auditor removed",
    "grouprolemapping.create": "Group mapping added",
    "grouprolemapping.update": "Group mapping edited",
    "grouprolemapping.delete": "Group mapping deleted",
}
