"""Adding a typed record of a kind declared in evidence.kinds: one service for every such kind, used by
the pages, the API and spreadsheet imports alike."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from reviews import audit
from reviews.models import Category, Review
from reviews.services import ServiceError

from . import kinds
from .models import Evidence, Record
from .services import _check_common, _check_url, _create, _locked_review, judge_record


def spec_for(kind: str) -> kinds.Spec:
    spec = kinds.get(kind)
    if spec is None:
        raise ServiceError({"kind": f"No typed record of kind {kind!r}."})
    return spec


def _observed_at(spec: kinds.Spec, values: dict) -> datetime | None:
    on = values.get(spec.observed) if spec.observed else None
    if not on:
        return None
    day = datetime.fromisoformat(on)
    return timezone.make_aware(datetime.combine(day.date(), datetime.min.time()))


def check(
    *, review: Review, spec: kinds.Spec, values: Mapping, url: str = ""
) -> tuple[dict, Category, dict[str, str]]:
    """(stored values, category, errors) for one record of the review: no write."""
    clean, errors = spec.clean(values)
    category = Category.objects.get(version_id=review.catalogue_id, code=spec.category)
    if not errors:
        observed = _observed_at(spec, clean)
        errors.update(_check_common(review, category, spec.title(clean), observed))
        if observed is not None and "observed_at" in errors:
            errors[spec.observed] = errors.pop("observed_at")
    _check_url(errors, url)
    if spec.url_required and not url:
        errors["url"] = "Give the link."
    return clean, category, errors


def store(
    *, review: Review, actor, spec: kinds.Spec, clean: dict, category: Category, url: str = ""
) -> Evidence:
    """Write one checked record and its audit event; open the finding of a failing one."""
    item = _create(
        review,
        actor,
        category=category,
        kind=spec.kind,
        title=spec.title(clean)[:200],
        url=url,
        observed_at=_observed_at(spec, clean) or timezone.now(),
    )
    Record.objects.create(evidence=item, data=clean)
    judged = spec.verdict(clean)
    audit.record(
        actor=actor,
        action="evidence.record",
        obj=item,
        review=review,
        after={"kind": spec.kind, "verdict": judged.state, **({"why": judged.why} if judged.why else {})},
    )
    judge_record(item, actor=actor)
    return item


@transaction.atomic
def add_record(*, review: Review, actor, kind: str, url: str = "", **values) -> Evidence:
    """A typed record of `kind` (evidence.kinds) as evidence of its category. Every field is checked and
    every error is listed; nothing is written when any is wrong."""
    spec = spec_for(kind)
    review = _locked_review(review, actor)
    clean, category, errors = check(review=review, spec=spec, values=values, url=url or "")
    if errors:
        raise ServiceError(errors)
    return store(review=review, actor=actor, spec=spec, clean=clean, category=category, url=url or "")
