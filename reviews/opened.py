"""Findings the facts open: a critical checklist item answered No, a typed evidence record that does
not support readiness. Called inside the transaction of the service that recorded the fact, so the
answer (or the record) and its finding are written together, with their audit events.

Each is linked to what opened it (Finding.checklist_item, Finding.evidence; one per review by
constraint), so answering again or saving the record again does not open another. Changing the answer
to Yes later does not close it: people resolve findings, and say how."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from . import audit, policy
from .models import Category, ChecklistItem, Finding, FindingSource, FindingStatus, Level, Review

FINDING_FIELDS = ("title", "description", "level", "status", "owner", "due_date", "category")
# An untested runbook opens a P2, which needs a dated owner: whoever attached the runbook, in this
# many days.
P2_DUE_DAYS = 30


def _open(*, review: Review, category: Category, title: str, level: str, description: str, actor, **link):
    finding = Finding.objects.select_for_update().filter(review=review, **link).first()
    if finding is not None:
        if finding.status == FindingStatus.RESOLVED:
            # The fact holds again (answered No again, a record failing again): it is open again.
            before = audit.snapshot(finding, FINDING_FIELDS)
            finding.status, finding.resolved_at = FindingStatus.OPEN, None
            finding.version += 1
            finding.save()
            audit.record(
                actor=actor,
                action="finding.reopen",
                obj=finding,
                review=review,
                before=before,
                after=audit.snapshot(finding, FINDING_FIELDS),
            )
        return finding
    owner, due = None, None
    if level == Level.P2:
        if actor is not None and policy.role_in(actor, review.system.team_id) is not None:
            owner, due = actor, timezone.localdate() + timedelta(days=P2_DUE_DAYS)
        else:
            level = Level.P3  # no one to date it: an improvement, said in the description
    finding = Finding.objects.create(
        review=review,
        category=category,
        title=title[:200],
        description=description,
        level=level,
        owner=owner,
        due_date=due,
        source=link_source(link),
        created_by=actor if actor is not None and actor.is_authenticated else None,
        **link,
    )
    audit.record(
        actor=actor,
        action="finding.open",
        obj=finding,
        review=review,
        after={**audit.snapshot(finding, FINDING_FIELDS), "source": finding.source},
    )
    return finding


def link_source(link: dict) -> str:
    return FindingSource.CHECKLIST if "checklist_item" in link else FindingSource.EVIDENCE


def for_checklist_no(*, review: Review, item: ChecklistItem, actor) -> Finding | None:
    """A critical item answered No opens its finding at the item's level, in the item's category."""
    if not item.critical_level:
        return None
    return _open(
        review=review,
        category=item.category,
        title=f"Checklist answered No: {item.text.rstrip('.')}",
        level=item.critical_level,
        description=(
            "This critical checklist item was answered No. The guide treats this as a "
            f"{'blocker' if item.critical_level == Level.P0 else 'serious finding'}. Answering the item "
            "Yes later does not close this finding: resolve it when the control is in place."
        ),
        actor=actor,
        checklist_item=item,
    )


def for_failed_evidence(
    *, review: Review, evidence, category: Category, level: str, title: str, why: str, actor
) -> Finding:
    """A typed record that does not support readiness opens a finding at the level the guide gives."""
    return _open(
        review=review,
        category=category,
        title=title,
        level=level,
        description=f"{evidence.get_kind_display()} “{evidence.title}” {why}. It does not count as "
        "evidence for a score of 2 or 3.",
        actor=actor,
        evidence=evidence,
    )
