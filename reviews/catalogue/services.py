"""State changes of the catalogue: import an edited file as a new version, publish a draft version.
Installation admins only; each writes and audits in one transaction."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Max

from .. import audit
from ..models import CatalogueVersion, Category, ChecklistItem
from ..services import ServiceError
from . import as_code


class CatalogueProblems(ServiceError):
    """The file cannot be imported; `problems` lists every reason, each with its place in the file."""

    def __init__(self, problems: list[as_code.Problem]):
        super().__init__(f"The file has {len(problems)} problem{'s' if len(problems) != 1 else ''}.")
        self.problems = problems


def may_edit(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and (user.is_staff or user.is_superuser))


def _require_admin(actor) -> None:
    if not may_edit(actor):
        raise PermissionDenied("Only an installation admin may change the checklist catalogue.")


def _sections(code_of_category: dict[str, str], code_of_item: dict[tuple[str, str], str]):
    """Where built-in categories and items came from (Category.section), carried by code from the newest
    version that has them: engineers' reference, not in the file."""
    for category_code, section in Category.objects.order_by("version__number").values_list("code", "section"):
        code_of_category[category_code] = section
    for category_code, item_code, section in ChecklistItem.objects.order_by(
        "category__version__number"
    ).values_list("category__code", "code", "section"):
        code_of_item[(category_code, item_code)] = section


@transaction.atomic
def import_catalogue(*, text: str, publish: bool, actor) -> CatalogueVersion:
    """A new catalogue version (number: the highest + 1) from an edited file, or CatalogueProblems with
    every problem and nothing stored. Reviews keep the version they started on; new reviews take the
    newest published one (services.current_catalogue)."""
    _require_admin(actor)
    data, problems = as_code.read(text)
    if problems:
        raise CatalogueProblems(problems)
    # Serialise imports: the number is the highest + 1.
    list(CatalogueVersion.objects.select_for_update().order_by("-number").values_list("pk", flat=True)[:1])
    number = (CatalogueVersion.objects.aggregate(n=Max("number"))["n"] or 0) + 1
    category_sections: dict[str, str] = {}
    item_sections: dict[tuple[str, str], str] = {}
    _sections(category_sections, item_sections)
    try:
        with transaction.atomic():
            version = CatalogueVersion.objects.create(
                number=number, label=data["label"].strip(), published=publish
            )
    except IntegrityError:
        raise ServiceError(
            "Another catalogue version was imported at the same moment; import again."
        ) from None
    n_items = 0
    for number_in_version, entry in as_code.numbered(data):
        minimum = entry.get("minimum")
        category = Category.objects.create(
            version=version,
            code=entry["code"],
            number=number_in_version,
            name=entry["name"].strip(),
            section=category_sections.get(entry["code"], ""),
            description=(entry.get("description") or "").strip(),
            minimum_score=minimum["score"] if minimum else None,
            minimum_when=(minimum.get("when") or "always") if minimum else "",
        )
        items = [
            ChecklistItem(
                category=category,
                code=item["code"],
                section=item_sections.get((entry["code"], item["code"]), ""),
                text=item["text"].strip(),
                guidance=(item.get("guidance") or "").strip(),
                position=position,
                critical_level=item.get("critical"),
            )
            for position, item in enumerate(entry["items"], start=1)
        ]
        ChecklistItem.objects.bulk_create(items)
        n_items += len(items)
    audit.record(
        actor=actor,
        action="catalogue.import",
        obj=version,
        after={
            "number": version.number,
            "label": version.label,
            "published": publish,
            "categories": len(data["categories"]),
            "items": n_items,
        },
    )
    return version


@transaction.atomic
def publish_catalogue(*, version: CatalogueVersion, actor) -> CatalogueVersion:
    """Publish a draft version: new reviews take it if it is the newest published one."""
    _require_admin(actor)
    version = CatalogueVersion.objects.select_for_update().get(pk=version.pk)
    if version.published:
        raise ServiceError(f"Version {version.number} is already published.")
    version.published = True
    version.save(update_fields=["published"])
    audit.record(
        actor=actor,
        action="catalogue.publish",
        obj=version,
        before={"published": False},
        after={"published": True},
    )
    return version
