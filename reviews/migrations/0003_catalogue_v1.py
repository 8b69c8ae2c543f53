"""Load catalogue version 1 (seed §5–§18). Idempotent: running it again changes nothing."""

from django.db import migrations


def load(apps, schema_editor):
    from reviews.catalogue import load_version

    load_version(
        1,
        CatalogueVersion=apps.get_model("reviews", "CatalogueVersion"),
        Category=apps.get_model("reviews", "Category"),
        ChecklistItem=apps.get_model("reviews", "ChecklistItem"),
    )


class Migration(migrations.Migration):
    dependencies = [("reviews", "0002_append_only_triggers")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
