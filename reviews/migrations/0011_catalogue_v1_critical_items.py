"""Mark the installed catalogue v1 items whose "No" the guide treats as a blocker or serious finding
(reviews/catalogue/v1.json "critical_level"). Reviews keep the catalogue they started on; this only
adds the levels to the same items, so every review on v1 is judged by them."""

from django.db import migrations


def mark(apps, schema_editor):
    from reviews.catalogue import read_version

    ChecklistItem = apps.get_model("reviews", "ChecklistItem")
    for category in read_version(1)["categories"]:
        for item in category["items"]:
            if item.get("critical_level"):
                ChecklistItem.objects.filter(
                    category__version__number=1, category__code=category["code"], code=item["code"]
                ).update(critical_level=item["critical_level"])


def unmark(apps, schema_editor):
    apps.get_model("reviews", "ChecklistItem").objects.filter(category__version__number=1).update(
        critical_level=None
    )


class Migration(migrations.Migration):
    dependencies = [("reviews", "0010_gate_facts")]
    operations = [migrations.RunPython(mark, unmark)]
