"""Adding a typed record of any kind declared in evidence.kinds: one service for every such kind, used by
the pages, the API and spreadsheet imports alike. A kind is kept as a Record's JSON, or in a model of its
own (Spec.model: restore drills, runbooks, load tests …) whose row is made from the same checked values."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from reviews import audit
from reviews.models import Category, Review
from reviews.services import ServiceError

from . import kinds
from .kinds.spec import DATETIME
from .models import Evidence, Record, Runbook
from .services import _check_common, _check_url, _create, _locked_review, judge_record

# A clock a few minutes fast does not make a record "from the future".
FUTURE_GRACE = timedelta(minutes=5)


def spec_for(kind: str) -> kinds.Spec:
    spec = kinds.lookup(kind)
    if spec is None:
        raise ServiceError({"kind": f"No typed record of kind {kind!r}."})
    return spec


def _observed_at(spec: kinds.Spec, values: dict) -> datetime | None:
    on = values.get(spec.observed) if spec.observed else None
    if not on:
        return None
    if spec.by_name[spec.observed].type == DATETIME:
        return datetime.fromisoformat(on)
    return timezone.make_aware(datetime.combine(date.fromisoformat(on), datetime.min.time()))


def _in_future(spec: kinds.Spec, values: dict) -> bool:
    on = values.get(spec.observed) if spec.observed else None
    if not on:
        return False
    if spec.by_name[spec.observed].type == DATETIME:
        return datetime.fromisoformat(on) > timezone.now() + FUTURE_GRACE
    return date.fromisoformat(on) > timezone.localdate()


def _title(spec: kinds.Spec, clean: dict, title: str) -> str:
    return ((title or "").strip() or spec.title(clean))[:200]


def _check_title(spec: kinds.Spec, errors: dict, title) -> None:
    if title in (None, ""):
        return
    if not spec.titled:
        errors["title"] = f"{spec.label} has no field 'title': its title is made from its values."
    elif not isinstance(title, str):
        errors["title"] = "Give text."
    elif len(title.strip()) > 200:
        errors["title"] = "At most 200 characters."
    elif "\x00" in title:
        errors["title"] = "Text cannot hold a NUL character."


def check(
    *, review: Review, spec: kinds.Spec, values: Mapping, url: str = "", title: str = ""
) -> tuple[dict, Category, dict[str, str]]:
    """(stored values, category, errors) for one record of the review: no write."""
    clean, errors = spec.clean(values)
    _check_title(spec, errors, title)
    category = Category.objects.get(version_id=review.catalogue_id, code=spec.category)
    if spec.observed and spec.observed not in errors and _in_future(spec, clean):
        errors[spec.observed] = spec.future
    if not errors:
        errors.update(_check_common(review, category, _title(spec, clean, title), None))
    _check_url(errors, url)
    if spec.url_required and not url:
        errors["url"] = "Give the link."
    return clean, category, errors


def _tested_runbook(review: Review, clean: dict) -> dict:
    """A runbook test is linked to the review's newest runbook of the name it gives."""
    runbook = (
        Runbook.objects.filter(evidence__review=review, name__iexact=clean["runbook_name"])
        .order_by("-evidence__observed_at", "-pk")
        .first()
    )
    return {"runbook": runbook}


# What a model row holds beyond the kind's values: its links to other rows of the review.
RELATED: dict[str, Callable[[Review, dict], dict]] = {"runbook_test": _tested_runbook}


def store(
    *,
    review: Review,
    actor,
    spec: kinds.Spec,
    clean: dict,
    category: Category,
    url: str = "",
    title: str = "",
) -> Evidence:
    """Write one checked record and its audit event; open the finding of a failing one."""
    item = _create(
        review,
        actor,
        category=category,
        kind=spec.kind,
        title=_title(spec, clean, title),
        url=url,
        observed_at=_observed_at(spec, clean) or timezone.now(),
    )
    if spec.stored_in_record:
        row = Record.objects.create(evidence=item, data=clean)
    else:
        model = Evidence._meta.get_field(spec.model).related_model
        related = RELATED[spec.kind](review, clean) if spec.kind in RELATED else {}
        row = model.objects.create(evidence=item, **spec.python(clean), **related)
    if spec.audit:
        if spec.audit_after is not None:
            after = spec.audit_after(clean, row)
        else:
            judged = spec.verdict(clean)
            after = {
                "kind": spec.kind,
                "verdict": judged.state,
                **({"why": judged.why} if judged.why else {}),
            }
        audit.record(actor=actor, action=spec.audit, obj=item, review=review, after=after)
    judge_record(item, actor=actor)
    return item


@transaction.atomic
def add_record(*, review: Review, actor, kind: str, url: str = "", title: str = "", **values) -> Evidence:
    """A typed record of `kind` (evidence.kinds) as evidence of its category. Every field is checked and
    every error is listed; nothing is written when any is wrong. `title`: for a kind whose title may be
    given (Spec.titled); empty, it is made from the values."""
    spec = spec_for(kind)
    review = _locked_review(review, actor)
    clean, category, errors = check(review=review, spec=spec, values=values, url=url or "", title=title)
    if errors:
        raise ServiceError(errors)
    return store(
        review=review, actor=actor, spec=spec, clean=clean, category=category, url=url or "", title=title
    )
