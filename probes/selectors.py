"""Reads that the probe pages and panels share."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.db.models import OuterRef, QuerySet, Subquery

from reviews.models import CatalogueVersion, Category, Review, System

from . import registry
from .models import ProbeResult, ProbeRun, ProbeTarget

STATUS_ORDER = {"fail": 0, "error": 1, "warn": 2, "skipped": 3, "pass": 4}


def targets_with_latest_run(system: System, review: Review | None = None) -> QuerySet[ProbeTarget]:
    """The system's targets, each with the id, state and progress of its latest run (for `review` when
    given), in one query."""
    runs = ProbeRun.objects.filter(target=OuterRef("pk"))
    if review is not None:
        runs = runs.filter(review=review)
    runs = runs.order_by("-created_at", "-id")
    return ProbeTarget.objects.filter(system=system).annotate(
        latest_run_id=Subquery(runs.values("pk")[:1]),
        latest_run_state=Subquery(runs.values("state")[:1]),
        latest_run_done=Subquery(runs.values("progress_done")[:1]),
        latest_run_total=Subquery(runs.values("progress_total")[:1]),
        latest_run_at=Subquery(runs.values("created_at")[:1]),
    )


def panel_context(user, system: System, review: Review | None = None) -> dict:
    """What the probes panel of a system page or review page shows: one query."""
    from .services import can_manage_targets, can_run_probes

    can_manage = can_manage_targets(user, system)
    return {
        "system": system,
        "review": review,
        "targets": list(targets_with_latest_run(system, review)),
        "can_manage": can_manage,
        "can_run": can_run_probes(user, system) and (review is None or not review.is_frozen),
    }


def recent_runs(target: ProbeTarget, limit: int = 20) -> QuerySet[ProbeRun]:
    return target.runs.select_related("review", "started_by")[:limit]


@dataclass
class CategoryResults:
    code: str
    name: str
    number: int
    results: list[ProbeResult] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(r.status for r in self.results))


def _catalogue_names(run: ProbeRun) -> dict[str, tuple[int, str]]:
    version_id = run.review.catalogue_id if run.review_id else None
    if version_id is None:
        latest = CatalogueVersion.objects.filter(published=True).order_by("-number").first()
        version_id = latest.pk if latest else None
    return {c.code: (c.number, c.name) for c in Category.objects.filter(version_id=version_id)}


def results_by_category(run: ProbeRun) -> list[CategoryResults]:
    """The run's results in the catalogue's category order, failures first within each category."""
    names = _catalogue_names(run)
    probes = {p.id: p for p in registry.all_probes()}
    groups: dict[str, CategoryResults] = {}
    for result in run.results.all():
        number, name = names.get(result.category, (99, result.category))
        group = groups.setdefault(result.category, CategoryResults(result.category, name, number))
        probe = probes.get(result.probe_id)
        result.probe_fix = probe.fix if probe else ""
        group.results.append(result)
    for group in groups.values():
        group.results.sort(key=lambda r: (STATUS_ORDER.get(r.status, 9), r.probe_id))
    return sorted(groups.values(), key=lambda g: (g.number, g.code))


def status_counts(run: ProbeRun) -> dict[str, int]:
    counts = Counter(run.results.values_list("status", flat=True))
    return {status: counts.get(status, 0) for status in ("fail", "warn", "error", "skipped", "pass")}


def probe_title(probe_id: str) -> str:
    """A probe's title for "now running …"; invariant checks show their id."""
    if not probe_id:
        return ""
    probe = next((p for p in registry.all_probes() if p.id == probe_id), None)
    return probe.title if probe else probe_id


def latest_review_results(review: Review, categories: list[str]) -> tuple[ProbeRun | None, list[ProbeResult]]:
    """The review's latest finished run and its results in `categories`, worst first: two queries."""
    run = (
        ProbeRun.objects.filter(review=review, state="done")
        .select_related("target")
        .order_by("-finished_at", "-id")
        .first()
    )
    if run is None:
        return None, []
    results = list(run.results.filter(category__in=categories).defer("rows"))
    results.sort(key=lambda r: (STATUS_ORDER.get(r.status, 9), r.probe_id))
    return run, results
