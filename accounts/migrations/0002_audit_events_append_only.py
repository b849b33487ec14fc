"""Make the audit trail append-only in the database itself, so no code path (nor the admin) can edit it.

PostgreSQL refuses UPDATE and DELETE; TRUNCATE stays possible for the test suite's flush. SQLite, used only by
the embedded demo, refuses UPDATE; it flushes with DELETE, so there a DELETE guard would break the tests.
"""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE FUNCTION accounts_auditevent_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER accounts_auditevent_append_only
    BEFORE UPDATE OR DELETE ON accounts_auditevent
    FOR EACH ROW EXECUTE FUNCTION accounts_auditevent_refuse_change();
"""
POSTGRES_REVERSE = """
DROP TRIGGER accounts_auditevent_append_only ON accounts_auditevent;
DROP FUNCTION accounts_auditevent_refuse_change();
"""
SQLITE_FORWARD = [
    """CREATE TRIGGER accounts_auditevent_no_update BEFORE UPDATE ON accounts_auditevent
       BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;""",
]
SQLITE_REVERSE = ["DROP TRIGGER accounts_auditevent_no_update;"]


def forward(apps, schema_editor):
    _run(
        schema_editor,
        [POSTGRES_FORWARD] if schema_editor.connection.vendor == "postgresql" else SQLITE_FORWARD,
    )


def reverse(apps, schema_editor):
    _run(
        schema_editor,
        [POSTGRES_REVERSE] if schema_editor.connection.vendor == "postgresql" else SQLITE_REVERSE,
    )


def _run(schema_editor, statements):
    if schema_editor.connection.vendor not in {"postgresql", "sqlite"}:
        raise RuntimeError(f"no append-only trigger for {schema_editor.connection.vendor}")
    for statement in statements:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunPython(forward, reverse)]
