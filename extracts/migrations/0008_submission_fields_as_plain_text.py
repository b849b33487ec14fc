"""Submissions' fields as plain text on PostgreSQL, not `json`: the loader writes the JSON itself, and the
check of every value cost about a quarter of a national load's COPY (docs/adr/0010). A database migrated
before this has the `json` column that 0007 made; a new one already has text from 0007 (same field class)."""

from django.db import migrations

TABLE = "extracts_extractsubmission"


def to_text(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN fields TYPE text")


def to_json(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN fields TYPE json USING fields::json")


class Migration(migrations.Migration):
    dependencies = [
        ("extracts", "0007_submission_fields_as_json_text"),
    ]

    operations = [migrations.RunPython(to_text, to_json)]
