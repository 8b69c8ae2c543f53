"""What a finished run puts into its review: one evidence item per result, one finding per failing
(probe, object), reopened or resolved by later runs, a person's regrade (and a confirmed "not an
issue") kept. Inside the run's finishing transaction; audited."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from django.utils import timezone

from evidence.models import Evidence, EvidenceKind
from evidence.services import EVIDENCE_FIELDS
from reviews import audit
from reviews.models import Category, Finding, FindingSource, FindingStatus, Level, Resolution, Review
from reviews.services import FINDING_FIELDS

from .. import registry
from ..models import ProbeFinding, ProbeResult, ProbeRun
from ..registry import Status

logger = logging.getLogger(__name__)

P2_DUE_DAYS = 30  # a probe's P2 finding gets the review's chair as owner, due in 30 days (seed §3)
EVALUATED = (Status.PASS.value, Status.WARN.value, Status.FAIL.value)


def probe_key(probe_id: str, obj: str) -> str:
    key = f"{probe_id}:{obj}"
    if len(key) > 300:  # Finding.probe_key's length; a digest keeps long object names distinct
        key = key[:280] + "#" + hashlib.sha256(key.encode()).hexdigest()[:19]
    return key


def _evidence_notes(run: ProbeRun, result: ProbeResult) -> str:
    name = result.title or result.probe_id
    lines = [
        f"{result.get_status_display()}: {result.summary}",
        f"Probe “{name}” · default severity {result.severity} · {result.duration_ms:.0f} ms",
        f"Target {run.target.name} ({run.target.get_environment_display().lower()}) · probe run #{run.pk}",
    ]
    if result.details:
        lines.append("")
        for item in result.details[:25]:
            lines.append(f"- {item.get('status', '')} {item.get('object', '')}: {item.get('message', '')}")
        if len(result.details) > 25:
            lines.append(f"… and {len(result.details) - 25} more")
    if result.fix:
        lines += ["", f"Fix: {result.fix}"]
    return "\n".join(lines)


def _failing_objects(result: ProbeResult) -> dict[str, dict]:
    """The objects a FAIL result names as failing; a FAIL with no named object is about the database.
    An invariant check's violating rows are one finding: the rows are its evidence."""
    if result.status != Status.FAIL.value:
        return {}
    if result.probe_id.startswith("invariant."):
        return {"": {"object": "", "message": result.summary}}
    failing = {
        str(item.get("object", ""))[:250]: item
        for item in result.details
        if item.get("status") == Status.FAIL.value
    }
    return failing or {"": {"object": "", "message": result.summary}}


def _finding_title(result: ProbeResult, obj: str) -> str:
    title = result.title or result.probe_id
    if result.probe_id.startswith("invariant."):
        title = f"Invariant broken: {title}"
    return (f"{title}: {obj}" if obj else title)[:200]


def _finding_description(run: ProbeRun, result: ProbeResult, item: dict) -> str:
    """The object's message (what is wrong and why it matters), the fix and where it was found. Not the
    result's summary nor the probe's description of its check: they restate the title and the message
    (reviews.finding_text reads older descriptions that have them)."""
    parts = [item.get("message") or result.summary]
    probe = next((p for p in registry.all_probes() if p.id == result.probe_id), None)
    fix = result.fix or (probe.fix if probe else "")
    if fix:
        parts.append(f"Fix: {fix}")
    name = result.title or (probe.title if probe else result.probe_id)
    parts.append(f"Found by the probe “{name}” on {run.target.name}, probe run #{run.pk}.")
    return "\n\n".join(p for p in parts if p)


def apply_run_to_review(run: ProbeRun) -> bool:
    """Each result becomes evidence of the review's category; findings are opened, reopened or resolved
    by `apply_findings`. Inside the caller's transaction. Returns False, changing nothing, when the
    review is decided (frozen)."""
    review = Review.objects.select_for_update().select_related("system").get(pk=run.review_id)
    if review.is_frozen:
        return False
    categories = {c.code: c for c in Category.objects.filter(version_id=review.catalogue_id)}
    results = list(run.results.filter(evidence__isnull=True).order_by("pk"))
    observed = run.finished_at or timezone.now()
    actor = run.started_by
    with_evidence = []
    for result in results:
        category = categories.get(result.category)
        if category is None:
            logger.warning("probe %s has category %r, not in the catalogue", result.probe_id, result.category)
            continue
        item = Evidence.objects.create(
            review=review,
            category=category,
            kind=EvidenceKind.PROBE_RESULT,
            title=result.title or result.probe_id,
            notes=_evidence_notes(run, result),
            observed_at=observed,
            added_by=actor,
        )
        audit.record(
            actor=actor,
            action="evidence.add",
            obj=item,
            review=review,
            after={**audit.snapshot(item, EVIDENCE_FIELDS), "probe_run": run.pk, "probe_id": result.probe_id},
        )
        result.evidence = item
        with_evidence.append(result)
    ProbeResult.objects.bulk_update(with_evidence, ["evidence"])
    apply_findings(review=review, run=run, results=list(run.results.order_by("pk")), categories=categories)
    return True


