"""The shipped checklist catalogue, one JSON file per version, and its loader."""

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def read_version(number: int) -> dict:
    return json.loads((HERE / f"v{number}.json").read_text(encoding="utf-8"))


def load_version(number: int, *, CatalogueVersion, Category, ChecklistItem, publish: bool = True):  # noqa: N803
    """Create or bring up to date catalogue version `number`. Safe to run any number of times.

    Takes the model classes so a data migration can pass its historical models.
    """
    data = read_version(number)
    # critical_level came after version 1 was first installed: a data migration older than the field
    # passes a historical model without it.
    has_level = any(f.name == "critical_level" for f in ChecklistItem._meta.get_fields())
    has_minimum = any(f.name == "minimum_score" for f in Category._meta.get_fields())
    version, _ = CatalogueVersion.objects.get_or_create(
        number=data["version"], defaults={"label": data["label"], "published": publish}
    )
    for cat in data["categories"]:
        category, _ = Category.objects.update_or_create(
            version=version,
            code=cat["code"],
            defaults={
                "number": cat["number"],
                "name": cat["name"],
                "section": cat["section"],
                "description": cat.get("description", ""),
                **(
                    {"minimum_score": cat.get("minimum_score"), "minimum_when": cat.get("minimum_when", "")}
                    if has_minimum
                    else {}
                ),
            },
        )
        for position, item in enumerate(cat["items"], start=1):
            ChecklistItem.objects.update_or_create(
                category=category,
                code=item["code"],
                defaults={
                    "section": item["section"],
                    "text": item["text"],
                    "guidance": item.get("guidance", ""),
                    "position": position,
                    **({"critical_level": item.get("critical_level")} if has_level else {}),
                },
            )
    return version
