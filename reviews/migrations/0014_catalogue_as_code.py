"""The catalogue as code: a category may carry the gate's minimum, and an organisation's own categories
are numbered after the 14 built-in ones. Every installed version gets the minimums the gate applied to
those codes before (so every review's gate is the same as before)."""

from django.db import migrations, models

# The minimums the gate held as constants until now: (minimum score, when).
MINIMUMS = {
    "backup": (2, "always"),
    "security": (2, "always"),
    "migration": (2, "schema_changing"),
    "observability": (2, "production_traffic"),
}


def set_minimums(apps, schema_editor):
    Category = apps.get_model("reviews", "Category")
    for code, (score, when) in MINIMUMS.items():
        Category.objects.filter(code=code).update(minimum_score=score, minimum_when=when)
    # Version 1's label named the document it was written from; users see labels now.
    apps.get_model("reviews", "CatalogueVersion").objects.filter(
        number=1, label="2026.1 (Part 073 checklist)"
    ).update(label="2026.1 (built-in checklist)")


def clear_minimums(apps, schema_editor):
    apps.get_model("reviews", "Category").objects.update(minimum_score=None, minimum_when="")


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0013_help_texts_without_spec_sections"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="category",
            name="category_number_1_to_14",
        ),
        migrations.AddField(
            model_name="category",
            name="minimum_score",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="category",
            name="minimum_when",
            field=models.CharField(
                blank=True,
                choices=[
                    ("always", "Always"),
                    ("schema_changing", "Schema-changing release"),
                    ("production_traffic", "Production traffic"),
                ],
                max_length=20,
            ),
        ),
        migrations.RunPython(set_minimums, clear_minimums),
        migrations.AddConstraint(
            model_name="category",
            constraint=models.CheckConstraint(
                condition=models.Q(("number__gte", 1)), name="category_number_positive"
            ),
        ),
        migrations.AddConstraint(
            model_name="category",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("minimum_score__isnull", True), ("minimum_when", "")),
                    models.Q(
                        ("minimum_score__gte", 1),
                        ("minimum_score__lte", 3),
                        ("minimum_when__in", ["always", "schema_changing", "production_traffic"]),
                    ),
                    _connector="OR",
                ),
                name="category_minimum_valid",
            ),
        ),
    ]
