"""The shipped catalogue: 14 categories of seed §2, stable item codes, loaded idempotently, versioned."""

import pytest

from reviews.catalogue import load_version, read_version
from reviews.models import CatalogueVersion, Category, ChecklistItem
from reviews.services import current_catalogue, start_review

pytestmark = pytest.mark.django_db

SEED_CATEGORIES = [
    "ownership", "data-model", "schema", "query-index", "transaction", "migration", "backup", "replication",
    "observability", "security", "privacy", "integration", "capacity", "runbooks",
]  # fmt: skip


def models():
    return {"CatalogueVersion": CatalogueVersion, "Category": Category, "ChecklistItem": ChecklistItem}


def test_migration_loaded_the_14_seed_categories_in_order():
    version = current_catalogue()
    assert list(version.categories.order_by("number").values_list("code", flat=True)) == SEED_CATEGORIES


def test_every_category_has_checkable_items_with_namespaced_codes():
    for category in current_catalogue().categories.all():
        codes = list(category.items.values_list("code", flat=True))
        assert len(codes) >= 8, category.code
        assert all(code.startswith(f"{category.code}.") for code in codes)


def test_loading_the_catalogue_again_changes_nothing():
    before = (CatalogueVersion.objects.count(), Category.objects.count(), ChecklistItem.objects.count())
    load_version(1, **models())
    load_version(1, **models())
    assert (
        CatalogueVersion.objects.count(),
        Category.objects.count(),
        ChecklistItem.objects.count(),
    ) == before
    data = read_version(1)
    assert ChecklistItem.objects.count() == sum(len(c["items"]) for c in data["categories"])


def test_a_new_version_leaves_what_an_old_review_was_scored_against_untouched(system, architect):
    old_review = start_review(system=system, release_scope="Ledger 3.0", actor=architect)
    old_texts = list(
        ChecklistItem.objects.filter(category__version=old_review.catalogue).values_list("text", flat=True)
    )

    v2 = CatalogueVersion.objects.create(number=2, label="edited", published=True)
    for category in old_review.catalogue.categories.all():
        copy = Category.objects.create(
            version=v2,
            code=category.code,
            number=category.number,
            name=category.name,
            section=category.section,
        )
        ChecklistItem.objects.create(
            category=copy,
            code=f"{category.code}.new-rule",
            section=category.section,
            text="A rule added in version 2.",
        )

    new_review = start_review(system=system, release_scope="Ledger 3.1", actor=architect)
    assert new_review.catalogue == v2
    old_review.refresh_from_db()
    assert old_review.catalogue.number == 1
    assert (
        list(
            ChecklistItem.objects.filter(category__version=old_review.catalogue).values_list(
                "text", flat=True
            )
        )
        == old_texts
    )
