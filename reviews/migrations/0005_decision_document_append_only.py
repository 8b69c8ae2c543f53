"""On PostgreSQL, a stored decision PDF refuses UPDATE and DELETE like the decision itself (0002)."""

from django.db import migrations

TABLE = "reviews_decisiondocument"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
        f"FOR EACH ROW EXECUTE FUNCTION readiness_refuse_change()"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")


class Migration(migrations.Migration):
    dependencies = [("reviews", "0004_exception_editor_decision_document")]
    operations = [migrations.RunPython(create, drop)]