def apply_findings(*, review: Review, run: ProbeRun, results: list[ProbeResult], categories: dict) -> None:
    """One finding per (probe, object) that fails, at the probe's severity; a later failure reopens it;
    an object that no longer fails on the same target is resolved by this run. A level that differs
    from the one the probe last set was changed by a person and is kept. Audited, attributed to the
    person who started the run (None: the system)."""
    actor = run.started_by
    today = timezone.localdate()
    now = timezone.now()
    findings = {
        f.probe_key: f
        for f in Finding.objects.select_for_update()
        .filter(review=review, source=FindingSource.PROBE)
        .exclude(probe_key="")
    }
    links = {link.finding_id: link for link in ProbeFinding.objects.filter(finding__review=review)}

    def save(finding: Finding, before: dict, action: str, extra: dict) -> None:
        finding.version += 1
        finding.save()
        audit.record(
            actor=actor,
            action=action,
            obj=finding,
            review=review,
            before=before,
            after={**audit.snapshot(finding, FINDING_FIELDS), "probe_run": run.pk, **extra},
        )

    def dated_owner(finding: Finding) -> None:
        if finding.level == Level.P2:  # seed §3: a P2 needs a dated owner; the chair until someone takes it
            finding.owner = finding.owner or review.chair or review.created_by
            finding.due_date = finding.due_date or today + timedelta(days=P2_DUE_DAYS)

    for result in results:
        if result.status not in EVALUATED:
            continue  # skipped or error: says nothing about the objects
        category = categories.get(result.category)
        failing = _failing_objects(result)
        for obj, item in failing.items():
            key = probe_key(result.probe_id, obj)
            finding = findings.get(key)
            if finding is None:
                if category is None:
                    continue
                finding = Finding(
                    review=review,
                    category=category,
                    title=_finding_title(result, obj),
                    description=_finding_description(run, result, item),
                    level=result.severity,
                    source=FindingSource.PROBE,
                    probe_key=key,
                    created_by=actor,
                    created_at=now,
                )
                dated_owner(finding)
                finding.save()
                findings[key] = finding
                links[finding.pk] = ProbeFinding.objects.create(
                    finding=finding,
                    probe_id=result.probe_id,
                    object=obj,
                    probe_level=finding.level,
                    target=run.target,
                    opened_by_run=run,
                    last_seen_run=run,
                )
                audit.record(
                    actor=actor,
                    action="finding.add",
                    obj=finding,
                    review=review,
                    after={**audit.snapshot(finding, FINDING_FIELDS), "probe_run": run.pk, "probe_key": key},
                )
                continue
            link = links.get(finding.pk) or ProbeFinding(
                finding=finding, probe_id=result.probe_id, object=obj, probe_level=finding.level
            )
            before = audit.snapshot(finding, FINDING_FIELDS)
            actions = []
            regraded = finding.level != link.probe_level
            if not regraded and finding.level != result.severity:  # the probe's own severity changed
                finding.level = result.severity
                dated_owner(finding)
                actions.append("finding.update")
            link.probe_level = finding.level if not regraded else link.probe_level
            # A finding two people closed as not an issue stays closed, as a person's regrade is kept.
            if finding.status == FindingStatus.RESOLVED and finding.resolution != Resolution.NOT_AN_ISSUE:
                finding.status = FindingStatus.OPEN
                finding.resolved_at = None
                finding.resolution, finding.resolution_note = "", ""
                actions.insert(0, "finding.reopen")
            if actions:
                save(finding, before, actions[0], {"probe_key": key})
            link.target, link.last_seen_run, link.resolved_by_run = run.target, run, None
            link.save()
            links[finding.pk] = link
        # Open findings of this probe whose object no longer fails here are resolved by this run.
        for key, finding in findings.items():
            link = links.get(finding.pk)
            probe_id = link.probe_id if link else key.split(":", 1)[0]
            if probe_id != result.probe_id or finding.status != FindingStatus.OPEN:
                continue
            if link is not None and link.target_id not in (None, run.target_id):
                continue  # reported by another target: only that target's runs resolve it
            obj = link.object if link else key.split(":", 1)[1]
            if obj in failing:
                continue
            before = audit.snapshot(finding, FINDING_FIELDS)
            finding.status = FindingStatus.RESOLVED
            finding.resolved_at = now
            finding.resolution = Resolution.FIXED
            finding.resolution_note = f"The probe passes on probe run #{run.pk} against {run.target.name}."
            save(finding, before, "finding.resolve", {"probe_key": key, "reason": "passes on this run"})
            if link is not None:
                link.resolved_by_run = run
                link.save(update_fields=["resolved_by_run"])
